import { setupServer } from "msw/node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createRunVerifiers } from "../core/verification.ts";
import { startDnsServer, type TestDnsServer, type Zone } from "./support/dns-server.ts";
import { createRunHarness } from "./support/runs.ts";
import { acceptAll, greylisting, slowly, startSmtpServers, strictMailboxes, type FakeMxFleet, type RcptContext } from "./support/smtp-servers.ts";

const server = setupServer();
const ACTIVE = 1;
/** The greylisting retry delay of these tests: long enough that paying it once per batch would show. */
const DELAY_MS = 3_000;
const CONTACTS = 240;
const WINDOW = 20;
const DOMAINS = 20;

const STRICT = ["127.0.0.2", "127.0.0.3", "127.0.0.5", "127.0.0.6"];
const GREY = ["127.0.0.4", "127.0.0.7", "127.0.0.9", "127.0.0.10"];
const SLOW = "127.0.0.8";

const emailOf = (i: number) => `user${i}@d${i % DOMAINS}.stream.test`;
/** Every 4th domain's mail server greylists (a first attempt gets 450 4.7.1). */
const greylisted = (domain: number) => domain % 4 === 0;

let dns: TestDnsServer;
let fleet: FakeMxFleet;

beforeAll(async () => {
  server.listen({ onUnhandledRequest: "error" });
  const zone: Zone = { "slow.stream.test": { mx: [{ priority: 10, exchange: "mx.slow.stream.test" }] }, "mx.slow.stream.test": { a: [SLOW] } };
  for (let d = 0; d < DOMAINS; d++) {
    zone[`d${d}.stream.test`] = { mx: [{ priority: 10, exchange: `mx.d${d}.stream.test` }] };
    zone[`mx.d${d}.stream.test`] = { a: [greylisted(d) ? GREY[(d / 4) % GREY.length]! : STRICT[d % STRICT.length]!] };
  }
  dns = await startDnsServer(zone);
  const mailboxes = strictMailboxes({ mailboxes: Array.from({ length: CONTACTS }, (_, i) => emailOf(i)) });
  // Greylists the contacts' addresses (not the made-up catch-all probe): once per address and server.
  const grey = greylisting(mailboxes);
  fleet = await startSmtpServers([
    ...STRICT.map((host) => ({ host, rcpt: mailboxes })),
    ...GREY.map((host) => ({ host, rcpt: (r: RcptContext) => (r.recipient.startsWith("user") ? grey(r) : mailboxes(r)) })),
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
  it(`a run of ${CONTACTS / WINDOW} windows of addresses, a quarter of them greylisted, pays one greylisting delay, not one per window`, async () => {
    const h = await smtpHarness(5_000);
    const list = h.fake.addList("Subscribers");
    h.fake.addContacts(CONTACTS, (i) => ({ email: emailOf(i), lists: { [list]: ACTIVE } }));
    /** Runs the whole list with fresh verifiers (no cached answers) and returns its wall time. */
    const timedRun = async () => {
      const run = await h.startRun({ scope: { kind: "all" }, smtpProbe: true });
      const started = Date.now();
      await h.worker({ verifiers: createRunVerifiers(h.t.deps.config), verifyWindow: WINDOW, holdMs: 60_000 }).drain();
      const elapsed = Date.now() - started;
      const done = await h.getRun(run.id);
      expect(done.status).toBe("completed");
      expect(done.notes).toEqual([]);
      expect(done.counts.byReason).toEqual({ accepted_email: CONTACTS });
      return elapsed;
    };
    const greylistedRun = await timedRun();
    // Every greylisted address was asked twice (refused, then accepted after the delay); the others once.
    const asked = new Map<string, number>();
    for (const host of [...STRICT, ...GREY]) for (const r of fleet.get(host).recipients()) asked.set(r, (asked.get(r) ?? 0) + 1);
    for (let i = 0; i < CONTACTS; i++) expect({ i, n: asked.get(emailOf(i)) }).toEqual({ i, n: greylisted(i % DOMAINS) ? 2 : 1 });

    // The same list again: the servers now know every address, so nothing is greylisted.
    const plainRun = await timedRun();
    expect(greylistedRun).toBeGreaterThanOrEqual(DELAY_MS);
    // One delay on top of the plain run's time (with a delay's slack), where paying it once per
    // window would add windows × delay.
    expect(greylistedRun).toBeLessThan(plainRun + 2 * DELAY_MS);
    expect((CONTACTS / WINDOW) * DELAY_MS).toBeGreaterThan(5 * (2 * DELAY_MS));
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
