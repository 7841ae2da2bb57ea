import { createSocket } from "node:dgram";
import { setupServer } from "msw/node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { balanceOf } from "../core/services/credits.ts";
import { createRunHarness } from "./support/runs.ts";
import { address } from "./support/world.ts";

const server = setupServer();
beforeAll(() => server.listen({ onUnhandledRequest: "error" }));
afterEach(() => server.resetHandlers());
afterAll(() => server.close());

const ACTIVE = 1;

/** A loopback UDP port nothing listens on: bound, noted, closed. */
async function deadPort(): Promise<number> {
  const socket = createSocket("udp4");
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

describe("resolver health check before a run relies on DNS (issue 14)", () => {
  it("pauses the run with the resolver's reason when the resolver is unreachable: nothing fetched, checked, charged or planned", async () => {
    const port = await deadPort();
    const h = await createRunHarness(server, {
      config: { DNS_SERVERS: [`127.0.0.1:${port}`], DNS_TIMEOUT_MS: 200, DNS_HEALTH_DOMAINS: ["gmail.com", "outlook.com", "yahoo.com"], DNS_HEALTH_RETRY_MS: 60_000 },
    });
    const list = h.fake.addList("Newsletter");
    for (let i = 0; i < 4; i++) h.fake.addContact({ email: address("deliverable", `p${i}`), lists: { [list]: ACTIVE } });
    const run = await h.startRun({ scope: { kind: "lists", listIds: [list] }, actions: { undeliverable: "unsubscribe" } });
    await h.worker().drain();

    const paused = await h.getRun(run.id);
    expect(paused.status).toBe("paused_dns");
    expect(paused.statusReason).toMatch(/^Paused: this server cannot look up domain names right now \(gmail\.com: .+, outlook\.com: .+, yahoo\.com: .+\)/);
    expect(paused.statusReason).toMatch(/nothing is checked or charged until lookups work/);
    expect(paused.progress).toMatchObject({ fetched: 0, verified: 0, planned: 0 });
    expect(paused.plan).toBeNull();
    expect(paused.credits).toEqual({ charged: 0, refunded: 0, net: 0 });
    expect(balanceOf(h.t.db, h.user.workspaceId)).toBe(10_000);
    expect(Number((h.t.db.$client.prepare("SELECT count(*) AS n FROM run_actions WHERE run_id = ?").get(run.id) as { n: number }).n)).toBe(0);
    expect(h.fake.requests.filter((r) => r.method !== "GET")).toHaveLength(0);

    // Not claimed again before the retry time; checked again (and still paused) after it.
    await h.worker().drain();
    expect((await h.getRun(run.id)).status).toBe("paused_dns");
    h.clock.advance(60_001);
    await h.worker().drain();
    expect((await h.getRun(run.id)).status).toBe("paused_dns");
    await h.close();
  });

  it("pauses when the resolver answers but knows none of the well-known domains, and goes on once the check passes", async () => {
    // The test DNS server serves only the mail world: gmail.com and the rest "do not exist".
    const h = await createRunHarness(server, { config: { DNS_HEALTH_DOMAINS: ["gmail.com", "outlook.com", "yahoo.com"], DNS_HEALTH_RETRY_MS: 60_000 } });
    const list = h.fake.addList("Newsletter");
    for (let i = 0; i < 3; i++) h.fake.addContact({ email: address("deliverable", `q${i}`), lists: { [list]: ACTIVE } });
    h.fake.addContact({ email: address("noDomain", "gone"), lists: { [list]: ACTIVE } });
    const run = await h.startRun({ scope: { kind: "lists", listIds: [list] }, actions: { undeliverable: "unsubscribe" } });
    await h.worker().drain();
    const paused = await h.getRun(run.id);
    expect(paused.status).toBe("paused_dns");
    expect(paused.statusReason).toContain("gmail.com: does not exist");
    expect(paused.counts.byReason).toEqual({});

    // The resolver learns the world: the run resumes, checks and plans as usual.
    h.dns.setEntry("gmail.com", { mx: [{ priority: 10, exchange: "mx.ok.example.com" }] });
    h.dns.setEntry("outlook.com", { mx: [{ priority: 10, exchange: "mx.ok.example.com" }] });
    h.clock.advance(60_001);
    await h.worker().drain();
    const review = await h.getRun(run.id);
    expect(review.status).toBe("awaiting_review");
    expect(review.statusReason).not.toMatch(/cannot look up/);
    expect(review.counts.byReason).toEqual({ mail_domain_ok: 3, domain_not_found: 1 });
    expect(review.plan).toMatchObject({ unsubscribe: { contacts: 1, requests: 1 } });
    await h.close();
  });

  it("fails a health domain that answers with no MX record (NODATA, or only a null MX): the check needs real mail domains", async () => {
    const h = await createRunHarness(server, { config: { DNS_HEALTH_DOMAINS: ["ok.example.com", "aonly.example.net", "nullmx.example.org"] } });
    const health = await h.verifiers.resolver!.check();
    expect(health.ok).toBe(false);
    expect(health.domains).toEqual([
      { domain: "ok.example.com", ok: true, detail: "resolves" },
      { domain: "aonly.example.net", ok: false, detail: "no MX records" },
      { domain: "nullmx.example.org", ok: false, detail: "no MX records" },
    ]);
    await h.close();
  });
});
