import type { Context, Hono } from "hono";
import type { Deps } from "../../core/deps.ts";
import type { AppEnv } from "../../server/env.ts";
import { principal } from "../../server/middleware/auth.ts";
import { getCreditHistory } from "../../core/services/credits.ts";
import { creditHistoryCsv } from "../../core/services/credits-csv.ts";
import { listOwnCreditRequests, requestCredits, startCheckout, topUpOptions } from "../../core/services/topups.ts";
import { creditRequestForm, errorsFromAppError, parseForm, type FieldErrors } from "../forms.ts";
import { CreditsPage } from "../pages/credits.tsx";
import { csrfToken, formBody, render, requirePage, statusOf, str } from "../render.tsx";

/** The balance, adding credits (buying them, or asking the operator), and the history, paged and exported. */
export function creditPages(web: Hono<AppEnv>, deps: Deps): void {
  function page(c: Context<AppEnv>, state: { values?: { credits?: string; note?: string }; errors?: FieldErrors } = {}, status = 200) {
    const ctx = principal(c);
    const history = getCreditHistory(deps, { ctx, page: Number(c.req.query("page") ?? 1) || 1 });
    return render(
      c,
      { title: "Credits", nav: "credits" },
      <CreditsPage
        history={history}
        topUp={topUpOptions(deps)}
        requests={listOwnCreditRequests(deps, { ctx })}
        values={state.values ?? {}}
        errors={state.errors ?? {}}
        csrfToken={csrfToken(c)}
      />,
      status,
    );
  }

  web.get("/credits", requirePage, (c) => page(c));

  web.get("/credits/history.csv", requirePage, (c) =>
    c.body(creditHistoryCsv(deps, { ctx: principal(c) }), 200, {
      "content-type": "text/csv; charset=utf-8",
      "content-disposition": 'attachment; filename="listwarden-credits.csv"',
    }),
  );

  web.post("/credits/requests", requirePage, async (c) => {
    const raw = await formBody(c);
    const values = { credits: str(raw.credits), note: str(raw.note) };
    const parsed = parseForm(creditRequestForm, raw);
    if (!parsed.ok) return page(c, { values, errors: parsed.errors }, 400);
    try {
      requestCredits(deps, { ctx: principal(c), credits: parsed.data.credits, note: parsed.data.note });
    } catch (err) {
      return page(c, { values, errors: errorsFromAppError(err) }, statusOf(err));
    }
    return c.redirect("/credits?notice=credits-requested#top-up", 303);
  });

  web.post("/credits/checkout", requirePage, async (c) => {
    const raw = await formBody(c);
    try {
      const { url } = await startCheckout(deps, { ctx: principal(c), pack: Number(str(raw.pack)) });
      return c.redirect(url, 303);
    } catch (err) {
      return page(c, { errors: { pack: errorsFromAppError(err)._form ?? errorsFromAppError(err).pack ?? "The payment page could not be opened" } }, statusOf(err));
    }
  });
}
