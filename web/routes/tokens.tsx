import type { Context, Hono } from "hono";
import type { Deps } from "../../core/deps.ts";
import type { AppEnv } from "../../server/env.ts";
import { notFound } from "../../core/errors.ts";
import { principal } from "../../server/middleware/auth.ts";
import { createApiToken, deleteApiToken, listApiTokens, type ApiTokenView } from "../../core/services/tokens.ts";
import { parseForm, tokenForm, type FieldErrors } from "../forms.ts";
import { DeleteTokenPage, TokensPage } from "../pages/tokens.tsx";
import { csrfToken, formBody, render, requirePage, str } from "../render.tsx";

/** API tokens: list, create (the value is shown once, on the answer to the form), delete. */
export function tokenPages(web: Hono<AppEnv>, deps: Deps): void {
  function page(c: Context<AppEnv>, opts: { values?: { name?: string }; errors?: FieldErrors; created?: (ApiTokenView & { token: string }) | null }, status = 200) {
    return render(
      c,
      { title: "API tokens", nav: "tokens" },
      <TokensPage
        tokens={listApiTokens(deps, { ctx: principal(c) })}
        values={opts.values ?? {}}
        errors={opts.errors ?? {}}
        created={opts.created ?? null}
        csrfToken={csrfToken(c)}
      />,
      status,
    );
  }

  function tokenOf(c: Context<AppEnv>): ApiTokenView {
    const token = listApiTokens(deps, { ctx: principal(c) }).find((t) => t.id === c.req.param("id"));
    if (!token) throw notFound("API token");
    return token;
  }

  web.get("/tokens", requirePage, (c) => page(c, {}));

  web.post("/tokens", requirePage, async (c) => {
    const raw = await formBody(c);
    const parsed = parseForm(tokenForm, raw);
    if (!parsed.ok) return page(c, { values: { name: str(raw.name) }, errors: parsed.errors }, 400);
    // Shown on this answer and never again: no redirect, and the page is not cached (no-store).
    const created = createApiToken(deps, { ctx: principal(c), input: parsed.data });
    return page(c, { created });
  });

  web.get("/tokens/:id/delete", requirePage, (c) => render(c, { title: "Delete API token", nav: "tokens" }, <DeleteTokenPage token={tokenOf(c)} csrfToken={csrfToken(c)} />));

  web.post("/tokens/:id/delete", requirePage, (c) => {
    deleteApiToken(deps, { ctx: principal(c), id: c.req.param("id") });
    return c.redirect("/tokens?notice=token-deleted", 303);
  });
}
