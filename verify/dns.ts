import { Resolver } from "node:dns/promises";
import { isIP } from "node:net";
import PQueue from "p-queue";
import { TtlCache } from "./cache.ts";
import { VerifierConfigError, type ResolvedVerifierOptions } from "./options.ts";

/** Where mail for a domain goes, per RFC 5321 §5.1 and RFC 7505. */
export type MailRoute =
  | { kind: "mx"; hosts: string[] }
  /** No MX but an A/AAAA record: the domain itself is the mail host. */
  | { kind: "implicit_mx"; hosts: string[] }
  | { kind: "null_mx" }
  | { kind: "not_found" }
  | { kind: "no_mail_server" }
  /** MX records whose every host name has no address (NXDOMAIN or no A/AAAA): nowhere to deliver. */
  | { kind: "dangling_mx"; names: string[] }
  /** SERVFAIL, REFUSED, timeout...: we could not learn anything. */
  | { kind: "error"; code: string };

export type HostAddresses = { kind: "ok"; addresses: string[] } | { kind: "not_found" } | { kind: "error"; code: string };

export interface DnsLookup {
  mailRoute(domain: string): Promise<MailRoute>;
  /** The mail route while it is cached, without asking: undefined when it would take a lookup. */
  cachedMailRoute(domain: string): MailRoute | undefined;
  hostAddresses(host: string): Promise<HostAddresses>;
  /** Whether a domain has at least one usable MX record, asked afresh (never cached): the resolver's health check. */
  resolves(domain: string): Promise<{ ok: true } | { ok: false; detail: string }>;
}

type Answer<T> = { kind: "ok"; records: T[] } | { kind: "nxdomain" } | { kind: "nodata" } | { kind: "error"; code: string };

type DnsOptions = Pick<ResolvedVerifierOptions, "dnsServers" | "dnsTimeoutMs" | "dnsTries" | "dnsConcurrency" | "cacheTtlMs" | "dnsErrorTtlMs" | "now" | "log">;

/** MX/A/AAAA lookups with one query per name while cached, bounded concurrency and timeouts. */
export function createDnsLookup(options: DnsOptions): DnsLookup {
  const resolver = new Resolver({ timeout: options.dnsTimeoutMs, tries: options.dnsTries });
  if (options.dnsServers.length > 0) {
    try {
      resolver.setServers(options.dnsServers);
    } catch (err) {
      throw new VerifierConfigError(`dnsServers: ${(err as Error).message} (use "host" or "host:port")`);
    }
  }
  const queue = new PQueue({ concurrency: options.dnsConcurrency });
  const routes = new TtlCache<MailRoute>(options.now);
  const hosts = new TtlCache<HostAddresses>(options.now);
  const ttl = (value: { kind: string }) => (value.kind === "error" ? options.dnsErrorTtlMs : options.cacheTtlMs);

  async function query<T>(name: string, type: string, run: () => Promise<T[]>): Promise<Answer<T>> {
    try {
      const records = await queue.add(run);
      return records.length > 0 ? { kind: "ok", records } : { kind: "nodata" };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? "EUNKNOWN";
      if (code === "ENOTFOUND") return { kind: "nxdomain" };
      if (code === "ENODATA") return { kind: "nodata" };
      options.log("debug", "dns query failed", { name, type, code });
      return { kind: "error", code };
    }
  }

  async function addressesOf(host: string): Promise<Answer<string>> {
    const a = await query(host, "A", () => resolver.resolve4(host));
    if (a.kind !== "nodata") return a;
    return query(host, "AAAA", () => resolver.resolve6(host));
  }

  async function lookUpRoute(domain: string): Promise<MailRoute> {
    const mx = await query(domain, "MX", () => resolver.resolveMx(domain));
    switch (mx.kind) {
      case "nxdomain":
        return { kind: "not_found" };
      case "error":
        return { kind: "error", code: mx.code };
      case "ok": {
        const usable = mx.records.filter((r) => r.exchange !== "" && r.exchange !== ".");
        if (usable.length === 0) return { kind: "null_mx" };
        const ordered = [...new Set(usable.sort((x, y) => x.priority - y.priority).map((r) => r.exchange.toLowerCase().replace(/\.$/, "")))];
        return routeIfAnyHostResolves(ordered);
      }
      case "nodata": {
        const fallback = await addressesOf(domain);
        if (fallback.kind === "ok") {
          hosts.set(domain, { kind: "ok", addresses: fallback.records }, options.cacheTtlMs);
          return { kind: "implicit_mx", hosts: [domain] };
        }
        if (fallback.kind === "error") return { kind: "error", code: fallback.code };
        return fallback.kind === "nxdomain" ? { kind: "not_found" } : { kind: "no_mail_server" };
      }
    }
  }

  /**
   * An MX record only routes mail if its host has an address. Hosts are looked up in
   * preference order until one has one (usually the first, and cached for the probe): when
   * none has, the MX is dangling and the domain cannot receive mail; when a lookup failed,
   * we cannot tell, so it is a DNS error, never undeliverable.
   */
  async function routeIfAnyHostResolves(ordered: string[]): Promise<MailRoute> {
    let failed: string | null = null;
    for (const host of ordered) {
      if (isIP(host)) return { kind: "mx", hosts: ordered };
      const found = await hostAddressesCached(host);
      if (found.kind === "ok") return { kind: "mx", hosts: ordered };
      if (found.kind === "error") failed ??= found.code;
    }
    return failed === null ? { kind: "dangling_mx", names: ordered } : { kind: "error", code: failed };
  }

  const hostAddressesCached = (host: string) => hosts.load(host, () => lookUpHost(host), ttl);

  async function lookUpHost(host: string): Promise<HostAddresses> {
    const answer = await addressesOf(host);
    if (answer.kind === "ok") return { kind: "ok", addresses: answer.records };
    return answer.kind === "error" ? answer : { kind: "not_found" };
  }

  return {
    mailRoute: (domain) => routes.load(domain, () => lookUpRoute(domain), ttl),
    cachedMailRoute: (domain) => routes.get(domain),
    hostAddresses: hostAddressesCached,
    async resolves(domain) {
      const mx = await query(domain, "MX", () => resolver.resolveMx(domain));
      // A resolver that sees a well-known mail domain answers with its MX hosts: NODATA (or only a
      // null MX) is what a captive or filtering resolver may say, and proves nothing.
      if (mx.kind === "ok" && mx.records.some((r) => r.exchange !== "" && r.exchange !== ".")) return { ok: true };
      if (mx.kind === "ok" || mx.kind === "nodata") return { ok: false, detail: "no MX records" };
      return { ok: false, detail: mx.kind === "nxdomain" ? "does not exist" : mx.code };
    },
  };
}
