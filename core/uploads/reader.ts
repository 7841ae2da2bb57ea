import { parse, CsvError } from "csv-parse";
import { createReadStream } from "node:fs";
import { open } from "node:fs/promises";

/**
 * The records of an upload's text (stored as UTF-8), read as a stream with csv-parse, and the
 * lines it could not read. A record is an array of cells; rows whose cells are all empty (blank
 * lines, Excel's ";;;;") are not records.
 *
 * A row with a broken quote (`"Smith, John` and no closing quote) would make a CSV parser read
 * the rest of the file as one cell. Here the parser stops at the first error (or once one
 * record passes MAX_RECORD_BYTES), the bad row is reported by its line, and reading starts over
 * on the line after it, at its byte offset: the rest of the file is read as usual, and memory
 * stays bounded by one record.
 */

/** Longer than any real row of a contact list; a broken quote is found within this. */
export const MAX_RECORD_BYTES = 256 * 1024;

export type ReadItem = { kind: "record"; cells: string[]; line: number } | { kind: "problem"; line: number; message: string };

export interface ReadOptions {
  delimiter: string;
  /** "\r" for files whose lines end with a lone CR (old Macs); "\n" otherwise (LF or CRLF). */
  lineBreak?: "\n" | "\r";
}

const isBreak = (byte: number | undefined) => byte === 0x0a || byte === 0x0d;

/** Where the bad record after `from` starts, its line, and where the line after it starts (null at the end of the file). */
async function skipBadLine(file: string, from: number, linesBefore: number, lineBreak: "\n" | "\r") {
  const handle = await open(file, "r");
  try {
    const buffer = Buffer.alloc(64 * 1024);
    let pos = from;
    let line = linesBefore;
    let started = false;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, pos);
      if (bytesRead === 0) return { line: line + 1, resumeAt: null as number | null, linesBefore: line + 1 };
      for (let i = 0; i < bytesRead; i++) {
        const b = buffer[i]!;
        const breaks = lineBreak === "\n" ? b === 0x0a : b === 0x0d;
        if (!started) {
          if (isBreak(b)) {
            if (breaks) line += 1;
            continue;
          }
          started = true;
        }
        if (breaks) {
          return { line: line + 1, resumeAt: pos + i + 1, linesBefore: line + 1 };
        }
      }
      pos += bytesRead;
    }
  } finally {
    await handle.close();
  }
}

const words: Record<string, string> = {
  CSV_QUOTE_NOT_CLOSED: "a quote (\") opens a cell and is never closed",
  CSV_MAX_RECORD_SIZE: "a quote (\") opens a cell and is never closed",
  CSV_INVALID_CLOSING_QUOTE: "a quoted cell has text after its closing quote, or a quote opens a cell and is never closed",
  INVALID_OPENING_QUOTE: "a quote (\") sits inside a cell that does not start with one; put the cell in quotes and double the quote (\"\")",
};

/** The file's records and problems in order, in batches (one per chunk read: no promise per record). */
export async function* readRecords(file: string, opts: ReadOptions): AsyncGenerator<ReadItem[]> {
  const lineBreak = opts.lineBreak ?? "\n";
  let start = 0;
  /** Line breaks before `start`. */
  let linesBefore = 0;
  for (;;) {
    /** Byte offset just after the last record read, and the line its last line is on. */
    let end = start;
    let lines = linesBefore;
    let empties = 0;
    let queue: ReadItem[] = [];
    let failure: unknown = null;
    // Records are taken as the parser reads them (on_record), so the ones before an error are
    // never lost with the stream it destroys.
    const parser = parse({
      delimiter: opts.delimiter,
      relax_column_count: true,
      skip_empty_lines: true,
      max_record_size: MAX_RECORD_BYTES,
      on_record: (record: string[], context: { bytes: number; empty_lines: number }) => {
        const line = lines + (context.empty_lines - empties) + 1;
        empties = context.empty_lines;
        let inner = 0;
        for (const cell of record) if (cell.includes(lineBreak)) inner += cell.split(lineBreak).length - 1;
        lines = line + inner;
        end = start + context.bytes;
        if (record.some((cell) => cell.trim() !== "")) queue.push({ kind: "record", cells: record, line });
        return null;
      },
    });
    const settled = new Promise<void>((resolve) => {
      parser.on("error", (err) => {
        failure = err;
        resolve();
      });
      parser.on("end", () => resolve());
    });
    parser.resume();
    const source = createReadStream(file, { start, highWaterMark: 256 * 1024 });
    try {
      for await (const chunk of source) {
        parser.write(chunk);
        if (queue.length > 0) {
          const ready = queue;
          queue = [];
          yield ready;
        }
        // An error is emitted on the next tick: look for it before reading on.
        await new Promise((resolve) => setImmediate(resolve));
        if (failure) break;
      }
    } finally {
      source.destroy();
    }
    if (!failure) parser.end();
    await settled;
    if (queue.length > 0) yield queue;
    if (!failure) return;
    if (!(failure instanceof CsvError)) throw failure;
    // `end` sits after the last record's line break (or at its end, at the end of the file).
    const bad = await skipBadLine(file, end, lines, lineBreak);
    yield [{ kind: "problem", line: bad.line, message: `Line ${bad.line} was left out: ${words[failure.code] ?? failure.message}` }];
    if (bad.resumeAt === null) return;
    start = bad.resumeAt;
    linesBefore = bad.linesBefore;
  }
}
