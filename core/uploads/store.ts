import { createReadStream, createWriteStream } from "node:fs";
import { open, rm } from "node:fs/promises";
import { once } from "node:events";
import { statement, transaction, type Db } from "../../db/index.ts";
import type { UploadEncoding } from "../../db/schema/index.ts";
import { AppError } from "../errors.ts";
import { decoderFor, encodingFromHead, fileTypeOf, Utf8Check } from "./encoding.ts";
import { readRecords } from "./reader.ts";

/** The first bytes of a file kept for sniffing its type, encoding and layout. */
export const HEAD_BYTES = 64 * 1024;

/** A bad file, in words that name what is wrong and, where there is one, the line. */
export const badFile = (message: string) => new AppError("invalid_input", message, "file");

export interface Received {
  bytes: number;
  head: Buffer;
  encoding: UploadEncoding;
}

/**
 * Streams the upload's bytes to `file`, never holding more than a chunk: counts them against
 * the limit, keeps the head, and checks UTF-8 validity on the way.
 */
export async function receiveFile(data: AsyncIterable<Uint8Array>, file: string, maxBytes: number, maxWords: string): Promise<Received> {
  const out = createWriteStream(file, { mode: 0o600 });
  const utf8 = new Utf8Check();
  const heads: Buffer[] = [];
  let headLength = 0;
  let bytes = 0;
  try {
    for await (const chunk of data) {
      bytes += chunk.length;
      if (bytes > maxBytes) throw new AppError("payload_too_large", `The file is larger than ${maxWords}, the most this server accepts. Split it, or remove columns you do not need`, "file");
      if (headLength < HEAD_BYTES) {
        heads.push(Buffer.from(chunk.subarray(0, HEAD_BYTES - headLength)));
        headLength += Math.min(chunk.length, HEAD_BYTES - headLength);
      }
      utf8.push(chunk);
      if (!out.write(chunk)) await once(out, "drain");
    }
  } finally {
    out.end();
    await once(out, "close");
  }
  const head = Buffer.concat(heads);
  if (bytes === 0) throw badFile("The file is empty");
  const type = fileTypeOf(head);
  if (type) throw badFile(`This is ${type}, not a CSV file. Open it in your spreadsheet and save it as “CSV UTF-8”, then upload that`);
  const encoding = encodingFromHead(head) ?? (utf8.end() ? "utf-8" : "windows-1252");
  return { bytes, head, encoding };
}

/** C0 control characters other than tab, line breaks, vertical tab and form feed. */
const BINARY = /[\x00-\x08\x0e-\x1f]/;

/**
 * Decodes the raw upload into `text` (UTF-8, no BOM), chunk by chunk. A control character
 * that never appears in text (a zero byte, most often) means a binary file: refused, naming
 * the line it is on.
 */
export async function decodeToText(raw: string, text: string, encoding: UploadEncoding): Promise<void> {
  const decoder = decoderFor(encoding);
  const out = createWriteStream(text, { mode: 0o600 });
  let lines = 1;
  const put = async (s: string) => {
    const at = s.search(BINARY);
    if (at >= 0) {
      const line = lines + (s.slice(0, at).match(/\n/g)?.length ?? 0);
      const what = s.charCodeAt(at) === 0 ? "a zero byte" : "a control character";
      throw badFile(`Line ${line} holds binary data (${what}): this is not a text file. Save the sheet as “CSV UTF-8” and upload that`);
    }
    for (let i = s.indexOf("\n"); i !== -1; i = s.indexOf("\n", i + 1)) lines += 1;
    if (s && !out.write(s)) await once(out, "drain");
  };
  try {
    for await (const chunk of createReadStream(raw, { highWaterMark: 256 * 1024 })) await put(decoder.decode(chunk as Buffer, { stream: true }));
    await put(decoder.decode());
  } finally {
    out.end();
    await once(out, "close");
  }
}

/** The start of the stored text, cut at a whole character; `complete` when it is the whole file. */
export async function readHead(text: string): Promise<{ head: string; complete: boolean }> {
  const handle = await open(text, "r");
  try {
    const buffer = Buffer.alloc(HEAD_BYTES);
    const { bytesRead } = await handle.read(buffer, 0, HEAD_BYTES, 0);
    const complete = bytesRead < HEAD_BYTES || (await handle.stat()).size === HEAD_BYTES;
    return { head: new TextDecoder().decode(buffer.subarray(0, bytesRead), { stream: !complete }), complete };
  } finally {
    await handle.close();
  }
}

/** How the stored text ends its lines, for the result file. */
export const lineEndingOf = (head: string): "\r\n" | "\n" | "\r" => (head.includes("\r\n") ? "\r\n" : head.includes("\n") || !head.includes("\r") ? "\n" : "\r");

export const removeFiles = (...files: string[]) => Promise.all(files.map((f) => rm(f, { force: true })));

export interface Ingested {
  rows: number;
  blankRows: number;
  uniqueAddresses: number;
  problems: { line: number; message: string }[];
  problemCount: number;
}

const BATCH = 1_000;
const MAX_PROBLEMS = 100;

/** The address as duplicates are compared: trimmed, lower case; null for an empty cell. */
export const addressKey = (email: string): string | null => (email === "" ? null : email.toLowerCase());

/**
 * Reads every row of the stored text into upload_rows (row number, the e-mail cell, its key),
 * in batches of one transaction each, then the distinct addresses into upload_addresses, each
 * named by the first row it is on. Replaces what an earlier reading (another column) stored.
 */
export async function ingestRows(
  db: Db,
  upload: { id: string; delimiter: string; hasHeader: boolean },
  text: string,
  lineBreak: "\n" | "\r",
  column: number,
): Promise<Ingested> {
  transaction(db, () => {
    statement(db, "DELETE FROM upload_rows WHERE upload_id = ?").run(upload.id);
    statement(db, "DELETE FROM upload_addresses WHERE upload_id = ?").run(upload.id);
  });
  const insert = statement(db, "INSERT INTO upload_rows (upload_id, row_no, email, key) VALUES (?, ?, ?, ?)");
  const problems: Ingested["problems"] = [];
  let problemCount = 0;
  let rowNo = 0;
  let blankRows = 0;
  let header = upload.hasHeader;
  let batch: [number, string, string | null][] = [];
  const flush = () => {
    const rows = batch;
    batch = [];
    transaction(db, () => {
      for (const [n, email, key] of rows) insert.run(upload.id, n, email, key);
    });
  };
  for await (const items of readRecords(text, { delimiter: upload.delimiter, lineBreak })) for (const item of items) {
    if (item.kind === "problem") {
      problemCount += 1;
      if (problems.length < MAX_PROBLEMS) problems.push({ line: item.line, message: item.message });
      continue;
    }
    if (header) {
      header = false;
      continue;
    }
    rowNo += 1;
    const email = (item.cells[column] ?? "").trim();
    const key = addressKey(email);
    if (key === null) blankRows += 1;
    batch.push([rowNo, email, key]);
    if (batch.length >= BATCH) flush();
  }
  flush();
  const uniqueAddresses = transaction(db, () =>
    statement(
      db,
      "INSERT INTO upload_addresses (upload_id, address_id, key) SELECT upload_id, min(row_no), key FROM upload_rows WHERE upload_id = ? AND key IS NOT NULL GROUP BY upload_id, key",
    ).run(upload.id).changes,
  );
  return { rows: rowNo, blankRows, uniqueAddresses, problems, problemCount };
}
