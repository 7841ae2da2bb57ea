import { promises as dns, type LookupAddress } from "node:dns";
import { isIP, type LookupFunction } from "node:net";
import { Agent, buildConnector, type Dispatcher } from "undici";
import { AcError, UNREACHABLE_MESSAGE, invalidUrl, privateAddressError } from "./errors.ts";

export interface UrlOptions {
  /** Development only: allows http, ports, IP literals and hosts on private networks. */
  allowPrivateHosts: boolean;
}

/**
 * The canonical base of an AC account, e.g. `https://acct.api-us1.com`: the origin only,
 * host lowercased and otherwise kept as typed (AC's URL must be read, never rebuilt).
 * Throws AcError("invalid_url") with a message the user can act on.
 */
export function normalizeApiUrl(input: string, opts: UrlOptions): string {
  const raw = input.trim();
  // Stryker disable next-line ConditionalExpression,StringLiteral: without it "" becomes "https://", which URL refuses with this same error
  if (raw === "") throw invalidUrl();
  if (/[\s\\\u0000-\u001f\u007f]/.test(raw)) throw invalidUrl("it contains spaces or other characters a URL cannot have");
  const hasScheme = /^[a-z][a-z0-9+.-]*:/i.test(raw) && !/^[^/:]+:\d+(?:[/?#]|$)/.test(raw);
  const full = hasScheme ? raw : `https://${raw}`;

  let url: URL;
  try {
    url = new URL(full);
  } catch {
    throw invalidUrl();
  }
  const isHttp = url.protocol === "http:";
  if (url.protocol !== "https:" && !(isHttp && opts.allowPrivateHosts)) throw invalidUrl("it must start with https://");

  // "https://acct.api-us1.com@evil.example" is a login for evil.example, not acct's API.
  // Checked on the text as typed, not on URL's fields: URL sets a user name or password only
  // for an "@" in the authority and a search or hash only for a ? or #, and it drops an empty
  // one ("https://@acct…", "…/api/3?").
  // Stryker disable next-line Regex,StringLiteral: `full` always starts with its scheme, split always yields a first part, and only an "@" in it is read
  const authority = full.replace(/^[a-z][a-z0-9+.-]*:[/]*/i, "").split(/[/?#]/, 1)[0] ?? "";
  if (authority.includes("@")) throw invalidUrl("it must not contain a user name, password or @");
  if (/[?#]/.test(full)) throw invalidUrl("it must not have a ? or # part");
  const path = url.pathname.replace(/\/+$/, "");
  if (path !== "" && path.toLowerCase() !== "/api/3") throw invalidUrl("it should end at the host name or at /api/3");
  if (url.port !== "" && !opts.allowPrivateHosts) throw invalidUrl("it must not name a port");

  let host = url.hostname;
  if (host.endsWith(".")) host = host.slice(0, -1);
  if (host === "" || host.endsWith(".") || host.includes("..")) throw invalidUrl();
  if (!opts.allowPrivateHosts) {
    const bare = unbracket(host);
    if (isIP(bare)) {
      if (!isPublicAddress(bare)) throw privateAddressError(host);
      throw invalidUrl("use the account's host name, not an IP address");
    }
    if (isLocalHostName(host)) throw privateAddressError(host);
    if (!host.includes(".")) throw invalidUrl(`"${host}" is not a full host name`);
  }
  return `${url.protocol}//${host}${url.port ? `:${url.port}` : ""}`;
}

const LOCAL_NAMES = new Set([
  "localhost",
  // Stryker disable next-line StringLiteral: it also ends in ".internal", a local suffix below
  "metadata.google.internal",
  "metadata.goog",
]);
const LOCAL_SUFFIXES = [".localhost", ".local", ".localdomain", ".internal", ".home.arpa", ".arpa", ".lan", ".intranet"];

/** Names that resolve to this machine, the LAN or a cloud metadata service by convention. */
function isLocalHostName(host: string): boolean {
  return LOCAL_NAMES.has(host) || LOCAL_SUFFIXES.some((s) => host.endsWith(s));
}

const unbracket = (host: string) => (host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host);

// ---------------------------------------------------------------------------------------
// Which addresses are public

type Range = readonly [base: bigint, bits: number];

const v4 = (cidr: string): Range => {
  const [ip, bits] = cidr.split("/") as [string, string]; // each block below names its prefix length
  return [ipv4ToBigInt(ip), Number(bits)];
};
const v6 = (cidr: string): Range => {
  const [ip, bits] = cidr.split("/") as [string, string];
  return [ipv6ToBigInt(ip), Number(bits)];
};

/** IPv4 blocks that are not globally reachable (IANA special-purpose registry). */
const V4_NON_PUBLIC: Range[] = [
  "0.0.0.0/8", // "this network", incl. the unspecified 0.0.0.0
  "10.0.0.0/8",
  "100.64.0.0/10", // carrier-grade NAT
  "127.0.0.0/8",
  "169.254.0.0/16", // link-local, incl. cloud metadata 169.254.169.254
  "172.16.0.0/12",
  "192.0.0.0/24",
  "192.0.2.0/24",
  "192.88.99.0/24",
  "192.168.0.0/16",
  "198.18.0.0/15",
  "198.51.100.0/24",
  "203.0.113.0/24",
  "224.0.0.0/4", // multicast
  "240.0.0.0/4", // reserved, incl. broadcast
].map(v4);

/** IPv6 blocks inside global unicast (2000::/3) that are still not public. */
const V6_NON_PUBLIC: Range[] = ["2001::/23", "2001:db8::/32", "3fff::/20"].map(v6);
const V6_GLOBAL_UNICAST = v6("2000::/3");
const V6_V4_MAPPED = v6("::ffff:0:0/96");
const V6_NAT64 = v6("64:ff9b::/96");
const V6_6TO4 = v6("2002::/16");

const inRange = (value: bigint, width: number, [base, bits]: Range) =>
  value >> BigInt(width - bits) === base >> BigInt(width - bits);

function ipv4ToBigInt(ip: string): bigint {
  return ip.split(".").reduce((acc, part) => (acc << 8n) | BigInt(Number(part)), 0n);
}

function ipv6ToBigInt(ip: string): bigint {
  const groups = (part: string): number[] =>
    part === ""
      ? []
      : part.split(":").flatMap((g) => {
          if (!g.includes(".")) return [Number.parseInt(g, 16)];
          const n = Number(ipv4ToBigInt(g));
          return [n >>> 16, n & 0xffff];
        });
  const [head, tail] = ip.split("::") as [string, string?];
  const h = groups(head);
  // Stryker disable next-line ArrayDeclaration: without "::" `t` is never read
  const t = tail === undefined ? [] : groups(tail);
  // Stryker disable next-line ConditionalExpression: without "::" an address has all 8 groups, so the padding would add none
  const all = tail === undefined ? h : [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
  return all.reduce((acc, g) => (acc << 16n) | BigInt(g), 0n);
}

/**
 * True for an address on the public internet. False for loopback, private, link-local,
 * metadata, unspecified, CGNAT, multicast, documentation and reserved ranges, in IPv4 and
 * IPv6 (IPv4-mapped, NAT64 and 6to4 addresses are judged by the IPv4 address inside),
 * and for anything that is not an IP address.
 */
export function isPublicAddress(ip: string): boolean {
  const bare = unbracket(ip.trim());
  const family = isIP(bare);
  if (family === 4) {
    const n = ipv4ToBigInt(bare);
    return !V4_NON_PUBLIC.some((r) => inRange(n, 32, r));
  }
  if (family !== 6 || bare.includes("%")) return false; // zone ids only exist on link-local
  const n = ipv6ToBigInt(bare);
  const embedded = (shift: bigint) => isPublicAddress(bigIntToIpv4((n >> shift) & 0xffffffffn));
  if (inRange(n, 128, V6_V4_MAPPED) || inRange(n, 128, V6_NAT64)) return embedded(0n);
  if (inRange(n, 128, V6_6TO4)) return embedded(80n);
  if (!inRange(n, 128, V6_GLOBAL_UNICAST)) return false; // ::, ::1, fc00::/7, fe80::/10, ff00::/8, ...
  return !V6_NON_PUBLIC.some((r) => inRange(n, 128, r));
}

const bigIntToIpv4 = (n: bigint) => [24n, 16n, 8n, 0n].map((s) => String((n >> s) & 0xffn)).join(".");

// ---------------------------------------------------------------------------------------
// DNS checks

export type LookupAll = (hostname: string) => Promise<LookupAddress[]>;

export const systemLookup: LookupAll = (hostname) => dns.lookup(hostname, { all: true, verbatim: true });

const NO_SUCH_HOST: ReadonlySet<unknown> = new Set(["ENOTFOUND", "EAI_NONAME", "ENODATA", "EAI_NODATA"]);

/**
 * Resolves `hostname` and rejects unless EVERY address it resolves to is public, so a
 * public-looking name pointing at 10.0.0.5 is refused. Returns the addresses.
 * This is the early, friendly check; the connection-time guard below is the enforcement.
 */
export async function assertPublicHost(
  hostname: string,
  opts: UrlOptions & { lookup?: LookupAll },
): Promise<string[]> {
  if (opts.allowPrivateHosts) return [];
  const host = unbracket(hostname).replace(/\.$/, "").toLowerCase();
  if (isIP(host)) {
    if (!isPublicAddress(host)) throw privateAddressError(hostname);
    return [host];
  }
  if (!host.includes(".") || isLocalHostName(host)) throw privateAddressError(hostname);
  let addresses: LookupAddress[];
  try {
    addresses = await (opts.lookup ?? systemLookup)(host);
  } catch (err) {
    throw lookupError(err);
  }
  if (addresses.length === 0) throw new AcError("unreachable", `${UNREACHABLE_MESSAGE}: its host name does not exist`);
  if (addresses.some((a) => !isPublicAddress(a.address))) throw privateAddressError(hostname);
  return addresses.map((a) => a.address);
}

function lookupError(err: unknown): AcError {
  const code = (err as { code?: unknown } | null)?.code;
  if (NO_SUCH_HOST.has(code)) {
    return new AcError("unreachable", `${UNREACHABLE_MESSAGE}: its host name does not exist`, { cause: err });
  }
  return new AcError("unreachable", `${UNREACHABLE_MESSAGE}: its host name could not be looked up`, {
    cause: err,
    retryable: true,
  });
}

/** A `net.connect` lookup that refuses to hand out any non-public address. */
export function createGuardedLookup(
  lookup: LookupAll = systemLookup,
  isAllowedAddress: (ip: string) => boolean = isPublicAddress,
): LookupFunction {
  return (hostname, options, callback) => {
    lookup(hostname).then(
      (found) => {
        const bad = found.find((a) => !isAllowedAddress(a.address));
        const usable = found.filter((a) => !options.family || a.family === options.family);
        const first = usable[0];
        if (bad) {
          // Stryker disable next-line StringLiteral: with an error, net.connect reads no address
          callback(privateAddressError(hostname), "", 0);
        } else if (!first) {
          const err = lookupError(Object.assign(new Error("no address"), { code: "ENOTFOUND" }));
          // Stryker disable next-line StringLiteral: with an error, net.connect reads no address
          callback(err, "", 0);
        } else if (options.all) callback(null, usable);
        else callback(null, first.address, first.family);
      },
      // Stryker disable next-line StringLiteral: with an error, net.connect reads no address
      (err: NodeJS.ErrnoException) => callback(err, "", 0),
    );
  };
}

/**
 * An undici dispatcher that applies the public-address rule when each connection is made,
 * after DNS resolution: the enforcement against DNS rebinding (a name that resolved to a
 * public address at save time and to 169.254.169.254 now). IP-literal hosts skip DNS, so
 * they are checked here too. Node 20's global fetch honours `dispatcher` in its init
 * (test/ac-network.test.ts proves it); undici@6 matches the undici that Node 20 bundles.
 *
 * `isAllowedAddress` exists for tests that must connect to 127.0.0.1.
 */
export function createGuardedDispatcher(
  opts: { lookup?: LookupAll; isAllowedAddress?: (ip: string) => boolean } = {},
): Dispatcher {
  const isAllowed = opts.isAllowedAddress ?? isPublicAddress;
  const connector = buildConnector({ lookup: createGuardedLookup(opts.lookup, isAllowed) });
  return new Agent({
    connect(options, callback) {
      const bare = unbracket(options.hostname);
      if (isIP(bare) && !isAllowed(bare)) {
        callback(privateAddressError(options.hostname), null);
        return;
      }
      connector(options, callback);
    },
  });
}
