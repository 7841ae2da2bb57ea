import type { Hono } from "hono";
import type { Deps } from "../../core/deps.ts";
import type { AppEnv } from "../../server/env.ts";
import { principal } from "../../server/middleware/auth.ts";
import { getCredits } from "../../core/services/credits.ts";
import { CreditsPage } from "../pages/credits.tsx";
import { render, requirePage } from "../render.tsx";

/** The balance and the ledger's recent entries. */
export function creditPages(web: Hono<AppEnv>, deps: Deps): void {
  web.get("/credits", requirePage, (c) => {
    const ctx = principal(c);
    const { balance, entries } = getCredits(deps, { ctx });
    return render(c, { title: "Credits", nav: "credits" }, <CreditsPage balance={balance} entries={entries} email={ctx.email} />);
  });
}
