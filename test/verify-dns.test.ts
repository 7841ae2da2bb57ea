import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { applyAcSignals, createVerifier, type Verifier } from "../verify/index.ts";
import { startDnsServer, type TestDnsServer } from "./support/dns-server.ts";

const mx = (exchange: string, priority = 10) => ({ priority, exchange });
const manyDomains = Array.from({ length: 10 }, (_, i) => `bulk${i}.test`);

let dns: TestDnsServer;
let verifier: Verifier;
const options = () => ({ dnsServers: [dns.address], dnsTimeoutMs: 400, dnsTries: 1 });

beforeAll(async () => {
  dns = await startDnsServer({
    "mx.example.test": { a: ["127.0.0.2"] },
    "routed.test": { mx: [mx("mx.example.test")] },
    "a-only.test": { a: ["127.0.0.2"] },
    "v6-only.test": { aaaa: ["::1"] },
    "nullmx.test": { mx: "null" },
    "nomail.test": {},
    "servfail.test": { rcode: "SERVFAIL" },
    "refused.test": { rcode: "REFUSED" },
    "silent.test": { silent: true },
    "gmail.com": { mx: [mx("mx.example.test")] },
    "gmai.com": { mx: [mx("mx.example.test")] },
    "outlok.com": { rcode: "SERVFAIL" },
    "mailo.com": { mx: [mx("mx.example.test")] },
    "acme.com": { mx: [mx("mx.example.test")] },
    "inbox.mailinator.com": { mx: [mx("mx.example.test")] },
    "xn--bcher-kva.test": { mx: [mx("mx.example.test")] },
    // Dangling MX: MX hosts that do not exist (NXDOMAIN) or have no address.
    "dangling.test": { mx: [mx("gone1.dangling.test"), mx("gone2.dangling.test", 20)] },
    "mx-noaddress.test": {},
    "noaddress-mx.test": { mx: [mx("mx-noaddress.test")] },
    "backup-works.test": { mx: [mx("gone.backup-works.test"), mx("mx.example.test", 20)] },
    "mx-servfail.test": { rcode: "SERVFAIL" },
    "mx-broken.test": { mx: [mx("gone.mx-broken.test"), mx("mx-servfail.test", 20)] },
    ...Object.fromEntries(manyDomains.map((d) => [d, { mx: [mx("mx.example.test")] }])),
  });
  verifier = createVerifier(options());
});

afterAll(async () => {
  await dns?.close();
});

describe("DNS checks against a DNS server on loopback", () => {
  it.each([
    ["someone@routed.test", "deliverable", "mail_domain_ok"],
    ["someone@a-only.test", "deliverable", "mail_domain_ok"],
    ["someone@v6-only.test", "deliverable", "mail_domain_ok"],
    ["someone@nullmx.test", "undeliverable", "null_mx"],
    ["someone@unknown-domain.test", "undeliverable", "domain_not_found"],
    ["someone@nomail.test", "undeliverable", "no_mail_server"],
    ["someone@servfail.test", "unknown", "dns_error"],
    ["someone@refused.test", "unknown", "dns_error"],
    ["someone@silent.test", "unknown", "dns_error"],
    ["someone@dangling.test", "undeliverable", "no_mail_server"],
    ["someone@noaddress-mx.test", "undeliverable", "no_mail_server"],
    ["someone@backup-works.test", "deliverable", "mail_domain_ok"],
    ["someone@mx-broken.test", "unknown", "dns_error"],
    ["not an address", "undeliverable", "invalid_syntax"],
  ])("%s is %s (%s)", async (address, status, reason) => {
    expect(await verifier.verify(address)).toMatchObject({ email: address, status, reason });
  });

  it("looks up MX hosts in preference order and stops at the first with an address", () => {
    expect(dns.countQueries({ name: "gone1.dangling.test", type: "A" })).toBe(1);
    expect(dns.countQueries({ name: "gone2.dangling.test", type: "A" })).toBe(1);
    expect(dns.countQueries({ name: "mx.example.test", type: "A" })).toBe(1);
  });

  it("falls back to A, then AAAA, only when there is no MX", () => {
    expect(dns.countQueries({ name: "routed.test", type: "A" })).toBe(0);
    expect(dns.countQueries({ name: "a-only.test", type: "A" })).toBe(1);
    expect(dns.countQueries({ name: "a-only.test", type: "AAAA" })).toBe(0);
    expect(dns.countQueries({ name: "v6-only.test", type: "AAAA" })).toBe(1);
  });

  it("asks DNS once per domain for a batch of 1,000 addresses on 10 domains", async () => {
    const addresses = Array.from({ length: 1_000 }, (_, i) => `person${i}@${manyDomains[i % 10]}`);
    const seen: number[] = [];
    const results = await verifier.verifyBatch(addresses, { onResult: (_r, index) => seen.push(index) });
    expect(results).toHaveLength(1_000);
    expect(results.every((r) => r.reason === "mail_domain_ok")).toBe(true);
    expect(results[7]!.email).toBe("person7@bulk7.test");
    expect(seen.sort((a, b) => a - b)).toEqual(addresses.map((_, i) => i));
    for (const domain of manyDomains) expect(dns.countQueries({ name: domain })).toBe(1);
  });

  it("asks again once the cache entry has expired", async () => {
    let now = 1_000_000;
    const clocked = createVerifier({ ...options(), cacheTtlMs: 60_000, clock: { now: () => now } });
    dns.setEntry("ttl.test", { mx: [mx("mx.example.test")] });
    await clocked.verify("a@ttl.test");
    now += 59_000;
    await clocked.verify("b@ttl.test");
    expect(dns.countQueries({ name: "ttl.test" })).toBe(1);
    now += 2_000;
    await clocked.verify("c@ttl.test");
    expect(dns.countQueries({ name: "ttl.test" })).toBe(2);
  });

  it("keeps a failed lookup only for the short error TTL", async () => {
    let now = 0;
    const clocked = createVerifier({ ...options(), dnsErrorTtlMs: 1_000, clock: { now: () => now } });
    dns.setEntry("flaky.test", { rcode: "SERVFAIL" });
    expect(await clocked.verify("a@flaky.test")).toMatchObject({ reason: "dns_error" });
    dns.setEntry("flaky.test", { mx: [mx("mx.example.test")] });
    expect(await clocked.verify("a@flaky.test")).toMatchObject({ reason: "dns_error" });
    now += 1_001;
    expect(await clocked.verify("a@flaky.test")).toMatchObject({ reason: "mail_domain_ok" });
  });

  it("normalises IDN domains to ASCII and keeps the local part's case", async () => {
    expect(await verifier.verify("  Jörg@Bücher.TEST ")).toMatchObject({
      email: "  Jörg@Bücher.TEST ",
      normalized: "Jörg@xn--bcher-kva.test",
      status: "deliverable",
      reason: "mail_domain_ok",
    });
  });
});

describe("lists and typos on top of DNS", () => {
  it("flags free providers", async () => {
    expect(await verifier.verify("someone@gmail.com")).toMatchObject({ status: "deliverable", reason: "mail_domain_ok", flags: ["free"] });
  });

  it("reports role accounts as risky", async () => {
    expect(await verifier.verify("Sales+eu@routed.test")).toMatchObject({ status: "risky", reason: "role_account", flags: ["role"] });
  });

  it("reports subdomains of disposable providers as disposable", async () => {
    const result = await verifier.verify("temp@inbox.mailinator.com");
    expect(result).toMatchObject({ status: "risky", reason: "disposable" });
    expect(result.flags).toContain("disposable");
  });

  it("suggests the provider for a dead near-miss domain but keeps it domain_not_found", async () => {
    expect(await verifier.verify("jane@gmial.com")).toMatchObject({ status: "undeliverable", reason: "domain_not_found", suggestion: "jane@gmail.com" });
  });

  it("reports possible_typo for a working near-miss of a major provider", async () => {
    expect(await verifier.verify("jane@gmai.com")).toMatchObject({ status: "risky", reason: "possible_typo", suggestion: "jane@gmail.com" });
  });

  it("prefers possible_typo over dns_error for a near-miss whose DNS fails", async () => {
    expect(await verifier.verify("jane@outlok.com")).toMatchObject({ status: "risky", reason: "possible_typo", suggestion: "jane@outlook.com" });
  });

  it("does not call working domains that merely resemble a provider typos", async () => {
    for (const address of ["jane@mailo.com", "jane@acme.com"]) {
      expect(await verifier.verify(address)).toMatchObject({ status: "deliverable", reason: "mail_domain_ok", suggestion: null });
    }
  });

  it("turns a result undeliverable when ActiveCampaign recorded a hard bounce", async () => {
    const fine = await verifier.verify("someone@routed.test");
    expect(applyAcSignals(fine, { bouncedHard: true })).toMatchObject({ status: "undeliverable", reason: "hard_bounced" });
    expect(applyAcSignals(fine, { bouncedHard: false })).toBe(fine);
    const dead = await verifier.verify("someone@nullmx.test");
    expect(applyAcSignals(dead, { bouncedHard: true })).toMatchObject({ reason: "null_mx" });
  });

  it("rejects a batch whose signal is aborted", async () => {
    const controller = new AbortController();
    controller.abort(new Error("run cancelled"));
    await expect(verifier.verifyBatch(["a@routed.test"], { signal: controller.signal })).rejects.toThrow("run cancelled");
  });
});

describe("peek: the result at once when it needs nothing from the network (issue 13)", () => {
  it("answers a malformed address without a lookup", () => {
    const fresh = createVerifier(options());
    const before = dns.queries.length;
    expect(fresh.peek("not an address")).toMatchObject({ status: "undeliverable", reason: "invalid_syntax" });
    expect(dns.queries.length).toBe(before);
  });

  it("is null until the domain's mail route is cached, then gives what attempt gave, without asking again", async () => {
    const fresh = createVerifier(options());
    for (const address of ["someone@routed.test", "Sales@a-only.test", "someone@nullmx.test", "temp@inbox.mailinator.com", "jane@gmai.com"]) {
      expect(fresh.peek(address), address).toBeNull();
      const attempted = await fresh.attempt(address);
      const queries = dns.queries.length;
      expect(attempted.kind).toBe("done");
      expect(fresh.peek(address), address).toEqual(attempted.kind === "done" ? attempted.result : null);
      expect(dns.queries.length, `${address}: peek asked the resolver`).toBe(queries);
    }
  });

  it("is null on a cached DNS error: the address is asked again when the error expires, not made unknown at once", async () => {
    const fresh = createVerifier(options());
    const attempted = await fresh.attempt("someone@servfail.test");
    expect(attempted).toMatchObject({ kind: "done", result: { status: "unknown", reason: "dns_error" } });
    expect(fresh.peek("someone@servfail.test")).toBeNull();
    expect(fresh.peek("other@servfail.test")).toBeNull();
  });

  it("leaves to attempt an address a probing verifier would probe, not one it never probes", async () => {
    // Nothing listens on port 1: the probe fails at once, after the route is cached.
    const probing = createVerifier({ ...options(), smtp: { enabled: true, helo: "probe.listwarden.test", mailFrom: "bounces@probe.listwarden.test", port: 1, connectTimeoutMs: 500 } });
    const addresses = ["someone@routed.test", "temp@inbox.mailinator.com", "someone@nullmx.test"];
    await Promise.all(addresses.map((a) => probing.attempt(a)));
    expect(dns.countQueries({ name: "routed.test", type: "MX" })).toBeGreaterThan(0);
    // Its route is cached, but its result rests on a probe: only attempt gives it.
    expect(probing.peek("someone@routed.test")).toBeNull();
    // Disposable domains are never probed; a null MX has no server to probe.
    expect(probing.peek("temp@inbox.mailinator.com")).toMatchObject({ status: "risky", reason: "disposable" });
    expect(probing.peek("someone@nullmx.test")).toMatchObject({ status: "undeliverable", reason: "null_mx" });
  });
});
