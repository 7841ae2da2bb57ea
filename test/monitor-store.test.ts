import { and, eq, sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { schema, transaction } from "../db/index.ts";
import { newId } from "../db/ids.ts";
import { sha256 } from "../core/lib/crypto.ts";
import { balanceOf, getCreditHistory, grantCredits } from "../core/services/credits.ts";
import type { AcWebhookEvent } from "../core/domain/ac-webhook.ts";
import {
  actionsOf,
  chargeForCheck,
  claimMonitorContacts,
  markActionSending,
  MONITOR_OFF_ACTION,
  monitoredLists,
  monitorRow,
  MonitorLeaseLost,
  openActions,
  planMore,
  pruneEvents,
  queueSwept,
  recordDelivery,
  recordSweep,
  releaseMonitorContact,
  renewMonitorLeases,
  saveActionOutcome,
  saveCheck,
  saveMonitorLabelSetup,
  settleContact,
  stopMonitorWork,
  wakeWaitingForCredits,
  type MonitorContactRow,
  type MonitorLease,
  type MonitorRow,
} from "../core/monitors/store.ts";
import { createTestApp, storedConnection } from "./support/app.ts";
import { FakeClock } from "./support/clock.ts";

// The monitoring store's own rules (issue 20, mutation testing), on the store itself rather than
// through the monitoring harness: what a delivery or the sweep queues, which contact a worker may
// claim and what its lease guards, charges once per (monitor, contact, address) and never past the
// balance, refunds of what was never checked, the brake, and turning monitoring off.

const DAY = "2026-11-02"; // FakeClock's day (UTC)
const CLAIM = { owner: "w1", leaseMs: 60_000, limit: 10, perMonitor: 10, busy: new Map<string, number>() };

async function storeWorld(credits = 10) {
  const clock = new FakeClock();
  const t = createTestApp({ clock, config: { LOG_LEVEL: "warn" } });
  const db = t.db;
  /** A workspace written straight to the table (no sign-up: no password to hash), with `credits` granted. */
  const workspace = (credits = 0) => {
    const id = newId("ws", clock.now());
    db.insert(schema.workspaces).values({ id, name: "Acme", createdAt: new Date(clock.now()) }).run();
    if (credits > 0) grantCredits(db, clock, { workspaceId: id, amount: credits, reason: "top-up" });
    return { workspaceId: id };
  };
  const user = workspace(credits);
  let monitors = 0;
  let contacts = 0;
  /** A monitor (enabled, every list, unless told otherwise) on a connection of its own. */
  const monitor = (values: Partial<MonitorRow> = {}, workspaceId = user.workspaceId): MonitorRow => {
    monitors += 1;
    const connectionId = storedConnection(t, workspaceId, `Conn${monitors}`);
    const now = new Date(clock.now());
    return db
      .insert(schema.monitors)
      .values({ id: newId("mon", clock.now()), workspaceId, connectionId, enabled: true, scope: JSON.stringify({ kind: "all" }), actions: "{}", createdAt: now, updatedAt: now, ...values })
      .returning()
      .get();
  };
  /** A contact of `m` written straight to the table, due now, pending unless told otherwise. */
  const contact = (m: MonitorRow, values: Partial<MonitorContactRow> = {}): MonitorContactRow => {
    contacts += 1;
    const now = new Date(clock.now());
    return db
      .insert(schema.monitorContacts)
      .values({
        id: newId("mct", clock.now()),
        monitorId: m.id,
        workspaceId: m.workspaceId,
        contactId: String(contacts),
        email: `c${contacts}@example.com`,
        source: "webhook",
        dueAt: now,
        createdAt: now,
        updatedAt: now,
        ...values,
      })
      .returning()
      .get();
  };
  /** A contact held by this worker under a live lease: the row and the lease. */
  const held = (m: MonitorRow, values: Partial<MonitorContactRow> = {}) => {
    const token = `tok_${contacts + 1}`;
    const row = contact(m, { leaseOwner: "w1", leaseToken: token, leaseExpiresAt: new Date(clock.now() + 60_000), ...values });
    const lease: MonitorLease = { id: row.id, monitorId: m.id, token, revision: row.revision };
    return { row, lease };
  };
  const reread = (id: string) => db.select().from(schema.monitorContacts).where(eq(schema.monitorContacts.id, id)).get()!;
  const byContact = (m: MonitorRow, contactId: string) =>
    db.select().from(schema.monitorContacts).where(and(eq(schema.monitorContacts.monitorId, m.id), eq(schema.monitorContacts.contactId, contactId))).get();
  const balance = (ws = user.workspaceId) => balanceOf(db, ws);
  const ledger = (ws = user.workspaceId) =>
    db
      .select()
      .from(schema.creditLedger)
      .where(eq(schema.creditLedger.workspaceId, ws))
      .orderBy(sql`rowid`)
      .all()
      .filter((l) => l.kind !== "grant");
  const claim = (o: Partial<typeof CLAIM> = {}, at = clock.now()) => claimMonitorContacts(db, at, { ...CLAIM, ...o });
  const charge = (lease: MonitorLease, email: string, retryAt = clock.now() + 5_000) => chargeForCheck(db, clock, lease, { email, connectionName: "Main", retryAt });
  const events = (m: MonitorRow) => db.select().from(schema.monitorEvents).where(eq(schema.monitorEvents.monitorId, m.id)).orderBy(sql`rowid`).all();
  const notices = () => db.select().from(schema.notifications).orderBy(sql`rowid`).all().filter((n) => n.event === "monitor_waiting_credits");
  return { t, db, clock, user, workspace, monitor, contact, held, reread, byContact, balance, ledger, claim, charge, events, notices };
}

type World = Awaited<ReturnType<typeof storeWorld>>;

const event = (type: string, contactId: string, email: string, listId: string | null = "1", dateTime = "2026-11-02 03:00:00"): AcWebhookEvent => ({
  type,
  dateTime,
  listId,
  initiatedFrom: "public",
  contact: { id: contactId, email },
});

describe("what a monitor watches", () => {
  it("monitoredLists is null for every list and the list ids for a list scope; monitorRow reads the monitor by id", async () => {
    expect(monitoredLists({ scope: JSON.stringify({ kind: "all" }) })).toBeNull();
    expect(monitoredLists({ scope: JSON.stringify({ kind: "lists", listIds: ["3", "5"] }) })).toEqual(["3", "5"]);
    const w = await storeWorld();
    const m = w.monitor();
    expect(monitorRow(w.db, m.id)?.connectionId).toBe(m.connectionId);
    expect(monitorRow(w.db, "mon_none")).toBeUndefined();
  });
});

describe("recording a delivery", () => {
  it("answers null for a monitor that is gone or turned off, and records nothing of it", async () => {
    const w = await storeWorld();
    const off = w.monitor({ enabled: false });
    expect(recordDelivery(w.db, w.clock, "mon_gone", event("subscribe", "1", "a@example.com"))).toBeNull();
    expect(recordDelivery(w.db, w.clock, off.id, event("subscribe", "1", "a@example.com"))).toBeNull();
    expect(w.events(off)).toEqual([]);
    expect(w.byContact(off, "1")).toBeUndefined();
    expect(monitorRow(w.db, off.id)!.lastEventAt).toBeNull();
  });

  it("notes the time of any delivery, but ignores (and does not record) types other than subscribe and update, and events with no contact", async () => {
    const w = await storeWorld();
    const m = w.monitor();
    w.clock.advance(5_000);
    expect(recordDelivery(w.db, w.clock, m.id, event("unsubscribe", "1", "a@example.com"))).toBe("ignored_type");
    expect(recordDelivery(w.db, w.clock, m.id, { ...event("subscribe", "1", "a@example.com"), contact: null })).toBe("ignored_type");
    expect(recordDelivery(w.db, w.clock, m.id, { ...event("update", "1", "a@example.com"), contact: null })).toBe("ignored_type");
    expect(monitorRow(w.db, m.id)!.lastEventAt!.getTime()).toBe(w.clock.now());
    expect(w.events(m)).toEqual([]);
    expect(w.byContact(m, "1")).toBeUndefined();
  });

  it("queues a new subscriber, pending and due now, with the list it joined, its address and its workspace, and records the event as queued", async () => {
    const w = await storeWorld();
    const m = w.monitor();
    expect(recordDelivery(w.db, w.clock, m.id, event("subscribe", "7", "Jo@Example.com", "4"))).toBe("queued");
    const row = w.byContact(m, "7")!;
    expect({ state: row.state, email: row.email, lists: JSON.parse(row.lists), source: row.source, dueAt: row.dueAt.getTime(), workspaceId: row.workspaceId, revision: row.revision }).toEqual({
      state: "pending",
      email: "Jo@Example.com",
      lists: ["4"],
      source: "webhook",
      dueAt: w.clock.now(),
      workspaceId: w.user.workspaceId,
      revision: 0,
    });
    expect(w.events(m).map((e) => [e.type, e.contactId, e.listId, e.outcome, e.receivedAt.getTime()])).toEqual([["subscribe", "7", "4", "queued", w.clock.now()]]);
    // With no list named, it is queued with none.
    expect(recordDelivery(w.db, w.clock, m.id, event("subscribe", "8", "b@example.com", null))).toBe("queued");
    expect(JSON.parse(w.byContact(m, "8")!.lists)).toEqual([]);
  });

  it("keys a delivery on its type, contact, list, AC's time and address (case and spaces aside): a repeat is a duplicate that changes nothing", async () => {
    const w = await storeWorld();
    const m = w.monitor();
    const first = event("subscribe", "1", "a@example.com", "2");
    expect(recordDelivery(w.db, w.clock, m.id, first)).toBe("queued");
    expect(recordDelivery(w.db, w.clock, m.id, { ...first, contact: { id: "1", email: " A@EXAMPLE.com " } })).toBe("duplicate");
    expect(w.events(m)).toHaveLength(1);
    // The key is stored as the first 32 characters of the SHA-256 of its parts: a delivery recorded before an upgrade is still a duplicate after it.
    expect(w.events(m)[0]!.key).toBe(sha256(["subscribe", "1", "2", first.dateTime, "a@example.com"].join("|")).slice(0, 32));
    // Another time of AC's, another list, or another type is another event.
    expect(recordDelivery(w.db, w.clock, m.id, { ...first, dateTime: "2026-11-02 03:00:01" })).toBe("unchanged");
    expect(recordDelivery(w.db, w.clock, m.id, { ...first, listId: "3" })).toBe("queued");
    expect(recordDelivery(w.db, w.clock, m.id, { ...first, type: "update" })).toBe("unchanged");
    expect(w.events(m).map((e) => e.outcome)).toEqual(["queued", "unchanged", "queued", "unchanged"]);
  });

  it("keeps the key's parts apart: contact 1 on list 23 and contact 12 on list 3 are two events", async () => {
    const w = await storeWorld();
    const m = w.monitor();
    expect(recordDelivery(w.db, w.clock, m.id, event("subscribe", "1", "a@example.com", "23"))).toBe("queued");
    expect(recordDelivery(w.db, w.clock, m.id, event("subscribe", "12", "a@example.com", "3"))).toBe("queued");
    expect(w.byContact(m, "12")).toBeDefined();
  });

  it("takes a delivery naming no list and one naming list 0 (AC's none) as the same event", async () => {
    const w = await storeWorld();
    const m = w.monitor();
    expect(recordDelivery(w.db, w.clock, m.id, event("subscribe", "1", "a@example.com", null))).toBe("queued");
    expect(recordDelivery(w.db, w.clock, m.id, event("subscribe", "1", "a@example.com", "0"))).toBe("duplicate");
  });

  it("records a subscribe to a list the monitor does not watch (or to no list) as other_list, queuing nothing", async () => {
    const w = await storeWorld();
    const m = w.monitor({ scope: JSON.stringify({ kind: "lists", listIds: ["3"] }) });
    expect(recordDelivery(w.db, w.clock, m.id, event("subscribe", "1", "a@example.com", "4"))).toBe("other_list");
    expect(recordDelivery(w.db, w.clock, m.id, event("subscribe", "1", "a@example.com", null))).toBe("other_list");
    expect(w.byContact(m, "1")).toBeUndefined();
    expect(w.events(m).map((e) => e.outcome)).toEqual(["other_list", "other_list"]);
    expect(recordDelivery(w.db, w.clock, m.id, event("subscribe", "1", "a@example.com", "3"))).toBe("queued");
    expect(JSON.parse(w.byContact(m, "1")!.lists)).toEqual(["3"]);
  });

  it("queues a known contact again (revision raised) when it joins another list, adding the list once; the same list and address is unchanged", async () => {
    const w = await storeWorld();
    const m = w.monitor();
    recordDelivery(w.db, w.clock, m.id, event("subscribe", "1", "a@example.com", "1"));
    expect(recordDelivery(w.db, w.clock, m.id, event("subscribe", "1", "A@example.com", "1", "t2"))).toBe("unchanged");
    // No list named, same address: nothing new either.
    expect(recordDelivery(w.db, w.clock, m.id, event("subscribe", "1", "a@example.com", null, "t3"))).toBe("unchanged");
    expect(w.byContact(m, "1")!.revision).toBe(0);
    w.clock.advance(1_000);
    expect(recordDelivery(w.db, w.clock, m.id, event("subscribe", "1", "a@example.com", "2", "t4"))).toBe("queued");
    const row = w.byContact(m, "1")!;
    expect({ lists: JSON.parse(row.lists), revision: row.revision, updatedAt: row.updatedAt.getTime() }).toEqual({ lists: ["1", "2"], revision: 1, updatedAt: w.clock.now() });
  });

  it("queues a known contact again on a subscribe with another address than the one checked, keeping its lists", async () => {
    const w = await storeWorld();
    const m = w.monitor();
    // Announced as b@, checked as a@: the address compared is the one checked.
    w.contact(m, { contactId: "1", email: "b@example.com", checkedEmail: "a@example.com", lists: '["1"]', state: "done" });
    expect(recordDelivery(w.db, w.clock, m.id, event("subscribe", "1", "A@example.com", "1"))).toBe("unchanged");
    expect(recordDelivery(w.db, w.clock, m.id, event("subscribe", "1", "b@example.com", "1"))).toBe("queued");
    const row = w.byContact(m, "1")!;
    expect({ email: row.email, lists: JSON.parse(row.lists), state: row.state }).toEqual({ email: "b@example.com", lists: ["1"], state: "pending" });
  });

  it("queues an update only for a known contact whose address is not the one checked (or, before a check, announced)", async () => {
    const w = await storeWorld();
    const m = w.monitor();
    expect(recordDelivery(w.db, w.clock, m.id, event("update", "1", "a@example.com"))).toBe("unseen_update");
    expect(w.byContact(m, "1")).toBeUndefined();
    w.contact(m, { contactId: "1", email: "a@example.com", lists: '["5"]', state: "done" });
    expect(recordDelivery(w.db, w.clock, m.id, event("update", "1", " A@example.COM", "1", "t2"))).toBe("unchanged");
    expect(recordDelivery(w.db, w.clock, m.id, event("update", "1", "new@example.com", "1", "t3"))).toBe("queued");
    const row = w.byContact(m, "1")!;
    expect({ email: row.email, lists: JSON.parse(row.lists), state: row.state, revision: row.revision }).toEqual({ email: "new@example.com", lists: ["5"], state: "pending", revision: 1 });
    // Checked as x@ although announced as y@: an update to x@ is no news.
    w.contact(m, { contactId: "2", email: "y@example.com", checkedEmail: "x@example.com", state: "done" });
    expect(recordDelivery(w.db, w.clock, m.id, event("update", "2", "x@example.com", "1", "t4"))).toBe("unchanged");
    expect(w.events(m).map((e) => e.outcome)).toEqual(["unseen_update", "unchanged", "queued", "unchanged"]);
  });

  it("makes a settled contact (done, gone, skipped) pending and due now when queued again", async () => {
    const w = await storeWorld();
    const m = w.monitor();
    const later = new Date(w.clock.now() + 3_600_000);
    for (const [i, state] of (["done", "gone", "skipped"] as const).entries()) {
      w.contact(m, { contactId: `s${i}`, email: "a@example.com", state, dueAt: later });
      w.clock.advance(1_000);
      expect(recordDelivery(w.db, w.clock, m.id, event("update", `s${i}`, "b@example.com"))).toBe("queued");
      const row = w.byContact(m, `s${i}`)!;
      expect([state, row.state, row.dueAt.getTime()]).toEqual([state, "pending", w.clock.now()]);
    }
  });

  it("leaves a contact still pending or waiting for credits in its state, due when it was, when it is queued again (its lease kept)", async () => {
    const w = await storeWorld();
    const m = w.monitor();
    const later = new Date(w.clock.now() + 3_600_000);
    w.contact(m, { contactId: "1", email: "a@example.com", state: "waiting_credits", dueAt: later });
    w.contact(m, { contactId: "2", email: "a@example.com", state: "pending", dueAt: later, leaseToken: "tok", leaseOwner: "w9", leaseExpiresAt: later });
    w.clock.advance(1_000);
    expect(recordDelivery(w.db, w.clock, m.id, event("update", "1", "b@example.com"))).toBe("queued");
    expect(recordDelivery(w.db, w.clock, m.id, event("subscribe", "2", "a@example.com", "9"))).toBe("queued");
    const one = w.byContact(m, "1")!;
    const two = w.byContact(m, "2")!;
    expect([one.state, one.dueAt, one.email, one.revision, one.updatedAt.getTime()]).toEqual(["waiting_credits", later, "b@example.com", 1, w.clock.now()]);
    expect([two.state, two.dueAt, two.leaseToken, JSON.parse(two.lists), two.revision]).toEqual(["pending", later, "tok", ["9"], 1]);
  });
});

describe("the sweep", () => {
  it("queues a contact it found new (unannounced, with its lists), and leaves alone one not new that monitoring does not know", async () => {
    const w = await storeWorld();
    const m = w.monitor();
    expect(queueSwept(w.db, w.clock, m, { contactId: "1", email: "a@example.com", lists: ["3"], isNew: false })).toEqual({ queued: false, unannounced: false });
    expect(w.byContact(m, "1")).toBeUndefined();
    expect(queueSwept(w.db, w.clock, m, { contactId: "1", email: "a@example.com", lists: ["3", "4"], isNew: true })).toEqual({ queued: true, unannounced: true });
    const row = w.byContact(m, "1")!;
    expect({ source: row.source, lists: JSON.parse(row.lists), state: row.state, dueAt: row.dueAt.getTime(), email: row.email }).toEqual({
      source: "sweep",
      lists: ["3", "4"],
      state: "pending",
      dueAt: w.clock.now(),
      email: "a@example.com",
    });
  });

  it("queues a known contact again only when its address is not the one checked, keeping the lists it joined", async () => {
    const w = await storeWorld();
    const m = w.monitor();
    w.contact(m, { contactId: "1", email: "b@example.com", checkedEmail: "a@example.com", lists: '["1"]', state: "done" });
    expect(queueSwept(w.db, w.clock, m, { contactId: "1", email: " A@example.com", lists: ["7"], isNew: true })).toEqual({ queued: false, unannounced: false });
    expect(w.byContact(m, "1")!.state).toBe("done");
    expect(queueSwept(w.db, w.clock, m, { contactId: "1", email: "c@example.com", lists: ["7"], isNew: true })).toEqual({ queued: true, unannounced: false });
    const row = w.byContact(m, "1")!;
    expect({ state: row.state, email: row.email, lists: JSON.parse(row.lists), revision: row.revision }).toEqual({ state: "pending", email: "c@example.com", lists: ["1"], revision: 1 });
    // Never checked: the address compared is the one announced.
    w.contact(m, { contactId: "2", email: "d@example.com", state: "done" });
    expect(queueSwept(w.db, w.clock, m, { contactId: "2", email: "D@example.com", lists: [], isNew: true }).queued).toBe(false);
  });

  it("records a sweep: when, its error, where the next begins (kept when not said), and adds what it found", async () => {
    const w = await storeWorld();
    const m = w.monitor();
    recordSweep(w.db, m.id, { from: 1_000, at: 2_000, found: 2, error: null });
    recordSweep(w.db, m.id, { from: null, at: 3_000, found: 3, error: "AC is down" });
    const row = monitorRow(w.db, m.id)!;
    expect({ sweptFrom: row.sweptFrom?.getTime(), lastSweepAt: row.lastSweepAt?.getTime(), error: row.lastSweepError, found: row.sweepFound }).toEqual({
      sweptFrom: 1_000,
      lastSweepAt: 3_000,
      error: "AC is down",
      found: 5,
    });
  });

  it("prunes events received up to and including the time given, returning how many", async () => {
    const w = await storeWorld();
    const m = w.monitor();
    recordDelivery(w.db, w.clock, m.id, event("subscribe", "1", "a@example.com"));
    const at = w.clock.now();
    w.clock.advance(1);
    recordDelivery(w.db, w.clock, m.id, event("subscribe", "2", "b@example.com"));
    expect(pruneEvents(w.db, at - 1)).toBe(0);
    expect(pruneEvents(w.db, at)).toBe(1);
    expect(w.events(m).map((e) => e.contactId)).toEqual(["2"]);
  });
});

describe("claiming contacts", () => {
  it("claims contacts due now, oldest due first, with a lease of leaseMs and a fresh random token; never one not pending or due later", async () => {
    const w = await storeWorld();
    const m = w.monitor();
    const now = w.clock.now();
    const second = w.contact(m, { dueAt: new Date(now) });
    const first = w.contact(m, { dueAt: new Date(now - 5) });
    w.contact(m, { dueAt: new Date(now + 1) });
    w.contact(m, { state: "waiting_credits", dueAt: new Date(now - 10) });
    w.contact(m, { state: "done", dueAt: new Date(now - 10) });
    const claimed = w.claim();
    expect(claimed.map((c) => c.row.id)).toEqual([first.id, second.id]);
    const [c] = claimed;
    expect(c!.lease).toEqual({ id: first.id, monitorId: m.id, token: expect.stringMatching(/^[A-Za-z0-9_-]{16}$/), revision: 0 });
    expect(c!.lease.token).not.toBe(claimed[1]!.lease.token);
    expect({ owner: c!.row.leaseOwner, token: c!.row.leaseToken, expires: c!.row.leaseExpiresAt?.getTime() }).toEqual({ owner: "w1", token: c!.lease.token, expires: now + 60_000 });
    const stored = w.reread(first.id);
    expect({ owner: stored.leaseOwner, token: stored.leaseToken, expires: stored.leaseExpiresAt?.getTime() }).toEqual({ owner: "w1", token: c!.lease.token, expires: now + 60_000 });
    // Due exactly now is due; 1 ms later the third one is.
    expect(w.claim({}, now + 1).map((x) => x.row.dueAt.getTime())).toEqual([now + 1]);
  });

  it("orders contacts due at the same time by id", async () => {
    const w = await storeWorld();
    const m = w.monitor();
    const due = new Date(w.clock.now());
    const rows = ["mct_3", "mct_1", "mct_2"].map((id) => w.contact(m, { id, dueAt: due }));
    expect(w.claim().map((c) => c.row.id)).toEqual(["mct_1", "mct_2", "mct_3"]);
    expect(rows).toHaveLength(3);
  });

  it("never gives a contact to a second worker while its lease lasts, and gives it when the lease expires (at expiry exactly); the first worker then holds nothing", async () => {
    const w = await storeWorld();
    const m = w.monitor();
    const row = w.contact(m);
    const [mine] = w.claim({ leaseMs: 1_000 });
    expect(mine!.row.id).toBe(row.id);
    expect(w.claim({ owner: "w2" })).toEqual([]);
    expect(w.claim({ owner: "w2" }, w.clock.now() + 999)).toEqual([]);
    w.clock.advance(1_000);
    const [theirs] = w.claim({ owner: "w2" });
    expect(theirs!.row.id).toBe(row.id);
    expect(w.reread(row.id).leaseOwner).toBe("w2");
    // The first worker's lease is gone: renewing reports it lost, and any write of its turn is refused.
    expect(renewMonitorLeases(w.db, w.clock.now(), [mine!.lease, theirs!.lease], 5_000)).toEqual([row.id]);
    expect(() => w.charge(mine!.lease, row.email)).toThrow(MonitorLeaseLost);
    expect(w.reread(row.id).chargedEmail).toBeNull();
  });

  it("claims at most `limit`, and at most `perMonitor` of a monitor counting those this process already holds, looking past a busy monitor's contacts", async () => {
    const w = await storeWorld();
    const a = w.monitor();
    const b = w.monitor();
    const now = w.clock.now();
    const as = [1, 2, 3, 4].map((i) => w.contact(a, { dueAt: new Date(now - 10 + i) }));
    const bs = [1, 2].map((i) => w.contact(b, { dueAt: new Date(now - 5 + i) }));
    // Four of monitor A come first; with one of A's already in hand and perMonitor 2, one more of A, then B's.
    const claimed = w.claim({ limit: 2, perMonitor: 2, busy: new Map([[a.id, 1]]) });
    expect(claimed.map((c) => c.row.id)).toEqual([as[0]!.id, bs[0]!.id]);
    expect(w.claim({ limit: 1, perMonitor: 4 }).map((c) => c.row.id)).toEqual([as[1]!.id]);
    expect(w.claim({ limit: 0 })).toEqual([]);
    expect(w.claim({ limit: 5, perMonitor: 1 }).map((c) => c.row.id)).toEqual([as[2]!.id, bs[1]!.id]);
  });

  it("claims nothing of a monitor turned off or held by the brake", async () => {
    const w = await storeWorld();
    const off = w.monitor({ enabled: false });
    const held = w.monitor({ heldReason: "Held for review" });
    const on = w.monitor();
    w.contact(off);
    w.contact(held);
    const mine = w.contact(on);
    expect(w.claim().map((c) => c.row.id)).toEqual([mine.id]);
  });

  it("renews only the leases still held, to now + leaseMs, and reports none lost for none held", async () => {
    const w = await storeWorld();
    const m = w.monitor();
    const { row, lease } = w.held(m);
    expect(renewMonitorLeases(w.db, w.clock.now(), [], 5_000)).toEqual([]);
    expect(renewMonitorLeases(w.db, w.clock.now() + 10, [lease, { ...lease, id: "mct_other" }], 5_000)).toEqual(["mct_other"]);
    expect(w.reread(row.id).leaseExpiresAt!.getTime()).toBe(w.clock.now() + 5_010);
    expect(renewMonitorLeases(w.db, w.clock.now(), [{ ...lease, token: "stolen" }], 5_000)).toEqual([row.id]);
    expect(w.reread(row.id).leaseExpiresAt!.getTime()).toBe(w.clock.now() + 5_010);
  });
});

describe("letting go of a contact", () => {
  it("clears the lease and writes only what it is given (0 attempts and null words included)", async () => {
    const w = await storeWorld();
    const m = w.monitor();
    const { row, lease } = w.held(m, { verifyAttempts: 2, outcome: "Checking", outcomeCode: "checking", error: "x" });
    releaseMonitorContact(w.db, lease);
    let after = w.reread(row.id);
    expect([after.leaseOwner, after.leaseToken, after.leaseExpiresAt]).toEqual([null, null, null]);
    expect([after.dueAt, after.state, after.verifyAttempts, after.outcome, after.outcomeCode, after.error]).toEqual([row.dueAt, "pending", 2, "Checking", "checking", "x"]);

    const again = w.held(m, { verifyAttempts: 2, outcome: "Checking", outcomeCode: "checking", error: "x" });
    releaseMonitorContact(w.db, again.lease, { dueAt: w.clock.now() + 9_000, state: "waiting_credits", verifyAttempts: 0, outcome: null, outcomeCode: null, error: null });
    after = w.reread(again.row.id);
    expect([after.dueAt.getTime(), after.state, after.verifyAttempts, after.outcome, after.outcomeCode, after.error]).toEqual([w.clock.now() + 9_000, "waiting_credits", 0, null, null, null]);
  });

  it("changes nothing of a contact whose lease it no longer holds", async () => {
    const w = await storeWorld();
    const m = w.monitor();
    const { row, lease } = w.held(m);
    releaseMonitorContact(w.db, { ...lease, token: "stolen" }, { dueAt: w.clock.now() + 9_000, outcome: "later" });
    const after = w.reread(row.id);
    expect([after.leaseToken, after.dueAt, after.outcome]).toEqual([lease.token, row.dueAt, null]);
  });

  it("makes a contact queued again during the turn due when it was queued, not after the wait asked for", async () => {
    const w = await storeWorld();
    const m = w.monitor();
    const { row, lease } = w.held(m, { contactId: "1", email: "a@example.com" });
    w.clock.advance(2_000);
    const queuedAt = w.clock.now();
    expect(recordDelivery(w.db, w.clock, m.id, event("subscribe", "1", "a@example.com", "8"))).toBe("queued");
    w.clock.advance(2_000);
    releaseMonitorContact(w.db, lease, { dueAt: w.clock.now() + 60_000 });
    expect(w.reread(row.id).dueAt.getTime()).toBe(queuedAt);
    // Due sooner than it was queued: the sooner.
    const other = w.held(m, { contactId: "2", email: "b@example.com" });
    recordDelivery(w.db, w.clock, m.id, event("subscribe", "2", "b@example.com", "8"));
    releaseMonitorContact(w.db, other.lease, { dueAt: w.clock.now() - 500 });
    expect(w.reread(other.row.id).dueAt.getTime()).toBe(w.clock.now() - 500);
  });
});

describe("charging for a check", () => {
  it("charges 1 credit once per monitor, contact and address (case and spaces aside), and counts it on the monitor", async () => {
    const w = await storeWorld(10);
    const m = w.monitor();
    const { row, lease } = w.held(m, { contactId: "1" });
    w.clock.advance(1_000);
    expect(w.charge(lease, "a@example.com")).toBe("charged");
    expect(w.charge(lease, " A@Example.com")).toBe("already_charged");
    expect(w.balance()).toBe(9);
    expect(monitorRow(w.db, m.id)!.charged).toBe(1);
    const after = w.reread(row.id);
    expect({ chargedEmail: after.chargedEmail, updatedAt: after.updatedAt.getTime(), state: after.state }).toEqual({ chargedEmail: " A@Example.com", updatedAt: w.clock.now(), state: "pending" });
    const [entry] = w.ledger();
    // The key names the monitor, the contact and the address: a charge made before an upgrade is found after it.
    expect({ amount: entry!.amount, reason: entry!.reason, key: entry!.idempotencyKey, group: entry!.groupKey }).toEqual({
      amount: -1,
      reason: "Monitoring Main: a new contact checked",
      key: `monitor:${m.id}:1:${sha256("a@example.com").slice(0, 24)}`,
      group: `monitor:${m.id}:${DAY}`,
    });
    expect(w.ledger()).toHaveLength(1);
  });

  it("charges again for the same address of another contact, or of the same contact on another monitor", async () => {
    const w = await storeWorld(10);
    const m = w.monitor();
    const n = w.monitor();
    expect(w.charge(w.held(m, { contactId: "1" }).lease, "a@example.com")).toBe("charged");
    expect(w.charge(w.held(m, { contactId: "2" }).lease, "a@example.com")).toBe("charged");
    expect(w.charge(w.held(n, { contactId: "1" }).lease, "a@example.com")).toBe("charged");
    expect(w.balance()).toBe(7);
    expect([monitorRow(w.db, m.id)!.charged, monitorRow(w.db, n.id)!.charged]).toEqual([2, 1]);
  });

  it("never charges past the balance: with none left the contact waits for credits, let go, due at retryAt, and the workspace is told once per shortage", async () => {
    const w = await storeWorld(1);
    const m = w.monitor();
    const one = w.held(m);
    const two = w.held(m);
    const three = w.held(m);
    expect(w.charge(one.lease, one.row.email)).toBe("charged");
    w.clock.advance(1_000);
    expect(w.charge(two.lease, two.row.email, w.clock.now() + 7_000)).toBe("insufficient");
    expect(w.balance()).toBe(0);
    const waiting = w.reread(two.row.id);
    expect({
      state: waiting.state,
      dueAt: waiting.dueAt.getTime(),
      outcome: waiting.outcome,
      code: waiting.outcomeCode,
      lease: [waiting.leaseOwner, waiting.leaseToken, waiting.leaseExpiresAt],
      chargedEmail: waiting.chargedEmail,
      updatedAt: waiting.updatedAt.getTime(),
    }).toEqual({ state: "waiting_credits", dueAt: w.clock.now() + 7_000, outcome: "Waiting for credits", code: "waiting_credits", lease: [null, null, null], chargedEmail: null, updatedAt: w.clock.now() });
    expect(w.charge(three.lease, three.row.email)).toBe("insufficient");
    const told = w.notices();
    expect(told.map((n) => [n.key, n.connectionId, JSON.parse(n.data), n.workspaceId])).toEqual([
      [`monitor:${m.id}:waiting:1`, m.connectionId, { connectionName: "Main", connectionId: m.connectionId, waiting: 1 }, w.user.workspaceId],
    ]);
    // Credits arrive, one more is charged, and the balance runs out again: a new shortage, told again.
    grantCredits(w.db, w.clock, { workspaceId: w.user.workspaceId, amount: 1, reason: "top-up" });
    const four = w.held(m);
    const five = w.held(m);
    expect(w.charge(four.lease, four.row.email)).toBe("charged");
    expect(w.charge(five.lease, five.row.email)).toBe("insufficient");
    expect(w.notices().map((n) => [n.key, JSON.parse(n.data).waiting])).toEqual([
      [`monitor:${m.id}:waiting:1`, 1],
      [`monitor:${m.id}:waiting:2`, 3],
    ]);
    expect(w.balance()).toBe(0);
  });

  it("counts only this monitor's contacts waiting for credits in the notice", async () => {
    const w = await storeWorld(0);
    const m = w.monitor();
    const other = w.monitor();
    w.contact(other, { state: "waiting_credits" });
    w.contact(m, { state: "pending" });
    const { lease, row } = w.held(m);
    expect(w.charge(lease, row.email)).toBe("insufficient");
    expect(w.notices().map((n) => JSON.parse(n.data).waiting)).toEqual([1]);
  });

  it("charges nothing once the monitor is turned off", async () => {
    const w = await storeWorld(5);
    const m = w.monitor({ enabled: false });
    const { lease, row } = w.held(m);
    expect(w.charge(lease, row.email)).toBe("off");
    expect([w.balance(), w.reread(row.id).chargedEmail, monitorRow(w.db, m.id)!.charged]).toEqual([5, null, 0]);
  });

  it("refunds an address charged for but never checked before charging the new one; not one that was checked, nor the same address", async () => {
    const w = await storeWorld(10);
    const m = w.monitor();
    const { lease, row } = w.held(m, { contactId: "1" });
    expect(w.charge(lease, "a@example.com")).toBe("charged");
    expect(w.charge(lease, "b@example.com")).toBe("charged");
    expect(w.balance()).toBe(9);
    const refund = w.ledger().find((l) => l.kind === "refund")!;
    expect({ amount: refund.amount, reason: refund.reason, key: refund.idempotencyKey, group: refund.groupKey }).toEqual({
      amount: 1,
      reason: "Monitoring Main: refund, the address changed before it was checked",
      key: `monitor:${m.id}:1:${sha256("a@example.com").slice(0, 24)}:refund`,
      group: `monitor:${m.id}:${DAY}`,
    });
    expect(w.reread(row.id).chargedEmail).toBe("b@example.com");

    // b@ was checked (case aside): a new address costs one more, b@ is not refunded.
    w.db.update(schema.monitorContacts).set({ checkedEmail: "B@example.com" }).where(eq(schema.monitorContacts.id, row.id)).run();
    expect(w.charge(lease, "c@example.com")).toBe("charged");
    expect(w.balance()).toBe(8);
    expect(w.ledger().filter((l) => l.kind === "refund")).toHaveLength(1);
  });

  it("refunds a charge at most once, whichever way it is refunded", async () => {
    const w = await storeWorld(10);
    const m = w.monitor();
    const { lease, row } = w.held(m, { contactId: "1", email: "a@example.com" });
    expect(w.charge(lease, "a@example.com")).toBe("charged");
    // Turned off before the check: refunded.
    transaction(w.db, (tx) => stopMonitorWork(tx, w.clock, m.id, "Main"));
    expect(w.balance()).toBe(10);
    // On again, the contact comes back and its turn ends unchecked again: no second refund.
    w.db.update(schema.monitors).set({ enabled: true }).where(eq(schema.monitors.id, m.id)).run();
    w.db.update(schema.monitorContacts).set({ state: "pending" }).where(eq(schema.monitorContacts.id, row.id)).run();
    settleContact(w.db, w.clock, lease, { state: "gone", outcome: "Gone", outcomeCode: "gone", connectionName: "Main" });
    expect(w.balance()).toBe(10);
    expect(w.ledger().map((l) => l.kind)).toEqual(["charge", "refund"]);
  });
});

describe("credits arriving", () => {
  it("makes contacts waiting for credits pending and due now only in workspaces with a balance, returning how many", async () => {
    const w = await storeWorld(0);
    const rich = w.workspace(1);
    const poor = w.monitor();
    const paid = w.monitor({}, rich.workspaceId);
    const later = new Date(w.clock.now() + 60_000);
    const stays = w.contact(poor, { state: "waiting_credits", dueAt: later });
    const wakes = w.contact(paid, { state: "waiting_credits", dueAt: later });
    const pending = w.contact(paid, { state: "pending", dueAt: later });
    w.clock.advance(1_000);
    expect(wakeWaitingForCredits(w.db, w.clock.now())).toBe(1);
    expect([w.reread(wakes.id).state, w.reread(wakes.id).dueAt.getTime()]).toEqual(["pending", w.clock.now()]);
    expect([w.reread(stays.id).state, w.reread(stays.id).dueAt]).toEqual(["waiting_credits", later]);
    expect(w.reread(pending.id).dueAt).toEqual(later);
  });
});

describe("saving a check and its changes", () => {
  it("stores the result as check n + 1, with the changes it calls for, and refunds nothing for a known result", async () => {
    const w = await storeWorld(10);
    const m = w.monitor();
    const { lease, row } = w.held(m, { checks: 1, verifyAttempts: 3, email: "old@example.com" });
    w.charge(lease, "a@example.com");
    w.clock.advance(1_000);
    const checkNo = saveCheck(w.db, w.clock, lease, {
      email: "a@example.com",
      status: "undeliverable",
      reason: "mailbox_not_found",
      result: { flags: ["x"] },
      connectionName: "Main",
      plan: [
        { kind: "label", listId: 0 },
        { kind: "unsubscribe", listId: 4 },
      ],
    });
    expect(checkNo).toBe(2);
    const after = w.reread(row.id);
    expect({
      checkedEmail: after.checkedEmail,
      email: after.email,
      checks: after.checks,
      status: after.status,
      reason: after.reason,
      result: after.result,
      checkedAt: after.checkedAt?.getTime(),
      verifyAttempts: after.verifyAttempts,
      updatedAt: after.updatedAt.getTime(),
    }).toEqual({
      checkedEmail: "a@example.com",
      email: "a@example.com",
      checks: 2,
      status: "undeliverable",
      reason: "mailbox_not_found",
      result: '{"flags":["x"]}',
      checkedAt: w.clock.now(),
      verifyAttempts: 0,
      updatedAt: w.clock.now(),
    });
    expect(actionsOf(w.db, row.id, 2).map((a) => [a.kind, a.listId, a.state, a.checkNo, a.attempts, a.updatedAt.getTime()]).sort()).toEqual([
      ["label", 0, "pending", 2, 0, w.clock.now()],
      ["unsubscribe", 4, "pending", 2, 0, w.clock.now()],
    ]);
    expect(actionsOf(w.db, row.id, 1)).toEqual([]);
    expect(w.balance()).toBe(9);
  });

  it("refunds an unknown result once, under the key of the address checked", async () => {
    const w = await storeWorld(10);
    const m = w.monitor();
    const { lease } = w.held(m, { contactId: "1" });
    w.charge(lease, "a@example.com");
    const check = { email: "A@example.com", status: "unknown", reason: "timeout", result: null, connectionName: "Main", plan: [] };
    expect(saveCheck(w.db, w.clock, lease, check)).toBe(1);
    expect(saveCheck(w.db, w.clock, lease, check)).toBe(2);
    expect(w.balance()).toBe(10);
    const refunds = w.ledger().filter((l) => l.kind === "refund");
    expect(refunds.map((r) => [r.amount, r.reason, r.idempotencyKey, r.groupKey])).toEqual([
      [1, "Monitoring Main: refund, the result is unknown", `monitor:${m.id}:1:${sha256("a@example.com").slice(0, 24)}:refund`, `monitor:${m.id}:${DAY}`],
    ]);
  });

  it("shows a monitor's charges and refunds of a day as one line of the credit history", async () => {
    const w = await storeWorld(10);
    const m = w.monitor();
    const { lease } = w.held(m, { contactId: "1" });
    w.charge(lease, "a@example.com");
    saveCheck(w.db, w.clock, lease, { email: "a@example.com", status: "unknown", reason: "timeout", result: null, connectionName: "Main", plan: [] });
    const history = getCreditHistory(w.t.deps, { ctx: { workspaceId: w.user.workspaceId } });
    const line = history.lines.find((l) => l.kind === "monitor")!;
    expect({ reason: line.reason, charged: line.charged, refunded: line.refunded }).toEqual({ reason: `Monitoring Main: new contacts checked on ${DAY} (UTC)`, charged: 1, refunded: 1 });
  });

  it("refuses to save a check, or plan more, without the lease, writing nothing", async () => {
    const w = await storeWorld(10);
    const m = w.monitor();
    const { lease, row } = w.held(m);
    const lost = { ...lease, token: "stolen" };
    expect(() => saveCheck(w.db, w.clock, lost, { email: row.email, status: "deliverable", reason: "accepted", result: null, connectionName: "Main", plan: [{ kind: "label", listId: 0 }] })).toThrow(MonitorLeaseLost);
    expect(() => planMore(w.db, lost, 0, [{ kind: "label", listId: 0 }], w.clock.now())).toThrow(MonitorLeaseLost);
    expect(() => planMore(w.db, { ...lease, id: "mct_gone" }, 0, [{ kind: "label", listId: 0 }], w.clock.now())).toThrow(MonitorLeaseLost);
    expect([w.reread(row.id).checks, actionsOf(w.db, row.id, 0), actionsOf(w.db, row.id, 1)]).toEqual([0, [], []]);
    const err = new MonitorLeaseLost(row.id);
    expect([err.name, err.message, err.monitorContactId, err instanceof Error]).toEqual(["MonitorLeaseLost", `lease on monitored contact ${row.id} lost`, row.id, true]);
  });

  it("plans more changes for a check without repeating those already planned", async () => {
    const w = await storeWorld();
    const m = w.monitor();
    const { lease, row } = w.held(m, { checks: 1 });
    planMore(w.db, lease, 1, [{ kind: "unsubscribe", listId: 1 }], w.clock.now());
    planMore(w.db, lease, 1, [{ kind: "unsubscribe", listId: 1 }, { kind: "unsubscribe", listId: 2 }], w.clock.now());
    expect(actionsOf(w.db, row.id, 1).map((a) => a.listId).sort()).toEqual([1, 2]);
  });

  it("lists a check's open changes (pending, sending) and all its changes, in the order planned", async () => {
    const w = await storeWorld();
    const m = w.monitor();
    const { lease, row } = w.held(m, { checks: 1 });
    const other = w.held(m, { checks: 1 });
    const kinds = ["delete", "unsubscribe", "label"] as const;
    for (const [i, kind] of kinds.entries()) {
      planMore(w.db, lease, 1, [{ kind, listId: i }], w.clock.now());
      w.clock.advance(1);
    }
    planMore(w.db, lease, 2, [{ kind: "label", listId: 0 }], w.clock.now());
    planMore(w.db, other.lease, 1, [{ kind: "label", listId: 0 }], w.clock.now());
    const [del, unsub, label] = actionsOf(w.db, row.id, 1);
    expect([del?.kind, unsub?.kind, label?.kind]).toEqual(["delete", "unsubscribe", "label"]);
    saveActionOutcome(w.db, w.clock, lease, del!.id, { state: "done", resultCode: null, error: null });
    markActionSending(w.db, w.clock, lease, label!);
    expect(openActions(w.db, row.id, 1).map((a) => [a.kind, a.state])).toEqual([
      ["unsubscribe", "pending"],
      ["label", "sending"],
    ]);
    saveActionOutcome(w.db, w.clock, lease, unsub!.id, { state: "failed", resultCode: "refused", error: "no" });
    saveActionOutcome(w.db, w.clock, lease, label!.id, { state: "done", resultCode: "written", error: null });
    expect(openActions(w.db, row.id, 1)).toEqual([]);
    expect(actionsOf(w.db, row.id, 1).map((a) => a.state)).toEqual(["done", "failed", "done"]);
  });
});

describe("sending a change", () => {
  async function planned(w: World, values: Partial<MonitorRow> = {}, kind: "unsubscribe" | "delete" | "label" = "unsubscribe") {
    const m = w.monitor(values);
    const { lease, row } = w.held(m, { checks: 1 });
    planMore(w.db, lease, 1, [{ kind, listId: kind === "unsubscribe" ? 3 : 0 }], w.clock.now());
    const [action] = actionsOf(w.db, row.id, 1);
    return { m, lease, row, action: action! };
  }

  it("marks a change sending (attempts + 1) before it leaves, and answers send", async () => {
    const w = await storeWorld();
    const { lease, action } = await planned(w);
    w.clock.advance(1_000);
    expect(markActionSending(w.db, w.clock, lease, action)).toBe("send");
    expect(markActionSending(w.db, w.clock, lease, action)).toBe("send");
    const after = actionsOf(w.db, lease.id, 1)[0]!;
    expect([after.state, after.attempts, after.updatedAt.getTime()]).toEqual(["sending", 2, w.clock.now()]);
  });

  it("sends nothing once the monitor is turned off: the change is skipped as monitor_off", async () => {
    const w = await storeWorld();
    const { lease, action } = await planned(w, { enabled: false });
    w.clock.advance(1_000);
    expect(markActionSending(w.db, w.clock, lease, action)).toBe("off");
    const after = actionsOf(w.db, lease.id, 1)[0]!;
    expect([after.state, after.resultCode, after.error, after.attempts, after.updatedAt.getTime()]).toEqual(["skipped", "monitor_off", "Not sent: monitoring was turned off first", 0, w.clock.now()]);
    expect(MONITOR_OFF_ACTION).toBe(after.error);
  });

  it("holds an unsubscribe or a delete of a monitor held by the brake, but still writes a label", async () => {
    const w = await storeWorld();
    for (const kind of ["unsubscribe", "delete"] as const) {
      const { lease, action } = await planned(w, { heldReason: "Held for review" }, kind);
      expect([kind, markActionSending(w.db, w.clock, lease, action)]).toEqual([kind, "held"]);
      expect(actionsOf(w.db, lease.id, 1)[0]!.state).toBe("pending");
    }
    const { lease, action } = await planned(w, { heldReason: "Held for review" }, "label");
    expect(markActionSending(w.db, w.clock, lease, action)).toBe("send");
  });

  it("refuses to mark a change, or save its outcome, without the lease", async () => {
    const w = await storeWorld();
    const { lease, action } = await planned(w);
    const lost = { ...lease, token: "stolen" };
    expect(() => markActionSending(w.db, w.clock, lost, action)).toThrow(MonitorLeaseLost);
    expect(() => saveActionOutcome(w.db, w.clock, lost, action.id, { state: "done", resultCode: null, error: null })).toThrow(MonitorLeaseLost);
    expect(actionsOf(w.db, lease.id, 1)[0]!.state).toBe("pending");
  });

  it("saves a change's outcome with when to try it again (none unless said)", async () => {
    const w = await storeWorld();
    const { lease, action } = await planned(w);
    w.clock.advance(1_000);
    saveActionOutcome(w.db, w.clock, lease, action.id, { state: "pending", resultCode: "rate_limited", error: "busy", nextAttemptAt: w.clock.now() + 500 });
    let after = actionsOf(w.db, lease.id, 1)[0]!;
    expect([after.state, after.resultCode, after.error, after.nextAttemptAt?.getTime(), after.updatedAt.getTime()]).toEqual(["pending", "rate_limited", "busy", w.clock.now() + 500, w.clock.now()]);
    saveActionOutcome(w.db, w.clock, lease, action.id, { state: "done", resultCode: null, error: null });
    after = actionsOf(w.db, lease.id, 1)[0]!;
    expect([after.state, after.resultCode, after.error, after.nextAttemptAt]).toEqual(["done", null, null, null]);
  });
});

describe("the brake", () => {
  /** `n` checked contacts of `m`, checked 1 s apart (the last most recently), `destructive` of them (the last ones) calling for an unsubscribe. */
  function checks(w: World, m: MonitorRow, n: number, destructive: number, kind: "unsubscribe" | "delete" = "unsubscribe") {
    for (let i = 0; i < n; i++) {
      const { lease } = w.held(m, { checks: 1, checkedAt: new Date(w.clock.now()) });
      planMore(w.db, lease, 1, i >= n - destructive ? [{ kind, listId: 0 }] : [{ kind: "label", listId: 0 }], w.clock.now());
      w.clock.advance(1_000);
    }
  }
  /** Whether sending one more unsubscribe (of a contact not checked) is held under `brake`. */
  function sends(w: World, m: MonitorRow, brake: { percent: number; window: number; min: number }) {
    const { lease, row } = w.held(m, { checks: 1 });
    planMore(w.db, lease, 1, [{ kind: "unsubscribe", listId: 3 }], w.clock.now());
    return markActionSending(w.db, w.clock, lease, actionsOf(w.db, row.id, 1)[0]!, brake);
  }

  it("holds the monitor when more than percent of its last checks were destructive, with the reason, and not at exactly percent", async () => {
    const w = await storeWorld();
    const m = w.monitor();
    checks(w, m, 10, 5);
    expect(sends(w, m, { percent: 50, window: 50, min: 10 })).toBe("send");
    expect(monitorRow(w.db, m.id)!.heldReason).toBeNull();
    checks(w, m, 1, 1, "delete");
    expect(sends(w, m, { percent: 50, window: 50, min: 10 })).toBe("held");
    const held = monitorRow(w.db, m.id)!;
    expect(held.heldReason).toBe(
      "Held for review: 6 of the last 11 contacts checked would be unsubscribed or deleted, more than 50% (ANOMALY_PERCENT). Nothing more is checked or changed until you save the settings again; if lookups or the list look wrong, turn monitoring off instead.",
    );
    expect(held.heldAt?.getTime()).toBe(w.clock.now());
  });

  it("does not brake on fewer than min checks, nor at percent 100, nor without a brake", async () => {
    const w = await storeWorld();
    const m = w.monitor();
    checks(w, m, 9, 9);
    expect(sends(w, m, { percent: 10, window: 50, min: 10 })).toBe("send");
    expect(sends(w, m, { percent: 100, window: 50, min: 1 })).toBe("send");
    const { lease, row } = w.held(m, { checks: 1 });
    planMore(w.db, lease, 1, [{ kind: "unsubscribe", listId: 3 }], w.clock.now());
    expect(markActionSending(w.db, w.clock, lease, actionsOf(w.db, row.id, 1)[0]!)).toBe("send");
    expect(monitorRow(w.db, m.id)!.heldReason).toBeNull();
    checks(w, m, 1, 1);
    expect(sends(w, m, { percent: 10, window: 50, min: 10 })).toBe("held");
  });

  it("counts only the last `window` checks, only since the brake was released, and only a contact's latest check", async () => {
    const w = await storeWorld();
    const m = w.monitor();
    checks(w, m, 10, 10);
    checks(w, m, 10, 0);
    // The last 10 are all harmless.
    expect(sends(w, m, { percent: 10, window: 10, min: 5 })).toBe("send");
    expect(sends(w, m, { percent: 10, window: 20, min: 5 })).toBe("held");

    const n = w.monitor();
    checks(w, n, 10, 10);
    const from = w.clock.now();
    w.db.update(schema.monitors).set({ brakeFrom: new Date(from) }).where(eq(schema.monitors.id, n.id)).run();
    checks(w, n, 10, 0);
    expect(sends(w, n, { percent: 10, window: 50, min: 5 })).toBe("send");
    // A check at exactly brakeFrom counts.
    w.db.update(schema.monitors).set({ brakeFrom: new Date(from - 1_000) }).where(eq(schema.monitors.id, n.id)).run();
    expect(sends(w, n, { percent: 4, window: 50, min: 5 })).toBe("held");

    const o = w.monitor();
    // Destructive at check 1, but each contact has been checked again since (check 2, harmless).
    checks(w, o, 10, 10);
    w.db.update(schema.monitorContacts).set({ checks: 2 }).where(eq(schema.monitorContacts.monitorId, o.id)).run();
    expect(sends(w, o, { percent: 10, window: 50, min: 5 })).toBe("send");
  });
});

describe("settling a contact", () => {
  it("settles it with what was done and lets go of it, refunding nothing for an address checked", async () => {
    const w = await storeWorld(10);
    const m = w.monitor();
    const { lease, row } = w.held(m, { chargedEmail: "a@example.com", checkedEmail: "A@example.com", error: "old" });
    w.clock.advance(1_000);
    settleContact(w.db, w.clock, lease, { state: "done", outcome: "Unsubscribed from list 3", outcomeCode: "unsubscribed", connectionName: "Main" });
    const after = w.reread(row.id);
    expect([after.state, after.outcome, after.outcomeCode, after.error, after.leaseOwner, after.leaseToken, after.leaseExpiresAt, after.updatedAt.getTime()]).toEqual([
      "done",
      "Unsubscribed from list 3",
      "unsubscribed",
      null,
      null,
      null,
      null,
      w.clock.now(),
    ]);
    expect(w.ledger()).toEqual([]);
  });

  it("refunds an address charged for but never checked (gone, or no longer on a watched list), once", async () => {
    const w = await storeWorld(10);
    const m = w.monitor();
    const { lease, row } = w.held(m, { contactId: "1", email: "b@example.com", checkedEmail: "a@example.com" });
    expect(w.charge(lease, "b@example.com")).toBe("charged");
    settleContact(w.db, w.clock, lease, { state: "gone", outcome: "Gone", outcomeCode: "gone", error: "no contact", connectionName: "Main" });
    expect(w.balance()).toBe(10);
    expect(w.ledger().filter((l) => l.kind === "refund").map((r) => [r.reason, r.idempotencyKey, r.groupKey])).toEqual([
      ["Monitoring Main: refund, the contact was not checked", `monitor:${m.id}:1:${sha256("b@example.com").slice(0, 24)}:refund`, `monitor:${m.id}:${DAY}`],
    ]);
    expect([w.reread(row.id).state, w.reread(row.id).error]).toEqual(["gone", "no contact"]);
  });

  it("refunds nothing for a contact never charged", async () => {
    const w = await storeWorld(10);
    const m = w.monitor();
    const { lease } = w.held(m);
    settleContact(w.db, w.clock, lease, { state: "skipped", outcome: "Not checked", outcomeCode: "skipped", connectionName: "Main" });
    expect(w.ledger()).toEqual([]);
  });

  it("leaves a contact queued again during the turn pending and due now, unsettled, with nothing refunded", async () => {
    const w = await storeWorld(10);
    const m = w.monitor();
    const { lease, row } = w.held(m, { contactId: "1", email: "a@example.com" });
    expect(w.charge(lease, "a@example.com")).toBe("charged");
    recordDelivery(w.db, w.clock, m.id, event("update", "1", "b@example.com"));
    w.clock.advance(1_000);
    settleContact(w.db, w.clock, lease, { state: "gone", outcome: "Gone", outcomeCode: "gone", error: "e", connectionName: "Main" });
    const after = w.reread(row.id);
    expect([after.state, after.dueAt.getTime(), after.outcome, after.outcomeCode, after.error, after.leaseToken, after.leaseOwner, after.leaseExpiresAt, after.updatedAt.getTime()]).toEqual([
      "pending",
      w.clock.now(),
      "Gone",
      "gone",
      "e",
      null,
      null,
      null,
      w.clock.now(),
    ]);
    expect(w.balance()).toBe(9);
    const again = w.held(m, { contactId: "2", email: "c@example.com" });
    recordDelivery(w.db, w.clock, m.id, event("update", "2", "d@example.com"));
    settleContact(w.db, w.clock, again.lease, { state: "done", outcome: "Kept", outcomeCode: "kept", connectionName: "Main" });
    expect(w.reread(again.row.id).error).toBeNull();
  });

  it("refuses to settle a contact without the lease", async () => {
    const w = await storeWorld(10);
    const m = w.monitor();
    const { lease, row } = w.held(m);
    expect(() => settleContact(w.db, w.clock, { ...lease, token: "stolen" }, { state: "done", outcome: "Kept", outcomeCode: "kept", connectionName: "Main" })).toThrow(MonitorLeaseLost);
    expect(w.reread(row.id).state).toBe("pending");
  });
});

describe("turning monitoring off", () => {
  it("skips every contact still queued or waiting, refunds what was charged and never checked, and skips the open changes of that monitor only", async () => {
    const w = await storeWorld(10);
    const m = w.monitor();
    const other = w.monitor();
    const charged = w.held(m, { contactId: "1", email: "a@example.com" });
    expect(w.charge(charged.lease, "a@example.com")).toBe("charged");
    const checked = w.contact(m, { contactId: "2", email: "b@example.com", chargedEmail: "b@example.com", checkedEmail: "B@example.com", checks: 1 });
    const moved = w.contact(m, { contactId: "3", email: "new@example.com", chargedEmail: "c@example.com", checkedEmail: "c@example.com", checks: 1 });
    const waiting = w.contact(m, { contactId: "4", state: "waiting_credits" });
    const done = w.contact(m, { contactId: "5", state: "done", outcome: "Kept" });
    const elsewhere = w.contact(other, { contactId: "6" });
    const lease = (row: MonitorContactRow) => ({ id: row.id, monitorId: row.monitorId, token: "t", revision: 0 });
    w.db.update(schema.monitorContacts).set({ leaseToken: "t" }).run();
    for (const p of [{ kind: "unsubscribe", listId: 1 }, { kind: "label", listId: 0 }, { kind: "delete", listId: 0 }] as const) {
      planMore(w.db, lease(checked), 1, [p], w.clock.now());
      w.clock.advance(1);
    }
    planMore(w.db, lease(done), 1, [{ kind: "unsubscribe", listId: 1 }], w.clock.now());
    planMore(w.db, lease(elsewhere), 1, [{ kind: "unsubscribe", listId: 1 }], w.clock.now());
    const [unsub, label, del] = actionsOf(w.db, checked.id, 1);
    expect([unsub?.kind, label?.kind, del?.kind]).toEqual(["unsubscribe", "label", "delete"]);
    markActionSending(w.db, w.clock, lease(checked), unsub!);
    saveActionOutcome(w.db, w.clock, lease(checked), label!.id, { state: "done", resultCode: "written", error: null });
    w.clock.advance(1_000);

    transaction(w.db, (tx) => stopMonitorWork(tx, w.clock, m.id, "Main"));

    const state = (row: MonitorContactRow) => {
      const r = w.reread(row.id);
      return [r.state, r.outcome, r.outcomeCode, r.updatedAt.getTime()];
    };
    const now = w.clock.now();
    expect(state(w.reread(charged.row.id))).toEqual(["skipped", "Not checked: monitoring was turned off first", "skipped", now]);
    expect(state(checked)).toEqual(["skipped", "Checked; its changes were not sent: monitoring was turned off first", "skipped", now]);
    expect(state(moved)).toEqual(["skipped", "Not checked: monitoring was turned off first", "skipped", now]);
    expect(state(waiting)).toEqual(["skipped", "Not checked: monitoring was turned off first", "skipped", now]);
    expect(w.reread(done.id).state).toBe("done");
    expect(w.reread(elsewhere.id).state).toBe("pending");
    // Only a.example was charged and never checked.
    expect(w.balance()).toBe(10);
    expect(w.ledger().filter((l) => l.kind === "refund").map((r) => [r.amount, r.reason, r.idempotencyKey, r.groupKey])).toEqual([
      [1, "Monitoring Main: refund, monitoring was turned off before the contact was checked", `monitor:${m.id}:1:${sha256("a@example.com").slice(0, 24)}:refund`, `monitor:${m.id}:${DAY}`],
    ]);
    const actions = (row: MonitorContactRow) => actionsOf(w.db, row.id, 1).map((a) => [a.kind, a.state, a.resultCode, a.error, a.updatedAt.getTime()]);
    expect(actions(checked)).toEqual([
      ["unsubscribe", "skipped", "monitor_off", MONITOR_OFF_ACTION, now],
      ["label", "done", "written", null, now - 1_000],
      ["delete", "skipped", "monitor_off", MONITOR_OFF_ACTION, now],
    ]);
    expect(actions(done).map((a) => a[1])).toEqual(["skipped"]);
    expect(actions(elsewhere).map((a) => a[1])).toEqual(["pending"]);
  });
});

describe("the label setup", () => {
  it("is saved on its monitor as JSON", async () => {
    const w = await storeWorld();
    const m = w.monitor();
    const n = w.monitor();
    const setup = { resultField: { id: "1", options: {} }, reasonField: null, tags: null } as unknown as Parameters<typeof saveMonitorLabelSetup>[2];
    saveMonitorLabelSetup(w.db, m.id, setup);
    expect(JSON.parse(monitorRow(w.db, m.id)!.labelSetup!)).toEqual(setup);
    expect(monitorRow(w.db, n.id)!.labelSetup).toBeNull();
  });
});
