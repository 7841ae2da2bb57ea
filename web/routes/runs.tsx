import type { Context, Hono } from "hono";
import type { Deps, Principal } from "../../core/deps.ts";
import type { AppEnv } from "../../server/env.ts";
import { principal } from "../../server/middleware/auth.ts";
import { isLive } from "../../core/domain/run-status.ts";
import { getConnection, listConnectionLists } from "../../core/services/connections.ts";
import { requestUndo } from "../../core/services/undo.ts";
import { approveRun, cancelRun, createRun, getRun, listRuns, retryRunActions, type RunView } from "../../core/services/runs.ts";
import { cleanForm, errorsFromAppError, parseForm, type FieldErrors } from "../forms.ts";
import { liveView, RunPage } from "../pages/run.tsx";
import { RunsPage } from "../pages/runs.tsx";
import { csrfToken, formBody, render, requirePage, rethrowNotFound, statusOf, str } from "../render.tsx";
import { runOptionValues } from "../run-options.tsx";
import { connectionPage } from "./connections.tsx";
import { estimateScope } from "../../core/services/estimate.ts";
import { z } from "zod";
import { ACTIONS, type Action } from "../../db/schema/index.ts";
import { AppError } from "../../core/errors.ts";
import { contactFilter, editPlan, listRunContacts } from "../../core/services/plan.ts";
import { ContactsQuery } from "../../server/routes/runs.routes.ts";
import { VERIFICATION_REASONS, VERIFICATION_STATUSES, type VerificationReason, type VerificationStatus } from "../../verify/taxonomy.ts";
import { CONTACTS_PAGE_SIZE, RunContactsPage } from "../pages/run-contacts.tsx";

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
  if (errors.confirmCount) errors.confirmCount = "Type the number of contacts this plan unsubscribes or deletes, or change the plan or cancel the run.";
  // Not a field of the form: the page says it above the plan, which now shows the edited one.
  if (errors.planRevision) {
    errors._form = errors.planRevision;
    delete errors.planRevision;
  }
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
    const body = await formBody(c);
    const confirmDelete = str(body.confirmDelete) === "on";
    // The number typed (separators allowed: "1,204"); anything else matches no plan.
    const typed = str(body.confirmCount)?.replace(/[\s,.']/g, "") ?? "";
    const confirmCount = /^\d{1,12}$/.test(typed) ? Number(typed) : null;
    // The revision of the plan the page showed: a plan edited since is not approved unseen.
    const revision = str(body.planRevision) ?? "";
    const planRevision = /^\d{1,9}$/.test(revision) ? Number(revision) : -1;
    return onRun(c, (ctx, id) => approveRun(deps, { ctx, id, confirmDelete, confirmCount, planRevision }), "approved");
  });

  // After a cancel, the run's own status says it was cancelled and that nothing changed.
  web.post("/runs/:id/cancel", requirePage, (c) => onRun(c, (ctx, id) => cancelRun(deps, { ctx, id })));

  // Undo the run's unsubscribes (issue 14): only with the box ticked that says what will happen.
  web.post("/runs/:id/undo", requirePage, async (c) => {
    const body = await formBody(c);
    if (str(body.confirmUndo) !== "on") {
      return runPage(c, { confirmUndo: "Tick the box to confirm: the memberships this run unsubscribed are re-subscribed where they are still as it left them." }, 400);
    }
    return onRun(c, (ctx, id) => requestUndo(deps, { ctx, id }), "undo");
  });

  web.post("/runs/:id/retry", requirePage, (c) => onRun(c, (ctx, id) => retryRunActions(deps, { ctx, id })));

  // The review's "Change the plan" form: an action per result and per reason present.
  web.post("/runs/:id/plan", requirePage, async (c) => {
    const body = await formBody(c);
    const statuses: Partial<Record<VerificationStatus, Action>> = {};
    const reasons: Partial<Record<VerificationReason, Action | null>> = {};
    const action = (v: string): Action | null => ((ACTIONS as readonly string[]).includes(v) ? (v as Action) : null);
    for (const status of VERIFICATION_STATUSES) {
      const a = action(str(body[`status-${status}`]));
      if (a) statuses[status] = a;
    }
    for (const reason of VERIFICATION_REASONS) {
      const v = str(body[`reason-${reason}`]);
      if (v === "same") reasons[reason] = null;
      else if (action(v)) reasons[reason] = action(v);
    }
    return onRun(c, (ctx, id) => editPlan(deps, { ctx, id, edit: { statuses, reasons } }), "plan-changed");
  });

  web.get("/runs/:id/contacts", requirePage, (c) => {
    const ctx = principal(c);
    const run = getRun(deps, { ctx, id: c.req.param("id") });
    const parsed = ContactsQuery.extend({ page: z.coerce.number({ error: "must be a page number" }).int().min(1).max(1_000_000).default(1) }).safeParse(
      // The filter form sends every field; an empty one means "any".
      Object.fromEntries(Object.entries(c.req.query()).filter(([, v]) => v.trim() !== "")),
    );
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new AppError("invalid_input", `${issue?.path.join(".") ?? "filter"} ${issue?.message ?? "is not valid"}`);
    }
    const { page, ...q } = parsed.data;
    const filter = contactFilter(q);
    const found = listRunContacts(deps, { ctx, id: run.id, filter, offset: (page - 1) * CONTACTS_PAGE_SIZE, limit: CONTACTS_PAGE_SIZE });
    return render(c, { title: "Contacts of this run" }, <RunContactsPage run={run} filter={filter} page={page} total={found.total} contacts={found.contacts} csrfToken={csrfToken(c)} />);
  });

  // Take a contact out of the plan, or put it back; back to the list as it was filtered.
  for (const how of ["exclude", "include"] as const) {
    web.post(`/runs/:id/contacts/:contact/${how}`, requirePage, async (c) => {
      const id = c.req.param("id") ?? "";
      const contact = Number(c.req.param("contact"));
      const back = str((await formBody(c)).back);
      const safeBack = back.startsWith(`/runs/${id}/contacts`) && !back.includes("//") ? back : `/runs/${id}/contacts`;
      if (!Number.isInteger(contact) || contact <= 0) throw new AppError("invalid_input", "contact must be a contact id");
      try {
        editPlan(deps, { ctx: principal(c), id, edit: { [how]: [contact] } });
      } catch (err) {
        rethrowNotFound(err);
        return runPage(c, runErrors(err), statusOf(err));
      }
      return c.redirect(safeBack, 303);
    });
  }
}
