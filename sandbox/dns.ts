import dns2 from "dns2";
import { isLoopback } from "./loopback.ts";

const { Packet } = dns2;

/**
 * The sandbox's DNS: an authoritative UDP server on loopback for a made-up mail world (the
 * demo's, or a test's zone). Point the verifier's DNS_SERVERS at it.
 */

/** What a zone says about one name. A name missing from the zone is NXDOMAIN. */
export interface ZoneEntry {
  /** MX records; "null" publishes the RFC 7505 null MX ("0 ."). */
  mx?: { priority: number; exchange: string }[] | "null";
  a?: string[];
  aaaa?: string[];
  /** Answer every query for the name with this error code instead. */
  rcode?: "SERVFAIL" | "REFUSED" | "NXDOMAIN";
  /** Never answer queries for the name (the client must time out). */
  silent?: boolean;
}

export type Zone = Record<string, ZoneEntry>;

export interface DnsQuery {
  name: string;
  type: string;
}

export interface TestDnsServer {
  host: string;
  port: number;
  /** "127.0.0.1:PORT", ready for the verifier's `dnsServers` or DNS_SERVERS. */
  address: string;
  /** Every query received, in order. */
  readonly queries: readonly DnsQuery[];
  countQueries(filter?: { name?: string; type?: string }): number;
  /** Adds, replaces or (with undefined) removes a name. */
  setEntry(name: string, entry: ZoneEntry | undefined): void;
  close(): Promise<void>;
}

const RCODE = { NXDOMAIN: 3, SERVFAIL: 2, REFUSED: 5 } as const;
const TYPE_NAME = new Map<number, string>(Object.entries(Packet.TYPE).map(([name, code]) => [code, name]));
const TTL = 300;

/** An authoritative UDP DNS server on loopback, answering from `zone`; port 0 picks a free port. */
export async function startDnsServer(zone: Zone, options: { host?: string; port?: number } = {}): Promise<TestDnsServer> {
  const host = options.host ?? "127.0.0.1";
  if (!isLoopback(host)) throw new Error(`the sandbox DNS server only listens on loopback, not ${host}`);
  const entries = new Map(Object.entries(zone).map(([name, entry]) => [name.toLowerCase(), entry]));
  const queries: DnsQuery[] = [];

  const server = dns2.createServer({
    udp: true,
    handle(request, send) {
      const response = Packet.createResponseFromRequest(request);
      response.header.aa = 1;
      const question = request.questions[0];
      if (!question) return void send(response);
      const name = question.name.toLowerCase();
      const type = TYPE_NAME.get(question.type) ?? String(question.type);
      queries.push({ name, type });

      const entry = entries.get(name);
      if (entry?.silent) return;
      if (!entry) response.header.rcode = RCODE.NXDOMAIN;
      else if (entry.rcode) response.header.rcode = RCODE[entry.rcode];
      else response.answers.push(...answers(question.name, type, entry));
      void send(response);
    },
  });
  const bound = await server.listen({ udp: { port: options.port ?? 0, address: host } });
  const port = bound.udp?.port;
  if (port === undefined) throw new Error("DNS test server did not bind");

  return {
    host,
    port,
    address: `${host}:${port}`,
    queries,
    countQueries: (filter = {}) =>
      queries.filter((q) => (filter.name === undefined || q.name === filter.name.toLowerCase()) && (filter.type === undefined || q.type === filter.type)).length,
    setEntry(name, entry) {
      if (entry) entries.set(name.toLowerCase(), entry);
      else entries.delete(name.toLowerCase());
    },
    close: () => server.close(),
  };
}

function answers(name: string, type: string, entry: ZoneEntry): dns2.Packet.Resource[] {
  const base = { name, class: Packet.CLASS.IN, ttl: TTL };
  const records: Partial<dns2.Packet.Resource>[] = [];
  const mx = entry.mx === "null" ? [{ priority: 0, exchange: "" }] : entry.mx;
  if (type === "MX" && mx) records.push(...mx.map((record) => ({ ...base, type: Packet.TYPE.MX, ...record })));
  if (type === "A") records.push(...(entry.a ?? []).map((address) => ({ ...base, type: Packet.TYPE.A, address })));
  if (type === "AAAA") records.push(...(entry.aaaa ?? []).map((address) => ({ ...base, type: Packet.TYPE.AAAA, address })));
  return records as dns2.Packet.Resource[];
}
