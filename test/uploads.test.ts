import { setupServer } from "msw/node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { balanceOf } from "../core/services/credits.ts";
import type { UploadView } from "../core/services/uploads.ts";
import { createRunHarness, expectCountersMatchRows, type RunHarness } from "./support/runs.ts";
import { confirmAndStart, escaped, expectedResult, getUpload, postUpload, readCsv, resultBytes, upload, uploadData } from "./support/uploads.ts";

const server = setupServer();
beforeAll(() => server.listen({ onUnhandledRequest: "error" }));
afterEach(() => server.resetHandlers());
afterAll(() => server.close());

/** Uploads, confirms, starts and verifies a file to the end; returns the finished upload. */
async function verifyFile(h: RunHarness, name: string, column?: number): Promise<UploadView> {
  const stored = await upload(h.t, h.user, name);
  await confirmAndStart(h.t, h.user, stored, column ?? stored.emailColumn);
  await h.worker().drain();
  const done = await getUpload(h.t, h.user, stored.id);
  expect(done.run?.status).toBe("completed");
  return done;
}

/**
 * Re-parses the result file and checks it row by row against the input: same encoding (and
 * BOM), same delimiter, same rows in the same order with the same cells (formula-escaped), and
 * the result columns each address of the test world must get.
 */
async function expectResultMatchesInput(h: RunHarness, done: UploadView, name: string, encoding: string, bom: number[]) {
  const { res, bytes } = await resultBytes(h.t, h.user, done.id);
  expect(res.status).toBe(200);
  expect([...bytes.subarray(0, bom.length)]).toEqual(bom);
  const input = readCsv(uploadData(name), encoding, done.delimiter);
  const output = readCsv(bytes, encoding, done.delimiter);
  const data = done.hasHeader ? input.slice(1) : input;
  expect(output[0]).toEqual([...(done.hasHeader ? input[0]!.map(escaped) : done.columns), "status", "reason", "flags", "suggestion", "normalized"]);
  expect(output.length - 1).toBe(data.length);
  data.forEach((row, i) => {
    const out = output[i + 1]!;
    expect(out.slice(0, row.length)).toEqual(row.map(escaped));
    const address = row[done.emailColumn] ?? "";
    const expected = expectedResult(address);
    expect({ row: i + 1, status: out[row.length], reason: out[row.length + 1] }).toEqual({ row: i + 1, ...expected });
    if (expected.reason !== "invalid_syntax") expect(out[row.length + 4]!.toLowerCase()).toBe(escaped(address.trim().toLowerCase()));
  });
  return output;
}

describe("uploads: real files", () => {
  let h: RunHarness;
  beforeAll(async () => {
    h = await createRunHarness(server, { signupCredits: 1_000 });
  });
  afterAll(async () => h.close());

  it("reads a European Excel file (UTF-8 with BOM, semicolons, CRLF) and writes the results back the same way", async () => {
    const name = "european-excel-utf8-bom-semicolon.csv";
    const stored = await upload(h.t, h.user, name);
    expect(stored).toMatchObject({ encoding: "utf-8-bom", delimiter: ";", hasHeader: true, emailColumn: 2, columnConfirmed: false, rows: 5, uniqueAddresses: 5 });
    expect(stored.columns).toEqual(["Vorname", "Nachname", "E-Mail", "Umsatz", "Stadt"]);
    expect(stored.preview[0]).toEqual(["Jürgen", "Müller", "juergen.mueller@ok.example.com", "1.234,50", "München"]);
    const done = await verifyFile(h, name);
    const out = await expectResultMatchesInput(h, done, name, "utf-8", [0xef, 0xbb, 0xbf]);
    expect(out[1]).toContain("München");
    const { bytes } = await resultBytes(h.t, h.user, done.id);
    expect(bytes.includes(Buffer.from("\r\n"))).toBe(true);
  });

  it("reads UTF-16 (Excel's Unicode text, tab-separated) and writes UTF-16 back", async () => {
    const name = "utf16le-tab.txt";
    const done = await verifyFile(h, name);
    expect(done).toMatchObject({ encoding: "utf-16le", delimiter: "\t", hasHeader: true, emailColumn: 0, rows: 3 });
    const out = await expectResultMatchesInput(h, done, name, "utf-16le", [0xff, 0xfe]);
    expect(out[1]![1]).toBe("山田 健二");
  });

  it("reads Latin-1 (Windows-1252) and writes Windows-1252 back, byte for byte in the original cells", async () => {
    const name = "latin1-windows-1252.csv";
    const done = await verifyFile(h, name);
    expect(done).toMatchObject({ encoding: "windows-1252", delimiter: ",", emailColumn: 1, rows: 3 });
    const out = await expectResultMatchesInput(h, done, name, "windows-1252", []);
    expect(out[1]![2]).toBe("Café – “extra”");
    const { bytes } = await resultBytes(h.t, h.user, done.id);
    expect(bytes.includes(Buffer.from("Prix 5 \x80", "latin1"))).toBe(true);
  });

  it("keeps quoted cells with line breaks in one row", async () => {
    const name = "quoted-newlines.csv";
    const done = await verifyFile(h, name);
    expect(done.rows).toBe(3);
    const out = await expectResultMatchesInput(h, done, name, "utf-8", []);
    expect(out[1]![2]).toBe('Met at the fair.\r\nWants the "pro" plan.');
    expect(out[2]![2]).toBe("Line one\nLine two\nLine three");
  });

  it("reads a header-less plain list (one address a line) and gives its result file a header", async () => {
    const name = "plain-list.txt";
    const done = await verifyFile(h, name);
    expect(done).toMatchObject({ hasHeader: false, columns: ["Column 1"], rows: 5, uniqueAddresses: 5, blankRows: 0 });
    await expectResultMatchesInput(h, done, name, "utf-8", []);
  });

  it("counts duplicates that differ only in case once: verified once, charged once, each row gets the result", async () => {
    const before = balanceOf(h.t.db, h.user.workspaceId);
    const seen = new Map(h.verifications);
    const name = "duplicates.csv";
    const stored = await upload(h.t, h.user, name);
    expect(stored).toMatchObject({ rows: 7, blankRows: 1, uniqueAddresses: 3, duplicates: 3, cost: { credits: 3, balance: before } });
    const done = await verifyFile(h, name);
    expect(done.run?.credits).toEqual({ charged: 3, refunded: 0, net: 3 });
    expect(balanceOf(h.t.db, h.user.workspaceId)).toBe(before - 3);
    const verifiedNow = [...h.verifications].filter(([a, n]) => n !== (seen.get(a) ?? 0)).map(([a]) => a.toLowerCase());
    expect(verifiedNow.sort()).toEqual(["ann@ok.example.com", "bo@nomail.example.com", "cid@ok.example.com"]);
    await expectCountersMatchRows(h, done.run!.id);
    const out = await expectResultMatchesInput(h, done, name, "utf-8", []);
    expect(out.slice(1).map((r) => r[2])).toEqual(["deliverable", "deliverable", "deliverable", "undeliverable", "undeliverable", "undeliverable", "deliverable"]);
  });

  it("escapes formula-looking cells, the file's own and ours", async () => {
    const name = "formulas.csv";
    const done = await verifyFile(h, name);
    const out = await expectResultMatchesInput(h, done, name, "utf-8", []);
    expect(out[1]!.slice(1, 4)).toEqual(['\'=HYPERLINK("http://evil.example","click")', "'+1 555 0100", "'@SUM(A1:A2)"]);
    expect(out[2]!.slice(1, 4)).toEqual(["'-2+3", "'=1+1", "'\ttabbed"]);
    expect(out[3]![0]).toBe("'=cmd@ok.example.com");
    expect(out[3]![8]).toBe("'=cmd@ok.example.com");
  });

  it("reports a row with an unclosed quote by its line, leaves it out and reads the rest", async () => {
    const name = "unclosed-quote.csv";
    const stored = await upload(h.t, h.user, name);
    expect(stored.problems).toEqual([{ line: 3, message: expect.stringMatching(/^Line 3 was left out: .*quote/) }]);
    expect(stored.rows).toBe(4);
    const done = await verifyFile(h, name);
    const { bytes } = await resultBytes(h.t, h.user, done.id);
    const out = readCsv(bytes, "utf-8", ",");
    expect(out.map((r) => [r[0], r[1], r[2]])).toEqual([
      ["email", "name", "status"],
      ["one@ok.example.com", "One", "deliverable"],
      ["three@nomail.example.com", "Three", "undeliverable"],
      ["four@ok.example.com", 'Four "quoted"', "deliverable"],
      ["five@broken.example.com", "Five", "unknown"],
    ]);
  });

  it("reads the rest of a file whose first row opens a quote it never closes", async () => {
    const name = "unclosed-quote-first-row.csv";
    const stored = await upload(h.t, h.user, name);
    expect(stored).toMatchObject({ hasHeader: false, rows: 2, problems: [{ line: 1, message: expect.stringMatching(/^Line 1 was left out: .*quote/) }] });
    const done = await verifyFile(h, name);
    const out = readCsv((await resultBytes(h.t, h.user, done.id)).bytes, "utf-8", ",");
    expect(out.map((r) => [r[0], r[2]])).toEqual([
      ["Column 1", "status"],
      ["bo@nomail.example.com", "undeliverable"],
      ["cid@ok.example.com", "deliverable"],
    ]);
  });

  it("filtered downloads hold the deliverable rows, the rows to remove, or the unknown ones", async () => {
    const name = "european-excel-utf8-bom-semicolon.csv";
    const done = await verifyFile(h, name);
    const rowsOf = async (filter: string) => readCsv((await resultBytes(h.t, h.user, done.id, filter)).bytes, "utf-8", ";").slice(1).map((r) => r[2]);
    expect(await rowsOf("deliverable")).toEqual(["juergen.mueller@ok.example.com"]);
    expect(await rowsOf("remove")).toEqual(["zoe@nomail.example.com", "ana@gone.example.com"]);
    expect(await rowsOf("unknown")).toEqual(["chloe@broken.example.com"]);
    const { res } = await resultBytes(h.t, h.user, done.id, "deliverable");
    expect(res.headers.get("content-disposition")).toContain('filename="european-excel-utf8-bom-semicolon-deliverable.csv"');
  });
});

describe("uploads: the column, the cost, the start", () => {
  it("shows the cost only once the column is confirmed; another column reads the rows again", async () => {
    const h = await createRunHarness(server, { signupCredits: 50 });
    const stored = await upload(h.t, h.user, "duplicates.csv");
    const start = await h.t.request("POST", `/api/uploads/${stored.id}/start`, { as: h.user, body: {} });
    expect(start.status).toBe(409);
    expect(await start.text()).toContain("Confirm the e-mail column first");
    const other = await h.t.request("POST", `/api/uploads/${stored.id}/column`, { as: h.user, body: { column: 1 } });
    const changed = (await other.json()) as UploadView;
    expect(changed).toMatchObject({ emailColumn: 1, columnConfirmed: true, uniqueAddresses: 4, cost: { credits: 4, balance: 50 } });
    const back = (await (await h.t.request("POST", `/api/uploads/${stored.id}/column`, { as: h.user, body: { column: 0 } })).json()) as UploadView;
    expect(back).toMatchObject({ emailColumn: 0, uniqueAddresses: 3, cost: { credits: 3 } });
    const bad = await h.t.request("POST", `/api/uploads/${stored.id}/column`, { as: h.user, body: { column: 7 } });
    expect(bad.status).toBe(400);
    await h.close();
  });

  it("pauses when the credits run out and resumes, charging each address once, when credits arrive", async () => {
    const h = await createRunHarness(server, { signupCredits: 2 });
    const stored = await upload(h.t, h.user, "european-excel-utf8-bom-semicolon.csv");
    const started = await confirmAndStart(h.t, h.user, stored);
    expect(started.run?.status).toBe("queued");
    await h.worker().drain();
    const paused = await getUpload(h.t, h.user, stored.id);
    expect(paused.run?.status).toBe("paused_credits");
    expect(paused.run?.progress.fetched).toBe(2);
    const { grantCredits } = await import("../core/services/credits.ts");
    grantCredits(h.t.db, h.clock, { workspaceId: h.user.workspaceId, amount: 10, reason: "top-up" });
    h.clock.advance(5_000);
    await h.worker().drain();
    const done = await getUpload(h.t, h.user, stored.id);
    expect(done.run?.status).toBe("completed");
    expect(done.run?.credits).toEqual({ charged: 5, refunded: 1, net: 4 });
    await expectCountersMatchRows(h, done.run!.id);
    // The workspace hears of it in the words of a file, not of an ActiveCampaign run.
    const { messageOf } = await import("../core/services/notifications.ts");
    const rows = h.t.db.$client.prepare("SELECT event, data FROM notifications WHERE workspace_id = ? ORDER BY created_at, id").all(h.user.workspaceId);
    const told = (rows as Parameters<typeof messageOf>[0][]).map((row) => messageOf(row, "https://lw.example.com"));
    expect(told.map((m) => m.subject)).toEqual(["Paused for credits: verifying european-excel-utf8-bom-semicolon.csv", "Done: verifying european-excel-utf8-bom-semicolon.csv"]);
    expect(told[0]!.text).toContain("after checking 2 addresses. 3 more credits are needed to finish");
    expect(told[1]).toMatchObject({ text: expect.stringContaining("5 unique addresses checked. The result file is ready"), url: `https://lw.example.com/runs/${done.run!.id}` });
    await h.close();
  });
});

describe("uploads: bad files are refused with what is wrong", () => {
  let h: RunHarness;
  beforeAll(async () => {
    h = await createRunHarness(server, { config: { UPLOAD_MAX_MB: 1 } });
  });
  afterAll(async () => h.close());

  const refused = async (name: string, bytes: Uint8Array = uploadData(name)) => {
    const res = await postUpload(h.t, h.user, name, bytes);
    return { status: res.status, error: ((await res.json()) as { error: { code: string; message: string; field?: string } }).error };
  };

  it("not a CSV (an Excel workbook)", async () => {
    expect(await refused("not-a-csv.xlsx")).toMatchObject({ status: 400, error: { field: "file", message: expect.stringMatching(/^This is an Excel workbook \(\.xlsx\).*not a CSV file/) } });
  });
  it("binary, naming the line", async () => {
    expect(await refused("binary.csv")).toMatchObject({ status: 400, error: { message: expect.stringMatching(/^Line 3 holds binary data \(a zero byte\)/) } });
  });
  it("empty", async () => {
    expect(await refused("empty.csv")).toMatchObject({ status: 400, error: { message: "The file is empty" } });
  });
  it("a header and no rows", async () => {
    expect(await refused("header-only.csv")).toMatchObject({ status: 400, error: { message: expect.stringContaining("header row (line 1) and no rows") } });
  });
  it("a single line that is not a header of addresses (an HTML page)", async () => {
    expect(await refused("page.csv", Buffer.from("<html><body>Sign in</body></html>\n"))).toMatchObject({ status: 400, error: { message: expect.stringMatching(/^No column holds e-mail addresses/) } });
  });
  it("no line break in the first 64 kB", async () => {
    expect(await refused("blob.csv", Buffer.alloc(200_000, "x"))).toMatchObject({ status: 400, error: { message: expect.stringMatching(/^Line 1 is longer than 64 kB: this is not a CSV file/) } });
  });
  it("only blank lines", async () => {
    expect(await refused("blank.csv", Buffer.from("\n\r\n  \n;;;\n"))).toMatchObject({ status: 400, error: { message: expect.stringMatching(/^(The file is empty|No row could be read|No column holds)/) } });
  });
  it("no e-mail column", async () => {
    expect(await refused("no-email-column.csv")).toMatchObject({ status: 400, error: { message: expect.stringMatching(/^No column holds e-mail addresses: none of the first 3 row/) } });
  });
  it("too large (UPLOAD_MAX_MB), with nothing left on disk", async () => {
    const big = Buffer.alloc(1024 * 1024 + 10, "a@ok.example.com\n");
    expect(await refused("big.csv", big)).toMatchObject({ status: 413, error: { code: "payload_too_large", message: expect.stringContaining("larger than 1 MB") } });
    const { readdirSync } = await import("node:fs");
    const { uploadsDir } = await import("../core/uploads/files.ts");
    expect(readdirSync(uploadsDir(h.t.deps.config)).filter((f) => f.endsWith(".upload"))).toEqual([]);
  });
  it("a session's upload without its CSRF token is refused; with it in the form's first field it is taken", async () => {
    const bytes = uploadData("plain-list.txt");
    expect((await postUpload(h.t, h.user, "plain-list.txt", bytes, { csrf: "none" })).status).toBe(403);
    expect((await postUpload(h.t, h.user, "plain-list.txt", bytes, { csrf: "field" })).status).toBe(201);
  });
});

describe("uploads: retention", () => {
  it("deletes the file, its rows and its results once UPLOAD_RETENTION_DAYS have passed, keeps the counts, and says so", async () => {
    const h = await createRunHarness(server, { config: { UPLOAD_RETENTION_DAYS: 7 } });
    const { existsSync } = await import("node:fs");
    const { uploadTextPath } = await import("../core/uploads/files.ts");
    const { createScheduler } = await import("../worker/schedules/scheduler.ts");
    const done = await verifyFile(h, "duplicates.csv");
    // Another upload, started but never verified (no worker ran): its run is cancelled and refunded.
    const before = balanceOf(h.t.db, h.user.workspaceId);
    const pending = await confirmAndStart(h.t, h.user, await upload(h.t, h.user, "plain-list.txt"));
    expect(balanceOf(h.t.db, h.user.workspaceId)).toBe(before);
    expect(Date.parse(done.expiresAt) - Date.parse(done.createdAt)).toBe(7 * 86_400_000);
    const scheduler = createScheduler(h.t.deps);

    h.clock.advance(7 * 86_400_000 - 60_000);
    await scheduler.tick();
    expect((await getUpload(h.t, h.user, done.id)).deletedAt).toBeNull();
    expect(existsSync(uploadTextPath(h.t.deps.config, done.id))).toBe(true);

    h.clock.advance(120_000);
    await scheduler.tick();
    const gone = await getUpload(h.t, h.user, done.id);
    expect(gone.deletedAt).not.toBeNull();
    expect(gone).toMatchObject({ rows: 7, uniqueAddresses: 3, preview: [], run: { status: "completed", credits: { charged: 3, net: 3 } } });
    expect(existsSync(uploadTextPath(h.t.deps.config, done.id))).toBe(false);
    const left = (table: string, column: string, id: string) => (h.t.db.$client.prepare(`SELECT count(*) AS n FROM ${table} WHERE ${column} = ?`).get(id) as { n: number }).n;
    expect([left("upload_rows", "upload_id", done.id), left("upload_addresses", "upload_id", done.id), left("run_contacts", "run_id", done.run!.id)]).toEqual([0, 0, 0]);
    const results = await resultBytes(h.t, h.user, done.id);
    expect(results.res.status).toBe(409);
    expect(results.bytes.toString()).toContain("deleted at the end of their retention period");
    const page = await (await h.t.request("GET", `/uploads/${done.id}`, { as: h.user })).text();
    expect(page).toMatch(/The file and its results were deleted on .*7 days after the upload/);
    expect(page).not.toContain("results.csv");

    const cancelled = await getUpload(h.t, h.user, pending.id);
    expect(cancelled.deletedAt).not.toBeNull();
    expect(cancelled.run?.status).toBe("cancelled");
    expect(balanceOf(h.t.db, h.user.workspaceId)).toBe(before);
    await h.close();
  });
});
