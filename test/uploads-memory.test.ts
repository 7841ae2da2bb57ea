import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import type { UploadFigures } from "../bench/uploads.ts";

const run = promisify(execFile);
const BENCH = fileURLToPath(new URL("../bench/uploads.ts", import.meta.url));

/**
 * The JavaScript heap the child may use: less than the 1,000,000-row file itself (64 MB as
 * UTF-8, twice that as a JavaScript string) plus its rows as arrays of strings (100+ MB).
 */
const HEAP_MB = 64;

/**
 * bench/uploads.ts in a process of its own whose heap is capped at HEAP_MB: the file generated
 * on disk, streamed up through the HTTP API, read, verified, and its result file streamed back
 * and checked row by row against the rows written (the bench throws on the first that differs).
 * A reader or writer that held the file, its rows or its results would run out of heap and the
 * child would die. Speed and peak RSS are `npm run bench`'s to report, not asserted here.
 * `npm test` runs this file on its own, after the others: it keeps both cores busy for a minute
 * or two.
 */
async function uploadInChild(rows: number, unique: number): Promise<UploadFigures> {
  const { stdout } = await run(process.execPath, [`--max-old-space-size=${HEAP_MB}`, "--import", "tsx", BENCH, String(rows), `--unique=${unique}`, "--json"], {
    maxBuffer: 1 << 20,
  });
  return JSON.parse(stdout.trim().split("\n").at(-1)!) as UploadFigures;
}

describe("a 1,000,000-row upload", () => {
  it(
    "is streamed up, read, verified and streamed back, checked row by row, in a heap smaller than the file",
    async () => {
      // The file cycles through 2,000 addresses (upper case after the first round): a million
      // rows to read, store and write back, 2,000 addresses to verify, so the time goes to the
      // file handling this checks.
      const figures = await uploadInChild(1_000_000, 2_000);
      expect(figures).toMatchObject({ rows: 1_000_000, resultRows: 1_000_000, uniqueAddresses: 2_000 });
      expect(figures.fileMB).toBeGreaterThan(HEAP_MB);
    },
    10 * 60_000,
  );
});
