import { eq, sql } from "drizzle-orm";
import { http } from "msw";
import { setupServer } from "msw/node";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { schema } from "../db/index.ts";
import { createAcLimiters } from "../core/ac/index.ts";
import { balanceOf } from "../core/services/credits.ts";
import { cancelRun, createRun, type RunView } from "../core/services/runs.ts";
import type { AddressVerifier, RunVerifiers } from "../core/verification.ts";
import type { RunEvent } from "../worker/runs/context.ts";
import type { FetchCursor } from "../worker/runs/fetch.ts";
import { createRunHarness, expectCountersMatchRows, parseCsv, type RunHarness } from "./support/runs.ts";
import { address } from "./support/world.ts";

const server = setupServer();
beforeAll(() => server.listen({ onUnhandledRequest: "error" }));
afterEach(() => server.resetHandlers());
afterAll(() => server.close());

const ACTIVE = 1;
const UNSUBSCRIBED = 2;
const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** Every unhandled rejection while `fn` runs (the process would die of one outside vitest). */
async function watchingRejections<T>(fn: () => Promise<T>): Promise<{ result: T; rejections: unknown[] }> {
  const rejections: unknown[] = [];
  const listener = (reason: unknown) => rejections.push(reason);
  process.on("unhandledRejection", listener);
  try {
    const result = await fn();
    // Rejections surface on a later turn of the event loop.
    await new Promise((resolve) => setTimeout(resolve, 50));
    return { result, rejections };
  } finally {
    process.off("unhandledRejection", listener);
  }
}

/** A verifier that holds every address until `release()` (or its signal aborts), and lets all through after it. */
function heldVerifier(h: RunHarness) {
  const waiting: (() => void)[] = [];
  let started = 0;
  let released = false;
  const attempt: AddressVerifier["attempt"] = (email, opts) => {
    started += 1;
    if (released) return h.verifiers.plain.attempt(email, opts);
    return new Promise((resolve, reject) => {
      waiting.push(() => h.verifiers.plain.attempt(email, opts).then(resolve, reject));
      opts?.signal?.addEventListener("abort", () => reject(opts.signal!.reason), { once: true });
    });
  };
  return {
    verifiers: { plain: { attempt }, smtp: null } satisfies RunVerifiers,
    get started() {
      return started;
    },
    release() {
      released = true;
      for (const go of waiting.splice(0)) go();
    },
  };
}

async function until(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const runRow = (h: RunHarness, id: string) => h.t.db.select().from(schema.runs).where(eq(schema.runs.id, id)).get()!;

function ledgerOf(h: RunHarness, runId: string): { charge: number; refund: number } {
  const rows = h.t.db
    .select({ kind: schema.creditLedger.kind, total: sql<number>`sum(${schema.creditLedger.amount})` })
    .from(schema.creditLedger)
    .where(eq(schema.creditLedger.runId, runId))
    .groupBy(schema.creditLedger.kind)
    .all();
  const of = (k: string) => Number(rows.find((r) => r.kind === k)?.total ?? 0);
  return { charge: -of("charge"), refund: of("refund") };
}

describe("fetching: an attempt owns its shards", () => {
  it("when one shard fails, the others stop with it; the same worker re-claims at once; the cursor never goes back, no page is stored twice, and a crash then skips nothing", async () => {
    const h = await createRunHarness(server);
    const list = h.fake.addList("Big");
    const ids = h.fake.addContacts(1_000, (i) => ({ email: address("deliverable", `s${i}`), lists: { [list]: ACTIVE } }));
    // The 2nd page of the third shard (ids 501-750) fails through all of the client's tries.
    h.fake.failNext(5, { status: 503 }, (r) => r.method === "GET" && r.query["id_greater"] === String(Number(ids[0]) + 599));
    const run = await h.startRun({ scope: { kind: "all" } });

    const cursors: FetchCursor[] = [];
    const pages = new Map<string, number>();
    let killAtNextPage = false;
    let killed: Promise<void> | undefined;
    const worker = h.worker({
      fetchConcurrency: 4,
      onEvent: (e) => {
        if (e.type !== "page_stored") return;
        const at = `${e.part}/${e.shard}/${e.afterId ?? "start"}`;
        pages.set(at, (pages.get(at) ?? 0) + 1);
        const raw = runRow(h, run.id).fetchCursor;
        if (raw) cursors.push(JSON.parse(raw) as FetchCursor);
        if (killAtNextPage && !killed) killed = worker.kill();
      },
    });
    await worker.drain();
    // The failed attempt has let go of the run until the weather passes...
    const afterFailure = runRow(h, run.id);
    expect(afterFailure.status).toBe("running");
    expect(afterFailure.leaseToken).toBeNull();
    expect(afterFailure.transientFailures).toBe(1);
    // ...and nothing of it still runs: no request leaves after it ended.
    const sent = h.fake.requests.length;
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(h.fake.requests.length).toBe(sent);

    // The same worker claims it again at once, and the process dies at its next stored page.
    h.clock.advance(60_000);
    killAtNextPage = true;
    await worker.drain();
    await killed;
    expect(killed).toBeDefined();
    expect(runRow(h, run.id).status).toBe("running");

    // A restarted process, after the lease expired, finishes the fetch.
    h.clock.advance(120_000);
    killAtNextPage = false;
    await h.worker({ fetchConcurrency: 4, onEvent: (e) => e.type === "page_stored" && pages.set(`${e.part}/${e.shard}/${e.afterId ?? "start"}`, (pages.get(`${e.part}/${e.shard}/${e.afterId ?? "start"}`) ?? 0) + 1) }).drain();
    expect((await h.getRun(run.id)).status).toBe("completed");

    // Every shard's position only ever moved forward, and the part never went back.
    for (let i = 1; i < cursors.length; i++) {
      const [before, after] = [cursors[i - 1]!, cursors[i]!];
      expect(after.part).toBeGreaterThanOrEqual(before.part);
      if (after.part !== before.part || !before.shards || !after.shards) continue;
      after.shards.forEach((shard, s) => {
        const was = before.shards![s]!;
        if (was.done) expect(shard.done).toBe(true);
        expect(Number(shard.afterId ?? 0)).toBeGreaterThanOrEqual(Number(was.afterId ?? 0));
      });
    }
    // No page (scope part, id range, position) was stored twice, and every contact is there once.
    expect([...pages.entries()].filter(([, n]) => n > 1)).toEqual([]);
    const rows = h.t.db.select({ id: schema.runContacts.contactId }).from(schema.runContacts).where(eq(schema.runContacts.runId, run.id)).all();
    expect(rows.map((r) => String(r.id)).sort()).toEqual([...ids].sort());
    expect(ledgerOf(h, run.id)).toEqual({ charge: 1_000, refund: 0 });
    await expectCountersMatchRows(h, run.id);
    await h.close();
  });
});

describe("stopping: cancel, lost leases and failures", () => {
  it("a cancel while an attempt fails on ActiveCampaign weather leaves the process serving, the run cancelled and the refund right", async () => {
    const h = await createRunHarness(server, { signupCredits: 1_000 });
    const list = h.fake.addList("L");
    h.fake.addContacts(250, (i) => ({ email: address("deliverable", `w${i}`), lists: { [list]: ACTIVE } }));
    const run = await h.startRun({ scope: { kind: "all" } });
    const held = heldVerifier(h);
    let pages = 0;
    let tries = 0;
    server.use(
      http.all(`${h.fake.baseUrl}/*`, async ({ request }) => {
        const url = new URL(request.url);
        if (request.method === "GET" && url.pathname === "/api/3/contacts" && url.searchParams.has("id_greater") && ++pages > 1) {
          // The last of the client's tries fails: the user cancels at that very moment.
          if (++tries === 5) cancelRun(h.t.deps, { ctx: { workspaceId: h.user.workspaceId }, id: run.id });
          return new Response("{}", { status: 503 });
        }
        return h.fake.handle(request);
      }),
    );
    const { rejections } = await watchingRejections(() => h.worker({ verifiers: held.verifiers, fetchConcurrency: 1 }).drain());
    expect(rejections).toEqual([]);
    expect(tries).toBe(5);
    const cancelled = await h.getRun(run.id);
    expect(cancelled.status).toBe("cancelled");
    // The first page was charged and never verified (the verifier held every address): all refunded.
    expect(cancelled.credits).toEqual({ charged: 100, refunded: 100, net: 0 });
    expect(balanceOf(h.t.db, h.user.workspaceId)).toBe(1_000);
    await expectCountersMatchRows(h, run.id);
    await h.close();
  });

  it("a cancel while an attempt fails on an internal error leaves the process serving and the run cancelled", async () => {
    const h = await createRunHarness(server);
    const list = h.fake.addList("L");
    h.fake.addContacts(10, (i) => ({ email: address("deliverable", `i${i}`), lists: { [list]: ACTIVE } }));
    const run = await h.startRun({ scope: { kind: "all" } });
    const failing: RunVerifiers = {
      plain: {
        async attempt() {
          cancelRun(h.t.deps, { ctx: { workspaceId: h.user.workspaceId }, id: run.id });
          throw new Error("the verifier broke");
        },
      },
      smtp: null,
    };
    const { rejections } = await watchingRejections(() => h.worker({ verifiers: failing }).drain());
    expect(rejections).toEqual([]);
    const row = runRow(h, run.id);
    expect(row.status).toBe("cancelled");
    expect(row.statusReason).toMatch(/Cancelled/);
    expect(ledgerOf(h, run.id)).toEqual({ charge: 10, refund: 10 });
    await h.close();
  });

  it("a failed run refunds the contacts it charged and never verified", async () => {
    const h = await createRunHarness(server, { signupCredits: 1_000 });
    const list = h.fake.addList("L");
    h.fake.addContacts(300, (i) => ({ email: address("deliverable", `f${i}`), lists: { [list]: ACTIVE } }));
    const run = await h.startRun({ scope: { kind: "all" } });
    const held = heldVerifier(h);
    // After the first page is stored, ActiveCampaign refuses the key: the run fails, nothing verified.
    const worker = h.worker({ verifiers: held.verifiers, fetchConcurrency: 1, onEvent: (e) => e.type === "page_stored" && h.fake.apiKeys.clear() });
    await worker.drain();
    const failed = await h.getRun(run.id);
    expect(failed.status).toBe("failed");
    expect(failed.statusReason).toMatch(/refused this API key.*Update the connection's API key/);
    expect(held.started).toBeGreaterThan(0);
    expect(failed.progress.verified).toBe(0);
    expect(failed.credits).toEqual({ charged: 100, refunded: 100, net: 0 });
    expect(balanceOf(h.t.db, h.user.workspaceId)).toBe(1_000);
    await expectCountersMatchRows(h, run.id);
    await h.close();
  });

  it("a run cancelled mid-verification refunds what was not verified, once, even when its worker's verifier answers afterwards", async () => {
    const h = await createRunHarness(server, { signupCredits: 1_000 });
    const list = h.fake.addList("L");
    h.fake.addContacts(150, (i) => ({ email: address(i % 3 ? "deliverable" : "dnsError", `c${i}`), lists: { [list]: ACTIVE } }));
    const run = await h.startRun({ scope: { kind: "all" } });
    const held = heldVerifier(h);
    // No heartbeat within the test: only the lease check on its writes stops the attempt.
    const worker = h.worker({ verifiers: held.verifiers, heartbeatMs: 60_000 });
    const drained = worker.drain();
    await until(() => held.started === 50 && runRow(h, run.id).fetchDone, "a full verify window held and every page fetched");
    // The user cancels while the worker still runs the attempt.
    const res = await h.t.request("POST", `/api/runs/${run.id}/cancel`, { as: h.user });
    expect(res.status).toBe(200);
    held.release();
    await drained;
    const cancelled = await h.getRun(run.id);
    expect(cancelled.status).toBe("cancelled");
    expect(cancelled.progress.verified).toBe(0);
    // Refunded exactly once: no refund of unknowns on top for results the cancelled attempt found.
    expect(cancelled.credits).toEqual({ charged: 150, refunded: 150, net: 0 });
    expect(balanceOf(h.t.db, h.user.workspaceId)).toBe(1_000);
    await expectCountersMatchRows(h, run.id);
    await h.close();
  });

  it("a run cancelled while paused for credits refunds the contacts it charged and could not verify yet", async () => {
    const h = await createRunHarness(server, { signupCredits: 150 });
    const list = h.fake.addList("L");
    h.fake.addContacts(300, (i) => ({ email: address("deliverable", `p${i}`), lists: { [list]: ACTIVE } }));
    const run = await h.startRun({ scope: { kind: "all" } });
    // Every address's mail server says "later", for longer than an attempt waits.
    const parking: RunVerifiers = { plain: { attempt: async () => ({ kind: "retry", afterMs: 30 * 60_000, why: "greylisted" }) }, smtp: null };
    await h.worker({ verifiers: parking, fetchConcurrency: 1 }).drain();
    const paused = await h.getRun(run.id);
    expect(paused.status).toBe("paused_credits");
    // The balance pays for 150 contacts: a page and a half, none of it left unused.
    expect(paused.progress).toMatchObject({ fetched: 150, verified: 0, waiting: { count: 150 } });
    expect(paused.credits.charged).toBe(150);
    const cancelled = (await (await h.t.request("POST", `/api/runs/${run.id}/cancel`, { as: h.user })).json()) as RunView;
    expect(cancelled.status).toBe("cancelled");
    expect(cancelled.credits).toEqual({ charged: 150, refunded: 150, net: 0 });
    expect(balanceOf(h.t.db, h.user.workspaceId)).toBe(150);
    await expectCountersMatchRows(h, run.id);
    await h.close();
  });

  it("an attempt that lost its lease to another worker writes nothing more: the run is not fetched, charged or moved again by it", async () => {
    const h = await createRunHarness(server);
    const list = h.fake.addList("L");
    h.fake.addContacts(150, (i) => ({ email: address("noMail", `t${i}`), lists: { [list]: ACTIVE } }));
    const run = await h.startRun({ scope: { kind: "all" } });
    // The first attempt's second page hangs until we let it through.
    let releasePage!: () => void;
    const pageHeld = new Promise<void>((resolve) => (releasePage = resolve));
    let pageRequests = 0;
    server.use(
      http.all(`${h.fake.baseUrl}/*`, async ({ request }) => {
        const url = new URL(request.url);
        if (url.pathname === "/api/3/contacts" && url.searchParams.has("id_greater") && ++pageRequests === 2) await pageHeld;
        return h.fake.handle(request);
      }),
    );
    const stalled = h.worker({ fetchConcurrency: 1, heartbeatMs: 60_000 });
    const stalledDone = stalled.drain();
    await until(() => pageRequests === 2, "the stalled attempt's second page");
    // Its lease runs out; another worker takes the run over and takes it to review.
    h.clock.advance(61_000);
    await h.worker({ fetchConcurrency: 1 }).drain();
    const reviewed = runRow(h, run.id);
    expect(reviewed.status).toBe("awaiting_review");
    expect(reviewed.fetchDone).toBe(true);
    // Now the stalled attempt's page arrives: it must change nothing.
    releasePage();
    await stalledDone;
    const after = runRow(h, run.id);
    expect(after.status).toBe("awaiting_review");
    expect(after.fetchDone).toBe(true);
    expect(after.fetchCursor).toBe(reviewed.fetchCursor);
    expect(after.verifiedAt).toEqual(reviewed.verifiedAt);
    expect(after.acRequests).toBe(reviewed.acRequests);
    expect(ledgerOf(h, run.id)).toEqual({ charge: 150, refund: 0 });
    await h.close();
  });
});

describe("applying through weather", () => {
  it("a burst of 429s, 503s, resets and lost answers during apply: every action ends done, none is applied twice", async () => {
    const h = await createRunHarness(server);
    const a = h.fake.addList("A");
    const b = h.fake.addList("B");
    const bad = h.fake.addContacts(40, (i) => ({ email: address("noMail", `u${i}`), lists: i % 2 ? { [a]: ACTIVE, [b]: ACTIVE } : { [a]: ACTIVE } }));
    const run = await h.startRun({ scope: { kind: "all" }, actions: { undeliverable: "unsubscribe" } });
    await h.worker().drain();
    expect((await h.getRun(run.id)).status).toBe("awaiting_review");
    await h.t.request("POST", `/api/runs/${run.id}/approve`, { as: h.user, body: {} });
    const isWrite = (r: { method: string }) => r.method === "POST";
    // More failures in a row than the client's own 5 tries, so actions go back to pending and wait.
    h.fake.failNext(8, { status: 429, headers: { "Retry-After": "0" } }, isWrite);
    h.fake.failNext(8, { status: 503 }, isWrite);
    h.fake.failNext(6, { reset: true }, isWrite);
    h.fake.failNext(3, { answerLost: true }, isWrite);
    h.fake.failNext(8, { status: 502 }, isWrite);
    const worker = h.worker({ actionRetryBaseMs: 1, actionRetryMaxMs: 5 });
    for (let i = 0; i < 20 && (await h.getRun(run.id)).status === "applying"; i++) {
      await worker.drain();
      h.clock.advance(10_000);
    }
    const done = await h.getRun(run.id);
    expect(done.status).toBe("completed");
    expect(done.progress).toMatchObject({ applied: 60, failed: 0, planned: 60 });
    expect(h.fake.faults.every((f) => f.times === 0)).toBe(true);
    // Some action met more weather than the client's retries: it went back to pending and was retried.
    expect(h.t.db.select().from(schema.runActions).all().some((x) => x.attempts > 1)).toBe(true);
    const successes = new Map<string, number>();
    for (const r of h.fake.requests.filter((x) => isWrite(x) && x.status === 200)) {
      const key = JSON.stringify((r.body as { contactList: unknown }).contactList);
      successes.set(key, (successes.get(key) ?? 0) + 1);
    }
    expect(successes.size).toBe(60);
    expect([...successes.values()].every((n) => n === 1)).toBe(true);
    for (const [i, id] of bad.entries()) {
      expect(h.fake.listStatus(id, a)).toBe(UNSUBSCRIBED);
      if (i % 2) expect(h.fake.listStatus(id, b)).toBe(UNSUBSCRIBED);
    }
    await h.close();
  });

  it("a contact deleted in ActiveCampaign since the review is done, 'no longer in ActiveCampaign', for unsubscribes and deletes alike", async () => {
    const h = await createRunHarness(server);
    const list = h.fake.addList("L");
    const unsub = h.fake.addContact({ email: address("noMail", "gone-u"), lists: { [list]: ACTIVE } });
    const del = h.fake.addContact({ email: address("disposable", "gone-d"), lists: { [list]: ACTIVE } });
    const kept = h.fake.addContact({ email: address("noMail", "here"), lists: { [list]: ACTIVE } });
    const run = await h.startRun({ scope: { kind: "lists", listIds: [list] }, actions: { undeliverable: "unsubscribe", overrides: [{ reason: "disposable", action: "delete" }] } });
    await h.worker().drain();
    h.fake.removeContact(unsub);
    h.fake.removeContact(del);
    await h.t.request("POST", `/api/runs/${run.id}/approve`, { as: h.user, body: { confirmDelete: true } });
    await h.worker().drain();
    const done = await h.getRun(run.id);
    expect(done.status).toBe("completed");
    expect(done.progress).toMatchObject({ applied: 3, failed: 0 });
    expect(h.fake.requests.some((r) => r.method === "POST" && r.status === 422)).toBe(true);
    const rows = parseCsv(await (await h.t.request("GET", `/api/runs/${run.id}/report.csv`, { as: h.user })).text());
    const row = (id: string) => rows.find((r) => r.contact_id === id)!;
    expect(row(unsub).action_result).toBe("done (No longer in ActiveCampaign) (L)");
    expect(row(del).action_result).toBe("done (No longer in ActiveCampaign)");
    expect(row(kept).action_result).toBe("done (L)");
    await h.close();
  });

  it("a run whose changes failed can retry them, without checking or charging again", async () => {
    const h = await createRunHarness(server);
    const list = h.fake.addList("L");
    const stuck = h.fake.addContact({ email: address("noMail", "stuck"), lists: { [list]: ACTIVE } });
    h.fake.addContact({ email: address("noMail", "fine"), lists: { [list]: ACTIVE } });
    h.fake.failNext(1, { status: 422, body: { errors: [{ title: "The list is locked" }] } }, (r) => r.method === "POST" && (r.body as { contactList: { contact: number } }).contactList.contact === Number(stuck));
    const run = await h.startRun({ scope: { kind: "all" } });
    await h.worker().drain();
    expect((await h.t.request("POST", `/api/runs/${run.id}/retry`, { as: h.user })).status).toBe(409);
    await h.t.request("POST", `/api/runs/${run.id}/approve`, { as: h.user, body: {} });
    await h.worker().drain();
    const partly = await h.getRun(run.id);
    expect(partly).toMatchObject({ status: "completed", canRetryActions: true, progress: { applied: 1, failed: 1 } });
    const charged = partly.credits.charged;
    const gets = h.fake.requests.filter((r) => r.method === "GET" && r.path === "/api/3/contacts").length;

    const retried = await h.t.request("POST", `/api/runs/${run.id}/retry`, { as: h.user });
    expect(retried.status).toBe(200);
    expect(((await retried.json()) as RunView).status).toBe("applying");
    await h.worker().drain();
    const done = await h.getRun(run.id);
    expect(done).toMatchObject({ status: "completed", canRetryActions: false, progress: { applied: 2, failed: 0 } });
    expect(done.credits.charged).toBe(charged);
    expect(h.fake.requests.filter((r) => r.method === "GET" && r.path === "/api/3/contacts").length).toBe(gets);
    expect(h.fake.listStatus(stuck, list)).toBe(UNSUBSCRIBED);
    expect((await h.t.request("POST", `/api/runs/${run.id}/retry`, { as: h.user })).status).toBe(409);
    await expectCountersMatchRows(h, run.id);
    await h.close();
  });
});

describe("the lifecycle's rules", () => {
  it("a scheduled run applies by itself under its own hold threshold and holds above it", async () => {
    const h = await createRunHarness(server);
    const list = h.fake.addList("L");
    // 4 of 10 contacts (40%) would be unsubscribed.
    h.fake.addContacts(10, (i) => ({ email: address(i < 4 ? "noMail" : "deliverable", `h${i}`), lists: { [list]: ACTIVE } }));
    const start = (holdThreshold: number) =>
      createRun(h.t.deps, {
        ctx: { workspaceId: h.user.workspaceId },
        input: { connectionId: h.connectionId, scope: { kind: "all" }, actions: { deliverable: "keep", risky: "keep", undeliverable: "unsubscribe", unknown: "keep", overrides: [] } },
        schedule: { id: `sch_${holdThreshold}`, autoApply: true, holdThreshold, deleteConfirmed: false, notes: [] },
      });
    const strict = start(0.35);
    await h.worker().drain();
    const held = await h.getRun(strict.id);
    expect(held.status).toBe("awaiting_review");
    expect(held.statusReason).toBe("Held for review: 40.0% of contacts would be unsubscribed or deleted, above this schedule's 35% limit");
    const loose = start(0.5);
    await h.worker().drain();
    const applied = await h.getRun(loose.id);
    expect(applied.status).toBe("completed");
    expect(applied.progress).toMatchObject({ applied: 4, planned: 4 });
    // Applied by the schedule's standing approval: its changes could be retried like any approved run's.
    expect(applied.timings.approvedAt).not.toBeNull();
    await h.close();
  });

  it("a run whose connection was deleted cannot be approved", async () => {
    const h = await createRunHarness(server);
    const list = h.fake.addList("L");
    h.fake.addContact({ email: address("noMail", "x"), lists: { [list]: ACTIVE } });
    const run = await h.startRun({ scope: { kind: "all" } });
    await h.worker().drain();
    expect((await h.t.request("DELETE", `/api/connections/${h.connectionId}`, { as: h.user })).status).toBe(204);
    const res = await h.t.request("POST", `/api/runs/${run.id}/approve`, { as: h.user, body: {} });
    expect(res.status).toBe(409);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/connection of this run was deleted/);
    expect(runRow(h, run.id).status).toBe("awaiting_review");
    await h.close();
  });

  it("one ActiveCampaign account shares one rate limiter under each of its host names", () => {
    const limiters = createAcLimiters({ requestsPerSecond: 5 });
    const a = limiters.forHost("acct.api-us1.com");
    expect(limiters.forHost("ACCT.activehosted.com")).toBe(a);
    expect(limiters.forHost("acct.api-evil.com")).not.toBe(a);
    expect(limiters.forHost("other.api-us1.com")).not.toBe(a);
    expect(limiters.forHost("127.0.0.1:4010")).not.toBe(a);
    // Two ports of one host are two services, so two accounts (the sandbox, the benchmarks).
    expect(limiters.forHost("127.0.0.1:4011")).not.toBe(limiters.forHost("127.0.0.1:4010"));
    expect(limiters.forHost("acct.api-us1.com:443")).toBe(a);
    expect(limiters.forHost("acct.api-us1.com.evil.example")).not.toBe(a);
  });

  it("a promise nobody handled is logged and the server process keeps running", () => {
    const code = `
      const { guardProcess } = await import(${JSON.stringify(`${ROOT}boot/process-guards.ts`)});
      const { createLogger } = await import(${JSON.stringify(`${ROOT}core/logger.ts`)});
      guardProcess(createLogger({ level: "error" }));
      Promise.reject(new Error("nobody caught me"));
      setTimeout(() => { process.stdout.write("still serving\\n"); }, 100);
    `;
    const child = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", code], { cwd: ROOT, encoding: "utf8", timeout: 20_000 });
    expect(child.status).toBe(0);
    expect(child.stdout).toContain("still serving");
    expect(child.stdout).toContain("nobody handled it; the server keeps running");
    expect(child.stdout).toContain("nobody caught me");
  });
});
