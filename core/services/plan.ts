import { statement, transaction, type Db } from "../../db/index.ts";
import type { Action } from "../../db/schema/index.ts";
import { VERIFICATION_REASONS, VERIFICATION_STATUSES, type VerificationReason, type VerificationStatus } from "../../verify/taxonomy.ts";
import { CLASS_WORDS, classOf, type ResultClass } from "../domain/results.ts";
import { actionsSchema, type RunActions, type RunScope } from "../domain/scope-actions.ts";
import type { Deps, Principal } from "../deps.ts";
import { AppError } from "../errors.ts";
import { countPlan, labelRule, planLabelRange, planRange, planRule, reviewReason } from "../runs/planning.ts";
import { getRun, getRunRow, type RunNames, type RunView } from "./runs.ts";

/**
 * The review's edits (issue 14): change the action of a result or a reason, take single
 * contacts out of the plan or put them back. The results are stored, so planning again is
 * local: nothing is checked or charged again. The whole run is planned again in one
 * transaction (core/runs/planning.ts, the worker's own definition) and counted once.
 */
export interface PlanEdit {
  statuses?: Partial<Record<VerificationStatus, Action>>;
  /** A reason's own action; null: as its result. */
  reasons?: Partial<Record<VerificationReason, Action | null>>;
  exclude?: number[];
  include?: number[];
}

/** At most this many contacts excluded or included by one edit. */
export const MAX_EDIT_CONTACTS = 1_000;

export function editPlan(deps: Deps, { ctx, id, edit }: { ctx: Pick<Principal, "workspaceId">; id: string; edit: PlanEdit }): RunView {
  transaction(deps.db, (tx) => {
    const run = getRunRow(tx, { workspaceId: ctx.workspaceId, id });
    if (run.status !== "awaiting_review" || !run.planReady) {
      throw new AppError("conflict", `This run is ${run.status.replace("_", " ")}; only a plan awaiting review can be changed`);
    }
    const actions = withEdits(JSON.parse(run.actions) as RunActions, edit);
    const contacts = [...(edit.exclude ?? []), ...(edit.include ?? [])];
    if (contacts.length > MAX_EDIT_CONTACTS) throw new AppError("invalid_input", `names more than ${MAX_EDIT_CONTACTS} contacts; change the plan in several steps`, "exclude");
    // Stryker disable next-line ConditionalExpression,EqualityOperator: with no contacts named, SQLite's empty IN () finds none and nothing is marked (`false` is killed by the exclusion tests)
    if (contacts.length > 0) {
      const found = new Set(
        (statement(tx, `SELECT contact_id AS id FROM run_contacts WHERE run_id = ? AND contact_id IN (${contacts.map(() => "?").join(", ")})`).all(id, ...contacts) as { id: number }[]).map((r) =>
          Number(r.id),
        ),
      );
      const missing = contacts.find((c) => !found.has(c));
      if (missing !== undefined) throw new AppError("invalid_input", `contact ${missing} is not in this run`, edit.exclude?.includes(missing) ? "exclude" : "include");
      const mark = statement(tx, "UPDATE run_contacts SET excluded = ? WHERE run_id = ? AND contact_id = ?");
      // Stryker disable next-line ArrayDeclaration: a made-up contact id in place of none matches no row
      for (const c of edit.exclude ?? []) mark.run(1, id, c);
      // Stryker disable next-line ArrayDeclaration: as above
      for (const c of edit.include ?? []) mark.run(0, id, c);
    }
    replan(tx, deps.clock.now(), run.id, actions, JSON.parse(run.scope) as RunScope);
    // A new revision: an approval of the plan as it was before this edit is refused.
    statement(tx, "INSERT INTO run_counts (run_id, kind, key, n) VALUES (?, 'edit', 'revision', 1) ON CONFLICT (run_id, kind, key) DO UPDATE SET n = n + 1").run(run.id);
  });
  deps.logger.info({ runId: id }, "run plan changed at review");
  return getRun(deps, { ctx, id });
}

/** The run's choices with the edit applied; a reason set to its result's action needs no override. */
function withEdits(current: RunActions, edit: PlanEdit): RunActions {
  const next: RunActions = { ...current, overrides: current.overrides.map((o) => ({ ...o })) };
  for (const [status, action] of Object.entries(edit.statuses ?? {})) next[status as VerificationStatus] = action;
  for (const [reason, action] of Object.entries(edit.reasons ?? {})) {
    const at = next.overrides.findIndex((o) => o.reason === reason);
    const override = at === -1 ? { reason: reason as VerificationReason } : next.overrides[at]!;
    if (action === null) delete override.action;
    else override.action = action;
    if (at === -1 && action !== null) next.overrides.push(override);
    if (at !== -1 && override.action === undefined && override.label === undefined) next.overrides.splice(at, 1);
  }
  const parsed = actionsSchema.safeParse(next);
  if (!parsed.success) throw new AppError("invalid_input", parsed.error.issues[0]?.message ?? "is not a valid plan", "actions");
  return parsed.data;
}

/** Plans the whole run again from its stored results and counts it; the run keeps the choices. */
function replan(db: Db, now: number, runId: string, actions: RunActions, scope: RunScope): void {
  statement(db, "DELETE FROM run_actions WHERE run_id = ?").run(runId);
  statement(db, "DELETE FROM run_labels WHERE run_id = ?").run(runId);
  const last = Number((statement(db, "SELECT coalesce(max(contact_id), -1) AS n FROM run_contacts WHERE run_id = ?").get(runId) as { n: number }).n);
  const rule = planRule(actions, scope);
  planRange(db, runId, -1, last, rule, now);
  planLabelRange(db, runId, -1, last, labelRule(actions), now);
  const totals = countPlan(db, runId, { chosenLists: rule.chosenLists, withResults: false });
  statement(db, "UPDATE runs SET actions = ?, status_reason = ?, actions_done = 0, actions_failed = 0 WHERE id = ?").run(JSON.stringify(actions), reviewReason(totals), runId);
}

// ---- the contacts of a run, filtered and paged --------------------------------------------

export const CONTACT_ACTIONS = ["keep", "unsubscribe", "delete", "nothing"] as const;

export interface ContactFilter {
  result?: ResultClass;
  reason?: VerificationReason;
  /** `nothing`: to unsubscribe, but active on none of the lists concerned. */
  action?: (typeof CONTACT_ACTIONS)[number];
  list?: string;
  /** Part of the e-mail address or of the name. */
  q?: string;
  excluded?: boolean;
}

/** A filter from a query's fields (absent or empty: any). */
export function contactFilter(q: { result?: ResultClass | undefined; reason?: VerificationReason | undefined; action?: ContactFilter["action"] | undefined; list?: string | undefined; q?: string | undefined; excluded?: "yes" | "no" | undefined }): ContactFilter {
  return {
    ...(q.result ? { result: q.result } : {}),
    ...(q.reason ? { reason: q.reason } : {}),
    ...(q.action ? { action: q.action } : {}),
    ...(q.list ? { list: q.list } : {}),
    ...(q.q?.trim() ? { q: q.q.trim() } : {}),
    ...(q.excluded ? { excluded: q.excluded === "yes" } : {}),
  };
}

export interface RunContactRow {
  contactId: number;
  email: string;
  firstName: string;
  lastName: string;
  status: string | null;
  result: string;
  reason: string | null;
  action: (typeof CONTACT_ACTIONS)[number];
  excluded: boolean;
  lists: { id: string; name: string | null }[];
  /** The lists the contact is unsubscribed from (ids). */
  changes: string[];
}

/** The SQL condition and arguments of a filter over run_contacts (alias c). */
export function contactWhere(runId: string, f: ContactFilter): { sql: string; args: unknown[] } {
  const parts = ["c.run_id = ?"];
  const args: unknown[] = [runId];
  const hasChange = "EXISTS (SELECT 1 FROM run_actions a WHERE a.run_id = c.run_id AND a.contact_id = c.contact_id)";
  if (f.result === "domain_ok") parts.push("c.reason = 'mail_domain_ok'");
  else if (f.result === "deliverable") parts.push("c.status = 'deliverable' AND c.reason <> 'mail_domain_ok'");
  else if (f.result) {
    parts.push("c.status = ?");
    args.push(f.result);
  }
  if (f.reason) {
    parts.push("c.reason = ?");
    args.push(f.reason);
  }
  if (f.action === "nothing") parts.push(`c.action = 'unsubscribe' AND NOT ${hasChange}`);
  else if (f.action === "unsubscribe") parts.push(`c.action = 'unsubscribe' AND ${hasChange}`);
  else if (f.action) {
    parts.push("c.action = ?");
    args.push(f.action);
  }
  if (f.list) {
    parts.push("EXISTS (SELECT 1 FROM run_memberships m WHERE m.run_id = c.run_id AND m.contact_id = c.contact_id AND m.list_id = ?)");
    args.push(Number(f.list));
  }
  if (f.q) {
    const like = `%${f.q.toLowerCase().replace(/[\\%_]/g, (ch) => `\\${ch}`)}%`;
    parts.push("(lower(c.email) LIKE ? ESCAPE '\\' OR lower(c.first_name || ' ' || c.last_name) LIKE ? ESCAPE '\\')");
    args.push(like, like);
  }
  if (f.excluded !== undefined) {
    parts.push("c.excluded = ?");
    args.push(f.excluded ? 1 : 0);
  }
  return { sql: parts.join(" AND "), args };
}

export function listRunContacts(
  deps: Pick<Deps, "db">,
  { ctx, id, filter, offset, limit }: { ctx: Pick<Principal, "workspaceId">; id: string; filter: ContactFilter; offset: number; limit: number },
): { total: number; contacts: RunContactRow[] } {
  const run = getRunRow(deps.db, { workspaceId: ctx.workspaceId, id });
  const names = run.names ? (JSON.parse(run.names) as RunNames).lists : {};
  const where = contactWhere(run.id, filter);
  const total = Number((statement(deps.db, `SELECT count(*) AS n FROM run_contacts c WHERE ${where.sql}`).get(...where.args) as { n: number }).n);
  const rows = statement(
    deps.db,
    `SELECT c.contact_id AS contactId, c.email, c.first_name AS firstName, c.last_name AS lastName, c.status, c.reason, c.action, c.excluded FROM run_contacts c WHERE ${where.sql} ORDER BY c.contact_id LIMIT ? OFFSET ?`,
  ).all(...where.args, limit, offset) as { contactId: number; email: string; firstName: string; lastName: string; status: string | null; reason: string | null; action: string | null; excluded: number }[];
  const ids = rows.map((r) => r.contactId);
  const lists = new Map<number, string[]>();
  const changes = new Map<number, string[]>();
  if (ids.length > 0) {
    const marks = ids.map(() => "?").join(", ");
    for (const m of statement(deps.db, `SELECT contact_id AS c, list_id AS l FROM run_memberships WHERE run_id = ? AND contact_id IN (${marks}) ORDER BY list_id`).all(run.id, ...ids) as { c: number; l: number }[]) {
      lists.set(m.c, [...(lists.get(m.c) ?? []), String(m.l)]);
    }
    for (const a of statement(deps.db, `SELECT contact_id AS c, list_id AS l, kind FROM run_actions WHERE run_id = ? AND contact_id IN (${marks}) ORDER BY list_id`).all(run.id, ...ids) as {
      c: number;
      l: number;
      kind: string;
    }[]) {
      if (a.kind === "unsubscribe") changes.set(a.c, [...(changes.get(a.c) ?? []), String(a.l)]);
    }
  }
  return {
    total,
    contacts: rows.map((r) => {
      const cls = classOf(r.status, r.reason);
      const action = (r.action ?? "keep") as Action;
      return {
        contactId: Number(r.contactId),
        email: r.email,
        firstName: r.firstName,
        lastName: r.lastName,
        status: r.status,
        result: cls ? CLASS_WORDS[cls] : "",
        reason: r.reason,
        action: action === "unsubscribe" && !changes.has(r.contactId) ? "nothing" : action,
        excluded: Boolean(r.excluded),
        lists: (lists.get(r.contactId) ?? []).map((l) => ({ id: l, name: names[l] ?? null })),
        changes: changes.get(r.contactId) ?? [],
      };
    }),
  };
}

export { VERIFICATION_REASONS, VERIFICATION_STATUSES };
