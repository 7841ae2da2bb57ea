import { and, asc, desc, eq, inArray, sql } from "drizzle-orm";
import type { z } from "zod";
import { schema, statement, transaction, type Db } from "../../db/index.ts";
import type { COUNT_KINDS } from "../../db/schema/index.ts";
import { newId } from "../../db/ids.ts";
import { actionsSchema, scopeSchema, usesDelete, type RunActions, type RunScope, type UploadScope } from "../domain/scope-actions.ts";
import { isCancellable, isLive, type RunStatus } from "../domain/run-status.ts";
import { VERIFICATION_STATUSES } from "../../verify/index.ts";
import type { Deps, Principal } from "../deps.ts";
import { AppError, notFound } from "../errors.ts";
import { plural } from "../lib/words.ts";
import { reopenFailedLabels } from "../runs/labels.ts";
import { cancelRunRow, insertRun, moveRun, reopenActions } from "../runs/store.ts";
import { DEFAULT_HOLD_THRESHOLD, isAnomalous } from "../runs/planning.ts";
import { classCounts, type ResultClass } from "../domain/results.ts";
import { creditsStillNeeded } from "../runs/attempt.ts";
import { backupSummary } from "../runs/backups.ts";
import { getConnectionRow } from "./connections.ts";
import { cachedScopeTotal } from "./estimate.ts";

type RunRow = typeof schema.runs.$inferSelect;

const SAMPLE_SIZE = 20;

export interface CreateRunInput {
  connectionId: string;
  /** The scope's size as counted before the run (the connection page's estimate), when known. */
  estimatedTotal?: number | null;
  scope: RunScope;
  /** As the API takes it; parsed here (defaults filled in). */
  actions: z.input<typeof actionsSchema>;
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
  const scope = parseOrThrow(scopeSchema, input.scope, "scope");
  const row = insertRun(deps.db, {
    id: newId("run", now),
    workspaceId: ctx.workspaceId,
    connectionId: connection.id,
    connectionName: connection.name,
    scope: JSON.stringify(scope),
    actions: JSON.stringify(parseOrThrow(actionsSchema, input.actions, "actions")),
    smtpProbe: input.smtpProbe ?? false,
    // The counts the connection page just showed, when still fresh: the total is estimated from the start.
    estimatedTotal: input.estimatedTotal ?? cachedScopeTotal(deps, connection.id, scope),
    scheduleId: schedule?.id ?? null,
    autoApply: schedule?.autoApply ?? false,
    // A schedule's own hold threshold; for a manual run the share above which approving needs the count typed.
    holdThreshold: schedule?.holdThreshold ?? deps.config.ANOMALY_PERCENT / 100,
    deleteConfirmed: schedule?.deleteConfirmed ?? false,
    notes: schedule?.notes.length ? JSON.stringify(schedule.notes) : null,
    createdAt: new Date(now),
  });
  deps.logger.info({ runId: row.id, workspaceId: ctx.workspaceId, connectionId: connection.id }, "run queued");
  deps.onRunWork?.();
  return getRun(deps, { ctx, id: row.id });
}

/** Callers other than the route (the scheduler, the dashboard) get the same field errors. */
function parseOrThrow<T extends z.ZodType>(schema: T, value: unknown, name: string): z.output<T> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  // Stryker disable next-line OptionalChaining,ArrayDeclaration: a failed safeParse has at least one issue
  const path = issue?.path.map(String) ?? [];
  // Stryker disable next-line OptionalChaining,StringLiteral: a failed safeParse has at least one issue
  const message = issue?.message ?? "is invalid";
  throw new AppError("invalid_input", message, [name, ...path].join("."));
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
  // Runs on ActiveCampaign; an upload's run is listed with its upload (core/services/uploads.ts).
  const where = connectionId
    ? and(eq(schema.runs.workspaceId, ctx.workspaceId), eq(schema.runs.connectionId, connectionId))
    : and(eq(schema.runs.workspaceId, ctx.workspaceId), eq(schema.runs.source, "ac"));
  return deps.db
    .select()
    .from(schema.runs)
    .where(where)
    .orderBy(desc(schema.runs.createdAt), desc(schema.runs.id))
    .limit(limit)
    .all()
    .map((row) => viewOf(deps, row, false));
}

/** Every run of the workspace that waits for the user: a review to give, or credits to add. */
export function runsWaitingForUser(deps: Deps, { ctx }: { ctx: Pick<Principal, "workspaceId"> }): RunView[] {
  return deps.db
    .select()
    .from(schema.runs)
    .where(and(eq(schema.runs.workspaceId, ctx.workspaceId), inArray(schema.runs.status, ["awaiting_review", "paused_credits"])))
    .orderBy(asc(schema.runs.createdAt))
    .limit(100)
    .all()
    .map((row) => viewOf(deps, row, false));
}

export function getRun(deps: Deps, { ctx, id }: { ctx: Pick<Principal, "workspaceId">; id: string }): RunView {
  return viewOf(deps, getRunRow(deps.db, { workspaceId: ctx.workspaceId, id }), true);
}

const words = (status: RunStatus) => status.replace("_", " ");

/** A move the run's status does not allow, as the user reads it. */
function refused(status: RunStatus, what: string): never {
  throw new AppError("conflict", `This run is ${words(status)}; ${what}`);
}

/**
 * Approves the reviewed plan; deletes need `confirmDelete: true`, and a plan that unsubscribes
 * or deletes more than the run's threshold of its contacts needs that number of contacts as
 * `confirmCount` (the anomaly guard, issue 14). `planRevision`, when given, is the plan's revision
 * the approver was shown: an approval of a plan edited since (another tab, a teammate) is
 * refused, so the confirmations always speak of the plan that is applied. The worker then applies it.
 */
export function approveRun(
  deps: Deps,
  {
    ctx,
    id,
    confirmDelete,
    confirmCount,
    planRevision,
  }: { ctx: Pick<Principal, "workspaceId">; id: string; confirmDelete: boolean; confirmCount?: number | null; planRevision?: number | null },
): RunView {
  transaction(deps.db, (tx) => {
    const run = getRunRow(tx, { workspaceId: ctx.workspaceId, id });
    if (run.status !== "awaiting_review") refused(run.status, "only a run awaiting review can be approved");
    if (!run.connectionId) {
      throw new AppError("conflict", "The ActiveCampaign connection of this run was deleted; nothing can be applied. Cancel the run, or connect the account again and start a new run");
    }
    if (planRevision !== undefined && planRevision !== null) {
      const current = countsOf(tx, id, "edit").revision ?? 0;
      if (planRevision !== current) {
        throw new AppError("conflict", "The plan was changed after you looked at it (in another tab, or by a teammate); nothing was applied. Look at the review again, then approve", "planRevision");
      }
    }
    const deletes = tx
      .select({ n: sql<number>`count(*)` })
      .from(schema.runActions)
      .where(and(eq(schema.runActions.runId, id), eq(schema.runActions.kind, "delete")))
      .get();
    const anomaly = planView(tx, run).anomaly;
    if (anomaly.needsConfirmation && confirmCount !== anomaly.count) {
      throw new AppError(
        "invalid_input",
        `This plan unsubscribes or deletes ${plural(anomaly.count, "contact")}, ${Math.round(anomaly.share * 100)}% of those checked (more than ${Math.round(anomaly.threshold * 100)}%); ` +
          `send {"confirmCount": ${anomaly.count}} to approve it`,
        "confirmCount",
      );
    }
    // Stryker disable next-line OptionalChaining: count(*) always returns a row
    if ((deletes?.n ?? 0) > 0 && !confirmDelete) {
      throw new AppError(
        "invalid_input",
        `This plan deletes ${plural(deletes?.n ?? 0, "contact")} from ActiveCampaign; send {"confirmDelete": true} to approve it`,
        "confirmDelete",
      );
    }
    moveRun(tx, run, "applying", {
      statusReason: null,
      approvedAt: new Date(deps.clock.now()),
      deleteConfirmed: confirmDelete,
      anomalyConfirmed: anomaly.needsConfirmation,
      notBefore: null,
      rateFromAt: new Date(deps.clock.now()),
      // Stryker disable next-line ArithmeticOperator: a run in review has applied and failed nothing yet (both 0)
      rateFromCount: run.actionsDone + run.actionsFailed,
    });
  });
  deps.logger.info({ runId: id }, "run approved");
  deps.onRunWork?.();
  return getRun(deps, { ctx, id });
}

/**
 * Stops a run before anything is changed in AC. Contacts charged but not yet verified are
 * refunded. A run already applying cannot be cancelled halfway.
 */
export function cancelRun(deps: Deps, { ctx, id }: { ctx: Pick<Principal, "workspaceId">; id: string }): RunView {
  transaction(deps.db, (tx) => {
    const run = getRunRow(tx, { workspaceId: ctx.workspaceId, id });
    if (!isCancellable(run.status)) refused(run.status, "it can no longer be cancelled");
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
    const labelsLeft = reopenFailedLabels(tx, run.id, deps.clock.now());
    const reopened = reopenActions(tx, deps.clock, run, labelsLeft);
    if (reopened === null) throw new AppError("conflict", "This run has no failed changes to retry");
    return reopened;
  });
  deps.logger.info({ runId: id, retried }, "run changes retried");
  deps.onRunWork?.();
  return getRun(deps, { ctx, id });
}

export interface RunView {
  id: string;
  connectionId: string | null;
  connectionName: string;
  scheduleId: string | null;
  scope: RunScope | UploadScope;
  /** AC's names of lists and tags as they were when the run fetched (null for runs from before names were kept). */
  names: RunNames | null;
  actions: RunActions;
  smtpProbe: boolean;
  /** Whether mailboxes were really checked (the probe ran); null until verification starts. */
  mailboxChecked: boolean | null;
  status: RunStatus;
  statusReason: string | null;
  notes: string[];
  progress: {
    /** Contacts in the scope: exact (de-duplicated) once fetched, an estimate before (`totalEstimated`), null when unknown yet. */
    total: number | null;
    totalEstimated: boolean;
    /** Contacts (while checking) or changes (while applying) per minute over the current stretch of work; null until measurable. */
    perMinute: number | null;
    /** At that rate, how long the rest takes; null when unknown. */
    secondsLeft: number | null;
    /** Paused for credits: about how many more credits the rest of the run needs. */
    creditsStillNeeded: number | null;
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
    /**
     * Contacts to label in ActiveCampaign (issue 17): planned, written (or already as wanted),
     * left out (their e-mail changed or they were gone when re-read), failed.
     */
    labels: { planned: number; done: number; skipped: number; failed: number; byValue: Record<string, number> };
    /**
     * The changes per kind, planned and sent so far: list memberships unsubscribed, contacts
     * deleted (`planned` + `delete.planned` = `planned`).
     */
    byKind: { unsubscribe: { planned: number; done: number; failed: number }; delete: { planned: number; done: number; failed: number } };
  };
  /** An applied run with changes that failed (or were never sent) can send them again. */
  canRetryActions: boolean;
  counts: { byStatus: Record<string, number>; byReason: Record<string, number>; byClass: Record<ResultClass, number> };
  credits: { charged: number; refunded: number; net: number };
  acRequests: number;
  /** Undoing the run's unsubscribes (issue 14): whether it can be asked for, until when, and how it went. */
  undo: UndoView;
  /** The backup of the contacts the run deleted: how many are kept, and when the first goes (null: none kept). */
  backup: { contacts: number; expiresAt: string | null };
  plan: RunPlanView | null;
  timings: Record<"createdAt" | "startedAt" | "fetchedAt" | "verifiedAt" | "reviewAt" | "approvedAt" | "finishedAt", string | null> & {
    durationMs: number | null;
  };
}

export interface UndoView {
  /** "none": not asked for; "running": being undone; "done": finished. */
  state: "none" | "running" | "done";
  /** Whether an undo can be asked for now (a finished run, within the window, with unsubscribes of its own). */
  available: boolean;
  /** Until when it can be asked for (null: the run has not finished or unsubscribed no one). */
  until: string | null;
  /** The list memberships the run unsubscribed (of contacts still there then): what an undo looks at. */
  memberships: number;
  contacts: number;
  /** Once asked for: memberships re-subscribed, left as they are (changed since, gone), refused by AC, still to do. */
  restored: number;
  skipped: number;
  failed: number;
  pending: number;
}

export interface RunNames {
  lists: Record<string, string>;
  tags: Record<string, string>;
}

/**
 * The plan, counted one way everywhere: every checked contact is kept, unsubscribed, deleted
 * or has nothing to do (`contacts` is their sum); `unsubscribe.requests` are the list
 * memberships changed; labels are counted beside.
 */
export interface RunPlanView {
  contacts: number;
  keep: number;
  unsubscribe: { contacts: number; requests: number };
  delete: { contacts: number };
  /** Contacts whose action is unsubscribe but who are active on none of the lists concerned. */
  nothingToDo: number;
  /** Contacts taken out of the plan by hand (counted among `keep`). */
  excluded: number;
  /** Labels in ActiveCampaign: not destructive, shown and counted. `byValue`: contacts per status word written. */
  label: { contacts: number; byValue: Record<string, number> };
  /** Raised by each edit at review: an approval that names the revision it was shown is refused when the plan changed since. */
  revision: number;
  /** A plan that unsubscribes or deletes more than `threshold` of the contacts checked needs `confirmCount` (the number `count`) to be approved. */
  anomaly: { threshold: number; share: number; count: number; needsConfirmation: boolean };
  /** Results and changes per list (the chosen lists, or every list of the contacts checked). */
  perList: ListResult[];
  /** Changes ActiveCampaign refused, with its words (the first 20). */
  failures: { contactId: number; email: string; kind: "unsubscribe" | "delete"; listId: number | null; error: string }[];
  /** The changes first (unsubscribes, deletes), then contacts only labelled; `label` is the status word written, or null. */
  sample: { contactId: number; email: string; firstName: string; lastName: string; status: string; reason: string; action: string; lists: number[]; label: string | null }[];
}

export interface ListResult {
  listId: string;
  /** The list's name when the run fetched, or null when it is not known. */
  name: string | null;
  /** Contacts checked who are on the list (any status), and those active on it. */
  contacts: number;
  active: number;
  byClass: Record<ResultClass, number>;
  /** Memberships of this list to unsubscribe, and those done and failed. */
  unsubscribe: { planned: number; done: number; failed: number };
  /** Contacts on this list to delete, and those deleted. */
  delete: { planned: number; done: number };
}

const DAY_MS = 86_400_000;

function undoViewOf(db: Db, row: RunRow, now: number, undoDays: number, unsubscribed: number): UndoView {
  const none: UndoView = { state: "none", available: false, until: null, memberships: 0, contacts: 0, restored: 0, skipped: 0, failed: 0, pending: 0 };
  if (unsubscribed === 0) return none;
  const own = statement(
    db,
    "SELECT count(*) AS n, count(DISTINCT contact_id) AS contacts FROM run_actions WHERE run_id = ? AND kind = 'unsubscribe' AND state = 'done' AND result_code IS NULL",
  ).get(row.id) as { n: number; contacts: number };
  const until = row.finishedAt && Number(own.n) > 0 ? row.finishedAt.getTime() + undoDays * DAY_MS : null;
  const view: UndoView = {
    ...none,
    memberships: Number(own.n),
    contacts: Number(own.contacts),
    until: until === null ? null : new Date(until).toISOString(),
    available: !row.undoRequestedAt && row.status === "completed" && row.connectionId !== null && until !== null && now < until,
  };
  if (!row.undoRequestedAt) return view;
  const by = Object.fromEntries(
    (statement(db, "SELECT state, count(*) AS n FROM run_undos WHERE run_id = ? GROUP BY state").all(row.id) as { state: string; n: number }[]).map((r) => [r.state, Number(r.n)]),
  );
  return {
    ...view,
    state: row.undoFinishedAt ? "done" : "running",
    restored: by.done ?? 0,
    skipped: by.skipped ?? 0,
    failed: by.failed ?? 0,
    pending: (by.pending ?? 0) + (by.sending ?? 0),
  };
}

/** The maintained counts of a run's contacts per status, reason or planned action. */
function countsOf(db: Db, runId: string, kind: (typeof COUNT_KINDS)[number]): Record<string, number> {
  const rows = statement(db, "SELECT key, n FROM run_counts WHERE run_id = ? AND kind = ? AND n > 0").all(runId, kind) as { key: string; n: number }[];
  return Object.fromEntries(rows.map((r) => [r.key, Number(r.n)]));
}

function iso(d: Date | null): string | null {
  return d ? d.toISOString() : null;
}

/** A run as the API and pages show it, at the clock's now. */
export function viewOf(deps: Pick<Deps, "db" | "clock" | "config">, row: RunRow, withPlan: boolean): RunView {
  return runView(deps.db, row, { withPlan, now: deps.clock.now(), undoDays: deps.config.UNDO_DAYS });
}

/**
 * A run as the API and pages show it. Reads the counters the run store keeps, never counts a
 * large run's rows: a progress poll costs a few indexed reads whatever the run's size.
 */
export function runView(db: Db, row: RunRow, { withPlan, now, undoDays }: { withPlan: boolean; now: number; undoDays: number }): RunView {
  const waiting = isLive(row.status)
    ? (statement(
        db,
        "SELECT count(*) AS n, count(CASE WHEN retry_why = 'budget' THEN 1 END) AS budget, min(retry_at) AS next FROM run_contacts WHERE run_id = ? AND verified_at IS NULL AND retry_at > ?",
      ).get(row.id, now) as { n: number; budget: number; next: number | null })
    : { n: 0, budget: 0, next: null };
  const retrying =
    row.status === "applying"
      ? Number((statement(db, "SELECT count(*) AS n FROM run_actions WHERE run_id = ? AND state = 'pending' AND attempts > 0").get(row.id) as { n: number }).n)
      : 0;
  const charged = row.creditsCharged;
  const refunded = row.creditsRefunded;
  const byStatus = Object.fromEntries(VERIFICATION_STATUSES.map((s) => [s, 0]));
  Object.assign(byStatus, countsOf(db, row.id, "status"));
  const end = row.finishedAt ?? null;
  const estimate = row.estimatedTotal ?? row.total;
  const total = row.fetchDone ? row.contactsFetched : estimate === null ? null : Math.max(estimate, row.contactsFetched);
  const pace = paceOf(row, total, now);
  const byReason = countsOf(db, row.id, "reason");
  const done = row.actionsDone + row.actionsFailed > 0 ? countsOf(db, row.id, "done") : {};
  const failedByKind = row.actionsFailed > 0 ? countsOf(db, row.id, "failed") : {};
  const planned = row.planReady ? countsOf(db, row.id, "plan") : {};
  return {
    id: row.id,
    connectionId: row.connectionId,
    connectionName: row.connectionName,
    scheduleId: row.scheduleId,
    scope: JSON.parse(row.scope) as RunScope | UploadScope,
    names: row.names ? (JSON.parse(row.names) as RunNames) : null,
    actions: JSON.parse(row.actions) as RunActions,
    smtpProbe: row.smtpProbe,
    mailboxChecked: row.mailboxChecked,
    status: row.status,
    statusReason: row.statusReason,
    notes: row.notes ? (JSON.parse(row.notes) as string[]) : [],
    progress: {
      total,
      // An upload's total is its unique addresses, counted before it started: exact from the start.
      totalEstimated: !row.fetchDone && total !== null && row.source !== "upload",
      perMinute: pace.perMinute,
      secondsLeft: pace.secondsLeft,
      creditsStillNeeded: row.status === "paused_credits" ? creditsStillNeeded(row).credits : null,
      fetched: row.contactsFetched,
      verified: row.contactsVerified,
      waiting: { count: Number(waiting.n), forBudget: Number(waiting.budget), nextAt: waiting.next === null ? null : new Date(Number(waiting.next)).toISOString() },
      applied: row.actionsDone,
      failed: row.actionsFailed,
      retrying,
      planned: row.actionsPlanned,
      labels: {
        planned: row.labelsPlanned,
        done: row.labelsDone,
        skipped: row.labelsSkipped,
        failed: row.labelsFailed,
        byValue: row.labelsPlanned > 0 ? countsOf(db, row.id, "label_done") : {},
      },
      byKind: {
        unsubscribe: { planned: planned.unsubscribe_requests ?? 0, done: done.unsubscribe ?? 0, failed: failedByKind.unsubscribe ?? 0 },
        delete: { planned: planned.delete_contacts ?? 0, done: done.delete ?? 0, failed: failedByKind.delete ?? 0 },
      },
    },
    canRetryActions:
      (row.status === "completed" || row.status === "failed") &&
      row.approvedAt !== null &&
      row.connectionId !== null &&
      (row.actionsPlanned > row.actionsDone || row.labelsPlanned > row.labelsDone + row.labelsSkipped),
    counts: { byStatus, byReason, byClass: classCounts(byReason) },
    credits: { charged, refunded, net: charged - refunded },
    acRequests: row.acRequests,
    undo: undoViewOf(db, row, now, undoDays, done.unsubscribe ?? 0),
    backup: (done.delete ?? 0) > 0 ? backupSummary(db, row.id, now) : { contacts: 0, expiresAt: null },
    plan: withPlan && row.planReady ? planView(db, row) : null,
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

/** Below this much time or work the rate is noise: none is shown. */
const PACE_MIN_MS = 3_000;

/** The rate of the current stretch of work (checking or applying) and the time the rest takes at it. */
function paceOf(row: RunRow, total: number | null, now: number): { perMinute: number | null; secondsLeft: number | null } {
  const none = { perMinute: null, secondsLeft: null };
  if (!row.rateFromAt || (row.status !== "running" && row.status !== "applying")) return none;
  const elapsed = now - row.rateFromAt.getTime();
  const done = row.status === "running" ? row.contactsVerified : row.actionsDone + row.actionsFailed;
  const moved = done - row.rateFromCount;
  if (elapsed < PACE_MIN_MS || moved <= 0) return none;
  const perMs = moved / elapsed;
  const left = row.status === "running" ? (total === null ? null : Math.max(0, total - row.contactsVerified)) : Math.max(0, row.actionsPlanned - done);
  return { perMinute: Math.round(perMs * 60_000), secondsLeft: left === null ? null : Math.ceil(left / perMs / 1000) };
}

export function planView(db: Db, run: RunRow): RunPlanView {
  const runId = run.id;
  const byAction = countsOf(db, runId, "action");
  const totals = countsOf(db, runId, "plan");
  const byLabel = countsOf(db, runId, "label");
  const count = (a: string) => byAction[a] ?? 0;
  const unsubContacts = totals.unsubscribe_contacts ?? 0;
  const nothingToDo = count("unsubscribe") - unsubContacts;
  const destructive = unsubContacts + count("delete");
  const contacts = count("keep") + count("unsubscribe") + count("delete");
  const threshold = run.holdThreshold ?? DEFAULT_HOLD_THRESHOLD;
  const failures =
    run.actionsFailed > 0
      ? (
          statement(
            db,
            "SELECT a.contact_id AS contactId, c.email, a.kind, a.list_id AS listId, a.error FROM run_actions a JOIN run_contacts c ON c.run_id = a.run_id AND c.contact_id = a.contact_id WHERE a.run_id = ? AND a.state = 'failed' ORDER BY a.contact_id, a.list_id LIMIT ?",
          ).all(runId, SAMPLE_SIZE) as { contactId: number; email: string; kind: "unsubscribe" | "delete"; listId: number; error: string | null }[]
        ).map((f) => ({ ...f, listId: f.kind === "delete" ? null : f.listId, error: f.error ?? "ActiveCampaign gave no reason" }))
      : [];
  return {
    contacts,
    keep: count("keep"),
    unsubscribe: { contacts: unsubContacts, requests: totals.unsubscribe_requests ?? 0 },
    delete: { contacts: count("delete") },
    nothingToDo,
    excluded: totals.excluded ?? 0,
    label: { contacts: Object.values(byLabel).reduce((a, b) => a + b, 0), byValue: byLabel },
    revision: countsOf(db, runId, "edit").revision ?? 0,
    anomaly: {
      threshold,
      share: contacts ? destructive / contacts : 0,
      count: destructive,
      needsConfirmation: run.status === "awaiting_review" && isAnomalous({ contacts, destructive }, threshold),
    },
    perList: perListOf(db, run),
    failures,
    sample: planSample(db, runId),
  };
}

/** At most this many lists in a run's results per list (an account-wide run can touch hundreds). */
const MAX_LISTS = 100;

/** Each list's results and changes, from the counters the plan and the apply stage keep (run_counts "list"). */
function perListOf(db: Db, run: RunRow): ListResult[] {
  const names = run.names ? (JSON.parse(run.names) as RunNames).lists : {};
  const byList = new Map<string, Record<string, number>>();
  for (const [key, n] of Object.entries(countsOf(db, run.id, "list"))) {
    const cut = key.indexOf(":");
    const list = key.slice(0, cut);
    const entry = byList.get(list) ?? {};
    entry[key.slice(cut + 1)] = n;
    byList.set(list, entry);
  }
  return [...byList.entries()]
    .filter(([, m]) => (m.members ?? 0) > 0)
    .sort((a, b) => (b[1].members ?? 0) - (a[1].members ?? 0) || Number(a[0]) - Number(b[0]))
    .slice(0, MAX_LISTS)
    .map(([listId, m]) => ({
      listId,
      name: names[listId] ?? null,
      contacts: m.members ?? 0,
      active: m.active ?? 0,
      byClass: classCounts(Object.fromEntries(Object.entries(m).flatMap(([k, n]) => (k.startsWith("reason:") ? [[k.slice("reason:".length), n]] : [])))),
      unsubscribe: { planned: m.unsubscribe ?? 0, done: m.unsubscribed ?? 0, failed: m.failed ?? 0 },
      delete: { planned: m.delete ?? 0, done: m.deleted ?? 0 },
    }));
}

/** The changes first (unsubscribes, deletes), then contacts only labelled; with the lists each change concerns and the label written. */
function planSample(db: Db, runId: string): RunPlanView["sample"] {
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
    // Only contacts with a change (not those to unsubscribe who are active on none of the lists concerned).
    .where(
      and(
        eq(schema.runContacts.runId, runId),
        inArray(schema.runContacts.action, ["unsubscribe", "delete"]),
        sql`exists (select 1 from run_actions a where a.run_id = ${schema.runContacts.runId} and a.contact_id = ${schema.runContacts.contactId})`,
      ),
    )
    .orderBy(asc(schema.runContacts.action), asc(schema.runContacts.contactId))
    .limit(SAMPLE_SIZE)
    .all();
  // Too few changes to fill the sample: contacts that are only labelled follow.
  const labelled =
    sampleRows.length < SAMPLE_SIZE
      ? (statement(
          db,
          "SELECT c.contact_id AS contactId, c.email, c.first_name AS firstName, c.last_name AS lastName, c.status, c.reason, c.action FROM run_labels l JOIN run_contacts c ON c.run_id = l.run_id AND c.contact_id = l.contact_id WHERE l.run_id = ? AND (c.action IS NULL OR c.action = 'keep') ORDER BY l.contact_id LIMIT ?",
        ).all(runId, SAMPLE_SIZE - sampleRows.length) as typeof sampleRows)
      : [];
  sampleRows.push(...labelled);
  const labelOf = new Map<number, string>();
  if (sampleRows.length > 0) {
    const ids = sampleRows.map((r) => r.contactId);
    const rows = statement(db, `SELECT contact_id, value FROM run_labels WHERE run_id = ? AND contact_id IN (${ids.map(() => "?").join(", ")})`).all(runId, ...ids) as {
      contact_id: number;
      value: string;
    }[];
    for (const r of rows) labelOf.set(r.contact_id, r.value);
  }
  const listsOf = new Map<number, number[]>();
  if (sampleRows.length > 0) {
    const acts = db
      .select({ contactId: schema.runActions.contactId, listId: schema.runActions.listId })
      .from(schema.runActions)
      .where(and(eq(schema.runActions.runId, runId), inArray(schema.runActions.contactId, sampleRows.map((r) => r.contactId))))
      .all();
    for (const a of acts) if (a.listId) listsOf.set(a.contactId, [...(listsOf.get(a.contactId) ?? []), a.listId]);
  }
  return sampleRows.map((r) => ({
    contactId: r.contactId,
    email: r.email,
    firstName: r.firstName,
    lastName: r.lastName,
    status: r.status ?? "",
    reason: r.reason ?? "",
    action: r.action ?? "keep",
    lists: listsOf.get(r.contactId) ?? [],
    label: labelOf.get(r.contactId) ?? null,
  }));
}

export function hasDestructivePlan(db: Db, runId: string): boolean {
  return Boolean(db.select({ id: schema.runActions.id }).from(schema.runActions).where(eq(schema.runActions.runId, runId)).limit(1).get());
}

export { usesDelete };
