import { execFile } from "node:child_process";
import { fileURLToPath, pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { startDnsServer, type Zone } from "../test/support/dns-server.ts";
import { startSmtpServers, strictMailboxes } from "../test/support/smtp-servers.ts";
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
const SMTP_COUNT = 2_000;
const SMTP_DOMAINS = 100;
const SMTP_HOSTS = 8;

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

/** 100 domains on 8 loopback MX servers (127.0.0.2 to .9); every 10th address has no mailbox. */
const smtpAddress = (i: number) => `${i % 10 === 9 ? "ghost" : "user"}${i}@s${i % SMTP_DOMAINS}.bench.test`;

function smtpZone(): Zone {
  const zone: Zone = {};
  for (let h = 0; h < SMTP_HOSTS; h++) zone[`mx${h}.smtp.bench.test`] = { a: [`127.0.0.${h + 2}`] };
  for (let d = 0; d < SMTP_DOMAINS; d++) zone[`s${d}.bench.test`] = { mx: [{ priority: 10, exchange: `mx${d % SMTP_HOSTS}.smtp.bench.test` }] };
  return zone;
}

async function smtpPhase(dnsServer: string, port: number, recipientsPerSession: number): Promise<PhaseReport> {
  const verifier = createVerifier({
    dnsServers: [dnsServer],
    dnsTimeoutMs: 1_000,
    dnsTries: 1,
    smtp: {
      enabled: true,
      helo: "probe.listwarden.test",
      mailFrom: "bounces@probe.listwarden.test",
      port,
      recipientsPerSession,
      budgetPerMxPerMinute: 0,
      budgetPerPathPerDay: 0,
      greylistRetryDelaysMs: [],
      connectTimeoutMs: 5_000,
      replyTimeoutMs: 10_000,
      maxWaitingPerMx: 10_000,
    },
  });
  const addresses = Array.from({ length: SMTP_COUNT }, (_, i) => smtpAddress(i));
  const started = performance.now();
  const results = await verifier.verifyBatch(addresses);
  const seconds = (performance.now() - started) / 1000;
  const wrong = results.filter((r, i) => r.reason !== (i % 10 === 9 ? "mailbox_not_found" : "accepted_email"));
  if (wrong.length > 0) throw new Error(`${wrong.length} addresses came out wrong, e.g. ${JSON.stringify(wrong[0])}`);
  return { count: SMTP_COUNT, seconds, maxRssKb: process.resourceUsage().maxRSS };
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

  const smtpDns = await startDnsServer(smtpZone());
  const mailboxes = strictMailboxes({ mailboxes: Array.from({ length: SMTP_COUNT }, (_, i) => smtpAddress(i)).filter((a) => a.startsWith("user")) });
  const fleet = await startSmtpServers(Array.from({ length: SMTP_HOSTS }, (_, h) => ({ host: `127.0.0.${h + 2}`, rcpt: mailboxes })));
  const sessionCount = () => Array.from({ length: SMTP_HOSTS }, (_, h) => fleet.get(`127.0.0.${h + 2}`).sessions.length).reduce((a, b) => a + b, 0);
  try {
    for (const cap of [5, 1]) {
      const before = sessionCount();
      const report = await runPhase(["--phase", "smtp", "--dns", smtpDns.address, "--port", String(fleet.port), "--cap", String(cap)]);
      const sessions = sessionCount() - before;
      console.log(
        `verify with SMTP probes, session reuse ${cap > 1 ? `on (${cap} recipients per session)` : "off (1 per session)"} (${fmt(report.count)} addresses, ${SMTP_DOMAINS} domains on ${SMTP_HOSTS} loopback MX servers, 2 sessions per server at once): ${fmt((sessions / report.count) * 1000)} sessions per 1,000 probed addresses; ${fmt(report.count / report.seconds)} addresses decided/s (${report.seconds.toFixed(2)} s); peak RSS ${mb(report.maxRssKb)} (own child process)`,
      );
    }
  } finally {
    await fleet.close();
    await smtpDns.close();
  }
}

async function phaseMain(argv: string[]): Promise<void> {
  const phase = argv[argv.indexOf("--phase") + 1];
  const arg = (name: string) => argv[argv.indexOf(name) + 1] ?? "";
  const report =
    phase === "offline" ? offlinePhase() : phase === "smtp" ? await smtpPhase(arg("--dns"), Number(arg("--port")), Number(arg("--cap"))) : await dnsPhase(arg("--dns"));
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const argv = process.argv.slice(2);
  await (argv.includes("--phase") ? phaseMain(argv) : benchVerify());
}
