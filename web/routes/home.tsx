import type { Hono } from "hono";
import type { Deps } from "../../core/deps.ts";
import type { AppEnv } from "../../server/env.ts";
import { principal } from "../../server/middleware/auth.ts";
import { listConnections } from "../../core/services/connections.ts";
import { balanceOf } from "../../core/services/credits.ts";
import { listRuns, runsWaitingForUser } from "../../core/services/runs.ts";
import { schedulesByConnection } from "../../core/services/schedules.ts";
import { HomePage } from "../pages/home.tsx";
import { render, requirePage } from "../render.tsx";

/** The home page: the connections with their next scheduled run, the balance, the recent runs. */
export function homePages(web: Hono<AppEnv>, deps: Deps): void {
  web.get("/", requirePage, (c) => {
    const ctx = principal(c);
    const connections = listConnections(deps, { ctx });
    const runs = listRuns(deps, { ctx, limit: 10 });
    const schedules = schedulesByConnection(deps, { ctx, connectionIds: connections.map((k) => k.id) });
    return render(c, { title: "Home", nav: "home" }, <HomePage connections={connections} balance={balanceOf(deps.db, ctx.workspaceId)} runs={runs} waiting={runsWaitingForUser(deps, { ctx })} schedules={schedules} />);
  });
}
