import type { Context, Hono } from "hono";
import type { Deps, Principal } from "../../core/deps.ts";
import type { AppEnv } from "../../server/env.ts";
import { principal } from "../../server/middleware/auth.ts";
import { isLive } from "../../core/domain/run-status.ts";
import { getConnection, listConnectionLists } from "../../core/services/connections.ts";
import { approveRun, cancelRun, createRun, getRun, listRuns, retryRunActions, type RunView } from "../../core/services/runs.ts";
import { cleanForm, errorsFromAppError, parseForm, type FieldErrors } from "../forms.ts";
import { liveView, RunPage } from "../pages/run.tsx";
import { RunsPage } from "../pages/runs.tsx";
import { csrfToken, formBody, render, requirePage, rethrowNotFound, statusOf, str } from "../render.tsx";
import { runOptionValues } from "../run-options.tsx";
import { connectionPage } from "./connections.tsx";
import { estimateScope } from "../../core/services/estimate.ts";

/** List names for a run page, when AC answers quickly; the page shows list ids otherwise. */
async function listNamesFor(deps: Deps, ctx: Principal, run: RunView): Promise<Map<string, string> | null> {
  const wanted = run.scope.kind === "lists" || (run.plan?.sample.some((s) => s.lists.length > 0) ?? false);
  // While a run talks to AC, its requests have the account's rate limit to themselves.
  if (!wanted || !run.connectionId || isLive(run.status)) return null;
  const lists = listConnectionLists(deps, { ctx, id: run.connectionId }).catch(() => null);
  const timeout = new Promise<null>((resolve) => setTimeout(() => resolve(null), 3_000).unref());
  const result = await Promise.race([lists, timeout]);
  return result ? new Map(result.map((l) => [l.id, l.name])) : null;
}

/** A service's refusal in the run page's words. */
function runErrors(err: unknown): FieldErrors {
  const errors = errorsFromAppError(err);
  if (errors.confirmDelete) errors.confirmDelete = "Tick the box to confirm the deletes, or cancel the run.";
  return errors;
}

/**
 * Runs: starting one from a connection's Clean form, a connection's run history, the run page
 * (live while it moves), and its buttons: approve, cancel, retry the changes not made.
 */
export function runPages(web: Hono<AppEnv>, deps: Deps): void {
  web.post("/connections/:id/runs", requirePage, async (c) => {
    const raw = await formBody(c, ["listIds"]);
    const values = runOptionValues(raw);
    const parsed = parseForm(cleanForm, raw);
    if (!parsed.ok) return connectionPage(c, deps, { values, errors: parsed.errors }, 400);
    const ctx = principal(c);
    // A run the balance cannot cover is started only when the user says so: it will pause.
    const estimate = await estimateScope(deps, { ctx, id: c.req.param("id"), scope: parsed.data.scope, waitMs: 3_000 }).catch(() => null);
    if (estimate && !estimate.covered && str(raw.startAnyway) !== "on") return connectionPage(c, deps, { values, errors: {}, shortfall: estimate });
    try {
      const run = createRun(deps, { ctx, input: { connectionId: c.req.param("id"), ...parsed.data } });
      return c.redirect(`/runs/${run.id}`, 303);
    } catch (err) {
      rethrowNotFound(err);
      return connectionPage(c, deps, { values, errors: errorsFromAppError(err) }, statusOf(err));
    }
  });

  web.get("/connections/:id/runs", requirePage, (c) => {
    const ctx = principal(c);
    const connection = getConnection(deps, { ctx, id: c.req.param("id") });
    const runs = listRuns(deps, { ctx, connectionId: connection.id, limit: 50 });
    return render(c, { title: `Run history: ${connection.name}` }, <RunsPage connection={connection} runs={runs} />);
  });

  async function runPage(c: Context<AppEnv>, errors: FieldErrors, status = 200) {
    const ctx = principal(c);
    const run = getRun(deps, { ctx, id: c.req.param("id") ?? "" });
    // An upload's run (issue 19) is shown on its upload's page.
    if (run.scope.kind === "upload") return c.redirect(`/uploads/${run.scope.uploadId}`, 303);
    const live = isLive(run.status);
    return render(
      c,
      { title: `Run on ${run.connectionName}`, scripts: ["run.js"], ...(live ? { refreshWithoutScript: 5 } : {}) },
      <RunPage run={run} listNames={await listNamesFor(deps, ctx, run)} errors={errors} csrfToken={csrfToken(c)} />,
      status,
    );
  }

  /** A button on the run page: back to the run when done, the run page with the reason when refused. */
  async function onRun(c: Context<AppEnv>, act: (ctx: Principal, id: string) => unknown, notice?: string) {
    const id = c.req.param("id") ?? "";
    try {
      act(principal(c), id);
    } catch (err) {
      rethrowNotFound(err);
      return runPage(c, runErrors(err), statusOf(err));
    }
    return c.redirect(`/runs/${id}${notice ? `?notice=${notice}` : ""}`, 303);
  }

  web.get("/runs/:id", requirePage, (c) => runPage(c, {}));

  // What web/static/run.js updates in place while a run moves.
  web.get("/runs/:id/live", requirePage, (c) => c.json(liveView(getRun(deps, { ctx: principal(c), id: c.req.param("id") }))));

  web.post("/runs/:id/approve", requirePage, async (c) => {
    const confirmDelete = str((await formBody(c)).confirmDelete) === "on";
    return onRun(c, (ctx, id) => approveRun(deps, { ctx, id, confirmDelete }), "approved");
  });

  // After a cancel, the run's own status says it was cancelled and that nothing changed.
  web.post("/runs/:id/cancel", requirePage, (c) => onRun(c, (ctx, id) => cancelRun(deps, { ctx, id })));

  web.post("/runs/:id/retry", requirePage, (c) => onRun(c, (ctx, id) => retryRunActions(deps, { ctx, id })));
}
