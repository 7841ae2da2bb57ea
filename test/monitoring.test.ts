import { setupServer } from "msw/node";
import { and, eq } from "drizzle-orm";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { schema } from "../db/index.ts";
import { sha256 } from "../core/lib/crypto.ts";
import { createMonitorProcessor } from "../worker/monitor/processor.ts";
import { createSweeper, type SweepEvent } from "../worker/monitor/sweep.ts";
import { answer, apiClient } from "./support/api.ts";
import { createRunHarness, type RunHarness } from "./support/runs.ts";
import { address } from "./support/world.ts";

/**
 * Monitoring end to end (issue 18): the sandbox AC registers the webhook, delivers its events as
 * AC posts them (form-encoded, at least once, in any order) into the app, and the processor
 * checks, charges and acts; the sweep finds what no webhook announced.
 */

const server = setupServer();
beforeAll(() => server.listen({ onUnhandledRequest: "error" }));
afterEach(() => server.resetHandlers());
afterAll(() => server.close());

const PUBLIC_URL = "https://lw.example.com";

async function harness(o: { rps?: number } = {}): Promise<RunHarness & { api: ReturnType<typeof apiClient>; processor: ReturnType<typeof createMonitorProcessor>; balance(): number }> {
  const h = await createRunHarness(server, {
    realTime: true,
    config: { PUBLIC_URL },
    ...(o.rps ? { acRequestsPerSecond: o.rps, fakeRequestsPerSecond: o.rps } : {}),
    fakeAc: { holdWebhooks: true },
    // The sandbox account lives on the harness's clock, so its cdate/udate and the monitor's times agree.
    fakeOnHarnessClock: true,
  });
  h.fake.webhookTransport = async (url, body) => (await h.t.app.request(url, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body })).status;
  const api = apiClient(h.t, h.user);
  const processor = createMonitorProcessor(h.t.deps, { verifiers: h.verifiers, pollMs: 10, leaseMs: 60_000, retryBaseMs: 5, retryMaxMs: 20 });
  const balance = () => h.t.db.select().from(schema.workspaces).where(eq(schema.workspaces.id, h.user.workspaceId)).get()!.balance;
  return { ...h, api, processor, balance };
}

function monitorContact(h: RunHarness, contactId: string) {
  return h.t.db.select().from(schema.monitorContacts).where(eq(schema.monitorContacts.contactId, contactId)).get();
}

const defaults = { deliverable: "keep", risky: "keep", undeliverable: "unsubscribe", unknown: "keep" } as const;

describe("monitoring end to end", () => {
  it("registers the webhook, and checks, charges and acts on each new subscriber exactly once, duplicates and reorderings included", async () => {
    const h = await harness();
    const newsletter = h.fake.addList("Newsletter");
    const other = h.fake.addList("Other");

    const on = await answer(
      await h.api.connections[":id"].monitor.$put({ param: { id: h.connectionId }, json: { enabled: true, scope: { kind: "lists", listIds: [newsletter] }, actions: defaults } }),
      200,
    );
    expect(on.enabled).toBe(true);
    expect(on.webhook.state).toBe("registered");
    const [hook] = [...h.fake.webhooks.values()];
    expect(h.fake.webhooks.size).toBe(1);
    expect(hook!.events.sort()).toEqual(["subscribe", "update"]);
    const m = hook!.url.match(/^https:\/\/lw\.example\.com\/api\/hooks\/activecampaign\/(mon_[0-9a-z]{26})\/([A-Za-z0-9_-]{43})$/);
    expect(m).not.toBeNull();
    const secret = m![2]!;
    // Only the secret's hash is stored, and no log line carries it.
    const row = h.t.db.select().from(schema.monitors).get()!;
    expect(row.secretHash).toBe(sha256(secret));
    expect(JSON.stringify(row)).not.toContain(secret);
    expect(h.t.logs.join("")).not.toContain(secret);

    h.clock.advance(2_000);
    const bad = h.fake.subscribe({ email: address("nullMx", "typo"), lists: [newsletter] });
    const good = h.fake.subscribe({ email: address("deliverable", "ann"), lists: [newsletter] });
    const elsewhere = h.fake.subscribe({ email: address("noMail", "elsewhere"), lists: [other] });
    expect(h.fake.outbox).toHaveLength(3); // the webhook is for every list: the event for "Other" too
    const before = h.balance();

    // Delivered twice each, the second round in reverse order.
    const batch = await h.fake.deliverWebhooks({ times: 1 });
    h.fake.outbox.push(...batch.map((d) => ({ ...d, statuses: [] })).reverse());
    await h.fake.deliverWebhooks();
    expect(h.fake.delivered.flatMap((d) => d.statuses).every((s) => s === 200)).toBe(true);
    expect(h.t.db.select().from(schema.monitorContacts).all()).toHaveLength(2);

    await h.processor.drain();
    expect(h.fake.listStatus(bad, newsletter)).toBe(2);
    expect(h.fake.listStatus(good, newsletter)).toBe(1);
    expect(h.fake.listStatus(elsewhere, other)).toBe(1);
    expect(h.verifications.get(address("nullMx", "typo"))).toBe(1);
    expect(h.verifications.get(address("deliverable", "ann"))).toBe(1);
    expect(h.verifications.has(address("noMail", "elsewhere"))).toBe(false);
    expect(before - h.balance()).toBe(2);
    expect(monitorContact(h, bad)).toMatchObject({ state: "done", status: "undeliverable", reason: "null_mx", outcomeCode: "unsubscribed" });
    expect(monitorContact(h, good)).toMatchObject({ state: "done", status: "deliverable", outcomeCode: "kept" });

    // AC delivers the same events again after all this: nothing more is charged or sent.
    const sends = () => h.fake.requests.filter((r) => r.method === "POST" && r.path === "/api/3/contactLists").length;
    expect(sends()).toBe(1);
    h.fake.outbox.push(...batch.map((d) => ({ ...d, statuses: [] })));
    await h.fake.deliverWebhooks();
    await h.processor.drain();
    expect(sends()).toBe(1);
    expect(before - h.balance()).toBe(2);
    expect(h.verifications.get(address("nullMx", "typo"))).toBe(1);

    // A contact deleted before its event is processed: nothing charged, nothing sent, "gone".
    const ghost = h.fake.subscribe({ email: address("nullMx", "ghost"), lists: [newsletter] });
    h.fake.removeContact(ghost);
    await h.fake.deliverWebhooks({ times: 2 });
    await h.processor.drain();
    expect(monitorContact(h, ghost)).toMatchObject({ state: "gone", outcomeCode: "gone", checks: 0 });
    expect(before - h.balance()).toBe(2);
    expect(sends()).toBe(1);

    // The panel shows it.
    const view = await answer(await h.api.connections[":id"].monitor.$get({ param: { id: h.connectionId } }), 200);
    expect(view.today).toMatchObject({ checked: 2, unsubscribed: 1 });
    expect(view.recent.find((r) => r.contactId === bad)).toMatchObject({ status: "undeliverable", outcomeCode: "unsubscribed", unsubscribedFrom: [newsletter] });
    expect(view.webhook.lastDeliveryAt).not.toBeNull();

    // Off: the webhook leaves AC and its URL is dead.
    await answer(await h.api.connections[":id"].monitor.$put({ param: { id: h.connectionId }, json: { enabled: false, scope: { kind: "lists", listIds: [newsletter] }, actions: defaults } }), 200);
    expect(h.fake.webhooks.size).toBe(0);
    const late = await h.t.app.request(hook!.url, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: batch[0]!.body });
    expect(late.status).toBe(410);
    await h.close();
  });

  it("re-checks a contact whose address changes (update event), charging the new address once", async () => {
    const h = await harness();
    const list = h.fake.addList("Newsletter");
    await answer(await h.api.connections[":id"].monitor.$put({ param: { id: h.connectionId }, json: { enabled: true, scope: { kind: "all" }, actions: defaults } }), 200);
    h.clock.advance(2_000);
    const id = h.fake.subscribe({ email: address("deliverable", "bo"), lists: [list] });
    await h.fake.deliverWebhooks();
    await h.processor.drain();
    const before = h.balance();
    h.fake.changeEmail(id, address("noDomain", "bo"));
    await h.fake.deliverWebhooks({ times: 2 });
    await h.processor.drain();
    expect(before - h.balance()).toBe(1);
    expect(monitorContact(h, id)).toMatchObject({ state: "done", checks: 2, status: "undeliverable", reason: "domain_not_found" });
    expect(h.fake.listStatus(id, list)).toBe(2);
    await h.close();
  });

  it("finds every contact added while the product was down, after a restart, and processes none twice", async () => {
    const h = await harness();
    const list = h.fake.addList("Newsletter");
    await answer(await h.api.connections[":id"].monitor.$put({ param: { id: h.connectionId }, json: { enabled: true, scope: { kind: "lists", listIds: [list] }, actions: defaults } }), 200);
    const sweeper = createSweeper(h.t.deps, { overlapMs: 60_000 });
    await sweeper.tick({ force: true });
    h.clock.advance(2_000);

    // Down: deliveries fail (AC never retries them), and an import fires no webhook at all.
    h.fake.webhookTransport = async () => 0;
    const announced = Array.from({ length: 5 }, (_, i) => h.fake.subscribe({ email: address(i % 2 ? "nullMx" : "deliverable", `down${i}`), lists: [list] }));
    await h.fake.deliverWebhooks();
    const imported = h.fake.addContacts(7, (i) => ({ email: address(i % 2 ? "noMail" : "deliverable", `imp${i}`), lists: { [list]: 1 } }));
    h.fake.addContact({ email: address("nullMx", "not-watched"), lists: {} });
    expect(h.t.db.select().from(schema.monitorContacts).all()).toHaveLength(0);
    const before = h.balance();

    // Up again (a minute later, well within the sweep interval): the restarted process sweeps at once and finds them all.
    h.clock.advance(60_000);
    const seen: SweepEvent[] = [];
    const restarted = createSweeper(h.t.deps, { overlapMs: 60_000, onEvent: (e) => seen.push(e) });
    restarted.start();
    await vi.waitFor(() => expect(seen.find((e) => e.type === "swept")).toBeDefined(), { timeout: 5_000 });
    await restarted.stop();
    expect(seen.find((e) => e.type === "swept")).toMatchObject({ queued: 12, unannounced: 12 });
    await h.processor.drain();
    for (const id of [...announced, ...imported]) expect(monitorContact(h, id)?.state).toBe("done");
    expect(before - h.balance()).toBe(12);
    const bad = [...announced, ...imported].filter((id) => /nullmx|nomail/.test(h.fake.contacts.get(id)!.email));
    for (const id of bad) expect(h.fake.listStatus(id, list)).toBe(2);

    // The next sweeps (overlapping the last) and late deliveries change nothing.
    h.clock.advance(16 * 60_000);
    expect((await sweeper.tick()).find((e) => e.type === "swept")).toMatchObject({ queued: 0 });
    h.fake.webhookTransport = async (url, body) => (await h.t.app.request(url, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body })).status;
    h.fake.outbox.push(...h.fake.delivered.map((d) => ({ ...d, statuses: [] })));
    await h.fake.deliverWebhooks();
    await h.processor.drain();
    expect(before - h.balance()).toBe(12);
    for (const n of h.verifications.values()) expect(n).toBe(1);
    const unsubscribes = h.fake.requests.filter((r) => r.method === "POST" && r.path === "/api/3/contactLists").length;
    expect(unsubscribes).toBe(bad.length);
    const monitor = h.t.db.select().from(schema.monitors).get()!;
    expect(monitor.sweepFound).toBe(12);
    await sweeper.stop();
    await h.close();
  });

  it("waits for credits, tells the workspace once, and goes on when credits arrive", async () => {
    const h = await harness();
    const list = h.fake.addList("Newsletter");
    await answer(await h.api.connections[":id"].monitor.$put({ param: { id: h.connectionId }, json: { enabled: true, scope: { kind: "all" }, actions: defaults } }), 200);
    h.t.db.update(schema.workspaces).set({ balance: 1 }).where(eq(schema.workspaces.id, h.user.workspaceId)).run();
    h.clock.advance(2_000);
    const ids = [1, 2, 3].map((i) => h.fake.subscribe({ email: address("deliverable", `c${i}`), lists: [list] }));
    await h.fake.deliverWebhooks();
    await h.processor.drain();
    const states = ids.map((id) => monitorContact(h, id)!.state);
    expect(states.filter((s) => s === "done")).toHaveLength(1);
    expect(states.filter((s) => s === "waiting_credits")).toHaveLength(2);
    const notices = h.t.db.select().from(schema.notifications).where(eq(schema.notifications.event, "monitor_waiting_credits")).all();
    expect(notices).toHaveLength(1);
    h.t.db.update(schema.workspaces).set({ balance: 5 }).where(eq(schema.workspaces.id, h.user.workspaceId)).run();
    await h.processor.drain();
    expect(ids.map((id) => monitorContact(h, id)!.state)).toEqual(["done", "done", "done"]);
    expect(h.balance()).toBe(3);
    // The history shows the day's new contacts as one line, not one per contact.
    const history = await answer(await h.api.credits.history.$get({ query: {} }), 200);
    const monitorLines = history.lines.filter((l) => l.kind === "monitor");
    expect(monitorLines).toHaveLength(1);
    expect(monitorLines[0]).toMatchObject({ charged: 3, refunded: 0, amount: -3 });
    expect(monitorLines[0]!.reason).toMatch(/^Monitoring .*: new contacts checked on 2026-11-02 \(UTC\)$/);
    await h.close();
  });

  it("refuses to turn on without PUBLIC_URL, and deletes only with confirmDelete", async () => {
    const h = await createRunHarness(server, {});
    const api = apiClient(h.t, h.user);
    const res = await api.connections[":id"].monitor.$put({ param: { id: h.connectionId }, json: { enabled: true, scope: { kind: "all" }, actions: defaults } });
    expect(res.status).toBe(409);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/PUBLIC_URL/);
    const view = await answer(await api.connections[":id"].monitor.$get({ param: { id: h.connectionId } }), 200);
    expect(view.webhook.available).toBe(false);
    expect(view.webhook.problem).toMatch(/PUBLIC_URL/);
    expect(h.fake.webhooks.size).toBe(0);
    await h.close();

    const h2 = await harness();
    const del = await h2.api.connections[":id"].monitor.$put({ param: { id: h2.connectionId }, json: { enabled: true, scope: { kind: "all" }, actions: { ...defaults, undeliverable: "delete" } } });
    expect(del.status).toBe(400);
    expect(((await del.json()) as { error: { field: string } }).error.field).toBe("confirmDelete");
    expect(h2.fake.webhooks.size).toBe(0);
    await h2.close();
  });

  it("removes the webhook from AC when the connection is deleted", async () => {
    const h = await harness();
    await answer(await h.api.connections[":id"].monitor.$put({ param: { id: h.connectionId }, json: { enabled: true, scope: { kind: "all" }, actions: defaults } }), 200);
    expect(h.fake.webhooks.size).toBe(1);
    const [hook] = [...h.fake.webhooks.values()];
    expect((await h.api.connections[":id"].$delete({ param: { id: h.connectionId } })).status).toBe(204);
    expect(h.fake.webhooks.size).toBe(0);
    expect(h.t.db.select().from(schema.monitors).all()).toHaveLength(0);
    const res = await h.t.app.request(hook!.url, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: "type=subscribe" });
    expect(res.status).toBe(410);
    expect(h.t.db.select().from(schema.monitorEvents).where(and()).all()).toHaveLength(0);
    await h.close();
  });

  it("notices a webhook AC no longer has, tells the workspace once, and registers it again on demand", async () => {
    const h = await harness();
    await answer(await h.api.connections[":id"].monitor.$put({ param: { id: h.connectionId }, json: { enabled: true, scope: { kind: "all" }, actions: defaults } }), 200);
    const sweeper = createSweeper(h.t.deps);
    h.fake.webhooks.clear(); // deleted in AC, or deactivated after a 410
    expect((await sweeper.tick({ force: true })).map((e) => e.type)).toContain("webhook_lost");
    await sweeper.tick({ force: true });
    const view = await answer(await h.api.connections[":id"].monitor.$get({ param: { id: h.connectionId } }), 200);
    expect(view.webhook.state).toBe("missing");
    expect(h.t.db.select().from(schema.notifications).where(eq(schema.notifications.event, "monitor_webhook_lost")).all()).toHaveLength(1);
    const again = await answer(await h.api.connections[":id"].monitor.webhook.$post({ param: { id: h.connectionId } }), 200);
    expect(again.webhook.state).toBe("registered");
    expect(h.fake.webhooks.size).toBe(1);
    await h.close();
  });

  it("records yesterday's digest once, with what was checked and done", async () => {
    const h = await harness();
    const list = h.fake.addList("Newsletter");
    await answer(await h.api.connections[":id"].monitor.$put({ param: { id: h.connectionId }, json: { enabled: true, digest: true, scope: { kind: "all" }, actions: defaults } }), 200);
    h.clock.advance(2_000);
    h.fake.subscribe({ email: address("nullMx", "d1"), lists: [list] });
    h.fake.subscribe({ email: address("deliverable", "d2"), lists: [list] });
    await h.fake.deliverWebhooks();
    await h.processor.drain();
    const sweeper = createSweeper(h.t.deps);
    await sweeper.tick({ force: true });
    const digests = () => h.t.db.select().from(schema.notifications).where(eq(schema.notifications.event, "monitor_digest")).all();
    expect(digests()).toHaveLength(0); // the day is not over
    h.clock.advance(24 * 3_600_000);
    await sweeper.tick();
    await sweeper.tick({ force: true });
    expect(digests()).toHaveLength(1);
    const data = JSON.parse(digests()[0]!.data) as { day: string; counts: Record<string, number>; lines: string[] };
    expect(data.day).toBe("2026-11-02");
    expect(data.counts).toMatchObject({ checked: 2, unsubscribed: 1, undeliverable: 1, deliverable: 1 });
    expect(data.lines.join("\n")).toContain(address("nullMx", "d1"));
    await h.close();
  });
});
