import { stringify } from "csv-stringify";
import { and, asc, eq, gt, lte } from "drizzle-orm";
import { Readable } from "node:stream";
import { schema, statement, type Db } from "../../db/index.ts";
import type { Deps, Principal } from "../deps.ts";
import { labelOf } from "../domain/scope-actions.ts";
import { CLASS_WORDS, classOf } from "../domain/results.ts";
import { contactWhere, type ContactFilter } from "./plan.ts";
import { getRunRow, viewOf, type RunView } from "./runs.ts";

export const REPORT_COLUMNS = [
  "contact_id",
  "email",
  "first_name",
  "last_name",
  "lists",
  "list_ids",
  "status",
  "result",
  "reason",
  "flags",
  "suggestion",
  "provider",
  "action",
  "action_list_ids",
  "action_result",
  "label",
  "label_result",
] as const;

const CHUNK = 1_000;

type ActionRow = Pick<typeof schema.runActions.$inferSelect, "contactId" | "kind" | "listId" | "state" | "error">;

/** A list as the report names it: its name when the run fetched, else "list <id>". */
export type ListNamer = (listId: number) => string;
const byId: ListNamer = (id) => `list ${id}`;

/** A run's list names as they were when it fetched (runs from before names were kept: "list <id>"). */
export function listNamer(names: string | null): ListNamer {
  const lists = names ? ((JSON.parse(names) as { lists?: Record<string, string> }).lists ?? {}) : {};
  return (id) => lists[String(id)] ?? byId(id);
}

/** What happened to a contact's planned action, in words, naming the lists. */
export function actionResult(action: string | null, runStatus: string, actions: ActionRow[], listName: ListNamer = byId): string {
  if (!action || action === "keep") return "";
  if (actions.length === 0) return "nothing to do: not active on the lists concerned";
  const outcome = (a: ActionRow) => {
    if (a.state === "done") return `done${a.error ? ` (${a.error})` : ""}`;
    if (a.state === "failed") return `failed: ${a.error ?? "unknown error"}`;
    return runStatus === "cancelled" ? "not applied: run cancelled" : runStatus === "applying" ? "in progress" : "not applied yet";
  };
  const outcomes = actions.map(outcome);
  if (actions[0]!.kind === "delete") return outcomes[0]!;
  if (new Set(outcomes).size === 1) return `${outcomes[0]} (${actions.map((a) => listName(a.listId)).join(", ")})`;
  return actions.map((a, i) => `${listName(a.listId)}: ${outcomes[i]}`).join("; ");
}

interface LabelRow {
  contact_id: number;
  value: string;
  reason: string | null;
  state: string;
  result_code: string | null;
  error: string | null;
  removed_tags: string | null;
  seq: number | null;
  mode: string | null;
  ac_batch_id: string | null;
}

/** What was written to a contact in ActiveCampaign ("risky (accept_all)"), and how that ended. */
export function labelResult(l: LabelRow | undefined, runStatus: string): [string, string] {
  if (!l) return ["", ""];
  const written = l.reason ? `${l.value} (${l.reason})` : l.value;
  const removed = l.removed_tags ? `; removed ${l.removed_tags.split(" ").join(", ")}` : "";
  const batch = l.seq === null ? "" : l.mode === "direct" ? `batch ${l.seq}, per-contact requests` : `import ${l.seq}${l.ac_batch_id ? `, ActiveCampaign batch ${l.ac_batch_id}` : ""}`;
  switch (l.state) {
    case "done":
      return [written, `${l.result_code === "already_current" ? "already current" : "written"}${batch ? ` (${batch})` : ""}${removed}`];
    case "skipped":
      return [written, l.result_code === "email_changed" ? "left out: its e-mail address changed in ActiveCampaign since the check" : "left out: no longer in ActiveCampaign"];
    case "failed":
      return [written, `failed: ${l.error ?? "unknown error"}${batch ? ` (${batch})` : ""}`];
    default:
      return [written, runStatus === "cancelled" ? "not applied: run cancelled" : runStatus === "applying" ? "in progress" : "not applied yet"];
  }
}

function groupBy<T extends { contactId: number }>(rows: T[]): Map<number, T[]> {
  const byContact = new Map<number, T[]>();
  for (const row of rows) {
    const list = byContact.get(row.contactId);
    if (list) list.push(row);
    else byContact.set(row.contactId, [row]);
  }
  return byContact;
}

async function* reportRows(db: Db, runId: string, filter: ContactFilter = {}): AsyncGenerator<string[]> {
  const where = contactWhere(runId, filter);
  const run = db.select({ status: schema.runs.status, names: schema.runs.names }).from(schema.runs).where(eq(schema.runs.id, runId)).get();
  const runStatus = run?.status ?? "";
  const listName = listNamer(run?.names ?? null);
  yield [...REPORT_COLUMNS];
  let after = -1;
  for (;;) {
    const contacts = statement(
      db,
      `SELECT c.contact_id AS contactId, c.email, c.first_name AS firstName, c.last_name AS lastName, c.status, c.reason, c.flags, c.suggestion, c.provider, c.action FROM run_contacts c WHERE ${where.sql} AND c.contact_id > ? ORDER BY c.contact_id LIMIT ?`,
    ).all(...where.args, after, CHUNK) as Pick<typeof schema.runContacts.$inferSelect, "contactId" | "email" | "firstName" | "lastName" | "status" | "reason" | "flags" | "suggestion" | "provider" | "action">[];
    if (contacts.length === 0) return;
    const actions = db
      .select({
        contactId: schema.runActions.contactId,
        kind: schema.runActions.kind,
        listId: schema.runActions.listId,
        state: schema.runActions.state,
        error: schema.runActions.error,
      })
      .from(schema.runActions)
      .where(and(eq(schema.runActions.runId, runId), gt(schema.runActions.contactId, after), lte(schema.runActions.contactId, contacts.at(-1)!.contactId)))
      .orderBy(asc(schema.runActions.listId))
      .all();
    const byContact = groupBy(actions);
    const memberships = groupBy(
      db
        .select({ contactId: schema.runMemberships.contactId, listId: schema.runMemberships.listId })
        .from(schema.runMemberships)
        .where(and(eq(schema.runMemberships.runId, runId), gt(schema.runMemberships.contactId, after), lte(schema.runMemberships.contactId, contacts.at(-1)!.contactId)))
        .orderBy(asc(schema.runMemberships.contactId), asc(schema.runMemberships.listId))
        .all(),
    );
    const labels = new Map(
      (
        statement(
          db,
          "SELECT l.contact_id, l.value, l.reason, l.state, l.result_code, l.error, l.removed_tags, b.seq, b.mode, b.ac_batch_id FROM run_labels l LEFT JOIN run_label_batches b ON b.id = l.batch_id WHERE l.run_id = ? AND l.contact_id > ? AND l.contact_id <= ?",
        ).all(runId, after, contacts.at(-1)!.contactId) as LabelRow[]
      ).map((l) => [l.contact_id, l]),
    );
    for (const c of contacts) {
      const lists = memberships.get(c.contactId) ?? [];
      const acts = byContact.get(c.contactId) ?? [];
      const cls = classOf(c.status, c.reason);
      yield [
        String(c.contactId),
        c.email,
        c.firstName,
        c.lastName,
        // Names for people ("; " as names may hold commas), ids for machines.
        lists.map((m) => listName(m.listId)).join("; "),
        lists.map((m) => m.listId).join(" "),
        c.status ?? "",
        cls ? CLASS_WORDS[cls] : "",
        c.reason ?? "",
        c.flags ?? "",
        c.suggestion ?? "",
        c.provider ?? "",
        c.action ?? "",
        acts.flatMap((a) => (a.kind === "unsubscribe" ? [a.listId] : [])).join(" "),
        actionResult(c.action, runStatus, acts, listName),
        ...labelResult(labels.get(c.contactId), runStatus),
      ];
    }
    after = contacts.at(-1)!.contactId;
    // Let other requests in between chunks of a large report.
    await new Promise((r) => setImmediate(r));
  }
}

/**
 * Spreadsheets run a cell as a formula when it starts with = + - @, and trim leading spaces,
 * tabs and line breaks first; a cell starting with a tab or CR is also treated as a formula
 * by some. Such cells get a leading ' (OWASP's advice), which shows as text.
 */
const FORMULA_START = /^[\s\p{Cc}]*[=+\-@]|^[\t\r\n]/u;
export const neutralizeCell = (cell: string) => (FORMULA_START.test(cell) ? `'${cell}` : cell);

/**
 * The run's report as CSV, streamed in chunks so a large run never sits in memory, every
 * cell passed through neutralizeCell against formula injection (AC data is anyone's).
 */
export function reportCsv(deps: Deps, { ctx, id, filter }: { ctx: Pick<Principal, "workspaceId">; id: string; filter?: ContactFilter }): ReadableStream<Uint8Array> {
  const run = getRunRow(deps.db, { workspaceId: ctx.workspaceId, id });
  const csv = Readable.from(reportRows(deps.db, run.id, filter)).pipe(stringify({ bom: true, cast: { string: neutralizeCell } }));
  return Readable.toWeb(csv) as ReadableStream<Uint8Array>;
}

export function reportSummary(deps: Deps, { ctx, id }: { ctx: Pick<Principal, "workspaceId">; id: string }) {
  const run = getRunRow(deps.db, { workspaceId: ctx.workspaceId, id });
  const view = viewOf(deps, run, true);
  const names = view.names ?? { lists: {}, tags: {} };
  const named = (id: string, of: Record<string, string>) => ({ id, name: of[id] ?? null });
  return {
    runId: view.id,
    connection: view.connectionName,
    scope: view.scope,
    // The scope's lists and tag by name, as ActiveCampaign had them when the run fetched (null: not known).
    scopeNames: {
      lists: view.scope.kind === "lists" ? view.scope.listIds.map((id) => named(id, names.lists)) : [],
      tag: view.scope.kind === "tag" ? named(view.scope.tagId, names.tags) : null,
    },
    actions: view.actions,
    status: view.status,
    statusReason: view.statusReason,
    mailboxChecked: view.mailboxChecked,
    contacts: view.progress.fetched,
    verified: view.progress.verified,
    byStatus: view.counts.byStatus,
    byClass: view.counts.byClass,
    byReason: view.counts.byReason,
    // The plan counted one way (docs/run-lifecycle.md): contacts = keep + unsubscribe.contacts + delete.contacts + nothingToDo.
    plan: view.plan && {
      contacts: view.plan.contacts,
      keep: view.plan.keep,
      unsubscribe: view.plan.unsubscribe,
      delete: view.plan.delete,
      nothingToDo: view.plan.nothingToDo,
      excluded: view.plan.excluded,
      label: view.plan.label,
    },
    // Changes: list memberships unsubscribed and contacts deleted; `planned` is their sum.
    applied: { done: view.progress.applied, failed: view.progress.failed, planned: view.progress.planned, unsubscribe: view.progress.byKind.unsubscribe, delete: view.progress.byKind.delete },
    perList: view.plan?.perList ?? [],
    failures: view.plan?.failures ?? [],
    labels: labelsSummary(deps.db, run.id, view),
    credits: view.credits,
    acRequests: view.acRequests,
    timings: view.timings,
    notes: view.notes,
  };
}

/** The labels' totals for summary.json: counted from the rows once, on download. */
function labelsSummary(db: Db, runId: string, view: RunView) {
  const rows = statement(db, "SELECT state, result_code AS code, value, count(*) AS n FROM run_labels WHERE run_id = ? GROUP BY state, result_code, value").all(runId) as {
    state: string;
    code: string | null;
    value: string;
    n: number;
  }[];
  const sum = (pick: (r: (typeof rows)[number]) => boolean) => rows.filter(pick).reduce((a, r) => a + Number(r.n), 0);
  const byValue: Record<string, number> = {};
  for (const r of rows) if (r.state === "done") byValue[r.value] = (byValue[r.value] ?? 0) + Number(r.n);
  const imports = Number((statement(db, "SELECT coalesce(sum(sends), 0) AS n FROM run_label_batches WHERE run_id = ? AND mode = 'import'").get(runId) as { n: number }).n);
  const label = labelOf(view.actions);
  const labels = view.progress.labels.planned > 0;
  return {
    planned: view.progress.labels.planned,
    written: sum((r) => r.state === "done" && r.code !== "already_current"),
    alreadyCurrent: sum((r) => r.state === "done" && r.code === "already_current"),
    leftOut: { emailChanged: sum((r) => r.state === "skipped" && r.code === "email_changed"), gone: sum((r) => r.state === "skipped" && r.code === "contact_gone") },
    failed: sum((r) => r.state === "failed"),
    pending: sum((r) => r.state === "pending"),
    byValue,
    imports,
    field: labels ? label.fieldName : null,
    reasonField: labels ? label.reasonFieldName : null,
    tagPrefix: labels ? label.tagPrefix : null,
  };
}
