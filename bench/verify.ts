import { execFile } from "node:child_process";
import { fileURLToPath, pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { startDnsServer, type Zone } from "../test/support/dns-server.ts";
import { createVerifier } from "../verify/index.ts";
import { createListChecks } from "../verify/lists.ts";
import { checkSyntax } from "../verify/syntax.ts";

/**
 * Verification throughput. Each phase runs in a child process of its own so that its peak
 * RSS (process.resourceUsage().maxRSS) is its own; the DNS server runs in this process.
 * Only loopback traffic.
 */

const OFFLINE_COUNT = 100_000;
const DNS_COUNT = 10_000;
const DNS_DOMAINS = 500;

type PhaseReport = { count: number; seconds: number; maxRssKb: number };

const FIRST = ["anna", "ben", "chloe", "dmitri", "emma", "farid", "grace", "hiro", "ines", "jonas", "info", "sales"];
const PROVIDERS = ["gmail.com", "yahoo.com", "outlook.com", "gmial.com", "mailinator.com", "hotmail.co.uk", "web.de"];

/** A mix like a real list: mostly personal addresses, some role, free, disposable, typo'd and broken ones. */
function generatedAddress(i: number, domainCount: number): string {
  const name = `${FIRST[i % FIRST.length]}.${i.toString(36)}`;
  if (i % 50 === 7) return `${name} at example.com`;
  if (i % 97 === 3) return `"${name} x"@company${i % domainCount}.example`;
  const domain = i % 5 === 0 ? PROVIDERS[i % PROVIDERS.length]! : `company${i % domainCount}.example`;
  return i % 13 === 0 ? `${name.toUpperCase()}@${domain.toUpperCase()}` : `${name}@${domain}`;
}

function offlinePhase(): PhaseReport {
  const lists = createListChecks();
  const started = performance.now();
  let flagged = 0;
  for (let i = 0; i < OFFLINE_COUNT; i++) {
    const syntax = checkSyntax(generatedAddress(i, 20_000));
    if (!syntax.ok) continue;
    const { local, domain } = syntax;
    if (lists.isDisposable(domain) || lists.isFree(domain) || lists.isRole(local) || lists.suggestDomain(domain)) flagged++;
  }
  const seconds = (performance.now() - started) / 1000;
  if (flagged === 0) throw new Error("the generated list exercised no list");
  return { count: OFFLINE_COUNT, seconds, maxRssKb: process.resourceUsage().maxRSS };
}

async function dnsPhase(dnsServer: string): Promise<PhaseReport> {
  const verifier = createVerifier({ dnsServers: [dnsServer], dnsTimeoutMs: 1_000, dnsTries: 1 });
  const addresses = Array.from({ length: DNS_COUNT }, (_, i) => `${FIRST[i % FIRST.length]}.${i}@bench${i % DNS_DOMAINS}.example`);
  const started = performance.now();
  const results = await verifier.verifyBatch(addresses);
  const seconds = (performance.now() - started) / 1000;
  if (results.length !== DNS_COUNT) throw new Error("batch lost results");
  return { count: DNS_COUNT, seconds, maxRssKb: process.resourceUsage().maxRSS };
}

function benchZone(): Zone {
  const zone: Zone = { "mx.bench.example": { a: ["127.0.0.2"] } };
  for (let i = 0; i < DNS_DOMAINS; i++) {
    if (i % 20 === 0) continue; // NXDOMAIN
    zone[`bench${i}.example`] = i % 20 === 1 ? { a: ["127.0.0.2"] } : { mx: [{ priority: 10, exchange: "mx.bench.example" }] };
  }
  return zone;
}

async function runPhase(args: string[]): Promise<PhaseReport> {
  const script = fileURLToPath(import.meta.url);
  const { stdout } = await promisify(execFile)(process.execPath, ["--import", import.meta.resolve("tsx"), script, ...args], { maxBuffer: 1 << 20 });
  return JSON.parse(stdout.trim().split("\n").pop()!) as PhaseReport;
}

const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
const mb = (kb: number) => `${(kb / 1024).toFixed(0)} MB`;

export async function benchVerify(): Promise<void> {
  const offline = await runPhase(["--phase", "offline"]);
  console.log(
    `verify offline (syntax + lists): ${fmt(offline.count)} addresses in ${offline.seconds.toFixed(2)} s = ${fmt(offline.count / offline.seconds)} addresses/s; peak RSS ${mb(offline.maxRssKb)} (own child process)`,
  );

  const dns = await startDnsServer(benchZone());
  try {
    const batch = await runPhase(["--phase", "dns", "--dns", dns.address]);
    console.log(
      `verify batch with DNS (${fmt(batch.count)} addresses, ${DNS_DOMAINS} domains, loopback dns2 server, SMTP off): ${batch.seconds.toFixed(2)} s = ${fmt(batch.count / batch.seconds)} addresses/s; ${fmt(dns.queries.length)} DNS queries; peak RSS ${mb(batch.maxRssKb)} (own child process, DNS server excluded)`,
    );
  } finally {
    await dns.close();
  }
}

async function phaseMain(argv: string[]): Promise<void> {
  const phase = argv[argv.indexOf("--phase") + 1];
  const report = phase === "offline" ? offlinePhase() : await dnsPhase(argv[argv.indexOf("--dns") + 1] ?? "");
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const argv = process.argv.slice(2);
  await (argv.includes("--phase") ? phaseMain(argv) : benchVerify());
}
