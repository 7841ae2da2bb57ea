import { createServer, type Server } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createVerifier, type Verifier, type VerifierOptions } from "../verify/index.ts";
import { startDnsServer, type TestDnsServer } from "./support/dns-server.ts";
import {
  acceptAll,
  blocklisting,
  greylisting,
  slowly,
  startSmtpServers,
  strictMailboxes,
  type FakeMxFleet,
} from "./support/smtp-servers.ts";

const HOST = {
  strict: "127.0.0.2",
  catchAll: "127.0.0.3",
  grey: "127.0.0.4",
  slow: "127.0.0.5",
  refusing: "127.0.0.6",
  full: "127.0.0.7",
  blocking: "127.0.0.8",
  busy: "127.0.0.9",
  legacy: "127.0.0.10",
};

const mx = (exchange: string, priority = 10) => ({ priority, exchange });

let dns: TestDnsServer;
let fleet: FakeMxFleet;
let probing: Verifier;
let options: VerifierOptions;
let legacy: Server;
const legacyLines: string[] = [];

/** An old-style MX written by hand: no EHLO, and multi-line replies to RCPT. */
function startLegacyMx(host: string, port: number): Promise<Server> {
  const answers: Record<string, string> = {
    EHLO: "502 5.5.2 Error: command not recognized",
    HELO: "250 legacy.test",
    MAIL: "250 2.1.0 Ok",
    RCPT: "550-5.1.1 The email account that you tried to reach does not exist.\r\n550-5.1.1 Please try\r\n550 5.1.1 double-checking the recipient's address.",
    RSET: "250 2.0.0 Ok",
    QUIT: "221 2.0.0 Bye",
  };
  const server = createServer((socket) => {
    socket.write("220-legacy.test ESMTP\r\n220 welcome\r\n");
    let buffered = "";
    socket.on("data", (chunk) => {
      buffered += chunk.toString("utf8");
      let end: number;
      while ((end = buffered.indexOf("\r\n")) >= 0) {
        const line = buffered.slice(0, end);
        buffered = buffered.slice(end + 2);
        legacyLines.push(line);
        const verb = line.split(/[ :]/)[0]!.toUpperCase();
        socket.write(`${answers[verb] ?? "500 5.5.1 What?"}\r\n`);
        if (verb === "QUIT") socket.end();
      }
    });
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve(server));
  });
}

beforeAll(async () => {
  fleet = await startSmtpServers([
    {
      host: HOST.strict,
      rcpt: strictMailboxes({
        mailboxes: ["known@strict.test", "info@strict.test", "known@fallback.test", "someone@a-only.test"],
        disabled: ["gone@strict.test"],
      }),
    },
    { host: HOST.catchAll, rcpt: acceptAll() },
    { host: HOST.grey, rcpt: greylisting(strictMailboxes({ mailboxes: ["known@grey.test", "stuck@grey.test"] }), { always: ["stuck@grey.test"] }) },
    { host: HOST.slow, rcpt: slowly(10_000, acceptAll()) },
    { host: HOST.refusing, refuse: true },
    { host: HOST.full, rcpt: strictMailboxes({ mailboxes: [], full: ["busy@full.test"], overQuota: ["hoarder@full.test"] }) },
    { host: HOST.blocking, rcpt: blocklisting() },
    { host: HOST.busy, rcpt: slowly(25, strictMailboxes({ mailboxes: Array.from({ length: 10 }, (_, i) => `user${i}@busy.test`) })) },
  ]);
  dns = await startDnsServer({
    "mx-strict.test": { a: [HOST.strict] },
    "mx-catchall.test": { a: [HOST.catchAll] },
    "mx-grey.test": { a: [HOST.grey] },
    "mx-slow.test": { a: [HOST.slow] },
    "mx-refusing.test": { a: [HOST.refusing] },
    "mx-full.test": { a: [HOST.full] },
    "mx-blocking.test": { a: [HOST.blocking] },
    "mx-busy.test": { a: [HOST.busy] },
    "legacy.test": { a: [HOST.legacy] },
    "strict.test": { mx: [mx("mx-strict.test")] },
    "catchall.test": { mx: [mx("mx-catchall.test")] },
    "grey.test": { mx: [mx("mx-grey.test")] },
    "slow.test": { mx: [mx("mx-slow.test")] },
    "refused.test": { mx: [mx("mx-refusing.test")] },
    "fallback.test": { mx: [mx("mx-strict.test", 20), mx("mx-refusing.test", 10)] },
    "full.test": { mx: [mx("mx-full.test")] },
    "blocked.test": { mx: [mx("mx-blocking.test")] },
    "busy.test": { mx: [mx("mx-busy.test")] },
    "a-only.test": { a: [HOST.strict] },
    "nullmx.test": { mx: "null" },
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
      replyTimeoutMs: 1_500,
      greylistRetryDelaysMs: [5],
      batchTimeBudgetMs: 60_000,
    },
  };
  probing = createVerifier(options);
  legacy = await startLegacyMx(HOST.legacy, fleet.port);
});

afterAll(async () => {
  await new Promise((resolve) => (legacy ? legacy.close(resolve) : resolve(undefined)));
  await fleet?.close();
  await dns?.close();
});

describe("SMTP probing against real SMTP servers on loopback", () => {
  it("accepts a mailbox the strict server knows, asking for the real recipient before the made-up one", async () => {
    const result = await probing.verify("Known@Strict.TEST");
    expect(result).toEqual({
      email: "Known@Strict.TEST",
      normalized: "Known@strict.test",
      status: "deliverable",
      reason: "accepted_email",
      flags: [],
      suggestion: null,
      provider: null,
    });
    const session = fleet.get(HOST.strict).sessions.find((s) => s.lines.some((l) => l.includes("<Known@strict.test>")))!;
    const commands = session.lines.map((l) => l.split(/[ :]/)[0]!.toUpperCase());
    expect(commands).toEqual(["EHLO", "MAIL", "RCPT", "RCPT", "RSET", "QUIT"]);
    expect(session.lines[0]).toBe("EHLO probe.listwarden.test");
    expect(session.lines[1]).toBe("MAIL FROM:<bounces@probe.listwarden.test>");
    expect(session.lines[2]).toBe("RCPT TO:<Known@strict.test>");
    expect(session.lines[3]).toMatch(/^RCPT TO:<lw[0-9a-f]{14}@strict\.test>$/);
  });

  it("reports a mailbox the server rejects with 5.1.1 as mailbox_not_found", async () => {
    expect(await probing.verify("nobody@strict.test")).toMatchObject({ status: "undeliverable", reason: "mailbox_not_found" });
  });

  it("reports 5.2.1 as mailbox_disabled", async () => {
    expect(await probing.verify("gone@strict.test")).toMatchObject({ status: "undeliverable", reason: "mailbox_disabled" });
  });

  it("reports a domain that accepts made-up mailboxes as accept_all, probing it once", async () => {
    const results = await probing.verifyBatch(["a@catchall.test", "b@catchall.test", "c@catchall.test"]);
    for (const result of results) expect(result).toMatchObject({ status: "risky", reason: "accept_all", flags: ["accept_all"] });
    const madeUp = fleet.get(HOST.catchAll).recipients().filter((r) => r.startsWith("lw"));
    expect(madeUp).toHaveLength(1);
  });

  it("keeps role_account over an accepted probe", async () => {
    expect(await probing.verify("info@strict.test")).toMatchObject({ status: "risky", reason: "role_account", flags: ["role"] });
  });

  it("reports 452 4.2.2 and 552 5.2.2 as mailbox_full", async () => {
    const [busy, hoarder] = await probing.verifyBatch(["busy@full.test", "hoarder@full.test"]);
    expect(busy).toMatchObject({ status: "risky", reason: "mailbox_full" });
    expect(hoarder).toMatchObject({ status: "risky", reason: "mailbox_full" });
  });

  it("reports a Spamhaus 5.7.1 refusal as smtp_blocked, not as a bad address", async () => {
    expect(await probing.verify("someone@blocked.test")).toMatchObject({ status: "unknown", reason: "smtp_blocked" });
  });

  it("retries a greylisted address within the budget and then accepts it", async () => {
    expect(await probing.verify("known@grey.test")).toMatchObject({ status: "deliverable", reason: "accepted_email" });
    const rcpts = fleet.get(HOST.grey).recipients().filter((r) => r === "known@grey.test");
    expect(rcpts.length).toBe(2);
  });

  it("reports greylisted once the retries run out", async () => {
    expect(await probing.verify("stuck@grey.test")).toMatchObject({ status: "unknown", reason: "greylisted" });
  });

  it("reports greylisted without retrying when the batch budget is spent", async () => {
    const hurried = createVerifier({ ...options, smtp: { ...options.smtp, greylistRetryDelaysMs: [60_000], batchTimeBudgetMs: 1_000 } });
    expect(await hurried.verify("new@grey.test")).toMatchObject({ status: "unknown", reason: "greylisted" });
  });

  it("reports a server slower than the reply timeout as smtp_timeout", async () => {
    expect(await probing.verify("someone@slow.test")).toMatchObject({ status: "unknown", reason: "smtp_timeout" });
  });

  it("reports an MX that refuses connections as smtp_unavailable", async () => {
    expect(await probing.verify("someone@refused.test")).toMatchObject({ status: "unknown", reason: "smtp_unavailable" });
  });

  it("moves on to the next MX in preference order when the first refuses connections", async () => {
    expect(await probing.verify("known@fallback.test")).toMatchObject({ status: "deliverable", reason: "accepted_email" });
    expect(fleet.get(HOST.strict).recipients()).toContain("known@fallback.test");
  });

  it("probes the domain's own A record when it has no MX (implicit MX)", async () => {
    expect(await probing.verify("someone@a-only.test")).toMatchObject({ status: "deliverable", reason: "accepted_email" });
  });

  it("falls back to HELO and reads multi-line replies", async () => {
    expect(await probing.verify("ghost@legacy.test")).toMatchObject({ status: "undeliverable", reason: "mailbox_not_found" });
    expect(legacyLines.slice(0, 3)).toEqual(["EHLO probe.listwarden.test", "HELO probe.listwarden.test", "MAIL FROM:<bounces@probe.listwarden.test>"]);
  });

  it("does not probe when DNS already says the domain takes no mail", async () => {
    expect(await probing.verify("x@nullmx.test")).toMatchObject({ status: "undeliverable", reason: "null_mx" });
  });

  it("opens at most two sessions at once to one MX host", async () => {
    const addresses = Array.from({ length: 10 }, (_, i) => `user${i}@busy.test`);
    // One recipient per session, so that there are more sessions than may run at once.
    const oneEach = createVerifier({ ...options, smtp: { ...options.smtp, recipientsPerSession: 1 } });
    const results = await oneEach.verifyBatch(addresses);
    expect(results.map((r) => r.reason)).toEqual(Array(10).fill("accepted_email"));
    const busy = fleet.get(HOST.busy);
    expect(busy.sessions).toHaveLength(10);
    expect(busy.maxConcurrentSessions).toBe(2);
    expect(busy.recipients().filter((r) => r.startsWith("lw"))).toHaveLength(1);
  });

  it("skips the probe for disposable domains", async () => {
    dns.setEntry("mailinator.com", { mx: [mx("mx-catchall.test")] });
    const before = fleet.get(HOST.catchAll).sessions.length;
    expect(await probing.verify("temp@mailinator.com")).toMatchObject({ status: "risky", reason: "disposable" });
    expect(fleet.get(HOST.catchAll).sessions.length).toBe(before);
  });

  it("says through preflight whether outbound SMTP works", async () => {
    expect(await probing.preflight(HOST.strict)).toMatchObject({ ok: true, host: HOST.strict, port: fleet.port });
    expect(await probing.preflight("strict.test")).toMatchObject({ ok: true, host: HOST.strict });
    expect(await probing.preflight(HOST.refusing)).toMatchObject({ ok: false, reason: "smtp_unavailable" });
    expect(await probing.preflight("nowhere.test")).toMatchObject({ ok: false, reason: "dns_error" });
  });

  it("never sent DATA to any server", () => {
    const lines = [...fleet.allLines(), ...legacyLines];
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.filter((l) => /^(DATA|BDAT)\b/i.test(l))).toEqual([]);
  });
});
