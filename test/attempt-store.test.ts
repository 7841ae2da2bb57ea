import { describe, expect, it } from "vitest";
import { statement } from "../db/index.ts";
import type { AcContact } from "../core/ac/index.ts";
import type { RunStatus } from "../core/domain/run-status.ts";
import { balanceOf, grantCredits } from "../core/services/credits.ts";
import { sqliteAttemptStore, type StorePage } from "../core/runs/attempt.ts";
import { claimRun, LeaseLost, readRun, type Lease, type RunRow } from "../core/runs/store.ts";
import type { VerificationResult } from "../verify/index.ts";
import { createTestApp, signUp, storedRun } from "./support/app.ts";
import { FakeClock } from "./support/clock.ts";

// The attempt store's own rules (issue 20, mutation testing of core/runs/attempt.ts), on the
// store itself over an in-memory database rather than through a whole run: a page stored with
// its charge (cut to the balance, contacts stored already, results known at once), the fetch
// cursor, results and parked addresses, actions and undos recorded, the AC requests counted.

const CLAIM = { owner: "w1", leaseMs: 60_000, exclude: [] as string[], pollMs: 5_000 };
const RETENTION_MS = 86_400_000;

async function attemptWorld(o: { credits?: number; status?: RunStatus; values?: Partial<RunRow>; requestsAtStart?: number } = {}) {
  const clock = new FakeClock();
  const t = createTestApp({ clock, config: { SIGNUP_CREDITS: o.credits ?? 0, LOG_LEVEL: "warn" } });
  const user = await signUp(t);
  const db = t.db;
  const inserted = storedRun(db, clock, user.workspaceId, { createdAt: new Date(clock.now() - 1_000), status: o.status ?? "running", values: o.values ?? {} });
  const { lease } = claimRun(db, clock, CLAIM)!;
  let requests = o.requestsAtStart ?? 0;
  const store = sqliteAttemptStore(db, clock, lease, { box: t.deps.backupBox, retentionMs: RETENTION_MS }, () => requests);
  const runId = inserted.id;
  const sql = (source: string) => statement(db, source);
  const row = () => readRun(db, runId)!;
  const raw = () => sql("SELECT * FROM runs WHERE id = ?").get(runId) as Record<string, unknown>;
  const balance = () => balanceOf(db, user.workspaceId);
  const grant = (amount: number) => grantCredits(db, clock, { workspaceId: user.workspaceId, amount, reason: "top-up" });
  const ledger = (kind: "charge" | "refund") =>
    (sql("SELECT amount, reason, idempotency_key AS key, run_id AS runId FROM credit_ledger WHERE kind = ? ORDER BY rowid").all(kind) as { amount: number; reason: string; key: string; runId: string }[]);
  const counts = (kind: string) =>
    Object.fromEntries((sql("SELECT key, n FROM run_counts WHERE run_id = ? AND kind = ? ORDER BY key").all(runId, kind) as { key: string; n: number }[]).map((r) => [r.key, r.n]));
  /** Takes the run away from this attempt (another claim replaced its lease). */
  const loseLease = () => sql("UPDATE runs SET lease_token = 'lease_other' WHERE id = ?").run(runId);
  return {
    t,
    db,
    clock,
    user,
    lease: lease as Lease,
    store,
    runId,
    sql,
    row,
    raw,
    balance,
    grant,
    ledger,
    counts,
    loseLease,
    sent: (n: number) => {
      requests += n;
    },
  };
}

function contact(id: number, lists: [number, number][] = [[10, 1]], extra: Partial<AcContact> = {}): AcContact {
  return {
    id: String(id),
    email: `c${id}@example.com`,
    firstName: `First${id}`,
    lastName: `Last${id}`,
    bouncedHard: false,
    bouncedSoft: false,
    lists: lists.map(([listId, status]) => ({ listId: String(listId), status })),
    ...extra,
  };
}

function result(email: string, r: Partial<VerificationResult> = {}): VerificationResult {
  return { email, normalized: email, status: "deliverable", reason: "accepted_email", flags: [], suggestion: null, provider: null, ...r } as VerificationResult;
}

/** A page whose cursor records what it was given: the stored cursor and `upTo`. */
function page(contacts: AcContact[], o: { verify?: StorePage["verify"]; done?: boolean } = {}) {
  const calls: { stored: unknown; upTo: string | null }[] = [];
  const p: StorePage = {
    contacts,
    ...(o.verify ? { verify: o.verify } : {}),
    cursor: (stored, upTo) => {
      calls.push({ stored, upTo });
      return { cursor: { after: upTo ?? contacts.at(-1)?.id ?? null, n: calls.length }, done: o.done ?? false };
    },
  };
  return { page: p, calls };
}

type World = Awaited<ReturnType<typeof attemptWorld>>;
const contactRows = (w: World) =>
  w.sql("SELECT contact_id, email, first_name, last_name, bounced_hard, status, reason, flags, suggestion, normalized, provider, verified_at FROM run_contacts WHERE run_id = ? ORDER BY contact_id").all(w.runId) as Record<string, unknown>[];

describe("the store of a run", () => {
  it("made for a run that is gone, reads and writes nothing, throwing LeaseLost", async () => {
    const w = await attemptWorld();
    const gone = sqliteAttemptStore(w.db, w.clock, { runId: "run_gone", owner: "w1", token: w.lease.token }, { box: w.t.deps.backupBox, retentionMs: RETENTION_MS });
    expect(gone.runId).toBe("run_gone");
    expect(() => gone.run()).toThrow(LeaseLost);
    expect(() => gone.startPart(null, 1, false)).toThrow(LeaseLost);
    expect(w.store.lease).toEqual(w.lease);
  });

  it("note adds a note to the run, fail fails it with its reason and code and refunds what was never verified", async () => {
    const w = await attemptWorld({ credits: 5 });
    w.store.note("first note");
    expect(JSON.parse(w.row().notes!)).toEqual(["first note"]);
    w.store.storePage(page([contact(1), contact(2)]).page);
    expect(w.balance()).toBe(3);
    const failed = w.store.fail("AC refused the key", "ac_auth");
    expect(failed).toMatchObject({ status: "failed", statusReason: "AC refused the key", statusCode: "ac_auth" });
    expect(w.row().status).toBe("failed");
    expect(w.balance()).toBe(5);
  });

  it("update and move write the run under the lease", async () => {
    const w = await attemptWorld();
    expect(w.store.update({ statusReason: "Checking" }).statusReason).toBe("Checking");
    expect(w.store.move("awaiting_review", { statusReason: "Ready" })).toMatchObject({ status: "awaiting_review", statusReason: "Ready" });
    expect(w.row().status).toBe("awaiting_review");
  });

  it("counts the AC requests sent since the last write, from those sent when the store was made", async () => {
    const w = await attemptWorld({ requestsAtStart: 4 });
    w.store.startPart({ page: 1 }, 10, false);
    expect(w.row().acRequests).toBe(0);
    w.sent(3);
    w.store.startPart({ page: 2 }, 0, false);
    expect(w.row().acRequests).toBe(3);
    w.store.startPart({ page: 3 }, 0, false);
    expect(w.row().acRequests).toBe(3);
    w.sent(2);
    w.store.storePage(page([]).page);
    expect(w.row().acRequests).toBe(5);
  });
});

describe("fetching", () => {
  it("startPart adds AC's count to the total (from none), stores the cursor, and marks the fetch done with its time only when done", async () => {
    const w = await attemptWorld();
    expect(w.row().total).toBeNull();
    w.store.startPart({ list: 1, offset: 0 }, 7, false);
    expect(w.raw()).toMatchObject({ fetch_cursor: JSON.stringify({ list: 1, offset: 0 }), total: 7, fetch_done: 0, fetched_at: null });
    w.clock.advance(1_000);
    w.store.startPart({ list: 2, offset: 0 }, 5, true);
    expect(w.raw()).toMatchObject({ fetch_cursor: JSON.stringify({ list: 2, offset: 0 }), total: 12, fetch_done: 1, fetched_at: w.clock.now() });
  });

  it("storePage stores new contacts and their memberships with their charge, in the ledger's words, and moves the cursor", async () => {
    const w = await attemptWorld({ credits: 10, values: { transientFailures: 3 } });
    const first = page([contact(1, [[10, 1], [20, 2]], { bouncedHard: true }), contact(2)]);
    expect(w.store.storePage(first.page)).toEqual({ stored: 2, verified: 0 });
    expect(first.calls).toEqual([{ stored: null, upTo: null }]);
    expect(w.raw()).toMatchObject({ fetch_cursor: JSON.stringify({ after: "2", n: 1 }), fetch_done: 0, fetched_at: null, transient_failures: 0, contacts_fetched: 2 });
    expect(contactRows(w)).toEqual([
      { contact_id: 1, email: "c1@example.com", first_name: "First1", last_name: "Last1", bounced_hard: 1, status: null, reason: null, flags: null, suggestion: null, normalized: null, provider: null, verified_at: null },
      { contact_id: 2, email: "c2@example.com", first_name: "First2", last_name: "Last2", bounced_hard: 0, status: null, reason: null, flags: null, suggestion: null, normalized: null, provider: null, verified_at: null },
    ]);
    expect(w.sql("SELECT contact_id, list_id, status FROM run_memberships WHERE run_id = ? ORDER BY contact_id, list_id").all(w.runId)).toEqual([
      { contact_id: 1, list_id: 10, status: 1 },
      { contact_id: 1, list_id: 20, status: 2 },
      { contact_id: 2, list_id: 10, status: 1 },
    ]);
    expect(w.ledger("charge")).toEqual([{ amount: -2, reason: "2 contacts to verify", key: `run:${w.runId}:contacts:1`, runId: w.runId }]);

    // A page fetched again (after a crash) with one new contact: only that one is stored and charged.
    w.clock.advance(1_000);
    const second = page([contact(2), contact(3)], { done: true });
    expect(w.store.storePage(second.page)).toEqual({ stored: 1, verified: 0 });
    expect(second.calls).toEqual([{ stored: { after: "2", n: 1 }, upTo: null }]);
    expect(w.raw()).toMatchObject({ fetch_cursor: JSON.stringify({ after: "3", n: 1 }), fetch_done: 1, fetched_at: w.clock.now(), contacts_fetched: 3 });
    expect(w.ledger("charge").at(-1)).toEqual({ amount: -1, reason: "1 contact to verify", key: `run:${w.runId}:contacts:3`, runId: w.runId });
    expect(w.balance()).toBe(7);
  });

  it("a page the balance covers only in part is stored up to the last contact paid for (`short`); contacts stored already cost nothing and never stop it", async () => {
    const w = await attemptWorld({ credits: 4 });
    expect(w.store.storePage(page([contact(1), contact(2)]).page)).toEqual({ stored: 2, verified: 0 });
    // 2 credits left: 3 and 4 are paid for, 1 and 2 are stored already, 5 waits.
    const cut = page([contact(3), contact(4), contact(1), contact(2), contact(5), contact(6)]);
    expect(w.store.storePage(cut.page)).toEqual({ stored: 2, verified: 0, short: true });
    expect(cut.calls).toEqual([{ stored: { after: "2", n: 1 }, upTo: "2" }]);
    expect(w.raw()).toMatchObject({ fetch_cursor: JSON.stringify({ after: "2", n: 1 }), contacts_fetched: 4 });
    expect(contactRows(w).map((r) => r.contact_id)).toEqual([1, 2, 3, 4]);
    expect(w.balance()).toBe(0);

    // Nothing left: a page of contacts stored already is stored (nothing), whole, not short.
    const known = page([contact(3), contact(4)]);
    expect(w.store.storePage(known.page)).toEqual({ stored: 0, verified: 0 });
    expect(known.calls[0]!.upTo).toBeNull();
    expect(w.ledger("charge")).toHaveLength(2);

    // ... a page whose new contact comes after one stored already moves past that one only, short;
    const past = page([contact(3), contact(5)]);
    expect(w.store.storePage(past.page)).toEqual({ stored: 0, verified: 0, short: true });
    expect(past.calls[0]!.upTo).toBe("3");
    // ... and a page whose first contact is new and not covered stores nothing: one credit needed.
    const none = page([contact(5), contact(3)]);
    expect(w.store.storePage(none.page)).toEqual({ needed: 1 });
    expect(none.calls).toEqual([]);
    expect(w.raw()).toMatchObject({ contacts_fetched: 4 });
    expect(contactRows(w).map((r) => r.contact_id)).toEqual([1, 2, 3, 4]);
  });

  it("a page cut after its last contact paid for is `short` even when nothing after the cut was stored already", async () => {
    const w = await attemptWorld({ credits: 1 });
    const p = page([contact(1), contact(2)]);
    expect(w.store.storePage(p.page)).toEqual({ stored: 1, verified: 0, short: true });
    expect(p.calls).toEqual([{ stored: null, upTo: "1" }]);
  });

  it("contacts whose result is known at once are stored with it, counted and their unknowns refunded, in the page's transaction; a contact stored already is not verified again", async () => {
    const w = await attemptWorld({ credits: 10 });
    w.store.storePage(page([contact(5)]).page);
    const asked: string[] = [];
    const verify = (c: AcContact) => {
      asked.push(c.id);
      if (c.id === "7") return null;
      if (c.id === "8" || c.id === "9") return result(c.email, { status: "unknown", reason: "dns_error" });
      return result(c.email, { status: "risky", reason: "role_account", flags: ["role", "free"], suggestion: "c6@example.org", normalized: "C6@example.com", provider: "gmail" });
    };
    w.clock.advance(500);
    const p = page([contact(5), contact(9), contact(6, [[10, 1]], { bouncedHard: true }), contact(7), contact(8)], { verify });
    expect(w.store.storePage(p.page)).toEqual({ stored: 4, verified: 3 });
    expect(asked).toEqual(["9", "6", "7", "8"]);
    const rows = contactRows(w);
    expect(rows.find((r) => r.contact_id === 6)).toMatchObject({ email: "c6@example.com", first_name: "First6", last_name: "Last6", bounced_hard: 1, status: "risky", reason: "role_account", flags: "role free", suggestion: "c6@example.org", normalized: "C6@example.com", provider: "gmail", verified_at: w.clock.now() });
    expect(rows.find((r) => r.contact_id === 9)).toMatchObject({ bounced_hard: 0, status: "unknown", reason: "dns_error", flags: "", provider: null, verified_at: w.clock.now() });
    expect(rows.find((r) => r.contact_id === 7)).toMatchObject({ status: null, verified_at: null });
    expect(rows.find((r) => r.contact_id === 5)).toMatchObject({ status: null, verified_at: null });
    expect(w.counts("status")).toEqual({ risky: 1, unknown: 2 });
    expect(w.counts("reason")).toEqual({ dns_error: 2, role_account: 1 });
    expect(w.row().contactsVerified).toBe(3);
    // Charged for the 4 new ones, then the 2 unknowns refunded, named by the smallest id stored with a result.
    expect(w.ledger("charge").at(-1)).toMatchObject({ amount: -4, reason: "4 contacts to verify", key: `run:${w.runId}:contacts:9` });
    expect(w.ledger("refund")).toEqual([{ amount: 2, reason: "Refund: 2 address(es) could not be verified (unknown)", key: `run:${w.runId}:refund:6`, runId: w.runId }]);
    expect(w.balance()).toBe(10 - 1 - 4 + 2);

    // No unknown: nothing refunded.
    const q = page([contact(11)], { verify: (c) => result(c.email) });
    expect(w.store.storePage(q.page)).toEqual({ stored: 1, verified: 1 });
    expect(w.ledger("refund")).toHaveLength(1);
    expect(w.counts("status")).toEqual({ deliverable: 1, risky: 1, unknown: 2 });
  });

  it("a page cut short is not charged or verified past the cut; a result known at once for a contact not paid for is never stored", async () => {
    const w = await attemptWorld({ credits: 1 });
    const verify = (c: AcContact) => result(c.email, { status: "unknown", reason: "dns_error" });
    expect(w.store.storePage(page([contact(1), contact(2)], { verify }).page)).toEqual({ stored: 1, verified: 1, short: true });
    expect(w.counts("status")).toEqual({ unknown: 1 });
    expect(w.ledger("refund")).toEqual([expect.objectContaining({ amount: 1, key: `run:${w.runId}:refund:1` })]);
    expect(w.balance()).toBe(1);
  });

  it("storePage throws a lost lease instead of answering it", async () => {
    const w = await attemptWorld({ credits: 0 });
    w.loseLease();
    expect(() => w.store.storePage(page([contact(1)]).page)).toThrow(LeaseLost);
  });
});

describe("pausing for credits", () => {
  it("says what the rest needs, as far as it is known, and when to look again", async () => {
    const cases: [Partial<RunRow>, string][] = [
      [{}, "Paused: out of credits. At least 1 more credit is needed to check the rest of the contacts. Add credits and the run resumes on its own."],
      [{ total: 10, contactsFetched: 4 }, "Paused: out of credits. About 6 more credits are needed to check the rest of the contacts. Add credits and the run resumes on its own."],
      [
        { total: 10, contactsFetched: 9, scope: JSON.stringify({ kind: "lists", listIds: [1, 2] }) },
        "Paused: out of credits. Up to 1 more credit is needed to check the rest of the contacts. Add credits and the run resumes on its own.",
      ],
      [{ total: 10, contactsFetched: 7, source: "upload" }, "Paused: out of credits. 3 more credits are needed to check the rest of the file's addresses. Add credits and verification resumes on its own."],
      [{ total: 10, contactsFetched: 9, source: "upload" }, "Paused: out of credits. 1 more credit is needed to check the rest of the file's addresses. Add credits and verification resumes on its own."],
    ];
    for (const [values, words] of cases) {
      const w = await attemptWorld({ values });
      w.store.pauseForCredits(25, w.clock.now() + 60_000);
      expect(w.row()).toMatchObject({ status: "paused_credits", creditsNeeded: 25, statusReason: words, notBefore: new Date(w.clock.now() + 60_000) });
    }
  });
});

describe("verifying", () => {
  async function fetched(n: number) {
    const w = await attemptWorld({ credits: 100 });
    w.store.storePage(page(Array.from({ length: n }, (_, i) => contact(i + 1, [[10, 1]], { bouncedHard: i === 1 }))).page);
    return w;
  }

  it("dueContacts reads the unverified contacts after afterId, due now or never parked, in id order, at most limit", async () => {
    const w = await fetched(6);
    w.sql("UPDATE run_contacts SET retry_at = ?, verify_attempts = 2 WHERE run_id = ? AND contact_id = 3").run(w.clock.now() + 1, w.runId);
    w.sql("UPDATE run_contacts SET retry_at = ?, verify_attempts = 1 WHERE run_id = ? AND contact_id = 4").run(w.clock.now(), w.runId);
    w.store.saveVerification([{ contactId: 5, result: result("c5@example.com") }], []);
    expect(w.store.dueContacts(0, 10)).toEqual([
      { contactId: 1, email: "c1@example.com", bouncedHard: false, verifyAttempts: 0 },
      { contactId: 2, email: "c2@example.com", bouncedHard: true, verifyAttempts: 0 },
      { contactId: 4, email: "c4@example.com", bouncedHard: false, verifyAttempts: 1 },
      { contactId: 6, email: "c6@example.com", bouncedHard: false, verifyAttempts: 0 },
    ]);
    expect(w.store.dueContacts(1, 2).map((c) => c.contactId)).toEqual([2, 4]);
    w.clock.advance(1);
    expect(w.store.dueContacts(2, 10).map((c) => c.contactId)).toEqual([3, 4, 6]);
  });

  it("saveVerification stores each result once (counted, unknowns refunded) and parks the addresses that must wait, with why", async () => {
    const w = await fetched(4);
    w.sent(2);
    w.clock.advance(100);
    w.store.saveVerification(
      [
        { contactId: 3, result: result("c3@example.com", { status: "unknown", reason: "dns_error", provider: "gmail", flags: ["free", "role"], suggestion: "c3@example.org", normalized: "c3@example.com" }) },
        { contactId: 2, result: result("c2@example.com", { status: "unknown", reason: "smtp_timeout" }) },
      ],
      [
        { contactId: 1, retryAt: w.clock.now() + 5_000, verifyAttempts: 2, why: "greylisted" },
        { contactId: 4, retryAt: w.clock.now() + 9_000, verifyAttempts: 1 },
      ],
    );
    const rows = contactRows(w);
    expect(rows.find((r) => r.contact_id === 3)).toMatchObject({ status: "unknown", reason: "dns_error", flags: "free role", suggestion: "c3@example.org", normalized: "c3@example.com", provider: "gmail", verified_at: w.clock.now() });
    expect(rows.find((r) => r.contact_id === 2)).toMatchObject({ status: "unknown", reason: "smtp_timeout", flags: "", suggestion: null, provider: null });
    const parked = () => w.sql("SELECT contact_id, retry_at, verify_attempts, retry_why FROM run_contacts WHERE run_id = ? AND retry_at IS NOT NULL ORDER BY contact_id").all(w.runId);
    expect(parked()).toEqual([
      { contact_id: 1, retry_at: w.clock.now() + 5_000, verify_attempts: 2, retry_why: "greylisted" },
      { contact_id: 4, retry_at: w.clock.now() + 9_000, verify_attempts: 1, retry_why: null },
    ]);
    expect(w.counts("status")).toEqual({ unknown: 2 });
    expect(w.counts("reason")).toEqual({ dns_error: 1, smtp_timeout: 1 });
    expect(w.row()).toMatchObject({ contactsVerified: 2, acRequests: 2 });
    expect(w.ledger("refund")).toEqual([{ amount: 2, reason: "Refund: 2 address(es) could not be verified (unknown)", key: `run:${w.runId}:refund:2`, runId: w.runId }]);
    expect(w.store.waiting()).toEqual({ count: 2, nextAt: w.clock.now() + 5_000 });

    // A parked address verified later is no longer parked; a result stored already is not stored or counted again.
    w.store.saveVerification(
      [
        { contactId: 1, result: result("c1@example.com") },
        { contactId: 3, result: result("c3@example.com") },
      ],
      [{ contactId: 3, retryAt: w.clock.now() + 1, verifyAttempts: 9, why: "busy" }],
    );
    expect(parked()).toEqual([{ contact_id: 4, retry_at: w.clock.now() + 9_000, verify_attempts: 1, retry_why: null }]);
    expect(contactRows(w).find((r) => r.contact_id === 3)).toMatchObject({ status: "unknown", reason: "dns_error" });
    expect(w.counts("status")).toEqual({ deliverable: 1, unknown: 2 });
    expect(w.row().contactsVerified).toBe(3);
    expect(w.ledger("refund")).toHaveLength(1);
    expect(w.store.waiting()).toEqual({ count: 1, nextAt: w.clock.now() + 9_000 });
    w.clock.advance(9_000);
    expect(w.store.waiting()).toEqual({ count: 0, nextAt: null });
  });

  it("saveVerification with only addresses to park parks them; with nothing at all it writes nothing, even under a lost lease", async () => {
    const w = await fetched(2);
    w.store.saveVerification([], [{ contactId: 2, retryAt: w.clock.now() + 1_000, verifyAttempts: 1, why: "budget" }]);
    expect(w.store.waiting()).toEqual({ count: 1, nextAt: w.clock.now() + 1_000 });
    w.sent(1);
    w.store.saveVerification([], []);
    expect(w.row().acRequests).toBe(0);
    w.loseLease();
    expect(() => w.store.saveVerification([], [])).not.toThrow();
    expect(() => w.store.saveVerification([], [{ contactId: 1, retryAt: 1, verifyAttempts: 1 }])).toThrow(LeaseLost);
  });

  it("planChunk and planLabelChunk past the last contact plan nothing and say so", async () => {
    const w = await fetched(2);
    const rule = { actions: { deliverable: "keep", risky: "keep", undeliverable: "unsubscribe", unknown: "keep", overrides: [] } } as never;
    expect(w.store.planChunk(2, 10, rule)).toEqual({ last: null });
    expect(w.store.planLabelChunk(2, 10, rule)).toEqual({ last: null });
  });
});

describe("actions", () => {
  async function withActions() {
    const w = await attemptWorld({ credits: 100, status: "applying" });
    w.store.storePage(page([contact(1, [[10, 1], [20, 1]]), contact(2, [[10, 1], [20, 1], [30, 1]]), contact(3, [[10, 1]])]).page);
    const put = w.sql("INSERT INTO run_actions (id, run_id, contact_id, kind, list_id, state, attempts, next_attempt_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
    put.run("act_a", w.runId, 1, "unsubscribe", 10, "pending", 0, null, null);
    put.run("act_b", w.runId, 1, "unsubscribe", 20, "pending", 1, w.clock.now() + 1_000, w.clock.now() - 5);
    put.run("act_c", w.runId, 2, "delete", 0, "sending", 1, null, w.clock.now() - 7);
    put.run("act_d", w.runId, 3, "unsubscribe", 10, "done", 1, null, null);
    put.run("act_e", w.runId, 3, "unsubscribe", 30, "pending", 0, w.clock.now(), null);
    // The plan counted lists 10 and 20 (they have a members count), not 30.
    const count = w.sql("INSERT INTO run_counts (run_id, kind, key, n) VALUES (?, 'list', ?, ?)");
    count.run(w.runId, "10:members", 3);
    count.run(w.runId, "20:members", 2);
    return w;
  }

  it("dueActions reads pending actions due now and those left sending, in (contact, kind, list) order after a key, at most limit", async () => {
    const w = await withActions();
    const due = w.store.dueActions(null, 10);
    expect(due.map((a) => a.id)).toEqual(["act_a", "act_c", "act_e"]);
    expect(due[0]).toEqual({ id: "act_a", runId: w.runId, contactId: 1, kind: "unsubscribe", listId: 10, state: "pending", error: null, acUpdated: null, resultCode: null, attempts: 0, nextAttemptAt: null, updatedAt: null });
    expect(due[1]).toMatchObject({ id: "act_c", kind: "delete", listId: 0, state: "sending", attempts: 1, updatedAt: new Date(w.clock.now() - 7) });
    expect(due[2]).toMatchObject({ id: "act_e", nextAttemptAt: new Date(w.clock.now()) });
    expect(w.store.dueActions(null, 1).map((a) => a.id)).toEqual(["act_a"]);
    expect(w.store.dueActions({ contactId: 1, kind: "unsubscribe", listId: 10 }, 10).map((a) => a.id)).toEqual(["act_c", "act_e"]);
    expect(w.store.dueActions({ contactId: 2, kind: "delete", listId: 0 }, 10).map((a) => a.id)).toEqual(["act_e"]);
    expect(w.store.nextActionAt()).toBe(w.clock.now());
    w.clock.advance(1_000);
    expect(w.store.dueActions(null, 10).map((a) => a.id)).toEqual(["act_a", "act_b", "act_c", "act_e"]);
  });

  it("markSending records the attempt; saveActionOutcomes stores each outcome once and counts what was done per kind and per counted list", async () => {
    const w = await withActions();
    w.clock.advance(10);
    w.store.markSending([
      { id: "act_a", attempts: 1 },
      { id: "act_c", attempts: 2 },
    ]);
    expect(w.sql("SELECT id, state, attempts, updated_at FROM run_actions WHERE state = 'sending' ORDER BY id").all()).toEqual([
      { id: "act_a", state: "sending", attempts: 1, updated_at: w.clock.now() },
      { id: "act_c", state: "sending", attempts: 2, updated_at: w.clock.now() },
    ]);
    w.sql("UPDATE runs SET transient_failures = 4 WHERE id = ?").run(w.runId);
    w.clock.advance(10);
    w.store.saveActionOutcomes([
      { id: "act_e", state: "pending", resultCode: "429", error: "weather", nextAttemptAt: w.clock.now() + 3_000 },
      { id: "act_b", state: "failed", resultCode: "404", error: "not there" },
    ]);
    // A failure and weather only: weather is not reset.
    expect(w.row()).toMatchObject({ actionsDone: 0, actionsFailed: 1, transientFailures: 4 });
    expect(w.sql("SELECT state, result_code, error, next_attempt_at, updated_at FROM run_actions WHERE id = 'act_e'").get()).toEqual({ state: "pending", result_code: "429", error: "weather", next_attempt_at: w.clock.now() + 3_000, updated_at: w.clock.now() });
    expect(w.store.nextActionAt()).toBe(w.clock.now() + 3_000);

    w.store.saveActionOutcomes([
      { id: "act_a", state: "done", resultCode: "200", error: null, acUpdated: "2026-11-02 10:00:00" },
      { id: "act_c", state: "done", resultCode: null, error: null },
      // Done already: not stored or counted again.
      { id: "act_d", state: "done", resultCode: "200", error: null, acUpdated: "x" },
      { id: "act_missing", state: "done", resultCode: "200", error: null },
    ]);
    expect(w.sql("SELECT id, state, result_code, error, ac_updated, next_attempt_at FROM run_actions ORDER BY id").all()).toEqual([
      { id: "act_a", state: "done", result_code: "200", error: null, ac_updated: "2026-11-02 10:00:00", next_attempt_at: null },
      { id: "act_b", state: "failed", result_code: "404", error: "not there", ac_updated: null, next_attempt_at: null },
      { id: "act_c", state: "done", result_code: null, error: null, ac_updated: null, next_attempt_at: null },
      { id: "act_d", state: "done", result_code: null, error: null, ac_updated: null, next_attempt_at: null },
      { id: "act_e", state: "pending", result_code: "429", error: "weather", ac_updated: null, next_attempt_at: w.clock.now() + 3_000 },
    ]);
    expect(w.row()).toMatchObject({ actionsDone: 2, actionsFailed: 1, transientFailures: 0 });
    expect(w.counts("done")).toEqual({ delete: 1, unsubscribe: 1 });
    expect(w.counts("failed")).toEqual({ unsubscribe: 1 });
    // The delete counts on each counted list of its contact (10 and 20, not 30).
    expect(w.counts("list")).toEqual({ "10:deleted": 1, "10:members": 3, "10:unsubscribed": 1, "20:deleted": 1, "20:failed": 1, "20:members": 2 });
    expect(w.store.actionCounts()).toEqual({ pending: 1, sending: 0, done: 3, failed: 1, doneByKind: { unsubscribe: 2, delete: 1 } });

    // Done without a membership udate: none stored, and no longer due.
    w.store.saveActionOutcomes([{ id: "act_e", state: "done", resultCode: "200", error: null, acUpdated: null }]);
    expect(w.sql("SELECT ac_updated, next_attempt_at FROM run_actions WHERE id = 'act_e'").get()).toEqual({ ac_updated: null, next_attempt_at: null });
    expect(w.store.nextActionAt()).toBeNull();
  });

  it("markSending and saveActionOutcomes with nothing write nothing, even under a lost lease", async () => {
    const w = await withActions();
    w.sent(3);
    w.store.markSending([]);
    w.store.saveActionOutcomes([]);
    expect(w.row().acRequests).toBe(0);
    w.loseLease();
    expect(() => w.store.markSending([])).not.toThrow();
    expect(() => w.store.saveActionOutcomes([])).not.toThrow();
    expect(() => w.store.markSending([{ id: "act_a", attempts: 1 }])).toThrow(LeaseLost);
  });

  it("dueActions from the start reads an action on contact 0 (AC's ids are non-negative)", async () => {
    const w = await attemptWorld({ status: "applying" });
    const put = w.sql("INSERT INTO run_actions (id, run_id, contact_id, kind, list_id, state) VALUES (?, ?, ?, ?, ?, 'pending')");
    put.run("act_0", w.runId, 0, "delete", 0);
    put.run("act_1", w.runId, 1, "delete", 0);
    expect(w.store.dueActions(null, 10).map((a) => a.id)).toEqual(["act_0", "act_1"]);
    expect(w.store.dueActions({ contactId: 0, kind: "delete", listId: 0 }, 10).map((a) => a.id)).toEqual(["act_1"]);
  });

  it("actionCounts of a run with no action is all zeros", async () => {
    const w = await attemptWorld();
    expect(w.store.actionCounts()).toEqual({ pending: 0, sending: 0, done: 0, failed: 0, doneByKind: { unsubscribe: 0, delete: 0 } });
    expect(w.store.nextActionAt()).toBeNull();
  });

  it("saveBackup keeps one sealed backup per contact, the later replacing the earlier, until the retention ends", async () => {
    const w = await withActions();
    const record = { contactId: "2", contact: { email: "c2@example.com" } } as never;
    w.store.saveBackup(record);
    w.clock.advance(1_000);
    w.store.saveBackup(record);
    const rows = w.sql("SELECT workspace_id, contact_id, sealed, taken_at, expires_at FROM run_backups WHERE run_id = ?").all(w.runId) as { workspace_id: string; contact_id: number; sealed: string; taken_at: number; expires_at: number }[];
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ workspace_id: w.user.workspaceId, contact_id: 2, taken_at: w.clock.now(), expires_at: w.clock.now() + RETENTION_MS });
    expect(rows[0]!.sealed).not.toContain("c2@example.com");
  });
});

describe("undo", () => {
  async function withUndos(statusReason: string | null = "Done: 3 unsubscribed") {
    const w = await attemptWorld({ status: "applying", values: { statusReason } });
    const put = w.sql("INSERT INTO run_undos (id, run_id, contact_id, list_id, ac_updated, state, attempts, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
    put.run("und_a", w.runId, 1, 10, "2026-11-02 10:00:00", "pending", 0, null);
    put.run("und_b", w.runId, 1, 20, null, "pending", 1, w.clock.now() + 1_000);
    put.run("und_c", w.runId, 2, 10, null, "sending", 1, null);
    put.run("und_d", w.runId, 3, 10, null, "done", 1, null);
    return w;
  }

  it("reads the undos due, marks one sending, stores each outcome's words and counts them", async () => {
    const w = await withUndos();
    expect(w.store.dueUndos(10)).toEqual([
      { id: "und_a", contactId: 1, listId: 10, acUpdated: "2026-11-02 10:00:00", state: "pending", attempts: 0 },
      { id: "und_c", contactId: 2, listId: 10, acUpdated: null, state: "sending", attempts: 1 },
    ]);
    expect(w.store.dueUndos(1).map((u) => u.id)).toEqual(["und_a"]);
    expect(w.store.nextUndoAt()).toBe(w.clock.now() + 1_000);
    w.clock.advance(1_000);
    expect(w.store.dueUndos(10).map((u) => u.id)).toEqual(["und_a", "und_b", "und_c"]);

    w.store.markUndoSending("und_a", 1);
    w.store.markUndoSending("und_d", 5);
    const undo = (id: string) => w.sql("SELECT state, reason, error, attempts, next_attempt_at, updated_at FROM run_undos WHERE id = ?").get(id);
    expect(undo("und_a")).toEqual({ state: "sending", reason: null, error: null, attempts: 1, next_attempt_at: null, updated_at: w.clock.now() });
    expect(undo("und_d")).toMatchObject({ state: "done", attempts: 1 });

    w.clock.advance(10);
    w.store.saveUndoOutcome({ id: "und_a", state: "done" });
    w.store.saveUndoOutcome({ id: "und_b", state: "pending", reason: "weather", error: "429", nextAttemptAt: w.clock.now() + 2_000 });
    w.store.saveUndoOutcome({ id: "und_c", state: "skipped", reason: "changed_since" });
    expect(undo("und_a")).toEqual({ state: "done", reason: null, error: null, attempts: 1, next_attempt_at: null, updated_at: w.clock.now() });
    expect(undo("und_b")).toEqual({ state: "pending", reason: "weather", error: "429", attempts: 1, next_attempt_at: w.clock.now() + 2_000, updated_at: w.clock.now() });
    expect(undo("und_c")).toMatchObject({ state: "skipped", reason: "changed_since", error: null, next_attempt_at: null });
    expect(w.store.undoCounts()).toEqual({ pending: 1, sending: 0, done: 2, skipped: 1, failed: 0 });
    expect(w.store.nextUndoAt()).toBe(w.clock.now() + 2_000);
    w.store.saveUndoOutcome({ id: "und_b", state: "failed", reason: "refused", error: "403 forbidden" });
    expect(undo("und_b")).toMatchObject({ state: "failed", reason: "refused", error: "403 forbidden", next_attempt_at: null });
    // A membership handled already is not written again.
    w.store.saveUndoOutcome({ id: "und_b", state: "done" });
    expect(undo("und_b")).toMatchObject({ state: "failed" });
    expect(w.store.undoCounts()).toEqual({ pending: 0, sending: 0, done: 2, skipped: 1, failed: 1 });
    expect(w.store.nextUndoAt()).toBeNull();
  });

  it("finishUndo moves the run back to completed, the undo's words after the run's", async () => {
    const w = await withUndos();
    w.clock.advance(5);
    w.store.finishUndo("Undo: 2 re-subscribed");
    expect(w.row()).toMatchObject({ status: "completed", statusReason: "Done: 3 unsubscribed. Undo: 2 re-subscribed", notBefore: null, undoFinishedAt: new Date(w.clock.now()) });

    const bare = await withUndos(null);
    bare.store.finishUndo("Undo: 2 re-subscribed");
    expect(bare.row().statusReason).toBe("Undo: 2 re-subscribed");
  });

  it("undoCounts of a run with no undo is all zeros", async () => {
    const w = await attemptWorld();
    expect(w.store.undoCounts()).toEqual({ pending: 0, sending: 0, done: 0, skipped: 0, failed: 0 });
    expect(w.store.nextUndoAt()).toBeNull();
  });
});
