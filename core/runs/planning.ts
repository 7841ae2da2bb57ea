import { statement, type Db } from "../../db/index.ts";
import type { Action } from "../../db/schema/index.ts";
import { VERIFICATION_STATUSES } from "../../verify/taxonomy.ts";
import { labelOf, type RunActions, type RunScope } from "../domain/scope-actions.ts";
import { plural } from "../lib/words.ts";

/**
 * The plan of a run, as SQL over its stored results: which action each contact gets, the AC
 * requests that takes, who is labelled, and the counts every page and file reads. One
 * definition for the worker's first plan (worker/runs/plan.ts, in chunks under the attempt's
 * lease) and for the review's edits (core/services/plan.ts, the whole run in one transaction):
 * planning again is local, never a new check.
 *
 * The counts are one set (docs/run-lifecycle.md, "One set of numbers"): every checked contact
 * is kept, unsubscribed, deleted, or has nothing to do (to unsubscribe, but active on none of
 * the lists concerned); `unsubscribe_requests` are the list memberships changed. Labels are
 * counted beside them.
 */

/** Who gets which action: the first matching case wins; `chosenLists` limits unsubscribes (null: any list). */
export interface PlanRule {
  cases: ({ reason: string; action: Action } | { status: string; action: Action })[];
  otherwise: Action;
  chosenLists: number[] | null;
}

/** Who is labelled: the first matching case wins (a reason's override before its status). */
export interface LabelRule {
  cases: ({ reason: string; label: boolean } | { status: string; label: boolean })[];
  /** Write the reason too (into its own field). */
  withReason: boolean;
}

/** The user's choices as the store applies them: a per-reason override wins over the status. */
export function planRule(actions: RunActions, scope: RunScope): PlanRule {
  return {
    cases: [
      ...actions.overrides.flatMap((o) => (o.action ? [{ reason: o.reason, action: o.action as Action }] : [])),
      ...VERIFICATION_STATUSES.map((status) => ({ status, action: actions[status] })),
    ],
    otherwise: "keep",
    chosenLists: scope.kind === "lists" ? scope.listIds.map(Number) : null,
  };
}

/** Who is labelled in ActiveCampaign: a reason's override (when it says) before its status. */
export function labelRule(actions: RunActions): LabelRule {
  return {
    cases: [
      ...actions.overrides.flatMap((o) => (o.label === undefined ? [] : [{ reason: o.reason, label: o.label }])),
      ...VERIFICATION_STATUSES.map((status) => ({ status, label: labelOf(actions).statuses.includes(status) })),
    ],
    withReason: labelOf(actions).reasonFieldName !== null,
  };
}

const ACTIVE = 1;

/** The last contact of the next chunk of at most `limit` contacts after `afterId`, or null when none is left. */
export function chunkEnd(db: Db, runId: string, afterId: number, limit: number): number | null {
  const row = statement(db, "SELECT max(contact_id) AS last FROM (SELECT contact_id FROM run_contacts WHERE run_id = ? AND contact_id > ? ORDER BY contact_id LIMIT ?)").get(
    runId,
    afterId,
    limit,
  ) as { last: number | null };
  return row.last;
}

/**
 * Decides the action of the contacts in (afterId, last] and records the AC requests it takes:
 * a contact excluded by hand is kept; otherwise overrides by reason, then by status. A delete
 * needs no unsubscribe first; unsubscribe only from lists where the contact is active, and for
 * a list scope only from the chosen lists. Idempotent (planning a range again adds nothing).
 */
export function planRange(db: Db, runId: string, afterId: number, last: number, rule: PlanRule, at: number): void {
  const range = [runId, afterId, last] as const;
  const cases = rule.cases.map((c) => ("reason" in c ? "WHEN reason = ? THEN ?" : "WHEN status = ? THEN ?")).join(" ");
  const caseArgs = rule.cases.flatMap((c) => ["reason" in c ? c.reason : c.status, c.action]);
  statement(db, `UPDATE run_contacts SET action = CASE WHEN excluded = 1 THEN 'keep' ${cases} ELSE ? END WHERE run_id = ? AND contact_id > ? AND contact_id <= ?`).run(
    ...caseArgs,
    rule.otherwise,
    ...range,
  );
  statement(
    db,
    "INSERT INTO run_actions (id, run_id, contact_id, kind, list_id, state, attempts, updated_at) SELECT 'act_' || run_id || '_' || contact_id || '_delete', run_id, contact_id, 'delete', 0, 'pending', 0, ? FROM run_contacts WHERE run_id = ? AND contact_id > ? AND contact_id <= ? AND action = 'delete' ON CONFLICT DO NOTHING",
  ).run(at, ...range);
  const chosen = rule.chosenLists ? ` AND m.list_id IN (${rule.chosenLists.map(() => "?").join(", ")})` : "";
  // The contacts to unsubscribe as a set (their own index), so each membership is one lookup.
  statement(
    db,
    `INSERT INTO run_actions (id, run_id, contact_id, kind, list_id, state, attempts, updated_at) SELECT 'act_' || m.run_id || '_' || m.contact_id || '_' || m.list_id, m.run_id, m.contact_id, 'unsubscribe', m.list_id, 'pending', 0, ? FROM run_memberships m WHERE m.run_id = ? AND m.contact_id > ? AND m.contact_id <= ? AND m.status = ${ACTIVE}${chosen} AND m.contact_id IN (SELECT contact_id FROM run_contacts WHERE run_id = ? AND action = 'unsubscribe' AND contact_id > ? AND contact_id <= ?) ON CONFLICT DO NOTHING`,
  ).run(at, ...range, ...(rule.chosenLists ?? []), ...range);
}

/** Decides who in (afterId, last] is labelled (never a contact excluded by hand). Idempotent. */
export function planLabelRange(db: Db, runId: string, afterId: number, last: number, rule: LabelRule, at: number): void {
  if (!rule.cases.some((c) => c.label)) return;
  const cases = rule.cases.map((c) => ("reason" in c ? "WHEN reason = ? THEN ?" : "WHEN status = ? THEN ?")).join(" ");
  const caseArgs = rule.cases.flatMap((c) => ["reason" in c ? c.reason : c.status, c.label ? 1 : 0]);
  statement(
    db,
    `INSERT INTO run_labels (run_id, contact_id, value, reason, state, updated_at) SELECT run_id, contact_id, status, CASE WHEN ? = 1 THEN reason END, 'pending', ? FROM run_contacts WHERE run_id = ? AND contact_id > ? AND contact_id <= ? AND status IS NOT NULL AND excluded = 0 AND (CASE ${cases} ELSE 0 END) = 1 ON CONFLICT DO NOTHING`,
  ).run(rule.withReason ? 1 : 0, at, runId, afterId, last, ...caseArgs);
}

/** The per-list keys of run_counts ("list"): `<listId>:<what>`. */
export const listKey = (listId: number | string, what: string) => `${listId}:${what}`;

/**
 * Counts the plan once over the whole run and stores it: contacts per action, the plan's
 * totals, the changes planned per list, contacts to label per value, and the run's
 * `actions_planned` and `labels_planned`. `withResults` also counts each list's contacts per
 * reason (the results do not change when the plan does, so the review's edits skip them).
 * Runs in the caller's transaction; returns the figures a hold or an anomaly is judged by.
 */
export function countPlan(db: Db, runId: string, { chosenLists, withResults }: { chosenLists: number[] | null; withResults: boolean }): PlanTotals {
  const put = statement(db, "INSERT INTO run_counts (run_id, kind, key, n) VALUES (?, ?, ?, ?) ON CONFLICT (run_id, kind, key) DO UPDATE SET n = excluded.n");
  const inChosen = (alias: string) => (chosenLists ? ` AND ${alias}.list_id IN (${chosenLists.map(() => "?").join(", ")})` : "");
  const chosen = chosenLists ?? [];

  if (withResults) {
    // Each list's contacts (any status on it), those active on it, and its results per reason.
    statement(db, "DELETE FROM run_counts WHERE run_id = ? AND kind = 'list'").run(runId);
    for (const row of statement(
      db,
      `SELECT m.list_id AS list, count(*) AS n, count(CASE WHEN m.status = ${ACTIVE} THEN 1 END) AS active FROM run_memberships m JOIN run_contacts c ON c.run_id = m.run_id AND c.contact_id = m.contact_id WHERE m.run_id = ?${inChosen("m")} GROUP BY m.list_id`,
    ).all(runId, ...chosen) as { list: number; n: number; active: number }[]) {
      put.run(runId, "list", listKey(row.list, "members"), row.n);
      put.run(runId, "list", listKey(row.list, "active"), row.active);
    }
    for (const row of statement(
      db,
      `SELECT m.list_id AS list, c.reason, count(*) AS n FROM run_memberships m JOIN run_contacts c ON c.run_id = m.run_id AND c.contact_id = m.contact_id WHERE m.run_id = ? AND c.reason IS NOT NULL${inChosen("m")} GROUP BY m.list_id, c.reason`,
    ).all(runId, ...chosen) as { list: number; reason: string; n: number }[]) {
      put.run(runId, "list", listKey(row.list, `reason:${row.reason}`), row.n);
    }
  }

  statement(db, "DELETE FROM run_counts WHERE run_id = ? AND kind IN ('action', 'plan', 'label')").run(runId);
  for (const row of statement(db, "SELECT action, count(*) AS n FROM run_contacts WHERE run_id = ? GROUP BY action").all(runId) as { action: string | null; n: number }[]) {
    if (row.action) put.run(runId, "action", row.action, row.n);
  }
  const byKind = statement(db, "SELECT kind, count(*) AS n, count(DISTINCT contact_id) AS contacts FROM run_actions WHERE run_id = ? GROUP BY kind").all(runId) as {
    kind: "unsubscribe" | "delete";
    n: number;
    contacts: number;
  }[];
  const of = (kind: string) => byKind.find((k) => k.kind === kind) ?? { n: 0, contacts: 0 };
  const excluded = Number((statement(db, "SELECT count(*) AS n FROM run_contacts WHERE run_id = ? AND excluded = 1").get(runId) as { n: number }).n);
  const totals = { unsubscribe_requests: of("unsubscribe").n, unsubscribe_contacts: of("unsubscribe").contacts, delete_contacts: of("delete").contacts, excluded };
  for (const [key, n] of Object.entries(totals)) put.run(runId, "plan", key, n);

  let labelled = 0;
  for (const row of statement(db, "SELECT value, count(*) AS n FROM run_labels WHERE run_id = ? GROUP BY value").all(runId) as { value: string; n: number }[]) {
    put.run(runId, "label", row.value, row.n);
    labelled += Number(row.n);
  }

  // Per list: the memberships changed, and the contacts deleted who are on it.
  statement(db, "DELETE FROM run_counts WHERE run_id = ? AND kind = 'list' AND (key LIKE '%:unsubscribe' OR key LIKE '%:delete')").run(runId);
  for (const row of statement(db, `SELECT a.list_id AS list, count(*) AS n FROM run_actions a WHERE a.run_id = ? AND a.kind = 'unsubscribe'${inChosen("a")} GROUP BY a.list_id`).all(
    runId,
    ...chosen,
  ) as { list: number; n: number }[]) {
    put.run(runId, "list", listKey(row.list, "unsubscribe"), row.n);
  }
  for (const row of statement(
    db,
    `SELECT m.list_id AS list, count(*) AS n FROM run_actions a JOIN run_memberships m ON m.run_id = a.run_id AND m.contact_id = a.contact_id WHERE a.run_id = ? AND a.kind = 'delete'${inChosen("m")} GROUP BY m.list_id`,
  ).all(runId, ...chosen) as { list: number; n: number }[]) {
    put.run(runId, "list", listKey(row.list, "delete"), row.n);
  }

  statement(db, "UPDATE runs SET actions_planned = ?, labels_planned = ? WHERE id = ?").run(of("unsubscribe").n + of("delete").n, labelled, runId);
  const contacts = Number((statement(db, "SELECT contacts_fetched AS n FROM runs WHERE id = ?").get(runId) as { n: number }).n);
  return { contacts, unsubscribeContacts: totals.unsubscribe_contacts, deleteContacts: totals.delete_contacts, destructive: totals.unsubscribe_contacts + totals.delete_contacts, labelled };
}

export interface PlanTotals {
  /** Contacts checked (the share's whole). */
  contacts: number;
  unsubscribeContacts: number;
  deleteContacts: number;
  /** Contacts an unsubscribe or a delete touches. */
  destructive: number;
  labelled: number;
}

/** The share of checked contacts above which a plan is abnormal: a schedule's own threshold, else the server's. */
export function isAnomalous(totals: Pick<PlanTotals, "contacts" | "destructive">, threshold: number): boolean {
  return totals.contacts > 0 && totals.destructive / totals.contacts > threshold;
}

/** A scheduled run that would unsubscribe or delete more than this share holds for review; a manual one's default is ANOMALY_PERCENT. */
export const DEFAULT_HOLD_THRESHOLD = 0.3;

/** The review's sentence: what approving would do, each count named. */
export function reviewReason(totals: Pick<PlanTotals, "unsubscribeContacts" | "deleteContacts" | "labelled">): string {
  const parts = [
    totals.unsubscribeContacts > 0 ? `unsubscribe ${plural(totals.unsubscribeContacts, "contact")}` : null,
    totals.deleteContacts > 0 ? `delete ${plural(totals.deleteContacts, "contact")}` : null,
    totals.labelled > 0 ? `label ${plural(totals.labelled, "contact")} in ActiveCampaign` : null,
  ].filter(Boolean);
  return parts.length > 0 ? `Review the plan: approving would ${parts.join(", ")}` : "Review the plan: approving changes nothing in ActiveCampaign";
}
