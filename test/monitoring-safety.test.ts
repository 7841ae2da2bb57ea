import { setupServer } from "msw/node";
import { eq } from "drizzle-orm";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { schema } from "../db/index.ts";
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
});
