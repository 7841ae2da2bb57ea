import type { Context, Hono } from "hono";
import type { Deps } from "../../core/deps.ts";
import type { AppEnv } from "../../server/env.ts";
import { principal } from "../../server/middleware/auth.ts";
import { decideCreditRequest, grantToEmail, listCreditRequests } from "../../core/services/topups.ts";
import { errorsFromAppError, grantForm, parseForm, type FieldErrors } from "../forms.ts";
import { OperatorPage } from "../pages/operator.tsx";
import { csrfToken, formBody, render, requirePage, rethrowNotFound, statusOf, str } from "../render.tsx";

/** The operator's page: for users with the admin role only (the services refuse anyone else). */
export function operatorPages(web: Hono<AppEnv>, deps: Deps): void {
  function page(c: Context<AppEnv>, grant: { values: Record<string, string>; errors: FieldErrors } = { values: {}, errors: {} }, status = 200) {
    const ctx = principal(c);
    const pending = listCreditRequests(deps, { ctx, status: "pending" });
    const decided = [...listCreditRequests(deps, { ctx, status: "approved" }), ...listCreditRequests(deps, { ctx, status: "declined" })]
      .sort((a, b) => (b.decidedAt ?? "").localeCompare(a.decidedAt ?? ""))
      .slice(0, 20);
    return render(c, { title: "Operator", nav: "operator" }, <OperatorPage pending={pending} decided={decided} grant={grant} csrfToken={csrfToken(c)} />, status);
  }

  web.get("/operator", requirePage, (c) => page(c));

  const decide = (approve: boolean) => async (c: Context<AppEnv>) => {
    const raw = await formBody(c);
    const credits = approve && str(raw.credits) ? Number(str(raw.credits)) : undefined;
    decideCreditRequest(deps, { ctx: principal(c), id: c.req.param("id") ?? "", approve, ...(credits !== undefined ? { credits } : {}) });
    return c.redirect(`/operator?notice=${approve ? "request-approved" : "request-declined"}`, 303);
  };
  web.post("/operator/requests/:id/approve", requirePage, decide(true));
  web.post("/operator/requests/:id/decline", requirePage, decide(false));

  web.post("/operator/grant", requirePage, async (c) => {
    const raw = await formBody(c);
    const values = { email: str(raw.email), credits: str(raw.credits), reason: str(raw.reason) };
    const parsed = parseForm(grantForm, raw);
    if (!parsed.ok) return page(c, { values, errors: parsed.errors }, 400);
    try {
      grantToEmail(deps, { ctx: principal(c), ...parsed.data });
    } catch (err) {
      rethrowNotFound(err);
      if (err instanceof Error && "code" in err && err.code === "forbidden") throw err;
      return page(c, { values, errors: errorsFromAppError(err) }, statusOf(err));
    }
    return c.redirect("/operator?notice=granted", 303);
  });
}
