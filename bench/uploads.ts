import { parse } from "csv-parse";
import { createReadStream, createWriteStream, mkdtempSync, rmSync, statSync } from "node:fs";
import { once } from "node:events";
import { tmpdir } from "node:os";
import path from "node:path";
import { request } from "node:http";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { pathToFileURL } from "node:url";
import { testConfig } from "../core/config.ts";
import { createLogger } from "../core/logger.ts";
import { findUserByEmail } from "../core/services/accounts.ts";
import { grantCredits } from "../core/services/credits.ts";
import type { UploadView } from "../core/services/uploads.ts";
import { startListwarden } from "../boot/start.ts";
import { startDnsServer } from "../test/support/dns-server.ts";
import { api, benchSignUp } from "./runs.ts";
import { benchWorld } from "./world.ts";

/**
 * A CSV upload of `rows` rows (issue 19) through the product's HTTP API on 127.0.0.1, with
 * DNS-level checks against a loopback DNS server: the file generated on disk, streamed up as
 * multipart, its column confirmed, verified by the worker, and its result file streamed down
 * and checked row by row. Prints addresses per second and the peak RSS of the process (server,
 * worker and this client together) after each phase. `--columns=N` adds N long columns of text
 * to every row (wide rows: a file of many bytes in fewer rows); `--json` prints the figures as one
 * JSON line instead (test/uploads-memory.test.ts reads it).
 */
export interface UploadFigures {
  rows: number;
  /** Columns of the file: name, e-mail, note and the extra ones. */
  columns: number;
  fileMB: number;
  uploadSeconds: number;
  verifySeconds: number;
  downloadSeconds: number;
  addressesPerSecond: number;
  /** Peak RSS (MB) after: starting, the upload, the verification, the download. */
  rss: { start: number; upload: number; verify: number; download: number };
  resultRows: number;
  uniqueAddresses: number;
}

const peakMb = () => process.resourceUsage().maxRSS / 1024;

/** What a file looks like: its addresses, how many distinct ones, how many extra columns. */
interface FileShape {
  email: (i: number) => string;
  unique: number | null;
  extra: number;
}

/**
 * Extra column j of row i: about 670 characters of text in quotes, the delimiter inside,
 * different on every row (a notes or address column; long cells make a wide file cheaply).
 */
const extraCell = (i: number, j: number) => `"Column ${j} of contact ${i}; ${"lorem ipsum dolor sit amet ".repeat(24)}${i % 9973}"`;

/**
 * Row i: every 10th row repeats the address of the row before it, in upper case; with
 * `unique`, the file cycles through that many addresses (upper case from the second round on).
 */
function rowOf(i: number, shape: FileShape): string {
  const { email, unique, extra } = shape;
  const address = unique ? (i < unique ? email(i) : email(i % unique).toUpperCase()) : i % 10 === 9 ? email(i - 1).toUpperCase() : email(i);
  let row = `Contact ${i};${address};"Note ${i}, with a comma"`;
  for (let j = 1; j <= extra; j++) row += `;${extraCell(i, j)}`;
  return `${row}\r\n`;
}

async function writeFile(file: string, rows: number, shape: FileShape) {
  const out = createWriteStream(file);
  out.write(`\ufeffName;E-Mail;Note${Array.from({ length: shape.extra }, (_, j) => `;Field ${j + 1}`).join("")}\r\n`);
  for (let i = 0; i < rows; i++) if (!out.write(rowOf(i, shape))) await once(out, "drain");
  out.end();
  await once(out, "close");
}

export async function benchUpload(rows: number, { unique = null, columns = 0 }: { unique?: number | null; columns?: number } = {}): Promise<UploadFigures> {
  const world = benchWorld();
  const shape: FileShape = { email: world.email, unique, extra: columns };
  const dns = await startDnsServer(world.zone);
  const dataDir = mkdtempSync(path.join(tmpdir(), "lw-bench-upload-"));
  const lw = await startListwarden({
    config: testConfig({ PORT: 0, DATA_DIR: dataDir, DNS_SERVERS: [dns.address], LOG_LEVEL: "warn", UPLOAD_MAX_MB: 200 }),
    logger: createLogger({ level: "warn" }),
    dbFile: path.join(dataDir, "listwarden.db"),
    worker: { pollMs: 50 },
  });
  try {
    const file = path.join(dataDir, "contacts.csv");
    await writeFile(file, rows, shape);
    const rssStart = peakMb();
    const { cookie, csrfToken } = await benchSignUp(lw.url);
    const user = findUserByEmail(lw.deps.db, "bench@example.com")!;
    grantCredits(lw.deps.db, lw.deps.clock, { workspaceId: user.workspaceId, amount: rows, reason: "bench" });
    const call = <T>(method: string, p: string, body?: unknown) => api<T>(lw.url, cookie, csrfToken, method, p, body);

    // The upload, streamed as multipart/form-data from the file on disk with Node's http client
    // (its pipe keeps to the socket's pace; this client shares the process it measures).
    const boundary = "----listwarden-bench";
    let started = performance.now();
    const stored = await new Promise<UploadView>((resolve, reject) => {
      const req = request(`${lw.url}/api/uploads`, {
        method: "POST",
        headers: { cookie, "x-csrf-token": csrfToken, "content-type": `multipart/form-data; boundary=${boundary}` },
      });
      req.on("response", (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString();
          if (res.statusCode !== 201) reject(new Error(`upload: ${res.statusCode} ${text}`));
          else resolve(JSON.parse(text) as UploadView);
        });
      });
      req.on("error", reject);
      const body = Readable.from(
        (async function* () {
          yield Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="contacts.csv"\r\nContent-Type: text/csv\r\n\r\n`);
          yield* createReadStream(file);
          yield Buffer.from(`\r\n--${boundary}--\r\n`);
        })(),
      );
      pipeline(body, req).catch(reject);
    });
    await call("POST", `/api/uploads/${stored.id}/column`, { column: stored.emailColumn });
    const uploadSeconds = (performance.now() - started) / 1000;
    const rssUpload = peakMb();

    started = performance.now();
    await call("POST", `/api/uploads/${stored.id}/start`, {});
    let done: UploadView;
    for (;;) {
      done = await call<UploadView>("GET", `/api/uploads/${stored.id}`);
      if (done.run?.status === "completed") break;
      if (done.run?.status === "failed") throw new Error(`run failed: ${done.run.statusReason}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    const verifySeconds = (performance.now() - started) / 1000;
    const rssVerify = peakMb();

    // The result file, streamed down and checked row by row against the rows written.
    started = performance.now();
    const results = await fetch(`${lw.url}/api/uploads/${stored.id}/results.csv`, { headers: { cookie } });
    const parser = Readable.fromWeb(results.body as import("node:stream/web").ReadableStream).pipe(parse({ delimiter: ";", bom: true, relax_column_count: true }));
    let n = -1;
    for await (const record of parser as AsyncIterable<string[]>) {
      if (n >= 0) {
        const expected = rowOf(n, shape).trimEnd().split(";")[1]!;
        // The file's columns come back as written, then the result columns (status first).
        if (record.length !== 3 + columns + 5 || record[1] !== expected || !record[3 + columns]) throw new Error(`result row ${n + 1}: ${JSON.stringify(record)} (expected ${expected} with a status)`);
      }
      n += 1;
    }
    if (n !== rows) throw new Error(`the result file has ${n} rows, not ${rows}`);
    const downloadSeconds = (performance.now() - started) / 1000;
    return {
      rows,
      columns: 3 + columns,
      fileMB: statSync(file).size / 1048576,
      uploadSeconds,
      verifySeconds,
      downloadSeconds,
      addressesPerSecond: done.uniqueAddresses / verifySeconds,
      rss: { start: rssStart, upload: rssUpload, verify: rssVerify, download: peakMb() },
      resultRows: n,
      uniqueAddresses: done.uniqueAddresses,
    };
  } finally {
    await lw.close();
    await dns.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const rows = Number(process.argv[2] ?? 1_000_000);
  const option = (name: string) => {
    const arg = process.argv.find((a) => a.startsWith(`--${name}=`));
    return arg ? Number(arg.slice(name.length + 3)) : null;
  };
  const f = await benchUpload(rows, { unique: option("unique"), columns: option("columns") ?? 0 });
  if (process.argv.includes("--json")) console.log(JSON.stringify(f));
  else {
    const mb = (n: number) => `${n.toFixed(0)} MB`;
    console.log(`uploads: ${rows.toLocaleString("en-US")} rows of ${f.columns} columns, ${f.uniqueAddresses.toLocaleString("en-US")} unique addresses (${f.fileMB.toFixed(1)} MB, UTF-8 with BOM, semicolons), DNS-level checks on a loopback DNS server`);
    console.log(`  upload (streamed to disk, decoded, rows read and stored) and column confirmed: ${f.uploadSeconds.toFixed(1)} s (${(rows / f.uploadSeconds).toFixed(0)} rows/s)`);
    console.log(`  verification: ${f.verifySeconds.toFixed(1)} s, ${f.addressesPerSecond.toFixed(0)} unique addresses/s`);
    console.log(`  result file (${f.resultRows.toLocaleString("en-US")} rows, streamed and checked row by row): ${f.downloadSeconds.toFixed(1)} s`);
    console.log(`  peak RSS of the process (server, worker and this client): at start ${mb(f.rss.start)}, after the upload ${mb(f.rss.upload)}, after verification ${mb(f.rss.verify)}, after the download ${mb(f.rss.download)}`);
  }
}
