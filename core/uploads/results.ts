import { stringify } from "csv-stringify/sync";
import { pullStream } from "../lib/web-stream.ts";
import { statement, type Db } from "../../db/index.ts";
import type { UploadEncoding } from "../../db/schema/index.ts";
import { neutralizeCell } from "../services/reports.ts";
import { bomFor, encoderFor } from "./encoding.ts";
import { readRecords } from "./reader.ts";

/** The result columns appended to every row of an upload, in this order. */
export const RESULT_COLUMNS = ["status", "reason", "flags", "suggestion", "normalized"] as const;

/** Which rows a result file keeps. */
export const RESULT_FILTERS = ["all", "deliverable", "remove", "unknown"] as const;
export type ResultFilter = (typeof RESULT_FILTERS)[number];

const KEEP: Record<ResultFilter, (status: string) => boolean> = {
  all: () => true,
  deliverable: (s) => s === "deliverable",
  remove: (s) => s === "undeliverable",
  unknown: (s) => s === "unknown",
};

export interface ResultSource {
  uploadId: string;
  runId: string | null;
  text: string;
  encoding: UploadEncoding;
  delimiter: string;
  lineBreak: "\n" | "\r";
  lineEnding: "\r\n" | "\n" | "\r";
  hasHeader: boolean;
  columns: string[];
}

/** Our column names, with a prefix where the file already has a column of that name. */
export function resultColumnNames(columns: string[]): string[] {
  const taken = new Set(columns.map((c) => c.trim().toLowerCase()));
  return RESULT_COLUMNS.map((c) => (taken.has(c) ? `listwarden_${c}` : c));
}

interface RowResult {
  row_no: number;
  email: string;
  key: string | null;
  status: string | null;
  reason: string | null;
  flags: string | null;
  suggestion: string | null;
  normalized: string | null;
}

const CHUNK = 2_000;

/**
 * The upload's rows with their results, in file order, a batch at a time: the file is read
 * again (as the rows were stored) and each record is matched to its stored row by number,
 * which the results join to through the row's address. A row without an address is
 * undeliverable (invalid_syntax), not charged; a row still being verified has empty result cells.
 */
async function* resultBatches(db: Db, source: ResultSource, filter: ResultFilter): AsyncGenerator<string[][]> {
  const header = source.columns;
  yield [[...header, ...resultColumnNames(header)]];
  const query = statement(
    db,
    "SELECT r.row_no, r.email, r.key, c.status, c.reason, c.flags, c.suggestion, c.normalized FROM upload_rows r LEFT JOIN upload_addresses a ON a.upload_id = r.upload_id AND a.key = r.key LEFT JOIN run_contacts c ON c.run_id = ? AND c.contact_id = a.address_id WHERE r.upload_id = ? AND r.row_no > ? ORDER BY r.row_no LIMIT ?",
  );
  let rows: RowResult[] = [];
  let at = 0;
  let last = 0;
  let skipHeader = source.hasHeader;
  for await (const batch of readRecords(source.text, { delimiter: source.delimiter, lineBreak: source.lineBreak })) {
    const out: string[][] = [];
    for (const item of batch) {
      if (item.kind === "problem") continue;
      if (skipHeader) {
        skipHeader = false;
        continue;
      }
      if (at === rows.length) {
        rows = query.all(source.runId ?? "", source.uploadId, last, CHUNK) as RowResult[];
        at = 0;
      }
      const row = rows[at++];
      if (!row || row.row_no !== last + 1) throw new Error(`upload ${source.uploadId}: row ${last + 1} of the file has no stored row`);
      last = row.row_no;
      const status = row.key === null ? "undeliverable" : (row.status ?? "");
      if (!KEEP[filter](status)) continue;
      const result = row.key === null ? ["undeliverable", "invalid_syntax", "", "", ""] : [status, row.reason ?? "", row.flags ?? "", row.suggestion ?? "", row.normalized ?? ""];
      out.push([...item.cells, ...result]);
    }
    if (out.length > 0) yield out;
  }
}

/**
 * The result file: the uploaded file's rows with the result columns appended, in the file's
 * own encoding (and byte-order mark), delimiter and line endings; every cell a spreadsheet
 * would run as a formula is escaped (a leading '), the original cells too. A header-less file
 * gets a header row (its columns as "Column 1"..., then ours) so a spreadsheet's filter works.
 * Written a batch of rows at a time (csv-stringify's sync API on each), so a large file costs
 * one string and one buffer per batch, never the whole file.
 */
export function resultFile(db: Db, source: ResultSource, filter: ResultFilter): ReadableStream<Uint8Array> {
  const encode = encoderFor(source.encoding);
  const options = {
    delimiter: source.delimiter,
    record_delimiter: source.lineEnding === "\r\n" ? "windows" : source.lineEnding === "\r" ? "mac" : "unix",
    cast: { string: neutralizeCell },
  } as const;
  const bytes = async function* () {
    yield bomFor(source.encoding);
    for await (const batch of resultBatches(db, source, filter)) yield encode(stringify(batch, options));
  };
  return pullStream(bytes());
}
