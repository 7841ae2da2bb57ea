import { and, asc, desc, eq, inArray, sql } from "drizzle-orm";
import type { z } from "zod";
import { schema, transaction, type Db } from "../../db/index.ts";
import { newId } from "../../db/ids.ts";
import { actionsSchema, scopeSchema, usesDelete, type RunActions, type RunScope } from "../domain/scope-actions.ts";
import { isCancellable, type RunStatus } from "../domain/run-status.ts";
import { VERIFICATION_STATUSES } from "../../verify/index.ts";
import type { Deps, Principal } from "../deps.ts";
import { AppError, notFound } from "../errors.ts";
import { cancelRunRow, insertRun, moveRun, RunMoveRefused } from "../runs/store.ts";
import { getConnectionRow } from "./connections.ts";

type RunRow = typeof schema.runs.$inferSelect;

const SAMPLE_SIZE = 20;

export interface CreateRunInput {
  connectionId: string;
  scope: RunScope;
  actions: RunActions;
  smtpProbe?: boolean;
}

/** What a schedule adds to the runs it starts. */
export interface ScheduledRunInput {
  id: string;
  autoApply: boolean;
  holdThreshold: number;
  deleteConfirmed: boolean;
  notes: string[];
}

export function createRun(
  deps: Deps,
  { ctx, input, schedule }: { ctx: Pick<Principal, "workspaceId">; input: CreateRunInput; schedule?: ScheduledRunInput },
): RunView {
  const connection = getConnectionRow(deps, { workspaceId: ctx.workspaceId, id: input.connectionId });
  if (input.smtpProbe && !deps.config.SMTP_PROBE) {
    throw new AppError("invalid_input", "SMTP probing is turned off on this server (SMTP_PROBE=off)", "smtpProbe");
  }
  const now = deps.clock.now();
  const row = insertRun(deps.db, {
    id: newId("run", now),
    workspaceId: ctx.workspaceId,
    connectionId: connection.id,
    connectionName: connection.name,
    scope: JSON.stringify(parseOrThrow(scopeSchema, input.scope, "scope")),
    actions: JSON.stringify(parseOrThrow(actionsSchema, input.actions, "actions")),
    smtpProbe: input.smtpProbe ?? false,
    scheduleId: schedule?.id ?? null,
    autoApply: schedule?.autoApply ?? false,
    holdThreshold: schedule?.holdThreshold ?? null,
    deleteConfirmed: schedule?.deleteConfirmed ?? false,
    notes: schedule?.notes.length ? JSON.stringify(schedule.notes) : null,
    createdAt: new Date(now),
  });
  deps.logger.info({ runId: row.id, workspaceId: ctx.workspaceId, connectionId: connection.id }, "run queued");
  return getRun(deps, { ctx, id: row.id });
}

/** Callers other than the route (the scheduler, the dashboard) get the same field errors. */
function parseOrThrow<T extends z.ZodType>(schema: T, value: unknown, name: string): z.output<T> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const field = [name, ...(issue?.path.map(String) ?? [])].join(".");
  throw new AppError("invalid_input", issue?.message ?? "is invalid", field);
}

export function getRunRow(db: Db, { workspaceId, id }: { workspaceId: string; id: string }): RunRow {
  const row = db
    .select()
    .from(schema.runs)
    .where(and(eq(schema.runs.id, id), eq(schema.runs.workspaceId, workspaceId)))
    .get();
  if (!row) throw notFound("Run");
  return row;
}

export function listRuns(deps: Deps, { ctx, connectionId, limit = 50 }: { ctx: Pick<Principal, "workspaceId">; connectionId?: string; limit?: number }) {
  const where = connectionId
    ? and(eq(schema.runs.workspaceId, ctx.workspaceId), eq(schema.runs.connectionId, connectionId))
    : eq(schema.runs.workspaceId, ctx.workspaceId);
  return deps.db
    .select()
    .from(schema.runs)
    .where(where)
    .orderBy(desc(schema.runs.createdAt), desc(schema.runs.id))
    .limit(limit)
    .all()
    .map((row) => runView(deps.db, row, { withPlan: false, now: deps.clock.now() }));
}

export function getRun(deps: Deps, { ctx, id }: { ctx: Pick<Principal, "workspaceId">; id: string }): RunView {
  return runView(deps.db, getRunRow(deps.db, { workspaceId: ctx.workspaceId, id }), { withPlan: true, now: deps.clock.now() });
}

const words = (status: RunStatus) => status.replace("_", " ");

/** A refused move as the user reads it. */
function refused(err: unknown, what: string): never {
  if (err instanceof RunMoveRefused) throw new AppError("conflict", `This run is ${words(err.from)}; ${what}`);
  throw err;
}

/** Approves the reviewed plan; deletes need `confirmDelete: true`. The worker then applies it. */
export function approveRun(deps: Deps, { ctx, id, confirmDelete }: { ctx: Pick<Principal, "workspaceId">; id: string; confirmDelete: boolean }): RunView {
  transaction(deps.db, (tx) => {
    const run = getRunRow(tx, { workspaceId: ctx.workspaceId, id });
    if (run.status !== "awaiting_review") refused(new RunMoveRefused(id, run.status, "applying"), "only a run awaiting review can be approved");
    if (!run.connectionId) {
      throw new AppError("conflict", "The ActiveCampaign connection of this run was deleted; nothing can be applied. Cancel the run, or connect the account again and start a new run");
    }
    const deletes = tx
      .select({ n: sql<number>`count(*)` })
      .from(schema.runActions)
      .where(and(eq(schema.runActions.runId, id), eq(schema.runActions.kind, "delete")))
      .get();
    if ((deletes?.n ?? 0) > 0 && !confirmDelete) {
      throw new AppError(
        "invalid_input",
        `This plan deletes ${deletes?.n} contact(s) from ActiveCampaign; send {"confirmDelete": true} to approve it`,
        "confirmDelete",
      );
    }
    moveRun(tx, run, "applying", { statusReason: null, approvedAt: new Date(deps.clock.now()), deleteConfirmed: confirmDelete, notBefore: null });
  });
  deps.logger.info({ runId: id }, "run approved");
  return getRun(deps, { ctx, id });
}

/**
 * Stops a run before anything is changed in AC. Contacts charged but not yet verified are
 * refunded. A run already applying cannot be cancelled halfway.
 */
export function cancelRun(deps: Deps, { ctx, id }: { ctx: Pick<Principal, "workspaceId">; id: string }): RunView {
  transaction(deps.db, (tx) => {
    const run = getRunRow(tx, { workspaceId: ctx.workspaceId, id });
    if (!isCancellable(run.status)) refused(new RunMoveRefused(id, run.status, "cancelled"), "it can no longer be cancelled");
    cancelRunRow(tx, deps.clock, run);
  });
  deps.logger.info({ runId: id }, "run cancelled");
  return getRun(deps, { ctx, id });
}

/**
 * Sends again the changes of an approved run that failed (ActiveCampaign refused them, or the
 * run stopped on a refused key before sending them), without verifying or charging again.
 */
export function retryRunActions(deps: Deps, { ctx, id }: { ctx: Pick<Principal, "workspaceId">; id: string }): RunView {
  const retried = transaction(deps.db, (tx) => {
    const run = getRunRow(tx, { workspaceId: ctx.workspaceId, id });
    if ((run.status !== "completed" && run.status !== "failed") || !run.approvedAt) {
      throw new AppError("conflict", `This run is ${words(run.status)}; only an applied run with changes that failed can retry them`);
    }
    if (!run.connectionId) throw new AppError("conflict", "The ActiveCampaign connection of this run was deleted; its changes cannot be sent");
    const reset = tx
      .update(schema.runActions)
      .set({ state: "pending", nextAttemptAt: null, updatedAt: new Date(deps.clock.now()) })
      .where(and(eq(schema.runActions.runId, id), eq(schema.runActions.state, "failed")))
      .run().changes;
    const left = tx
      .select({ n: sql<number>`count(*)` })
      .from(schema.runActions)
      .where(and(eq(schema.runActions.runId, id), inArray(schema.runActions.state, ["pending", "sending"])))
      .get();
    if (Number(left?.n ?? 0) === 0) throw new AppError("conflict", "This run has no failed changes to retry");
    moveRun(tx, run, "applying", { statusReason: null, finishedAt: null, notBefore: null, transientFailures: 0 });
    return reset;
  });
  deps.logger.info({ runId: id, retried }, "run changes retried");
  return getRun(deps, { ctx, id });
}

export interface RunView {
  id: string;
  connectionId: string | null;
  connectionName: string;
  scheduleId: string | null;
  scope: RunScope;
  actions: RunActions;
  smtpProbe: boolean;
  status: RunStatus;
  statusReason: string | null;
  notes: string[];
  progress: {
    total: number | null;
    fetched: number;
    /** Contacts with a result (decided). */
    verified: number;
    /**
     * Addresses parked until their mail server lets us ask again (greylisting, a busy server)
     * or the probe budget has room (`forBudget` of them), and when the first is due.
     */
    waiting: { count: number; forBudget: number; nextAt: string | null };
    applied: number;
    failed: number;
    /** Changes waiting to be sent again after ActiveCampaign weather (429, 5xx, timeouts). */
    retrying: number;
    planned: number;
  };
  /** An applied run with changes that failed (or were never sent) can send them again. */
  canRetryActions: boolean;
  counts: { byStatus: Record<string, number>; byReason: Record<string, number> };
  credits: { charged: number; refunded: number; net: number };
  acRequests: number;
  plan: RunPlanView | null;
  timings: Record<"createdAt" | "startedAt" | "fetchedAt" | "verifiedAt" | "reviewAt" | "approvedAt" | "finishedAt", string | null> & {
    durationMs: number | null;
  };
}

export interface RunPlanView {
  keep: number;
  unsubscribe: { contacts: number; requests: number };
  delete: { contacts: number };
  /** Contacts whose action is unsubscribe but who are active on none of the lists concerned. */
  nothingToDo: number;
  sample: { contactId: number; email: string; firstName: string; lastName: string; status: string; reason: string; action: string; lists: number[] }[];
}

function countBy(db: Db, runId: string, column: typeof schema.runContacts.status | typeof schema.runContacts.reason) {
  const rows = db
    .select({ key: column, n: sql<number>`count(*)` })
    .from(schema.runContacts)
    .where(and(eq(schema.runContacts.runId, runId), sql`${column} is not null`))
    .groupBy(column)
    .all();
  return Object.fromEntries(rows.map((r) => [r.key as string, Number(r.n)]));
}

function iso(d: Date | null): string | null {
  return d ? d.toISOString() : null;
}

export function runView(db: Db, row: RunRow, { withPlan, now }: { withPlan: boolean; now: number }): RunView {
  const contacts = db
    .select({
      fetched: sql<number>`count(*)`,
      verified: sql<number>`count(${schema.runContacts.verifiedAt})`,
      waiting: sql<number>`count(case when ${schema.runContacts.verifiedAt} is null and ${schema.runContacts.retryAt} > ${now} then 1 end)`,
      forBudget: sql<number>`count(case when ${schema.runContacts.verifiedAt} is null and ${schema.runContacts.retryAt} > ${now} and ${schema.runContacts.retryWhy} = 'budget' then 1 end)`,
      nextAt: sql<number | null>`min(case when ${schema.runContacts.verifiedAt} is null and ${schema.runContacts.retryAt} > ${now} then ${schema.runContacts.retryAt} end)`,
    })
    .from(schema.runContacts)
    .where(eq(schema.runContacts.runId, row.id))
    .get();
  const actions = db
    .select({
      state: schema.runActions.state,
      n: sql<number>`count(*)`,
      retrying: sql<number>`count(case when ${schema.runActions.attempts} > 0 then 1 end)`,
    })
    .from(schema.runActions)
    .where(eq(schema.runActions.runId, row.id))
    .groupBy(schema.runActions.state)
    .all();
  const byState = Object.fromEntries(actions.map((a) => [a.state, Number(a.n)]));
  const retrying = Number(actions.find((a) => a.state === "pending")?.retrying ?? 0);
  const unsent = (byState.failed ?? 0) + (byState.pending ?? 0) + (byState.sending ?? 0);
  const ledger = db
    .select({ kind: schema.creditLedger.kind, total: sql<number>`sum(${schema.creditLedger.amount})` })
    .from(schema.creditLedger)
    .where(eq(schema.creditLedger.runId, row.id))
    .groupBy(schema.creditLedger.kind)
    .all();
  const charged = -Number(ledger.find((l) => l.kind === "charge")?.total ?? 0);
  const refunded = Number(ledger.find((l) => l.kind === "refund")?.total ?? 0);
  const byStatus = Object.fromEntries(VERIFICATION_STATUSES.map((s) => [s, 0]));
  Object.assign(byStatus, countBy(db, row.id, schema.runContacts.status));
  const end = row.finishedAt ?? null;
  return {
    id: row.id,
    connectionId: row.connectionId,
    connectionName: row.connectionName,
    scheduleId: row.scheduleId,
    scope: JSON.parse(row.scope) as RunScope,
    actions: JSON.parse(row.actions) as RunActions,
    smtpProbe: row.smtpProbe,
    status: row.status,
    statusReason: row.statusReason,
    notes: row.notes ? (JSON.parse(row.notes) as string[]) : [],
    progress: {
      total: row.fetchDone ? Number(contacts?.fetched ?? 0) : row.total,
      fetched: Number(contacts?.fetched ?? 0),
      verified: Number(contacts?.verified ?? 0),
      waiting: { count: Number(contacts?.waiting ?? 0), forBudget: Number(contacts?.forBudget ?? 0), nextAt: contacts?.nextAt ? new Date(Number(contacts.nextAt)).toISOString() : null },
      applied: byState.done ?? 0,
      failed: byState.failed ?? 0,
      retrying,
      planned: Object.values(byState).reduce((a, b) => a + b, 0),
    },
    canRetryActions: (row.status === "completed" || row.status === "failed") && row.approvedAt !== null && row.connectionId !== null && unsent > 0,
    counts: { byStatus, byReason: countBy(db, row.id, schema.runContacts.reason) },
    credits: { charged, refunded, net: charged - refunded },
    acRequests: row.acRequests,
    plan: withPlan && row.planReady ? planView(db, row.id) : null,
    timings: {
      createdAt: iso(row.createdAt),
      startedAt: iso(row.startedAt),
      fetchedAt: iso(row.fetchedAt),
      verifiedAt: iso(row.verifiedAt),
      reviewAt: iso(row.reviewAt),
      approvedAt: iso(row.approvedAt),
      finishedAt: iso(row.finishedAt),
      durationMs: row.startedAt && end ? end.getTime() - row.startedAt.getTime() : null,
    },
  };
}

export function planView(db: Db, runId: string): RunPlanView {
  const byAction = db
    .select({ action: schema.runContacts.action, n: sql<number>`count(*)` })
    .from(schema.runContacts)
    .where(eq(schema.runContacts.runId, runId))
    .groupBy(schema.runContacts.action)
    .all();
  const count = (a: string) => Number(byAction.find((r) => r.action === a)?.n ?? 0);
  const requests = db
    .select({ kind: schema.runActions.kind, n: sql<number>`count(*)`, contacts: sql<number>`count(distinct ${schema.runActions.contactId})` })
    .from(schema.runActions)
    .where(eq(schema.runActions.runId, runId))
    .groupBy(schema.runActions.kind)
    .all();
  const unsub = requests.find((r) => r.kind === "unsubscribe");
  const sampleRows = db
    .select({
      contactId: schema.runContacts.contactId,
      email: schema.runContacts.email,
      firstName: schema.runContacts.firstName,
      lastName: schema.runContacts.lastName,
      status: schema.runContacts.status,
      reason: schema.runContacts.reason,
      action: schema.runContacts.action,
    })
    .from(schema.runContacts)
    .where(and(eq(schema.runContacts.runId, runId), inArray(schema.runContacts.action, ["unsubscribe", "delete"])))
    .orderBy(asc(schema.runContacts.action), asc(schema.runContacts.contactId))
    .limit(SAMPLE_SIZE)
    .all();
  const listsOf = new Map<number, number[]>();
  if (sampleRows.length > 0) {
    const acts = db
      .select({ contactId: schema.runActions.contactId, listId: schema.runActions.listId })
      .from(schema.runActions)
      .where(and(eq(schema.runActions.runId, runId), inArray(schema.runActions.contactId, sampleRows.map((r) => r.contactId))))
      .all();
    for (const a of acts) if (a.listId) listsOf.set(a.contactId, [...(listsOf.get(a.contactId) ?? []), a.listId]);
  }
  const unsubContacts = Number(unsub?.contacts ?? 0);
  return {
    keep: count("keep"),
    unsubscribe: { contacts: unsubContacts, requests: Number(unsub?.n ?? 0) },
    delete: { contacts: count("delete") },
    nothingToDo: count("unsubscribe") - unsubContacts,
    sample: sampleRows.map((r) => ({
      contactId: r.contactId,
      email: r.email,
      firstName: r.firstName,
      lastName: r.lastName,
      status: r.status ?? "",
      reason: r.reason ?? "",
      action: r.action ?? "keep",
      lists: listsOf.get(r.contactId) ?? [],
    })),
  };
}

export function hasDestructivePlan(db: Db, runId: string): boolean {
  return Boolean(db.select({ id: schema.runActions.id }).from(schema.runActions).where(eq(schema.runActions.runId, runId)).limit(1).get());
}

export { usesDelete };
