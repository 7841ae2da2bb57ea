import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { schema, statement } from "../db/index.ts";
import { newId } from "../db/ids.ts";
import { balanceOf, grantCredits } from "../core/services/credits.ts";
import {
  addNote,
  cancelRunRow,
  claimRun,
  failRun,
  LeaseLost,
  moveRun,
  readRun,
  releaseForWeather,
  releaseLease,
  renewLease,
  reopenActions,
  RunMoveRefused,
  updateLeasedRun,
  type Lease,
  type RunRow,
} from "../core/runs/store.ts";
import type { RunStatus } from "../core/domain/run-status.ts";
import { createTestApp, signUp, storedRun } from "./support/app.ts";
import { FakeClock } from "./support/clock.ts";

// The run store's own rules (issue 20, mutation testing), on the store itself rather than
// through a whole run: which run a worker may claim, what a lease guards, what a release or a
// spell of weather writes, the refunds of failing and cancelling, reopening failed changes.

const CLAIM = { owner: "w1", leaseMs: 60_000, exclude: [] as string[], pollMs: 5_000 };

async function storeWorld(credits = 0) {
  const clock = new FakeClock();
  const t = createTestApp({ clock, config: { SIGNUP_CREDITS: credits, LOG_LEVEL: "warn" } });
  const user = await signUp(t);
  const db = t.db;
  let age = 1_000;
  /** A run in `status`; each one is created later than the one before (older runs are claimed first). */
  const run = (status: RunStatus = "queued", values: Partial<RunRow> = {}): RunRow => {
    age -= 1;
    return storedRun(db, clock, user.workspaceId, { createdAt: new Date(clock.now() - age), status, values });
  };
  /** Contacts of the run fetched (and charged) but not verified yet. */
  const unverified = (runId: string, n: number) => {
    for (let i = 1; i <= n; i++) statement(db, "INSERT INTO run_contacts (run_id, contact_id, email) VALUES (?, ?, ?)").run(runId, i, `c${i}@example.com`);
  };
  const reread = (id: string) => readRun(db, id)!;
  const balance = () => balanceOf(db, user.workspaceId);
  const grant = (amount: number) => grantCredits(db, clock, { workspaceId: user.workspaceId, amount, reason: "top-up" });
  const claim = (opts: Partial<typeof CLAIM> = {}) => claimRun(db, clock, { ...CLAIM, ...opts });
  return { db, clock, user, run, unverified, reread, balance, grant, claim };
}

describe("moving a run", () => {
  it("refuses a move TRANSITIONS does not allow, and a move from a status the run has left since it was read", async () => {
    const w = await storeWorld();
    const queued = w.run("queued");
    expect(() => moveRun(w.db, queued, "completed")).toThrow(RunMoveRefused);
    expect(w.reread(queued.id).status).toBe("queued");

    const running = moveRun(w.db, queued, "running");
    // `queued` is the row as read before that move: cancelling it from there is refused, not applied over `running`.
    expect(() => moveRun(w.db, queued, "cancelled")).toThrow(RunMoveRefused);
    expect(w.reread(queued.id).status).toBe("running");
    expect(moveRun(w.db, running, "cancelled").status).toBe("cancelled");
  });

  it("LeaseLost and RunMoveRefused name the run and the move refused", () => {
    const lost = new LeaseLost("run_1");
    expect(lost.name).toBe("LeaseLost");
    expect(lost.message).toBe("the lease on run_1 is no longer held by this attempt");
    const refused = new RunMoveRefused("run_2", "queued", "completed");
    expect(refused.name).toBe("RunMoveRefused");
    expect(refused.message).toBe("run run_2 cannot move from queued to completed");
  });
});

describe("claiming runs", () => {
  it("claims the oldest run a worker may move on, with a fresh lease_ token, skipping runs excluded, still leased or not due yet", async () => {
    const w = await storeWorld();
    const oldest = w.run("queued");
    const held = w.run("running", { leaseToken: "lease_other", leaseOwner: "w2", leaseExpiresAt: new Date(w.clock.now() + 1) });
    const later = w.run("paused_dns", { notBefore: new Date(w.clock.now() + 1) });
    w.run("awaiting_review");
    const next = w.run("applying");

    const first = w.claim({ exclude: [oldest.id] })!;
    expect(first.run.id).toBe(next.id);
    expect(first.lease).toEqual({ runId: next.id, owner: "w1", token: expect.stringMatching(/^lease_/) });
    expect(first.run.leaseToken).toBe(first.lease.token);
    expect(first.run.leaseExpiresAt!.getTime()).toBe(w.clock.now() + CLAIM.leaseMs);

    expect(w.claim()!.run.id).toBe(oldest.id);
    // Nothing else is due now: the held lease and the paused run's notBefore are both in the future.
    expect(w.claim()).toBeNull();
    w.clock.advance(1);
    // Due at exactly notBefore; a lease expiring exactly now is still held.
    expect(w.claim()!.run.id).toBe(later.id);
    w.clock.advance(1);
    expect(w.claim()!.run.id).toBe(held.id);
  });

  it("claims a run paused for credits only once the balance covers what it needs (one credit when not said); a queued run needs none", async () => {
    const w = await storeWorld(0);
    const paused = w.run("paused_credits", { creditsNeeded: 3 });
    const pausedAny = w.run("paused_credits", { creditsNeeded: null });
    const queued = w.run("queued");
    expect(w.claim({ exclude: [queued.id] })).toBeNull();
    expect(w.claim()!.run.id).toBe(queued.id);

    w.clock.advance(CLAIM.pollMs);
    w.grant(1);
    expect(w.claim({ exclude: [queued.id] })!.run.id).toBe(pausedAny.id);
    w.grant(1);
    w.clock.advance(CLAIM.pollMs);
    expect(w.claim({ exclude: [queued.id, pausedAny.id] })).toBeNull();
    w.grant(1);
    w.clock.advance(CLAIM.pollMs);
    expect(w.claim({ exclude: [queued.id, pausedAny.id] })!.run.id).toBe(paused.id);
  });

  it("a run paused for credits the balance does not cover is looked at again only after pollMs; other runs keep their notBefore", async () => {
    const w = await storeWorld(0);
    const paused = w.run("paused_credits", { creditsNeeded: 5 });
    const dns = w.run("paused_dns", { notBefore: new Date(w.clock.now() + 60_000) });
    const start = w.clock.now();
    expect(w.claim()).toBeNull();
    expect(w.reread(paused.id).notBefore!.getTime()).toBe(start + CLAIM.pollMs);
    expect(w.reread(dns.id).notBefore!.getTime()).toBe(start + 60_000);

    // Covered now, but not looked at before pollMs has passed.
    w.grant(5);
    w.clock.advance(CLAIM.pollMs - 1);
    expect(w.claim()).toBeNull();
    w.clock.advance(1);
    expect(w.claim()!.run.id).toBe(paused.id);
  });
});

describe("leases", () => {
  async function claimed() {
    const w = await storeWorld();
    const run = w.run("running");
    const { lease } = w.claim()!;
    expect(lease.runId).toBe(run.id);
    const stale: Lease = { ...lease, token: "lease_replaced" };
    return { ...w, lease, stale, runId: run.id };
  }

  it("a write under a lease another claim replaced, or for a run that is gone, is refused with LeaseLost", async () => {
    const w = await claimed();
    expect(() => updateLeasedRun(w.db, w.stale, { acRequests: 5 })).toThrow(LeaseLost);
    expect(() => updateLeasedRun(w.db, { ...w.lease, runId: "run_gone" }, { acRequests: 5 })).toThrow(LeaseLost);
    expect(w.reread(w.runId).acRequests).toBe(0);
    expect(updateLeasedRun(w.db, w.lease, (run) => ({ acRequests: run.acRequests + 5 })).acRequests).toBe(5);
  });

  it("addNote adds each text once, after the notes already there", async () => {
    const w = await claimed();
    addNote(w.db, w.lease, "first");
    addNote(w.db, w.lease, "second");
    addNote(w.db, w.lease, "first");
    expect(JSON.parse(w.reread(w.runId).notes!)).toEqual(["first", "second"]);
  });

  it("updateLeasedRun with nothing to write (every value undefined) writes nothing and returns the run", async () => {
    const w = await claimed();
    const before = w.reread(w.runId);
    expect(updateLeasedRun(w.db, w.lease, { notes: undefined, statusReason: undefined })).toEqual(before);
    expect(updateLeasedRun(w.db, w.lease, () => ({}))).toEqual(before);
  });

  it("renewLease extends a held lease to leaseMs from now, and says false for one no longer held", async () => {
    const w = await claimed();
    w.clock.advance(30_000);
    expect(renewLease(w.db, w.clock, w.lease, 90_000)).toBe(true);
    expect(w.reread(w.runId).leaseExpiresAt!.getTime()).toBe(w.clock.now() + 90_000);
    expect(renewLease(w.db, w.clock, w.stale, 90_000)).toBe(false);
  });

  it("releaseLease lets go of a held lease, writes notBefore and the reason only when given, and says false for one no longer held", async () => {
    const w = await claimed();
    w.db.update(schema.runs).set({ statusReason: "Checking contacts" }).where(eq(schema.runs.id, w.runId)).run();
    expect(releaseLease(w.db, w.stale, { statusReason: "stale" })).toBe(false);
    expect(w.reread(w.runId).statusReason).toBe("Checking contacts");

    expect(releaseLease(w.db, w.lease)).toBe(true);
    const released = w.reread(w.runId);
    expect(released).toMatchObject({ leaseOwner: null, leaseToken: null, leaseExpiresAt: null, notBefore: null, statusReason: "Checking contacts" });

    const again = w.claim()!.lease;
    expect(releaseLease(w.db, again, { notBefore: w.clock.now() + 7_000, statusReason: "Waiting for ActiveCampaign" })).toBe(true);
    expect(w.reread(w.runId)).toMatchObject({ leaseToken: null, notBefore: new Date(w.clock.now() + 7_000), statusReason: "Waiting for ActiveCampaign" });
  });

  it("releaseForWeather counts one more spell and lets go until retryAt; null when the lease is lost; other errors are thrown", async () => {
    const w = await claimed();
    const seen: number[] = [];
    const retryAt = (failures: number) => {
      seen.push(failures);
      return { at: w.clock.now() + failures * 1_000, reason: `weather ${failures}` };
    };
    expect(releaseForWeather(w.db, w.lease, retryAt)).toBe(1);
    expect(w.reread(w.runId)).toMatchObject({ transientFailures: 1, leaseToken: null, notBefore: new Date(w.clock.now() + 1_000), statusReason: "weather 1" });

    expect(releaseForWeather(w.db, w.lease, retryAt)).toBeNull();
    expect(seen).toEqual([1]);

    w.clock.advance(1_000);
    const again = w.claim()!.lease;
    expect(() =>
      releaseForWeather(w.db, again, () => {
        throw new Error("boom");
      }),
    ).toThrow("boom");
    expect(w.reread(w.runId).leaseToken).toBe(again.token);
  });
});

describe("refunds on failing and cancelling", () => {
  it("each run failed or cancelled gets back the credits of its contacts never verified, once, in words saying why", async () => {
    const w = await storeWorld(0);
    const ledger = () => w.db.select().from(schema.creditLedger).where(eq(schema.creditLedger.kind, "refund")).all();
    const failing = w.run("running");
    const failingToo = w.run("running");
    w.unverified(failing.id, 2);
    w.unverified(failingToo.id, 3);
    const first = w.claim()!.lease;
    const second = w.claim()!.lease;
    expect([first.runId, second.runId]).toEqual([failing.id, failingToo.id]);

    failRun(w.db, w.clock, first, "AC refused", "internal");
    failRun(w.db, w.clock, second, "AC refused", "internal");
    expect(w.balance()).toBe(5);
    expect(ledger().map((e) => [e.runId, e.amount, e.reason])).toEqual([
      [failing.id, 2, "Refund: the run failed before these contacts were verified"],
      [failingToo.id, 3, "Refund: the run failed before these contacts were verified"],
    ]);

    const cancelled = w.run("awaiting_review");
    w.unverified(cancelled.id, 4);
    cancelRunRow(w.db, w.clock, cancelled);
    expect(w.balance()).toBe(9);
    expect(ledger().at(-1)).toMatchObject({ runId: cancelled.id, amount: 4, reason: "Refund: run cancelled before these contacts were verified" });
  });
});

describe("reopening failed changes", () => {
  const count = (w: { db: Parameters<typeof statement>[0] }, runId: string, kind: string, key: string) =>
    (statement(w.db, "SELECT n FROM run_counts WHERE run_id = ? AND kind = ? AND key = ?").get(runId, kind, key) as { n: number } | undefined)?.n;

  it("uncounts a failed unsubscribe on its list and a failed delete on each list of the contact", async () => {
    const w = await storeWorld();
    const run = w.run("completed", { actionsPlanned: 3, actionsDone: 1, actionsFailed: 2 });
    const action = statement(w.db, "INSERT INTO run_actions (id, run_id, contact_id, kind, list_id, state) VALUES (?, ?, ?, ?, ?, ?)");
    action.run(newId("act", 1), run.id, 1, "unsubscribe", 10, "failed");
    action.run(newId("act", 2), run.id, 1, "unsubscribe", 20, "done");
    action.run(newId("act", 3), run.id, 2, "delete", 0, "failed");
    const member = statement(w.db, "INSERT INTO run_memberships (run_id, contact_id, list_id, status) VALUES (?, ?, ?, 1)");
    for (const [contact, list] of [[1, 10], [1, 20], [2, 20], [2, 30]]) member.run(run.id, contact, list);
    const put = statement(w.db, "INSERT INTO run_counts (run_id, kind, key, n) VALUES (?, ?, ?, ?)");
    put.run(run.id, "failed", "unsubscribe", 1);
    put.run(run.id, "failed", "delete", 1);
    for (const list of [10, 20, 30]) put.run(run.id, "list", `${list}:failed`, 1);

    expect(reopenActions(w.db, w.clock, run)).toBe(2);
    expect([10, 20, 30].map((list) => count(w, run.id, "list", `${list}:failed`))).toEqual([0, 0, 0]);
    expect([count(w, run.id, "failed", "unsubscribe"), count(w, run.id, "failed", "delete")]).toEqual([0, 0]);
    expect(w.reread(run.id)).toMatchObject({ status: "applying", actionsFailed: 0 });
  });

  it("a run with no change left to send reopens when labels are left to write, and not otherwise", async () => {
    const w = await storeWorld();
    const done = w.run("completed", { actionsPlanned: 2, actionsDone: 2 });
    expect(reopenActions(w.db, w.clock, done)).toBeNull();
    expect(w.reread(done.id).status).toBe("completed");
    expect(reopenActions(w.db, w.clock, done, 1)).toBe(0);
    expect(w.reread(done.id).status).toBe("applying");
  });
});
