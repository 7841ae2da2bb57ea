import { Readable } from "node:stream";
import { stringify } from "csv-stringify";
import { statement, type Db } from "../../db/index.ts";
import type { Deps, Principal } from "../deps.ts";
import { AppError } from "../errors.ts";
import { backupSummary, openBackup, type BackupRecord } from "../runs/backups.ts";
import { neutralizeCell } from "./reports.ts";
import { getRunRow } from "./runs.ts";

/**
 * Backups of the contacts a run deleted (issue 14): kept sealed in run_backups (see
 * core/runs/backups.ts), read back only through the run's workspace, downloadable as CSV in
 * the shape of ActiveCampaign's contact import and as JSON in the shape of its bulk import
 * API, purged BACKUP_RETENTION_DAYS after they were taken.
 */

const CHUNK = 500;

/** The run's backups, opened, in contact order, a chunk at a time; 404 when there are none (none deleted, or purged). */
function backedUpRun(deps: Deps, ctx: Pick<Principal, "workspaceId">, id: string): { runId: string; records: () => Generator<BackupRecord[]> } {
  const run = getRunRow(deps.db, { workspaceId: ctx.workspaceId, id });
  const now = deps.clock.now();
  if (backupSummary(deps.db, run.id, now).contacts === 0) {
    throw new AppError("not_found", `This run has no backup of deleted contacts: it deleted none, or its backup was removed ${deps.config.BACKUP_RETENTION_DAYS} days after the delete`);
  }
  const page = statement(
    deps.db,
    "SELECT contact_id, sealed FROM run_backups WHERE run_id = ? AND workspace_id = ? AND expires_at > ? AND contact_id > ? ORDER BY contact_id LIMIT ?",
  );
  function* records(): Generator<BackupRecord[]> {
    for (let after = -1; ; ) {
      const rows = page.all(run.id, ctx.workspaceId, now, after, CHUNK) as { contact_id: number; sealed: string }[];
      if (rows.length === 0) return;
      yield rows.map((r) => openBackup(deps.backupBox, run.id, r.contact_id, r.sealed));
      after = rows.at(-1)!.contact_id;
    }
  }
  return { runId: run.id, records };
}

const STATUS_WORDS: Record<number, string> = { 0: "unconfirmed", 1: "active", 2: "unsubscribed", 3: "bounced" };
const named = (x: { id: string; name: string | null }) => x.name ?? `#${x.id}`;

/**
 * CSV for ActiveCampaign's contact import: "Email", "First Name", "Last Name", "Phone" and
 * "Tags" (comma-separated names) as AC's importer maps them, then one column per custom
 * field (its title), then what the importer cannot take from a column and the user chooses
 * while importing: the lists the contact was active on, and its other list statuses, and its
 * old ActiveCampaign id. Cells a spreadsheet would run as formulas get a leading ' (the JSON
 * keeps the values exactly).
 */
export function backupCsv(deps: Deps, { ctx, id }: { ctx: Pick<Principal, "workspaceId">; id: string }): ReadableStream<Uint8Array> {
  const { records } = backedUpRun(deps, ctx, id);
  // Custom field columns: every title of the backup, in order of the field id.
  const fields = new Map<string, string>();
  for (const chunk of records()) for (const r of chunk) for (const f of r.fields) fields.set(f.id, f.title ?? `Field #${f.id}`);
  const fieldIds = [...fields.keys()].sort((a, b) => Number(a) - Number(b));
  function* rows(): Generator<string[]> {
    yield ["Email", "First Name", "Last Name", "Phone", "Tags", ...fieldIds.map((f) => fields.get(f)!), "Active on lists", "Other list statuses", "ActiveCampaign ID"];
    for (const chunk of records()) {
      for (const r of chunk) {
        const values = new Map(r.fields.map((f) => [f.id, f.value]));
        yield [
          r.email,
          r.firstName,
          r.lastName,
          r.phone,
          r.tags.map(named).join(", "),
          ...fieldIds.map((f) => values.get(f) ?? ""),
          r.lists.filter((l) => l.status === 1).map(named).join("; "),
          r.lists.filter((l) => l.status !== 1).map((l) => `${named(l)}: ${STATUS_WORDS[l.status] ?? `status ${l.status}`}`).join("; "),
          r.contactId,
        ];
      }
    }
  }
  const csv = Readable.from(rows()).pipe(stringify({ bom: true, cast: { string: neutralizeCell } }));
  return Readable.toWeb(csv) as ReadableStream<Uint8Array>;
}

/** One contact in the shape of AC's bulk import (POST /api/3/import/bulk_import), plus what it was in AC. */
export function importContactOf(r: BackupRecord) {
  return {
    email: r.email,
    first_name: r.firstName,
    last_name: r.lastName,
    phone: r.phone,
    tags: r.tags.map(named),
    fields: r.fields.map((f) => ({ id: Number(f.id), value: f.value })),
    // The lists it was active on; AC does not subscribe a contact to a list it left before.
    subscribe: r.lists.filter((l) => l.status === 1).map((l) => ({ listid: Number(l.id) })),
    unsubscribe: r.lists.filter((l) => l.status === 2).map((l) => ({ listid: Number(l.id) })),
  };
}

/**
 * JSON: `contacts` is the body AC's bulk import takes (at most 250 contacts per request, so
 * a large backup is sent in slices), `records` the whole records with names and statuses.
 */
export function backupJson(deps: Deps, { ctx, id }: { ctx: Pick<Principal, "workspaceId">; id: string }): ReadableStream<Uint8Array> {
  const { runId, records } = backedUpRun(deps, ctx, id);
  function* parts(): Generator<string> {
    yield `{"runId":${JSON.stringify(runId)},"contacts":[`;
    let first = true;
    for (const chunk of records()) for (const r of chunk) {
      yield `${first ? "" : ","}\n${JSON.stringify(importContactOf(r))}`;
      first = false;
    }
    yield `\n],"records":[`;
    first = true;
    for (const chunk of records()) for (const r of chunk) {
      yield `${first ? "" : ","}\n${JSON.stringify(r)}`;
      first = false;
    }
    yield "\n]}\n";
  }
  const bytes = function* () {
    for (const part of parts()) yield Buffer.from(part, "utf8");
  };
  return Readable.toWeb(Readable.from(bytes())) as ReadableStream<Uint8Array>;
}

/** Removes every backup whose retention has passed; says how many. The scheduler calls it. */
export function purgeExpiredBackups(db: Db, now: number): number {
  return statement(db, "DELETE FROM run_backups WHERE expires_at <= ?").run(now).changes;
}
