import { parse } from "csv-parse/sync";
import { plural } from "../lib/words.ts";

/**
 * What the first rows of an uploaded file say about it: the delimiter, whether line 1 is a
 * header, and which column holds the e-mail addresses (by its name and by its content).
 * The user confirms or changes the column before anything is charged.
 */

export const DELIMITERS = [",", ";", "\t"] as const;
export type Delimiter = (typeof DELIMITERS)[number];

/** Looks like an address, for choosing a column; the verifier decides what it really is. */
const EMAIL_LIKE = /^[^\s@<>(),;:"']+@[^\s@<>(),;:"']+\.[^\s@<>(),;:"'.]{2,}$/;
export const looksLikeEmail = (cell: string | undefined) => cell !== undefined && EMAIL_LIKE.test(cell.trim());

/** Header names that mean "e-mail" in the languages our users export from. */
const EMAIL_NAME = /e-?mail|courriel|correo|posta ?elettronica|^mail$|mail ?address|adresse/i;

/** Rows looked at. */
export const SAMPLE_ROWS = 500;

export interface Sniffed {
  delimiter: Delimiter;
  lineBreak: "\n" | "\r";
  hasHeader: boolean;
  columns: string[];
  /** Per column, the share of sampled data rows whose cell looks like an address. */
  scores: number[];
  emailColumn: number;
  /** The first data rows, cells cut to 100 characters. */
  preview: string[][];
}

export class SniffError extends Error {
  override name = "SniffError";
}

function parsed(text: string, delimiter: string): string[][] {
  try {
    return (parse(text, { delimiter, relax_quotes: true, relax_column_count: true, skip_empty_lines: true, skip_records_with_error: true, to: SAMPLE_ROWS + 1 }) as string[][]).filter(
      (r) => r.some((c) => c.trim() !== ""),
    );
  } catch {
    return [];
  }
}

/**
 * The sampled rows. A quote opened early and never closed swallows the rest of the sample as
 * one broken record: then the lines are read one by one, leaving out those that do not parse
 * (the full reading reports them by line and reads the rest).
 */
function records(text: string, delimiter: string, lineBreak: string): string[][] {
  const rows = parsed(text, delimiter);
  if (rows.length > 0 || !text.includes('"')) return rows;
  return text
    .split(lineBreak)
    .slice(0, SAMPLE_ROWS + 1)
    .flatMap((line) => parsed(line, delimiter));
}

function mode(values: number[]): { value: number; share: number } {
  const counts = new Map<number, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  let best = { value: 1, n: 0 };
  for (const [value, n] of counts) if (n > best.n || (n === best.n && value > best.value)) best = { value, n };
  return { value: best.value, share: values.length ? best.n / values.length : 0 };
}

/**
 * `head`: the start of the file's text (a few tens of kilobytes). `isComplete`: head is the
 * whole file (otherwise its last, maybe cut, line is left out).
 */
export function sniff(head: string, isComplete: boolean): Sniffed {
  const lineBreak = head.includes("\n") || !head.includes("\r") ? "\n" : "\r";
  const cut = isComplete ? head : head.slice(0, Math.max(0, head.lastIndexOf(lineBreak) + 1));
  // The delimiter that splits the rows into the same number of cells (more than one) most often.
  let delimiter: Delimiter = ",";
  let best = 0;
  if (cut.trim() === "") {
    // Not one line break in the first 64 kB: not a list of contacts.
    if (!isComplete) throw new SniffError(`Line 1 is longer than ${Math.round(head.length / 1024)} kB: this is not a CSV file of contacts (one row a line)`);
    throw new SniffError("The file is empty: it has no rows");
  }
  for (const d of DELIMITERS) {
    const rows = records(cut, d, lineBreak);
    const m = mode(rows.map((r) => r.length));
    const score = m.value > 1 ? m.share + Math.min(m.value, 50) / 1000 : 0;
    if (score > best) {
      best = score;
      delimiter = d;
    }
  }
  const rows = records(cut, delimiter, lineBreak);
  if (rows.length === 0) throw new SniffError("No row could be read: the file has only blank lines, or quotes (\") that are never closed");
  const width = Math.max(...rows.map((r) => r.length));
  const scoreOf = (data: string[][], column: number) => (data.length ? data.filter((r) => looksLikeEmail(r[column])).length / data.length : 0);
  const first = rows[0]!;
  // Line 1 is a header when none of its cells looks like an address but later rows have some.
  // A lone line is a header only if it names an e-mail column (the file is then a header and no rows).
  const hasHeader =
    !first.some((c) => looksLikeEmail(c)) && (rows.length === 1 ? first.some((c) => EMAIL_NAME.test(c.trim())) : rows.slice(1).some((r) => r.some((c) => looksLikeEmail(c))));
  const data = hasHeader ? rows.slice(1) : rows;
  if (data.length === 0) throw new SniffError("The file has a header row (line 1) and no rows under it");
  const columns = Array.from({ length: width }, (_, i) => (hasHeader && first[i]?.trim() ? first[i]!.trim() : `Column ${i + 1}`));
  const scores = columns.map((_, i) => Math.round(scoreOf(data, i) * 1000) / 1000);
  // By content first; a name like "E-mail" wins between columns with as many addresses.
  const rank = (i: number) => scores[i]! + (hasHeader && EMAIL_NAME.test(columns[i]!) ? 0.05 : 0);
  const emailColumn = columns.reduce((a, _, i) => (rank(i) > rank(a) ? i : a), 0);
  if (scores[emailColumn] === 0) {
    throw new SniffError(
      `No column holds e-mail addresses: ${data.length === 1 ? "the first row has no cell" : `none of the first ${plural(data.length, "row")} has a cell`} that looks like one (name@example.com). Is this the right file?`,
    );
  }
  return {
    delimiter,
    lineBreak,
    hasHeader,
    columns,
    scores,
    emailColumn,
    preview: data.slice(0, 5).map((r) => r.map((c) => (c.length > 100 ? `${c.slice(0, 99)}…` : c))),
  };
}
