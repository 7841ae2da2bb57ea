import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createVerifier, type VerifierOptions } from "../verify/index.ts";
import { startDnsServer, type TestDnsServer } from "./support/dns-server.ts";
import { oneRecipientPerSession, startSmtpServers, strictMailboxes, type FakeMxFleet } from "./support/smtp-servers.ts";

const HOST = { many: "127.0.0.2", picky: "127.0.0.3", budget: "127.0.0.4", daily: "127.0.0.5" };
const mx = (exchange: string) => ({ mx: [{ priority: 10, exchange }] });
const users = (domain: string, n: number) => Array.from({ length: n }, (_, i) => `user${i}@${domain}`);
const rcptCounts = (fleet: FakeMxFleet, host: string) => fleet.get(host).sessions.map((s) => s.lines.filter((l) => /^RCPT TO:/i.test(l)).length);

let dns: TestDnsServer;
let fleet: FakeMxFleet;
let options: VerifierOptions;

beforeAll(async () => {
  fleet = await startSmtpServers([
    { host: HOST.many, rcpt: strictMailboxes({ mailboxes: [...users("many.test", 50), ...users("reuse-off.test", 10)] }) },
    { host: HOST.picky, rcpt: oneRecipientPerSession(strictMailboxes({ mailboxes: users("picky.test", 3) })) },
    { host: HOST.budget, rcpt: strictMailboxes({ mailboxes: users("budget.test", 10) }) },
    { host: HOST.daily, rcpt: strictMailboxes({ mailboxes: users("daily.test", 10) }) },
  ]);
  dns = await startDnsServer({
    "mx.many.test": { a: [HOST.many] },
    "many.test": mx("mx.many.test"),
    "reuse-off.test": mx("mx.many.test"),
    "mx.picky.test": { a: [HOST.picky] },
    "picky.test": mx("mx.picky.test"),
    "mx.budget.test": { a: [HOST.budget] },
    "budget.test": mx("mx.budget.test"),
    "mx.daily.test": { a: [HOST.daily] },
    "daily.test": mx("mx.daily.test"),
  });
  options = {
    dnsServers: [dns.address],
    dnsTimeoutMs: 1_000,
    dnsTries: 1,
    smtp: {
      enabled: true,
      helo: "probe.listwarden.test",
      mailFrom: "bounces@probe.listwarden.test",
      port: fleet.port,
      connectTimeoutMs: 2_000,
      replyTimeoutMs: 2_000,
      greylistRetryDelaysMs: [],
      budgetPerMxPerMinute: 0,
      budgetPerPathPerDay: 0,
    },
  };
});

afterAll(async () => {
  await fleet?.close();
  await dns?.close();
});

describe("session reuse", () => {
  it("asks 50 addresses at one MX in at most ⌈50 / 10⌉ sessions, RSET between recipients, the made-up one once", async () => {
    const cap = 10;
    const verifier = createVerifier({ ...options, smtp: { ...options.smtp, recipientsPerSession: cap } });
    const results = await verifier.verifyBatch(users("many.test", 50));
    expect(results.map((r) => r.reason)).toEqual(Array(50).fill("accepted_email"));
    const server = fleet.get(HOST.many);
    expect(server.sessions.length).toBeLessThanOrEqual(Math.ceil(50 / cap));
    expect(server.maxConcurrentSessions).toBeLessThanOrEqual(2);
    const real = server.recipients().filter((r) => !r.startsWith("lw"));
    expect(real.sort()).toEqual(users("many.test", 50).sort());
    expect(server.recipients().filter((r) => r.startsWith("lw"))).toHaveLength(1);
    for (const session of server.sessions) {
      const verbs = session.lines.map((l) => l.split(/[ :]/)[0]!.toUpperCase());
      expect(verbs.filter((v) => v === "RCPT").length - (session.lines.some((l) => /<lw/.test(l)) ? 1 : 0)).toBeLessThanOrEqual(cap);
      // Every transaction is MAIL, RCPT (and the made-up RCPT once), RSET.
      expect(verbs.join(" ")).toMatch(/^EHLO (MAIL RCPT (RCPT )?RSET )+QUIT$/);
    }
  });

  it("opens one session per address with reuse off (1 recipient per session)", async () => {
    const verifier = createVerifier({ ...options, smtp: { ...options.smtp, recipientsPerSession: 1 } });
    const before = fleet.get(HOST.many).sessions.length;
    const results = await verifier.verifyBatch(users("reuse-off.test", 10));
    expect(results.map((r) => r.reason)).toEqual(Array(10).fill("accepted_email"));
    expect(fleet.get(HOST.many).sessions.length - before).toBe(10);
  });

  it("gives a server that objects to a second recipient one per session from then on, asking the refused address again", async () => {
    const verifier = createVerifier({ ...options, smtp: { ...options.smtp, recipientsPerSession: 5 } });
    const addresses = [...users("picky.test", 3), "ghost@picky.test"];
    const results = await verifier.verifyBatch(addresses);
    expect(results.map((r) => r.reason)).toEqual(["accepted_email", "accepted_email", "accepted_email", "mailbox_not_found"]);
    const counts = rcptCounts(fleet, HOST.picky);
    // The first session met the objection (its second RCPT drew 452 4.5.3); every later one asked one recipient.
    expect(counts[0]).toBe(2);
    expect(counts.slice(1).every((n) => n === 1)).toBe(true);
    // Each address got an answer that was not a 452: the made-up recipient was asked in a session of its own.
    expect(fleet.get(HOST.picky).recipients().filter((r) => r.startsWith("lw")).length).toBeGreaterThanOrEqual(1);
  });
});

describe("the probe budget", () => {
  it("parks addresses over the MX server's minute (retry, why budget) and resumes them once the minute has passed", async () => {
    let now = 1_000_000;
    const verifier = createVerifier({ ...options, clock: { now: () => now }, smtp: { ...options.smtp, budgetPerMxPerMinute: 4 } });
    const addresses = users("budget.test", 7);
    const first = await Promise.all(addresses.map((a) => verifier.attempt(a)));
    const done = first.filter((a) => a.kind === "done");
    const parked = first.flatMap((a, i) => (a.kind === "retry" ? [{ address: addresses[i]!, ...a }] : []));
    expect(done).toHaveLength(4);
    expect(parked).toHaveLength(3);
    for (const p of parked) {
      expect(p.why).toBe("budget");
      expect(p.afterMs).toBeGreaterThan(0);
      expect(p.afterMs).toBeLessThanOrEqual(60_000);
    }
    // Parked addresses were not asked at all.
    const asked = fleet.get(HOST.budget).recipients();
    for (const p of parked) expect(asked).not.toContain(p.address);

    now += Math.max(...parked.map((p) => p.afterMs));
    const resumed = await Promise.all(parked.map((p) => verifier.attempt(p.address)));
    expect(resumed.map((a) => (a.kind === "done" ? a.result.reason : a.why))).toEqual(["accepted_email", "accepted_email", "accepted_email"]);
  });

  it("parks addresses once a sending path's daily budget is spent", async () => {
    const verifier = createVerifier({ ...options, smtp: { ...options.smtp, budgetPerPathPerDay: 3 } });
    const results = [];
    for (const address of users("daily.test", 5)) results.push(await verifier.attempt(address));
    expect(results.slice(0, 2).map((r) => r.kind)).toEqual(["done", "done"]);
    // The third address's turn found the day spent (2 addresses and the made-up recipient).
    const later = results.slice(2);
    for (const r of later) expect(r).toMatchObject({ kind: "retry", why: "budget" });
    for (const r of later) if (r.kind === "retry") expect(r.afterMs).toBeGreaterThan(23 * 3_600_000);
  });

  it("waits in-process for the budget in verify() only until the batch deadline, then gives the DNS-level result", async () => {
    const verifier = createVerifier({ ...options, smtp: { ...options.smtp, budgetPerMxPerMinute: 1, batchTimeBudgetMs: 1_000 } });
    const [a, b] = await verifier.verifyBatch(["user8@budget.test", "user9@budget.test"]);
    expect([a!.reason, b!.reason].sort()).toEqual(["accepted_email", "mail_domain_ok"]);
  });
});
