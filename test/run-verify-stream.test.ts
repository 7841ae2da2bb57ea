import { setupServer } from "msw/node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createRunVerifiers } from "../core/verification.ts";
import { startDnsServer, type TestDnsServer, type Zone } from "./support/dns-server.ts";
import { createRunHarness } from "./support/runs.ts";
import { acceptAll, greylisting, slowly, startSmtpServers, strictMailboxes, type FakeMxFleet, type RcptContext, type RcptPolicy } from "./support/smtp-servers.ts";

const server = setupServer();
const ACTIVE = 1;
/** The greylisting retry delay: longer than it takes to try every address once. */
const DELAY_MS = 5_000;
const CONTACTS = 120;
const WINDOW = 10;
const DOMAINS = 20;

const STRICT = ["127.0.0.2", "127.0.0.3", "127.0.0.5", "127.0.0.6"];
const GREY = ["127.0.0.4", "127.0.0.7", "127.0.0.9", "127.0.0.10"];
const SLOW = "127.0.0.8";
const SLUGGISH = "127.0.0.11";

const emailOf = (i: number) => `user${i}@d${i % DOMAINS}.stream.test`;
/** Every 4th domain's mail server greylists (a first attempt gets 450 4.7.1). */
const greylisted = (domain: number) => domain % 4 === 0;

let dns: TestDnsServer;
let fleet: FakeMxFleet;
const asked: string[] = [];

beforeAll(async () => {
  server.listen({ onUnhandledRequest: "error" });
  const zone: Zone = {
    "slow.stream.test": { mx: [{ priority: 10, exchange: "mx.slow.stream.test" }] },
    "mx.slow.stream.test": { a: [SLOW] },
    "sluggish.stream.test": { mx: [{ priority: 10, exchange: "mx.sluggish.stream.test" }] },
    "mx.sluggish.stream.test": { a: [SLUGGISH] },
  };
  for (let d = 0; d < DOMAINS; d++) {
    zone[`d${d}.stream.test`] = { mx: [{ priority: 10, exchange: `mx.d${d}.stream.test` }] };
    zone[`mx.d${d}.stream.test`] = { a: [greylisted(d) ? GREY[(d / 4) % GREY.length]! : STRICT[d % STRICT.length]!] };
  }
  dns = await startDnsServer(zone);
  const known = strictMailboxes({ mailboxes: Array.from({ length: CONTACTS }, (_, i) => emailOf(i)) });
  /** Records every RCPT for a contact's address, in the order the servers saw them. */
  const recorded = (policy: RcptPolicy) => (r: RcptContext) => {
    if (r.recipient.startsWith("user")) asked.push(r.recipient.toLowerCase());
    return policy(r);
  };
  // Greylists the contacts' addresses (not the made-up catch-all probe): once per address and server.
  const grey = greylisting(known);
  fleet = await startSmtpServers([
    ...STRICT.map((host) => ({ host, rcpt: recorded(known) })),
    ...GREY.map((host) => ({ host, rcpt: recorded((r) => (r.recipient.startsWith("user") ? grey(r) : known(r))) })),
    { host: SLUGGISH, rcpt: slowly(1_000, acceptAll()) },
    // A tarpit: the RCPT answer never comes within the test.
    { host: SLOW, rcpt: slowly(120_000, acceptAll()) },
  ]);
});
afterEach(() => server.resetHandlers());
afterAll(async () => {
  server.close();
  await fleet.close();
  await dns.close();
});

function smtpHarness(replyTimeoutMs: number) {
  return createRunHarness(server, {
    realTime: true,
    config: {
      DNS_SERVERS: [dns.address],
      SMTP_PROBE: true,
      SMTP_PORT: fleet.port,
      SMTP_HELO: "probe.listwarden.test",
      SMTP_MAIL_FROM: "bounces@probe.listwarden.test",
      SMTP_GREYLIST_DELAYS_MS: [DELAY_MS],
      SMTP_CONNECT_TIMEOUT_MS: 2_000,
      SMTP_REPLY_TIMEOUT_MS: replyTimeoutMs,
    },
  });
}

async function until(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe("verification as a stream", () => {
  it(`a run of ${CONTACTS / WINDOW} windows of addresses, a quarter of them greylisted, tries every address once before any greylisted one comes back`, async () => {
    const h = await smtpHarness(5_000);
    const list = h.fake.addList("Subscribers");
    h.fake.addContacts(CONTACTS, (i) => ({ email: emailOf(i), lists: { [list]: ACTIVE } }));
    const run = await h.startRun({ scope: { kind: "all" }, smtpProbe: true });
    await h.worker({ verifiers: createRunVerifiers(h.t.deps.config), verifyWindow: WINDOW, holdMs: 60_000 }).drain();

    const done = await h.getRun(run.id);
    expect(done.status).toBe("completed");
    expect(done.notes).toEqual([]);
    expect(done.counts.byReason).toEqual({ accepted_email: CONTACTS });
    // Every greylisted address was asked twice (refused, then accepted after the delay); the others once.
    const times = new Map<string, number>();
    for (const r of asked) times.set(r, (times.get(r) ?? 0) + 1);
    for (let i = 0; i < CONTACTS; i++) expect({ i, n: times.get(emailOf(i)) }).toEqual({ i, n: greylisted(i % DOMAINS) ? 2 : 1 });
    // One delay for the whole run: every address had its first try before the first greylisted one
    // was asked again. Waiting per window would retry the first window before trying the second.
    const firstRetry = asked.findIndex((r, i) => asked.indexOf(r) !== i);
    const lastFirstTry = Math.max(...[...times.keys()].map((r) => asked.indexOf(r)));
    expect(lastFirstTry).toBeLessThan(firstRetry);
    await h.close();
  });

  it("cancelling one of two runs probing the same addresses stops only that run", async () => {
    const h = await smtpHarness(5_000);
    const list = h.fake.addList("Shared");
    h.fake.addContacts(6, (i) => ({ email: `slowpoke${i}@sluggish.stream.test`, lists: { [list]: ACTIVE } }));
    // One verifier for both runs, as in a server process.
    const worker = h.worker({ verifiers: createRunVerifiers(h.t.deps.config), concurrency: 2, heartbeatMs: 20, holdMs: 60_000 });
    const a = await h.startRun({ scope: { kind: "all" }, smtpProbe: true });
    const b = await h.startRun({ scope: { kind: "all" }, smtpProbe: true });
    const drained = worker.drain();
    await until(() => fleet.get(SLUGGISH).openSessions >= 2, "probes from both runs at the slow server");
    expect((await h.t.request("POST", `/api/runs/${a.id}/cancel`, { as: h.user })).status).toBe(200);
    await drained;
    expect((await h.getRun(a.id)).status).toBe("cancelled");
    const other = await h.getRun(b.id);
    expect(other.status).toBe("completed");
    expect(other.counts.byStatus.risky).toBe(6);
    await h.close();
  });

  it("a run that loses its lease mid-verification (cancelled) stops its SMTP probes at once, without waiting for their answers", async () => {
    const h = await smtpHarness(60_000);
    const list = h.fake.addList("Slow");
    h.fake.addContacts(20, (i) => ({ email: `slow${i}@slow.stream.test`, lists: { [list]: ACTIVE } }));
    const verifiers = createRunVerifiers(h.t.deps.config);
    const run = await h.startRun({ scope: { kind: "all" }, smtpProbe: true });
    const tarpit = fleet.get(SLOW);
    const drained = h.worker({ verifiers, heartbeatMs: 20, holdMs: 60_000 }).drain();
    await until(() => tarpit.recipients().some((r) => r.startsWith("slow")) && tarpit.openSessions > 0, "a probe waiting on the tarpit");

    expect((await h.t.request("POST", `/api/runs/${run.id}/cancel`, { as: h.user })).status).toBe(200);
    // The probes' own timeout is a minute away; the attempt must end long before it.
    await Promise.race([drained, new Promise((_, reject) => setTimeout(() => reject(new Error("the attempt still ran 5 s after the cancel")), 5_000))]);
    await until(() => tarpit.openSessions === 0, "the tarpit's sessions to close", 2_000);
    expect((await h.getRun(run.id)).status).toBe("cancelled");
    await h.close();
  });
});
