import { setupServer } from "msw/node";
import { eq } from "drizzle-orm";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { schema } from "../db/index.ts";
import { chargeForCheck, claimMonitorContacts, monitorRow, releaseMonitorContact } from "../core/monitors/store.ts";
import { clientForConnection, connectionRow } from "../core/services/connections.ts";
import { checkContact } from "../worker/monitor/check.ts";
import { createMonitorProcessor } from "../worker/monitor/processor.ts";
import { answer, apiClient } from "./support/api.ts";
import { createRunHarness, type RunHarness } from "./support/runs.ts";
import { address } from "./support/world.ts";

/**
 * Monitoring's safety rules (review of issue 18): nothing destructive on a resolver that cannot
 * see real domains, nothing sent after monitoring is turned off, no change of a contact lost
 * while it is being checked.
 */

const server = setupServer();
beforeAll(() => server.listen({ onUnhandledRequest: "error" }));
afterEach(() => server.resetHandlers());
afterAll(() => server.close());

const PUBLIC_URL = "https://lw.example.com";
const UNSUBSCRIBE_BAD = { deliverable: "keep", risky: "keep", undeliverable: "unsubscribe", unknown: "keep" } as const;

async function harness(config: Record<string, unknown> = {}): Promise<RunHarness & { api: ReturnType<typeof apiClient> }> {
  const h = await createRunHarness(server, { realTime: true, config: { PUBLIC_URL, ...config }, fakeAc: { holdWebhooks: true }, fakeOnHarnessClock: true });
  h.fake.webhookTransport = async (url, body) => (await h.t.app.request(url, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body })).status;
  return Object.assign(h, { api: apiClient(h.t, h.user) });
}

const balanceOf = (h: RunHarness) => h.t.db.select().from(schema.workspaces).get()!.balance;

/** One turn of the contact claimed, as the processor takes it, with the monitor as it was read then (`monitor`). */
async function turnOf(h: RunHarness, claimed: ReturnType<typeof claimMonitorContacts>[number], monitor = monitorRow(h.t.db, claimed.lease.monitorId)!) {
  const connection = connectionRow(h.t.db, monitor.connectionId)!;
  return checkContact({
    db: h.t.db, clock: h.clock, logger: h.t.deps.logger, lease: claimed.lease, row: claimed.row, monitor, connectionName: connection.name,
    client: clientForConnection(h.t.deps, connection), verifiers: h.verifiers, signal: new AbortController().signal,
    settings: { creditsPollMs: 1_000, retryBaseMs: 5, retryMaxMs: 20 },
  });
}

const claim = (h: RunHarness) => claimMonitorContacts(h.t.db, h.clock.now(), { owner: "t", leaseMs: 60_000, limit: 1, perMonitor: 4, busy: new Map() });

const contactRow = (h: RunHarness, contactId: string) => h.t.db.select().from(schema.monitorContacts).where(eq(schema.monitorContacts.contactId, contactId)).get();

describe("monitoring safety", () => {
  it("does not unsubscribe on a resolver that fails the health check (as a run would pause), and goes on when it passes", async () => {
    // The test DNS server knows only the mail world: gmail.com etc. "do not exist" -> a run pauses paused_dns.
    const h = await harness({ DNS_HEALTH_DOMAINS: ["gmail.com", "outlook.com", "yahoo.com"] });
    const processor = createMonitorProcessor(h.t.deps, { verifiers: h.verifiers, pollMs: 10, leaseMs: 60_000, retryBaseMs: 5, retryMaxMs: 20 });
    const list = h.fake.addList("Newsletter");
    await answer(await h.api.connections[":id"].monitor.$put({ param: { id: h.connectionId }, json: { enabled: true, scope: { kind: "lists", listIds: [list] }, actions: UNSUBSCRIBE_BAD } }), 200);
    h.clock.advance(2_000);
    const balance = h.t.db.select().from(schema.workspaces).get()!.balance;
    const id = h.fake.subscribe({ email: address("noDomain", "victim"), lists: [list] });
    await h.fake.deliverWebhooks();
    await processor.drain();
    const row = contactRow(h, id);
    expect(row?.outcomeCode).not.toBe("unsubscribed");
    expect(h.fake.listStatus(id, list)).toBe(1);
    expect({ state: row?.state, outcomeCode: row?.outcomeCode, checked: row?.checkedEmail }).toEqual({ state: "pending", outcomeCode: "waiting_dns", checked: null });
    expect(row!.dueAt.getTime()).toBeGreaterThan(h.clock.now());
    expect(h.t.db.select().from(schema.workspaces).get()!.balance).toBe(balance); // nothing charged
    const view = await answer(await h.api.connections[":id"].monitor.$get({ param: { id: h.connectionId } }), 200);
    expect(view.waiting.dns).toBe(1);

    // Lookups work again: the contact is checked, charged and acted on once it is due.
    h.clock.advance(row!.dueAt.getTime() - h.clock.now() + 1);
    const healthy = { ...h.verifiers, resolver: { domains: ["gmail.com"], retryMs: 60_000, check: async () => ({ ok: true, domains: [] }) } };
    await createMonitorProcessor(h.t.deps, { verifiers: healthy, pollMs: 10, leaseMs: 60_000, retryBaseMs: 5, retryMaxMs: 20 }).drain();
    expect(contactRow(h, id)?.outcomeCode).toBe("unsubscribed");
    expect(h.fake.listStatus(id, list)).toBe(2);
    await h.close();
  });

  const settings = (list: string, enabled: boolean) => ({ enabled, scope: { kind: "lists" as const, listIds: [list] }, actions: UNSUBSCRIBE_BAD });

  it("does not send an unsubscribe held by weather after the user turned monitoring off", async () => {
    const h = await harness();
    const list = h.fake.addList("Newsletter");
    await answer(await h.api.connections[":id"].monitor.$put({ param: { id: h.connectionId }, json: settings(list, true) }), 200);
    h.clock.advance(2_000);
    const id = h.fake.subscribe({ email: address("noDomain", "held"), lists: [list] });
    await h.fake.deliverWebhooks();
    h.fake.failNext(1, { status: 503 }, (r) => r.method === "POST" && r.path === "/api/3/contactLists");
    const processor = createMonitorProcessor(h.t.deps, { verifiers: h.verifiers, pollMs: 10, retryBaseMs: 60_000, retryMaxMs: 60_000 });
    await processor.drain();
    expect(h.fake.listStatus(id, list)).toBe(1); // held by weather

    await answer(await h.api.connections[":id"].monitor.$put({ param: { id: h.connectionId }, json: settings(list, false) }), 200);
    h.clock.advance(120_000);
    await processor.drain();
    const row = contactRow(h, id)!;
    expect({ status: h.fake.listStatus(id, list), state: row.state, outcome: row.outcomeCode }).toEqual({ status: 1, state: "skipped", outcome: "skipped" });
    const actions = h.t.db.select().from(schema.monitorActions).where(eq(schema.monitorActions.monitorContactId, row.id)).all();
    expect(actions.map((a) => [a.kind, a.state, a.resultCode])).toEqual([["unsubscribe", "skipped", "monitor_off"]]);
    await h.close();
  });

  it("sends nothing when monitoring is found off at send time, and charges nothing when found off at charge time and refunds a charge never checked", async () => {
    const h = await harness();
    const list = h.fake.addList("Newsletter");
    await answer(await h.api.connections[":id"].monitor.$put({ param: { id: h.connectionId }, json: settings(list, true) }), 200);
    h.clock.advance(2_000);
    const sendId = h.fake.subscribe({ email: address("noDomain", "race"), lists: [list] });
    await h.fake.deliverWebhooks();
    const before = balanceOf(h);

    // A contact claimed and read while monitoring was on; it is turned off before the change leaves.
    const [claimed] = claim(h);
    const enabled = monitorRow(h.t.db, claimed!.lease.monitorId)!;
    const off = () => h.t.db.update(schema.monitors).set({ enabled: false }).where(eq(schema.monitors.id, enabled.id)).run();
    const on = () => h.t.db.update(schema.monitors).set({ enabled: true }).where(eq(schema.monitors.id, enabled.id)).run();
    const realGet = h.verifiers.plain.attempt.bind(h.verifiers.plain);
    const verifiers = { ...h.verifiers, plain: { ...h.verifiers.plain, attempt: async (...a: Parameters<typeof realGet>) => { const r = await realGet(...a); off(); return r; } } };
    const connection = connectionRow(h.t.db, enabled.connectionId)!;
    await checkContact({
      db: h.t.db, clock: h.clock, logger: h.t.deps.logger, lease: claimed!.lease, row: claimed!.row, monitor: enabled, connectionName: connection.name,
      client: clientForConnection(h.t.deps, connection), verifiers, signal: new AbortController().signal, settings: { creditsPollMs: 1_000, retryBaseMs: 5, retryMaxMs: 20 },
    });
    expect(h.fake.listStatus(sendId, list)).toBe(1);
    expect(contactRow(h, sendId)?.outcome).toContain("not sent: monitoring was turned off");
    expect(balanceOf(h)).toBe(before - 1); // it was checked: that is what was paid for

    // Found off when it is about to be charged: nothing charged, skipped.
    on();
    const chargeId = h.fake.subscribe({ email: address("noDomain", "race2"), lists: [list] });
    await h.fake.deliverWebhooks();
    const [second] = claim(h);
    off();
    expect(await turnOf(h, second!, enabled)).toBe("skipped");
    expect({ state: contactRow(h, chargeId)?.state, status: h.fake.listStatus(chargeId, list), balance: balanceOf(h) }).toEqual({ state: "skipped", status: 1, balance: before - 1 });

    // Charged, not checked yet (the mail server said later), when the user turns monitoring off: refunded, never sent.
    on();
    const refundId = h.fake.subscribe({ email: address("noDomain", "race3"), lists: [list] });
    await h.fake.deliverWebhooks();
    const [third] = claim(h);
    expect(chargeForCheck(h.t.db, h.clock, third!.lease, { email: third!.row.email, connectionName: "x", retryAt: h.clock.now() })).toBe("charged");
    releaseMonitorContact(h.t.db, third!.lease, { dueAt: h.clock.now() + 60_000 });
    expect(balanceOf(h)).toBe(before - 2);
    await answer(await h.api.connections[":id"].monitor.$put({ param: { id: h.connectionId }, json: settings(list, false) }), 200);
    expect({ state: contactRow(h, refundId)?.state, balance: balanceOf(h) }).toEqual({ state: "skipped", balance: before - 1 });
    h.clock.advance(120_000);
    await createMonitorProcessor(h.t.deps, { verifiers: h.verifiers, pollMs: 10 }).drain();
    expect(h.fake.listStatus(refundId, list)).toBe(1);
    await h.close();
  });

  it("unsubscribes from both lists a contact that joins a second watched list during its check", async () => {
    const h = await harness();
    const statuses: number[] = [];
    h.fake.webhookTransport = async (url, body) => {
      const res = await h.t.app.request(url, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body });
      statuses.push(res.status);
      return res.status;
    };
    const l1 = h.fake.addList("One");
    const l2 = h.fake.addList("Two");
    await answer(await h.api.connections[":id"].monitor.$put({ param: { id: h.connectionId }, json: { enabled: true, scope: { kind: "lists", listIds: [l1, l2] }, actions: UNSUBSCRIBE_BAD } }), 200);
    h.clock.advance(2_000);
    const id = h.fake.subscribe({ email: address("noDomain", "two"), lists: [l1, l2] });
    const [first, second] = h.fake.outbox.splice(0);
    h.fake.outbox.push(first!);
    await h.fake.deliverWebhooks();

    // The processor has claimed the contact (first event) when the second event arrives: answered 200 "queued".
    const [claimed] = claim(h);
    h.fake.outbox.push(second!);
    await h.fake.deliverWebhooks();
    expect(statuses).toEqual([200, 200]);

    // The turn planned from the one list it claimed; it ends with the contact due again, not settled.
    await turnOf(h, claimed!);
    expect(contactRow(h, id)?.state).toBe("pending");
    await createMonitorProcessor(h.t.deps, { verifiers: h.verifiers, pollMs: 10 }).drain();

    const row = contactRow(h, id)!;
    expect(JSON.parse(row.lists)).toEqual([l1, l2]);
    expect({ state: row.state, checks: row.checks }).toEqual({ state: "done", checks: 1 }); // checked (and charged) once
    expect(h.fake.listStatus(id, l1)).toBe(2);
    expect(h.fake.listStatus(id, l2)).toBe(2);
    await h.close();
  });

  it("answers two simultaneous first saves of a connection's monitoring alike: one monitor, one webhook, no 500", async () => {
    const h = await harness();
    const list = h.fake.addList("Newsletter");
    const put = () => h.api.connections[":id"].monitor.$put({ param: { id: h.connectionId }, json: settings(list, true) });
    const answers = await Promise.all([put(), put(), put()]);
    expect(answers.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(h.t.db.select().from(schema.monitors).all()).toHaveLength(1);
    expect(h.fake.webhooks.size).toBe(1);
    expect(h.t.logs.some((l) => /"status":500/.test(l))).toBe(false);
    await h.close();
  });

  it("saves over a monitor another process created between the read and the write (no unique-index 500)", async () => {
    const h = await harness();
    const list = h.fake.addList("Newsletter");
    // Another process's first save lands just as this one's transaction begins.
    const db = h.t.deps.db;
    const real = db.transaction.bind(db);
    let raced = false;
    db.transaction = ((fn: Parameters<typeof real>[0], config?: Parameters<typeof real>[1]) => {
      if (!raced && new Error().stack?.includes("saveMonitor")) {
        raced = true;
        const now = new Date(h.clock.now());
        const workspaceId = h.t.db.select().from(schema.workspaces).get()!.id;
        real((tx) => tx.insert(schema.monitors).values({ id: "mon_0000000000000000000000other", workspaceId, connectionId: h.connectionId, scope: '{"kind":"all"}', actions: JSON.stringify(UNSUBSCRIBE_BAD), createdAt: now, updatedAt: now }).run());
      }
      return real(fn, config);
    }) as typeof db.transaction;
    const res = await h.api.connections[":id"].monitor.$put({ param: { id: h.connectionId }, json: settings(list, true) });
    expect(raced).toBe(true);
    expect(res.status).toBe(200);
    expect(h.t.db.select().from(schema.monitors).all().map((m) => [m.id, m.enabled])).toEqual([["mon_0000000000000000000000other", true]]);
    db.transaction = real;
    await h.close();
  });

  it("holds a monitor whose recent checks are mostly destructive (ANOMALY_PERCENT), until the user saves it again", async () => {
    const h = await harness();
    const list = h.fake.addList("Newsletter");
    await answer(await h.api.connections[":id"].monitor.$put({ param: { id: h.connectionId }, json: settings(list, true) }), 200);
    h.clock.advance(2_000);
    const ids = Array.from({ length: 15 }, (_, i) => h.fake.subscribe({ email: address("noDomain", `brake${i}`), lists: [list] }));
    await h.fake.deliverWebhooks();
    const processor = () => createMonitorProcessor(h.t.deps, { verifiers: h.verifiers, pollMs: 10, concurrency: 1, perMonitor: 1, brake: { percent: 30, window: 50, min: 10 } });
    await processor().drain();
    const unsubscribed = () => ids.filter((id) => h.fake.listStatus(id, list) === 2).length;
    // The 10th check makes 10 of 10 destructive: its unsubscribe is held, and nothing after it is worked on.
    expect(unsubscribed()).toBe(9);
    const view = await answer(await h.api.connections[":id"].monitor.$get({ param: { id: h.connectionId } }), 200);
    expect(view.held?.reason).toMatch(/^Held for review: 10 of the last 10 contacts checked would be unsubscribed or deleted, more than 30%/);
    expect(h.t.db.select().from(schema.monitorContacts).all().filter((c) => c.outcomeCode === "held")).toHaveLength(1);
    h.clock.advance(60_000);
    await processor().drain();
    expect(unsubscribed()).toBe(9);

    // The user looked and saves the settings again: the brake is released, counting starts afresh.
    h.clock.advance(1_000);
    const saved = await answer(await h.api.connections[":id"].monitor.$put({ param: { id: h.connectionId }, json: settings(list, true) }), 200);
    expect(saved.held).toBeNull();
    await processor().drain();
    expect(unsubscribed()).toBe(15);
    await h.close();
  });
});
