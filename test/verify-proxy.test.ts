import { createServer } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createVerifier, type SocksProxy, type VerifierOptions } from "../verify/index.ts";
import { startDnsServer, type TestDnsServer } from "./support/dns-server.ts";
import { startSmtpServers, strictMailboxes, type FakeMxFleet } from "./support/smtp-servers.ts";
import { startSocksServer, type TestSocksServer } from "./support/socks-server.ts";

const HOST = { a: "127.0.0.2", b: "127.0.0.3" };
const mx = (exchange: string) => ({ mx: [{ priority: 10, exchange }] });
const users = (domain: string, n: number) => Array.from({ length: n }, (_, i) => `user${i}@${domain}`);

let dns: TestDnsServer;
let fleet: FakeMxFleet;
let live: TestSocksServer;
let guarded: TestSocksServer;
/** Wants other credentials than ours. */
let strange: TestSocksServer;
/** A port nothing listens on: a proxy that is down. */
let deadPort: number;
let options: VerifierOptions;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return typeof address === "object" && address ? address.port : 0;
}

beforeAll(async () => {
  fleet = await startSmtpServers([
    { host: HOST.a, rcpt: strictMailboxes({ mailboxes: [...users("a.test", 12), ...users("creds.test", 2)] }) },
    { host: HOST.b, rcpt: strictMailboxes({ mailboxes: users("b.test", 12) }) },
  ]);
  dns = await startDnsServer({
    "mx.a.test": { a: [HOST.a] },
    "a.test": mx("mx.a.test"),
    "creds.test": mx("mx.a.test"),
    "mx.b.test": { a: [HOST.b] },
    "b.test": mx("mx.b.test"),
    "nullmx.test": { mx: "null" },
    "dangling.test": mx("gone.dangling.test"),
    "servfail.test": { rcode: "SERVFAIL" },
  });
  live = await startSocksServer();
  guarded = await startSocksServer({ username: "probe", password: "s3cret" });
  strange = await startSocksServer({ username: "someone", password: "else" });
  deadPort = await freePort();
  options = {
    dnsServers: [dns.address],
    dnsTimeoutMs: 500,
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
  await live?.close();
  await guarded?.close();
  await strange?.close();
  await fleet?.close();
  await dns?.close();
});

const via = (...proxies: SocksProxy[]): VerifierOptions => ({ ...options, smtp: { ...options.smtp, proxies } });

describe("SMTP probes through SOCKS5 proxies", () => {
  it("sends every probe session through the proxy, failing over from a dead one, and nothing else", async () => {
    const verifier = createVerifier(via({ host: "127.0.0.1", port: deadPort }, { host: live.host, port: live.port }));
    const sessionsBefore = fleet.get(HOST.a).sessions.length;
    const dnsBefore = dns.queries.length;
    const results = await verifier.verifyBatch([...users("a.test", 3), "ghost@a.test"]);
    expect(results.map((r) => r.reason)).toEqual(["accepted_email", "accepted_email", "accepted_email", "mailbox_not_found"]);
    // Every session the MX saw came through the live proxy, to the MX's address and SMTP port only.
    const sessions = fleet.get(HOST.a).sessions.length - sessionsBefore;
    expect(sessions).toBeGreaterThan(0);
    expect(live.connects).toHaveLength(sessions);
    expect(new Set(live.connects)).toEqual(new Set([`${HOST.a}:${fleet.port}`]));
    // DNS went to the verifier's resolver directly, never through a proxy.
    expect(dns.queries.length).toBeGreaterThan(dnsBefore);
    expect(live.connects.some((c) => c.endsWith(`:${dns.port}`))).toBe(false);
  });

  it("leaves DNS-level results unchanged and sends nothing through the proxy for them", async () => {
    const direct = createVerifier({ ...options, smtp: { ...options.smtp, enabled: false } });
    const proxied = createVerifier(via({ host: live.host, port: live.port }));
    const addresses = ["x@nullmx.test", "x@dangling.test", "x@servfail.test", "x@nowhere.test", "not an address"];
    const before = live.connects.length;
    const viaProxy = await proxied.verifyBatch(addresses);
    expect(viaProxy).toEqual(await direct.verifyBatch(addresses));
    expect(viaProxy.map((r) => r.reason)).toEqual(["null_mx", "no_mail_server", "dns_error", "domain_not_found", "invalid_syntax"]);
    expect(live.connects.length).toBe(before);
  });

  it("logs in to a proxy that wants credentials, and fails over from one that refuses ours", async () => {
    const wrong = { host: strange.host, port: strange.port, username: "probe", password: "s3cret" };
    const right = { host: guarded.host, port: guarded.port, username: "probe", password: "s3cret" };
    const verifier = createVerifier(via(wrong, right));
    expect((await verifier.verifyBatch(users("creds.test", 2))).map((r) => r.reason)).toEqual(["accepted_email", "accepted_email"]);
    expect(guarded.connects.length).toBeGreaterThan(0);
    expect(strange.connects).toEqual([]);
  });

  it("keeps each proxy to its concurrency", async () => {
    const verifier = createVerifier({ ...via({ host: live.host, port: live.port }), smtp: { ...via({ host: live.host, port: live.port }).smtp, perProxyConcurrency: 1, recipientsPerSession: 1 } });
    const results = await verifier.verifyBatch([...users("a.test", 6).slice(3), ...users("b.test", 6)]);
    expect(results.every((r) => r.reason === "accepted_email")).toBe(true);
    expect(live.maxOpen).toBeGreaterThanOrEqual(1);
    // Sessions to two MX servers, up to 2 each, but one at a time through this proxy.
    expect(live.maxOpen).toBe(1);
  });

  it("says in the preflight which path works", async () => {
    const verifier = createVerifier(via({ host: "127.0.0.1", port: deadPort }, { host: live.host, port: live.port }));
    const check = await verifier.preflight("a.test");
    expect(check).toMatchObject({ ok: true, host: HOST.a });
    expect(check.paths).toEqual([
      { path: `socks5://127.0.0.1:${deadPort}`, ok: false, detail: expect.stringContaining("ECONNREFUSED") },
      { path: `socks5://${live.host}:${live.port}`, ok: true, detail: expect.stringContaining("220") },
    ]);
    const none = await createVerifier(via({ host: "127.0.0.1", port: deadPort })).preflight("a.test");
    expect(none).toMatchObject({ ok: false, reason: "smtp_unavailable", paths: [{ ok: false }] });
  });

  it("rests a proxy that failed, then brings it back after a SOCKS5 health check", async () => {
    let now = 5_000_000;
    const port = await freePort();
    const verifier = createVerifier({ ...via({ host: "127.0.0.1", port }), clock: { now: () => now }, smtp: { ...via({ host: "127.0.0.1", port }).smtp, proxyRecheckMs: 30_000 } });
    expect(await verifier.verify("user7@b.test")).toMatchObject({ reason: "smtp_unavailable" });
    const revived = await startSocksServer({ port });
    try {
      // Still resting: not even tried.
      expect(await verifier.verify("user8@b.test")).toMatchObject({ reason: "smtp_unavailable" });
      expect(revived.connects).toEqual([]);
      now += 30_000;
      expect(await verifier.verify("user9@b.test")).toMatchObject({ reason: "accepted_email" });
      expect(revived.handshakesOnly).toBe(1);
      expect(revived.connects).toEqual([`${HOST.b}:${fleet.port}`]);
    } finally {
      await revived.close();
    }
  });

  it("reports unknown (smtp_unavailable), not a bad address, when every proxy is down", async () => {
    const verifier = createVerifier(via({ host: "127.0.0.1", port: deadPort }));
    expect(await verifier.verify("user1@b.test")).toMatchObject({ status: "unknown", reason: "smtp_unavailable" });
  });
});
