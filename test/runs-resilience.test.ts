import { eq, sql } from "drizzle-orm";
import { http } from "msw";
import { setupServer } from "msw/node";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { openDb, schema } from "../db/index.ts";
import { createDeps } from "../core/deps.ts";
import { createWorker } from "../worker/runs/worker.ts";
import type { RunEvent } from "../worker/runs/context.ts";
import { balanceOf } from "../core/services/credits.ts";
import type { RunView } from "../core/services/runs.ts";
import { createRunHarness, expectCountersMatchRows, parseCsv, type NewRun, type RunHarness } from "./support/runs.ts";
import { address, type Kind } from "./support/world.ts";

const server = setupServer();
beforeAll(() => server.listen({ onUnhandledRequest: "error" }));
afterEach(() => server.resetHandlers());
afterAll(() => server.close());

const ACTIVE = 1;
const LEASE_MS = 60_000;
const CONTACTS = 350;

/** 350 contacts over two lists (some on both): every 7th undeliverable, every 11th disposable, every 13th unknown. */
function seed(h: RunHarness) {
  const a = h.fake.addList("A");
  const b = h.fake.addList("B");
  for (let i = 0; i < CONTACTS; i++) {
    const kind: Kind = i % 7 === 0 ? "noMail" : i % 11 === 0 ? "disposable" : i % 13 === 0 ? "dnsError" : "deliverable";
    h.fake.addContact({ email: address(kind, `c${i}`), lists: i % 5 === 0 ? { [a]: ACTIVE, [b]: ACTIVE } : { [i % 2 ? a : b]: ACTIVE } });
  }
  return { a, b };
}

const ACTIONS: NewRun["actions"] = { undeliverable: "unsubscribe", overrides: [{ reason: "disposable", action: "delete" }] };

/** A worker on its own connection to the same database file, as a restarted process would have. */
function freshWorker(h: RunHarness, dbFile: string, onEvent?: (e: RunEvent) => void) {
  const deps = createDeps({ ...h.t.deps, db: openDb(dbFile) });
  return { deps, worker: createWorker(deps, { verifiers: h.verifiers, leaseMs: LEASE_MS, pollMs: 10, verifyWindow: 50, ...(onEvent ? { onEvent } : {}) }) };
}

/** Drives a worker until `count` events of `type`, then kills it as a crash would. */
async function crashAfter(h: RunHarness, dbFile: string, type: RunEvent["type"], count: number) {
  let seen = 0;
  let killed: Promise<void> | undefined;
  const { worker, deps } = freshWorker(h, dbFile, (e) => {
    if (e.type === type && ++seen === count) killed = worker.kill();
  });
  await worker.drain();
  await killed;
  deps.db.$client.close();
  expect(seen).toBeGreaterThanOrEqual(count);
}

async function resumeAfterLease(h: RunHarness, dbFile: string) {
  h.clock.advance(LEASE_MS + 1);
  const { worker, deps } = freshWorker(h, dbFile);
  await worker.drain();
  deps.db.$client.close();
}

function assertExactlyOnce(h: RunHarness, runId: string) {
  const db = h.t.db;
  const contacts = db.select().from(schema.runContacts).where(eq(schema.runContacts.runId, runId)).all();
  expect(contacts).toHaveLength(CONTACTS);
  expect(contacts.every((c) => c.verifiedAt && c.status && c.reason)).toBe(true);
  for (const c of contacts) expect(h.verifications.get(c.email) ?? 0).toBeGreaterThanOrEqual(1);
  const totalVerifications = [...h.verifications.values()].reduce((x, y) => x + y, 0);
  expect(totalVerifications).toBeLessThanOrEqual(CONTACTS + 50);

  const ledger = db
    .select({ kind: schema.creditLedger.kind, total: sql<number>`sum(${schema.creditLedger.amount})` })
    .from(schema.creditLedger)
    .where(eq(schema.creditLedger.runId, runId))
    .groupBy(schema.creditLedger.kind)
    .all();
  const unknown = contacts.filter((c) => c.status === "unknown").length;
  expect(Object.fromEntries(ledger.map((l) => [l.kind, Number(l.total)]))).toEqual({ charge: -CONTACTS, refund: unknown });

  const applied = new Map<string, number>();
  for (const r of h.fake.requests) {
    if (r.status !== 200 || r.method === "GET") continue;
    const key = r.method === "DELETE" ? `delete:${r.path}` : `unsub:${JSON.stringify(r.body)}`;
    applied.set(key, (applied.get(key) ?? 0) + 1);
  }
  for (const [key, n] of applied) expect({ key, n }).toEqual({ key, n: 1 });
  expect(h.fake.requests.some((r) => r.method === "POST" && (r.body as { contactList?: { status?: number } }).contactList?.status !== 2)).toBe(false);
}

async function expectCompleteReport(h: RunHarness, runId: string) {
  await expectCountersMatchRows(h, runId);
  const rows = parseCsv(await (await h.t.request("GET", `/api/runs/${runId}/report.csv`, { as: h.user })).text());
  expect(rows).toHaveLength(CONTACTS);
  expect(rows.every((r) => r.status !== "")).toBe(true);
  const destructive = rows.filter((r) => r.action === "delete" || r.action === "unsubscribe");
  expect(destructive.length).toBeGreaterThan(0);
  for (const r of destructive) expect(r.action_result).toMatch(/^done/);
}

describe("crash and resume", () => {
  for (const [label, event, count, warm] of [
    ["mid-fetch", "page_stored", 2, false],
    ["mid-verify", "results_stored", 1, false],
    // With every domain's mail route cached, most addresses are verified as their page is stored (issue 13).
    ["mid-fetch, with the DNS cache warm", "page_stored", 2, true],
  ] as const) {
    it(`a worker killed ${label} is resumed by a fresh one: verified once, charged once, applied at most once`, async () => {
      const dbFile = path.join(mkdtempSync(path.join(tmpdir(), "lw-crash-")), "listwarden.db");
      const h = await createRunHarness(server, { dbFile });
      seed(h);
      if (warm) {
        for (const kind of ["noMail", "disposable", "dnsError", "deliverable"] as const) await h.verifiers.plain.attempt(address(kind, "warm"));
        h.verifications.clear();
      }
      const run = await h.startRun({ scope: { kind: "lists", listIds: Object.keys(Object.fromEntries(h.fake.lists)) }, actions: ACTIONS });
      await crashAfter(h, dbFile, event, count);
      const mid = await h.getRun(run.id);
      expect(["running", "queued"]).toContain(mid.status);
      if (event === "results_stored" || warm) {
        expect(mid.progress.verified).toBeGreaterThan(0);
        expect(mid.progress.verified).toBeLessThan(CONTACTS);
      }
      // Warm: every page stored came with its results, but for the DNS errors (1 in 13) left to the verify stage.
      if (warm) expect(mid.progress.verified).toBeGreaterThanOrEqual(Math.floor(mid.progress.fetched * 0.9));
      await resumeAfterLease(h, dbFile);
      expect((await h.getRun(run.id)).status).toBe("awaiting_review");
      await h.t.request("POST", `/api/runs/${run.id}/approve`, { as: h.user, body: { confirmDelete: true } });
      await resumeAfterLease(h, dbFile);
      expect((await h.getRun(run.id)).status).toBe("completed");
      assertExactlyOnce(h, run.id);
      await expectCompleteReport(h, run.id);
      await h.close();
    });
  }

  for (const [kind, article] of [["unsubscribe", "an"], ["delete", "a"]] as const) {
    it(`a worker killed mid-apply, after ${article} ${kind} reached AC but before its answer came back, is resumed without applying any action twice`, async () => {
      const dbFile = path.join(mkdtempSync(path.join(tmpdir(), "lw-crash-")), "listwarden.db");
      const h = await createRunHarness(server, { dbFile });
      seed(h);
      const run = await h.startRun({ scope: { kind: "lists", listIds: Object.keys(Object.fromEntries(h.fake.lists)) }, actions: ACTIONS });
      await resumeAfterLease(h, dbFile);
      await h.t.request("POST", `/api/runs/${run.id}/approve`, { as: h.user, body: { confirmDelete: true } });

      // The 3rd request of this kind is carried out by AC; the connection drops before its
      // answer, and the process dies at that moment (so nothing records the outcome).
      const method = kind === "delete" ? "DELETE" : "POST";
      let seen = 0;
      h.fake.failNext(1, { answerLost: true }, (r) => r.method === method && ++seen === 3);
      const { worker, deps } = freshWorker(h, dbFile);
      let killed: Promise<void> | undefined;
      server.use(
        http.all(`${h.fake.baseUrl}/*`, async ({ request }) => {
          const res = await h.fake.handle(request);
          if (res.type === "error") killed = worker.kill();
          return res;
        }),
      );
      await worker.drain();
      await killed;
      deps.db.$client.close();
      expect(killed).toBeDefined();

      const lost = h.fake.requests.find((r) => r.fault && "answerLost" in r.fault)!;
      expect(lost.status).toBe(200);
      // Left in `sending`: the one whose answer was lost, and any others in flight at the crash.
      const sending = h.t.db.select().from(schema.runActions).where(eq(schema.runActions.state, "sending")).all();
      const lostContact = kind === "delete" ? Number(lost.path.split("/").pop()) : (lost.body as { contactList: { contact: number } }).contactList.contact;
      expect(sending.map((a) => a.contactId)).toContain(lostContact);
      expect((await h.getRun(run.id)).status).toBe("applying");

      await resumeAfterLease(h, dbFile);
      const done = await h.getRun(run.id);
      expect(done.status).toBe("completed");
      expect(done.progress.applied).toBe(done.progress.planned);
      // The action that reached AC was recognised as applied: one successful request for it, in all.
      assertExactlyOnce(h, run.id);
      await expectCompleteReport(h, run.id);
      await h.close();
    });
  }

  it("checks an action left 'sending' by a crash against AC before sending it again", async () => {
    const h = await createRunHarness(server);
    const list = h.fake.addList("L");
    const gone = h.fake.addContact({ email: address("noMail", "a"), lists: { [list]: ACTIVE } });
    const kept = h.fake.addContact({ email: address("noMail", "b"), lists: { [list]: ACTIVE } });
    const run = await h.startRun({ scope: { kind: "all" }, actions: { undeliverable: "delete" } });
    await h.worker().drain();
    await h.t.request("POST", `/api/runs/${run.id}/approve`, { as: h.user, body: { confirmDelete: true } });
    // A crash after the first DELETE reached AC, before it was recorded as done:
    h.fake.removeContact(gone);
    h.t.db.update(schema.runActions).set({ state: "sending", attempts: 1 }).run();
    h.fake.clearRequests();
    await h.worker().drain();
    expect((await h.getRun(run.id)).progress).toMatchObject({ applied: 2, failed: 0 });
    const deletes = h.fake.requests.filter((r) => r.method === "DELETE").map((r) => r.path);
    expect(deletes).toEqual([`/api/3/contacts/${kept}`]);
    await h.close();
  });
});

describe("faults from ActiveCampaign", () => {
  it("completes with nothing lost through 5xx answers, resets, timeouts and truncated JSON", async () => {
    const h = await createRunHarness(server);
    seed(h);
    const isPage = (r: { method: string; path: string }) => r.method === "GET" && r.path === "/api/3/contacts";
    h.fake.failNext(2, { status: 503 }, isPage);
    h.fake.failNext(1, { status: 502 }, isPage);
    h.fake.failNext(1, { reset: true }, isPage);
    h.fake.failNext(1, { truncate: true }, isPage);
    h.fake.failNext(1, { delayMs: 1_500 }, isPage);
    h.fake.failNext(1, { status: 500 }, (r) => r.method === "POST");
    h.fake.failNext(1, { reset: true }, (r) => r.method === "DELETE");
    const run = await h.startRun({ scope: { kind: "lists", listIds: [...h.fake.lists.keys()] }, actions: ACTIONS });
    for (let i = 0; i < 10 && (await h.getRun(run.id)).status !== "awaiting_review"; i++) {
      await h.worker().drain();
      h.clock.advance(120_000);
    }
    expect((await h.getRun(run.id)).status).toBe("awaiting_review");
    await h.t.request("POST", `/api/runs/${run.id}/approve`, { as: h.user, body: { confirmDelete: true } });
    // A write whose answer may be lost is not resent by the client: its action waits, is checked against AC, then sent.
    for (let i = 0; i < 10 && (await h.getRun(run.id)).status === "applying"; i++) {
      await h.worker().drain();
      h.clock.advance(120_000);
    }
    const done = await h.getRun(run.id);
    expect(done.status).toBe("completed");
    expect(done.progress).toMatchObject({ fetched: CONTACTS, verified: CONTACTS, failed: 0 });
    expect(h.fake.faults.every((f) => f.times === 0)).toBe(true);
    assertExactlyOnce(h, run.id);
    await h.close();
  });

  it("records AC's message on an action that keeps failing and still completes the rest", async () => {
    const h = await createRunHarness(server);
    const list = h.fake.addList("L");
    const stuck = h.fake.addContact({ email: address("noMail", "stuck"), lists: { [list]: ACTIVE } });
    h.fake.addContact({ email: address("noMail", "fine"), lists: { [list]: ACTIVE } });
    h.fake.failNext(100, { status: 422, body: { errors: [{ title: "The list is locked", detail: "List is being imported" }] } }, (r) => r.method === "POST" && (r.body as { contactList: { contact: number } }).contactList.contact === Number(stuck));
    const run = await h.startRun({ scope: { kind: "all" } });
    await h.worker().drain();
    await h.t.request("POST", `/api/runs/${run.id}/approve`, { as: h.user, body: {} });
    await h.worker().drain();
    const done = await h.getRun(run.id);
    expect(done.status).toBe("completed");
    expect(done.progress).toMatchObject({ applied: 1, failed: 1 });
    expect(done.statusReason).toMatch(/unsubscribed from 1 list membership; 1 change failed/);
    const rows = parseCsv(await (await h.t.request("GET", `/api/runs/${run.id}/report.csv`, { as: h.user })).text());
    expect(rows.find((r) => r.contact_id === stuck)!.action_result).toMatch(/^failed: .*The list is locked/);
    await h.close();
  });

  it("never fails a run on weather: keeps trying with growing waits, says so, and a cancel refunds what was not verified", async () => {
    const h = await createRunHarness(server, { signupCredits: 1_000 });
    seed(h);
    // The id-range request and the first page get through; every later page answers 503.
    let pages = 0;
    h.fake.failNext(10_000, { status: 503 }, (r) => r.method === "GET" && r.path === "/api/3/contacts" && ++pages > 2);
    const run = await h.startRun({ scope: { kind: "all" } });
    const waits: number[] = [];
    for (let i = 0; i < 8; i++) {
      await h.worker().drain();
      const row = h.t.db.select().from(schema.runs).where(eq(schema.runs.id, run.id)).get()!;
      expect(row.status).toBe("running");
      expect(row.leaseOwner).toBeNull();
      waits.push(row.notBefore!.getTime() - h.clock.now());
      h.clock.advance(20 * 60_000);
    }
    const waiting = await h.getRun(run.id);
    expect(waiting.status).toBe("running");
    expect(waiting.statusReason).toMatch(/ActiveCampaign is not answering as it should \(ActiveCampaign had a problem \(HTTP 503\)\); trying again in \d+ s \(attempt 9\)/);
    // Waits grow (with jitter, each at least half of its doubled base) and stop growing at the 10-minute cap.
    expect(waits[0]).toBeLessThanOrEqual(2_000);
    expect(waits[5]).toBeGreaterThanOrEqual(32_000);
    expect(Math.max(...waits)).toBeLessThanOrEqual(10 * 60_000);
    expect(waiting.credits.charged).toBe(100);

    const cancelled = (await (await h.t.request("POST", `/api/runs/${run.id}/cancel`, { as: h.user })).json()) as RunView;
    expect(cancelled.status).toBe("cancelled");
    const unverified = cancelled.progress.fetched - cancelled.progress.verified;
    const unknown = cancelled.counts.byStatus.unknown ?? 0;
    expect(cancelled.credits.refunded).toBe(unknown + unverified);
    expect(balanceOf(h.t.db, h.user.workspaceId)).toBe(1_000 - 100 + unknown + unverified);
    await h.close();
  });
});
