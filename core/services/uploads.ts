import { and, desc, eq } from "drizzle-orm";
import { schema, statement, transaction, type Db } from "../../db/index.ts";
import { newId } from "../../db/ids.ts";
import type { UploadEncoding } from "../../db/schema/index.ts";
import type { Deps, Principal } from "../deps.ts";
import { DEFAULT_ACTIONS } from "../domain/scope-actions.ts";
import { isActive } from "../domain/run-status.ts";
import { AppError, notFound } from "../errors.ts";
import { uploadRawPath, uploadTextPath } from "../uploads/files.ts";
import { resultFile, type ResultFilter } from "../uploads/results.ts";
import { sniff, SniffError } from "../uploads/sniff.ts";
import { badFile, decodeToText, ingestRows, lineEndingOf, readHead, receiveFile, removeFiles } from "../uploads/store.ts";
import { cancelRunRow, insertRun } from "../runs/store.ts";
import { balanceOf } from "./credits.ts";
import { getRun, type RunView } from "./runs.ts";

/**
 * Uploads: a CSV file (or a plain list) verified with the same engine as a hygiene run. The
 * file is streamed to disk, read as text in its own encoding, its layout and e-mail column
 * detected; the user confirms the column and sees the cost; starting it creates a run whose
 * source is the upload (worker/runs/upload.ts feeds its addresses to the verification stream).
 * The results come back as the original file with result columns appended.
 */

type UploadRow = typeof schema.uploads.$inferSelect;

const DAY = 24 * 3600 * 1000;

export interface UploadView {
  id: string;
  fileName: string;
  bytes: number;
  encoding: UploadEncoding;
  delimiter: string;
  hasHeader: boolean;
  columns: string[];
  /** Per column, the share of sampled rows whose cell looks like an e-mail address. */
  columnScores: number[];
  preview: string[][];
  emailColumn: number;
  columnConfirmed: boolean;
  rows: number;
  /** Rows whose e-mail cell is empty: undeliverable (invalid_syntax), not charged. */
  blankRows: number;
  uniqueAddresses: number;
  /** Rows with an address that another row (compared without regard to case) already has. */
  duplicates: number;
  problems: { line: number; message: string }[];
  problemCount: number;
  /** One credit per unique address; unknown results are refunded. */
  cost: { credits: number; balance: number };
  /** Once started: the run that verifies the addresses (its progress, counts and credits). */
  run: RunView | null;
  createdAt: string;
  /** When the file, its rows and results are deleted. */
  expiresAt: string;
  deletedAt: string | null;
}

function rowOf(db: Db, { workspaceId, id }: { workspaceId: string; id: string }): UploadRow {
  const row = db
    .select()
    .from(schema.uploads)
    .where(and(eq(schema.uploads.id, id), eq(schema.uploads.workspaceId, workspaceId)))
    .get();
  if (!row) throw notFound("Upload");
  return row;
}

function viewOf(deps: Deps, row: UploadRow, withRun = true): UploadView {
  return {
    id: row.id,
    fileName: row.fileName,
    bytes: row.bytes,
    encoding: row.encoding,
    delimiter: row.delimiter,
    hasHeader: row.hasHeader,
    columns: JSON.parse(row.columns) as string[],
    columnScores: JSON.parse(row.columnScores) as number[],
    preview: row.deletedAt ? [] : (JSON.parse(row.preview) as string[][]),
    emailColumn: row.emailColumn,
    columnConfirmed: row.columnConfirmed,
    rows: row.rows,
    blankRows: row.blankRows,
    uniqueAddresses: row.uniqueAddresses,
    duplicates: row.rows - row.blankRows - row.uniqueAddresses,
    problems: JSON.parse(row.problems) as { line: number; message: string }[],
    problemCount: row.problemCount,
    cost: { credits: row.uniqueAddresses, balance: balanceOf(deps.db, row.workspaceId) },
    run: withRun && row.runId ? getRun(deps, { ctx: { workspaceId: row.workspaceId }, id: row.runId }) : null,
    createdAt: row.createdAt.toISOString(),
    expiresAt: row.expiresAt.toISOString(),
    deletedAt: row.deletedAt ? row.deletedAt.toISOString() : null,
  };
}

/** Uploads being read into rows now, in this process: a second reading of the same one waits its turn (409). */
const reading = new Set<string>();

async function readRows(deps: Deps, row: Pick<UploadRow, "id" | "delimiter" | "hasHeader">, column: number) {
  if (reading.has(row.id)) throw new AppError("conflict", "This file is being read; try again in a moment");
  reading.add(row.id);
  try {
    const text = uploadTextPath(deps.config, row.id);
    const { head } = await readHead(text);
    return await ingestRows(deps.db, row, text, head.includes("\n") || !head.includes("\r") ? "\n" : "\r", column);
  } finally {
    reading.delete(row.id);
  }
}

/**
 * Stores an uploaded file: streamed to disk (refused past UPLOAD_MAX_MB), decoded, its layout
 * and e-mail column detected, every row read. A file that is not a CSV, binary, empty or
 * without an e-mail column is refused with what is wrong (and the line); rows with a broken
 * quote are listed and left out, the rest read.
 */
export async function createUpload(deps: Deps, { ctx, fileName, data }: { ctx: Pick<Principal, "workspaceId">; fileName: string; data: AsyncIterable<Uint8Array> }): Promise<UploadView> {
  const now = deps.clock.now();
  const id = newId("upl", now);
  const raw = uploadRawPath(deps.config, id);
  const text = uploadTextPath(deps.config, id);
  const name = cleanFileName(fileName);
  let stored = false;
  try {
    const t0 = performance.now();
    const received = await receiveFile(data, raw, deps.config.UPLOAD_MAX_MB * 1024 * 1024, `${deps.config.UPLOAD_MAX_MB} MB`);
    const t1 = performance.now();
    await decodeToText(raw, text, received.encoding);
    await removeFiles(raw);
    const { head, complete } = await readHead(text);
    let sniffed;
    try {
      sniffed = sniff(head, complete);
    } catch (err) {
      if (err instanceof SniffError) throw badFile(err.message);
      throw err;
    }
    deps.db
      .insert(schema.uploads)
      .values({
        id,
        workspaceId: ctx.workspaceId,
        fileName: name,
        bytes: received.bytes,
        encoding: received.encoding,
        delimiter: sniffed.delimiter,
        hasHeader: sniffed.hasHeader,
        columns: JSON.stringify(sniffed.columns),
        columnScores: JSON.stringify(sniffed.scores),
        preview: JSON.stringify(sniffed.preview),
        emailColumn: sniffed.emailColumn,
        createdAt: new Date(now),
        expiresAt: new Date(now + deps.config.UPLOAD_RETENTION_DAYS * DAY),
      })
      .run();
    stored = true;
    const t2 = performance.now();
    const counts = await readRows(deps, { id, delimiter: sniffed.delimiter, hasHeader: sniffed.hasHeader }, sniffed.emailColumn);
    if (counts.rows === 0) throw badFile(counts.problemCount ? `No row could be read: ${counts.problems[0]!.message}` : "The file has no rows");
    saveCounts(deps.db, id, counts);
    const ms = (from: number, to: number) => Math.round(to - from);
    deps.logger.info(
      { uploadId: id, workspaceId: ctx.workspaceId, bytes: received.bytes, rows: counts.rows, encoding: received.encoding, ms: { receive: ms(t0, t1), decode: ms(t1, t2), rows: ms(t2, performance.now()) } },
      "upload stored",
    );
    return getUpload(deps, { ctx, id });
  } catch (err) {
    await removeFiles(raw, text);
    if (stored) deps.db.delete(schema.uploads).where(eq(schema.uploads.id, id)).run();
    throw err;
  }
}

function saveCounts(db: Db, id: string, counts: Awaited<ReturnType<typeof ingestRows>>) {
  db.update(schema.uploads)
    .set({ rows: counts.rows, blankRows: counts.blankRows, uniqueAddresses: counts.uniqueAddresses, problems: JSON.stringify(counts.problems), problemCount: counts.problemCount })
    .where(eq(schema.uploads.id, id))
    .run();
}

/** A file name to show: no path, no control characters, at most 200 characters. */
function cleanFileName(name: string): string {
  const base = name.split(/[\\/]/).pop() ?? "";
  const clean = base.replace(/[\p{Cc}\p{Cf}]/gu, "").trim().slice(0, 200);
  return clean || "upload.csv";
}

export function getUpload(deps: Deps, { ctx, id }: { ctx: Pick<Principal, "workspaceId">; id: string }): UploadView {
  return viewOf(deps, rowOf(deps.db, { workspaceId: ctx.workspaceId, id }));
}

export function listUploads(deps: Deps, { ctx, limit = 50 }: { ctx: Pick<Principal, "workspaceId">; limit?: number }): UploadView[] {
  return deps.db
    .select()
    .from(schema.uploads)
    .where(eq(schema.uploads.workspaceId, ctx.workspaceId))
    .orderBy(desc(schema.uploads.createdAt), desc(schema.uploads.id))
    .limit(limit)
    .all()
    .map((row) => viewOf(deps, row));
}

function editable(row: UploadRow): void {
  if (row.deletedAt) throw new AppError("conflict", "This upload was deleted at the end of its retention period; upload the file again");
  if (row.runId) throw new AppError("conflict", "This upload has already been started; its column can no longer change");
}

/**
 * Confirms the e-mail column, or changes it (the rows are read again with the new one). Only
 * then is the cost known, and the upload can start.
 */
export async function chooseColumn(deps: Deps, { ctx, id, column }: { ctx: Pick<Principal, "workspaceId">; id: string; column: number }): Promise<UploadView> {
  const row = rowOf(deps.db, { workspaceId: ctx.workspaceId, id });
  editable(row);
  const columns = JSON.parse(row.columns) as string[];
  if (!Number.isInteger(column) || column < 0 || column >= columns.length) {
    throw new AppError("invalid_input", `must be a column of this file: 0 to ${columns.length - 1}`, "column");
  }
  if (column !== row.emailColumn) {
    const counts = await readRows(deps, row, column);
    // The rows are those of the new column now, whatever happens next.
    saveCounts(deps.db, id, counts);
    deps.db.update(schema.uploads).set({ emailColumn: column }).where(eq(schema.uploads.id, id)).run();
  }
  deps.db.update(schema.uploads).set({ columnConfirmed: true }).where(eq(schema.uploads.id, id)).run();
  return getUpload(deps, { ctx, id });
}

/**
 * Starts verifying: a run whose source is this upload, queued for the worker like any run. It
 * charges one credit per unique address as it goes, pauses when the balance runs out and
 * resumes when credits arrive, refunds unknowns. Refused before the column is confirmed.
 */
export function startUpload(deps: Deps, { ctx, id, smtpProbe = false }: { ctx: Pick<Principal, "workspaceId">; id: string; smtpProbe?: boolean }): UploadView {
  if (smtpProbe && !deps.config.SMTP_PROBE) throw new AppError("invalid_input", "SMTP probing is turned off on this server (SMTP_PROBE=off)", "smtpProbe");
  const now = deps.clock.now();
  const runId = transaction(deps.db, (tx) => {
    const row = rowOf(tx, { workspaceId: ctx.workspaceId, id });
    editable(row);
    if (!row.columnConfirmed) throw new AppError("conflict", "Confirm the e-mail column first: the cost depends on it");
    if (row.uniqueAddresses === 0) throw new AppError("conflict", "This column holds no address to verify; choose another column");
    const run = insertRun(tx, {
      id: newId("run", now),
      workspaceId: ctx.workspaceId,
      connectionId: null,
      connectionName: row.fileName,
      source: "upload",
      uploadId: row.id,
      scope: JSON.stringify({ kind: "upload", uploadId: row.id }),
      actions: JSON.stringify({ ...DEFAULT_ACTIONS, overrides: [] }),
      smtpProbe,
      total: row.uniqueAddresses,
      createdAt: new Date(now),
    });
    tx.update(schema.uploads).set({ runId: run.id }).where(eq(schema.uploads.id, row.id)).run();
    return run.id;
  });
  deps.logger.info({ uploadId: id, runId, workspaceId: ctx.workspaceId }, "upload started");
  deps.onRunWork?.();
  return getUpload(deps, { ctx, id });
}

/** A result file of the upload (all rows, or one filter's), named after the uploaded file. */
export async function uploadResults(
  deps: Deps,
  { ctx, id, filter }: { ctx: Pick<Principal, "workspaceId">; id: string; filter: ResultFilter },
): Promise<{ body: ReadableStream<Uint8Array>; fileName: string; contentType: string }> {
  const row = rowOf(deps.db, { workspaceId: ctx.workspaceId, id });
  if (row.deletedAt) throw new AppError("conflict", "This upload's file and results were deleted at the end of their retention period");
  const text = uploadTextPath(deps.config, row.id);
  const { head } = await readHead(text);
  const body = resultFile(deps.db, {
    uploadId: row.id,
    runId: row.runId,
    text,
    encoding: row.encoding,
    delimiter: row.delimiter,
    lineBreak: head.includes("\n") || !head.includes("\r") ? "\n" : "\r",
    lineEnding: lineEndingOf(head),
    hasHeader: row.hasHeader,
    columns: JSON.parse(row.columns) as string[],
  }, filter);
  const stem = row.fileName.replace(/\.(csv|txt|tsv)$/i, "");
  const charset = row.encoding.startsWith("utf-8") ? "utf-8" : row.encoding;
  return { body, fileName: `${stem}-${filter === "all" ? "results" : filter}.csv`, contentType: `text/csv; charset=${charset}` };
}

/**
 * Deletes what uploads past their retention keep: the file, the rows, and the addresses and
 * results of their runs (the counts, credits and ledger stay). An upload whose run is still
 * going is cancelled first (refunding what was not verified). Returns how many were deleted.
 */
export async function deleteExpiredUploads(deps: Deps, { limit = 20 }: { limit?: number } = {}): Promise<number> {
  const now = deps.clock.now();
  const due = statement(deps.db, "SELECT id FROM uploads WHERE deleted_at IS NULL AND expires_at <= ? ORDER BY expires_at LIMIT ?").all(now, limit) as { id: string }[];
  for (const { id } of due) {
    transaction(deps.db, (tx) => {
      const row = tx.select().from(schema.uploads).where(eq(schema.uploads.id, id)).get();
      if (!row || row.deletedAt) return;
      if (row.runId) {
        const run = tx.select().from(schema.runs).where(eq(schema.runs.id, row.runId)).get();
        if (run && isActive(run.status)) cancelRunRow(tx, deps.clock, run);
        statement(tx, "DELETE FROM run_contacts WHERE run_id = ?").run(row.runId);
      }
      statement(tx, "DELETE FROM upload_rows WHERE upload_id = ?").run(id);
      statement(tx, "DELETE FROM upload_addresses WHERE upload_id = ?").run(id);
      tx.update(schema.uploads).set({ deletedAt: new Date(now), preview: "[]" }).where(eq(schema.uploads.id, id)).run();
    });
    await removeFiles(uploadTextPath(deps.config, id), uploadRawPath(deps.config, id));
    deps.logger.info({ uploadId: id }, "upload deleted at the end of its retention period");
  }
  return due.length;
}
