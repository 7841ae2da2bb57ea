import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { testConfig, type Config } from "../core/config.ts";
import { createLogger } from "../core/logger.ts";
import type { RunView } from "../core/services/runs.ts";
import { startListwarden } from "../boot/start.ts";
import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import { startDnsServer } from "../test/support/dns-server.ts";
import { processCpuSeconds, startProductProcess } from "./product.ts";
import { benchWorld } from "./world.ts";

interface FakeStats {
  arrivals: number[];
  writes: number;
  status429: number;
  requests: { at: number; method: string; path: string; byIds: boolean; status: number }[];
  imports: { created: number; completed: number };
}

/** Starts the fake AC (and, for the "greylist" world, its DNS and SMTP servers) in a child process and talks to it over IPC. */
export async function forkFakeAc(
  contacts: number,
  requestsPerSecond: number,
  world: { name: "plain" } | { name: "greylist"; delayMs: number } | { name: "labels"; importsPerMinute: number; importProcessMs: number; importUnknownMs: number } = { name: "plain" },
) {
  const extra =
    world.name === "greylist" ? [String(world.delayMs)] : world.name === "labels" ? [String(world.importsPerMinute), String(world.importProcessMs), String(world.importUnknownMs)] : [];
  const args = [String(contacts), String(requestsPerSecond), world.name, ...extra];
  const child = fork(fileURLToPath(new URL("./fake-ac-process.ts", import.meta.url)), args, {
    execArgv: ["--import", "tsx"],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const next = <T>(type: string) => new Promise<T>((resolve) => {
    const on = (msg: { type: string }) => {
      if (msg.type !== type) return;
      child.off("message", on);
      resolve(msg as T);
    };
    child.on("message", on);
  });
  const ready = await next<{ url: string; apiKey: string; dns: string | null; smtpPort: number | null }>("ready");
  return {
    /** CPU seconds the fake's process has used so far. */
    cpuSeconds: () => processCpuSeconds(child.pid!),
    url: ready.url,
    apiKey: ready.apiKey,
    dns: ready.dns,
    smtpPort: ready.smtpPort,
    async clear() {
      const done = next("cleared");
      child.send({ type: "clear" });
      await done;
    },
    async stats() {
      const done = next<FakeStats>("stats");
      child.send({ type: "stats" });
      return done;
    },
    async close() {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.send({ type: "close" });
      await exited;
    },
  };
}

/** Signs up a bench user on a running Listwarden; its session cookie and CSRF token. */
export async function benchSignUp(base: string, email = "bench@example.com"): Promise<{ cookie: string; csrfToken: string }> {
  const signup = await fetch(`${base}/api/auth/signup`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ email, password: "benchmark password" }),
  });
  if (!signup.ok) throw new Error(`sign-up: ${signup.status} ${await signup.text()}`);
  const cookie = (signup.headers.get("set-cookie") ?? "").split(";")[0]!;
  const { csrfToken } = (await signup.json()) as { csrfToken: string };
  return { cookie, csrfToken };
}

/**
 * The product for a benchmark: a fresh data directory, `config` over the test defaults (port 0,
 * private hosts allowed for the loopback fake, warnings only), a user signed up and the fake
 * account connected. `close` stops it and removes the directory.
 */
export async function startBenchProduct(config: Partial<Config>, account: { url: string; apiKey: string }) {
  const dataDir = mkdtempSync(path.join(tmpdir(), "lw-bench-"));
  const lw = await startListwarden({
    config: testConfig({ PORT: 0, DATA_DIR: dataDir, AC_ALLOW_PRIVATE_HOSTS: true, LOG_LEVEL: "warn", ...config }),
    logger: createLogger({ level: "warn" }),
    dbFile: path.join(dataDir, "listwarden.db"),
    worker: { pollMs: 50 },
  });
  const close = async () => {
    await lw.close();
    rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    const { cookie, csrfToken } = await benchSignUp(lw.url);
    const conn = await api<{ id: string }>(lw.url, cookie, csrfToken, "POST", "/api/connections", { apiUrl: account.url, apiKey: account.apiKey });
    return { url: lw.url, cookie, csrfToken, connectionId: conn.id, close };
  } catch (err) {
    await close();
    throw err;
  }
}

export async function api<T>(base: string, cookie: string, csrf: string, method: string, p: string, body?: unknown): Promise<T> {
  const res = await fetch(`${base}${p}`, {
    method,
    headers: { cookie, "x-csrf-token": csrf, "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

/** When the 429s came, from the first request: " (at 0.41 s, 2.93 s)", or "". */
export function when429(stats: Pick<FakeStats, "requests">): string {
  const first = Math.min(...stats.requests.map((r) => r.at));
  const at = stats.requests.filter((r) => r.status === 429).map((r) => `${((r.at - first) / 1000).toFixed(2)} s`);
  return at.length ? ` (at ${at.slice(0, 5).join(", ")}${at.length > 5 ? ", …" : ""})` : "";
}

/**
 * Requests over the time they took, against the allowed rate: each request is given its
 * 1/allowed of a second (so n evenly paced requests, spanning (n − 1)/allowed s, score 1).
 * A sliding window lets one second's allowance start at once, so a phase of only a few
 * seconds can score above 1 (14 fetch requests at 5 req/s: 1.18); compare long phases.
 */
export function steadyRatio(arrivals: number[], allowed: number): number {
  const sorted = [...arrivals].sort((a, b) => a - b);
  const span = (sorted.at(-1)! - sorted[0]!) / 1000 + 1 / allowed;
  return sorted.length / span / allowed;
}

/**
 * Requests per 250 ms from the first: the first second's four figures, then the median of the
 * rest, against what the allowed rate gives in 250 ms. A short phase's ratio is mostly its
 * start-up (cold code, new connections, the margin at its most until round trips are known).
 * Printed at raised limits only: at AC's 5 per second a quarter second holds one request.
 */
export function ratePerQuarter(arrivals: number[], allowed: number): string {
  const sorted = [...arrivals].sort((a, b) => a - b);
  const counts: number[] = [];
  for (const at of sorted) {
    const q = Math.floor((at - sorted[0]!) / 250);
    counts[q] = (counts[q] ?? 0) + 1;
  }
  const all = Array.from(counts, (n) => n ?? 0);
  // The last quarter is cut short by the phase's end: not part of the steady rate.
  const rest = all.slice(4, -1);
  const steady = rest.length ? ` then a median of ${[...rest].sort((a, b) => a - b)[Math.floor(rest.length / 2)]}` : "";
  return `requests per 250 ms (allowed ${allowed / 4}): ${all.slice(0, 4).join(", ")} in the first second,${steady}`;
}

export async function waitFor(base: string, cookie: string, id: string, statuses: string[], onPoll?: (run: RunView) => void): Promise<RunView> {
  for (;;) {
    // A reused keep-alive socket the server just closed fails once; the next poll opens a new one.
    const run = await api<RunView>(base, cookie, "", "GET", `/api/runs/${id}`).catch(() => api<RunView>(base, cookie, "", "GET", `/api/runs/${id}`));
    onPoll?.(run);
    if (statuses.includes(run.status)) return run;
    if (run.status === "failed") throw new Error(`run failed: ${run.statusReason}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/**
 * A whole hygiene run through the HTTP API against the fake AC over real HTTP on 127.0.0.1,
 * with the product's limiter and the fake's enforcement at the same rate.
 */
export async function benchRun(opts: { contacts: number; requestsPerSecond: number; reviewOnly?: boolean }): Promise<void> {
  const { contacts, requestsPerSecond } = opts;
  const dns = await startDnsServer(benchWorld().zone);
  const fake = await forkFakeAc(contacts, requestsPerSecond);
  // The product in its own process, as npm start runs it: its CPU and memory are its own.
  const product = await startProductProcess({
    AC_REQUESTS_PER_SECOND: requestsPerSecond,
    AC_ALLOW_PRIVATE_HOSTS: true,
    DNS_SERVERS: dns.address,
    SIGNUP_CREDITS: contacts + 1_000,
  });
  const { url } = product;
  try {
    const { cookie, csrfToken } = await benchSignUp(url);
    const { id: connectionId } = await api<{ id: string }>(url, cookie, csrfToken, "POST", "/api/connections", { apiUrl: fake.url, apiKey: fake.apiKey });
    await fake.clear();
    const idleRss = product.rssMb();

    const started = performance.now();
    const cpuStart = product.cpuSeconds();
    const mainStart = product.mainThreadCpuSeconds();
    const fakeStart = fake.cpuSeconds();
    const run = await api<RunView>(url, cookie, csrfToken, "POST", "/api/runs", { connectionId, scope: { kind: "all" } });
    // Peak RSS so far each time the fetch passes a checkpoint (100K, 500K, 1M contacts).
    const checkpoints = [100_000, 500_000, 1_000_000].filter((n) => n <= contacts);
    const rssAt = new Map<number, number>();
    const review = await waitFor(url, cookie, run.id, ["awaiting_review", "completed"], (r) => {
      for (const n of checkpoints) if (!rssAt.has(n) && r.progress.fetched >= n) rssAt.set(n, product.peakRssMb());
    });
    const reviewSeconds = (performance.now() - started) / 1000;
    const cpuSeconds = product.cpuSeconds() - cpuStart;
    const mainSeconds = product.mainThreadCpuSeconds() - mainStart;
    const mainThread = `main thread ${((mainSeconds / contacts) * 1e6).toFixed(0)} µs per contact, busy ${((mainSeconds / reviewSeconds) * 100).toFixed(0)}% of the time`;
    // The fake shares the machine's cores: what it uses, the product cannot.
    const fakeShare = `the fake AC's process: ${(((fake.cpuSeconds() - fakeStart) / reviewSeconds) * 100).toFixed(0)}% of one core`;
    const t = review.timings;
    const since = (iso: string | null) => (iso && t.startedAt ? ((Date.parse(iso) - Date.parse(t.startedAt)) / 1000).toFixed(2) : "?");
    console.log(`  (fetch done after ${since(t.fetchedAt)} s, verify done after ${since(t.verifiedAt)} s, review at ${since(t.reviewAt)} s from start)`);
    const fetchStats = await fake.stats();
    const fetchArrivals = fetchStats.arrivals;
    const fetchRequests = fetchArrivals.length;
    // The fetch phase's own rate: its requests over the time from its first to its last request
    // (a run's start-up, its verification tail and the plan are not fetch time).
    const fetchRatio = steadyRatio(fetchArrivals, requestsPerSecond).toFixed(3);
    if (opts.reviewOnly) {
      console.log(`runs: ${contacts} contacts at ${requestsPerSecond} req/s allowed, to review only`);
      console.log(`  fetch + verify to review: ${reviewSeconds.toFixed(1)} s, ${fetchRequests} AC requests; ${(contacts / reviewSeconds).toFixed(0)} contacts/s; fetch phase ratio ${fetchRatio}; 429s ${fetchStats.status429}${when429(fetchStats)}`);
      if (requestsPerSecond >= 40) console.log(`    fetch ${ratePerQuarter(fetchArrivals, requestsPerSecond)}`);
      console.log(
        `    CPU of the product's process until review: ${cpuSeconds.toFixed(1)} s (${((cpuSeconds / contacts) * 1e6).toFixed(0)} µs per contact, ${((cpuSeconds / reviewSeconds) * 100).toFixed(0)}% of one core; ${mainThread}); peak RSS ${product.peakRssMb().toFixed(0)} MB; ${fakeShare}`,
      );
      console.log(`    RSS of the product's process: ${idleRss.toFixed(0)} MB before the run, ${product.rssMb().toFixed(0)} MB at review`);
      const t = review.timings;
      const phase = (from: string | null, to: string | null, n: number) => (from && to ? `${(n / ((Date.parse(to) - Date.parse(from)) / 1000)).toFixed(0)} contacts/s` : "?");
      console.log(`    per phase: fetch and verify ${phase(t.startedAt, t.verifiedAt, contacts)}; plan ${phase(t.verifiedAt, t.reviewAt ?? t.finishedAt, contacts)}`);
      if (rssAt.size) console.log(`    peak RSS when the fetch passed ${[...rssAt].map(([n, mbs]) => `${n / 1000}K: ${mbs.toFixed(0)} MB`).join(", ")}`);
      return;
    }
    const applyStarted = performance.now();
    await api(url, cookie, csrfToken, "POST", `/api/runs/${run.id}/approve`, { confirmDelete: true });
    const done = await waitFor(url, cookie, run.id, ["completed"]);
    const applySeconds = (performance.now() - applyStarted) / 1000;
    const totalSeconds = (performance.now() - started) / 1000;

    const stats = await fake.stats();
    const arrivals = stats.arrivals.sort((a, b) => a - b);
    const span = ((arrivals.at(-1) ?? 0) - (arrivals[0] ?? 0)) / 1000 || 1;
    const requests = arrivals.length;
    const applyRequests = requests - fetchRequests;
    const rss = product.peakRssMb();
    console.log(`runs: ${contacts} contacts at ${requestsPerSecond} req/s allowed (fake AC on 127.0.0.1 enforcing the same)`);
    console.log(`  fetch + verify to review: ${reviewSeconds.toFixed(1)} s, ${fetchRequests} AC requests; verified ${review.progress.verified}; ${(contacts / reviewSeconds).toFixed(0)} contacts/s`);
    console.log(`    CPU of the product's process until review: ${cpuSeconds.toFixed(1)} s (${((cpuSeconds / contacts) * 1e6).toFixed(0)} µs per contact; busy ${((cpuSeconds / reviewSeconds) * 100).toFixed(0)}% of one core; ${mainThread}; ${fakeShare})`);
    console.log(`  apply: ${applySeconds.toFixed(1)} s, ${applyRequests} AC requests (${done.progress.applied} applied, ${done.progress.failed} failed)`);
    console.log(`  achieved request rate ${(requests / span).toFixed(1)} req/s / allowed ${requestsPerSecond}: ratio ${(requests / span / requestsPerSecond).toFixed(3)}`);
    console.log(`    fetch phase ${fetchRatio}, apply phase ${(applyRequests / applySeconds / requestsPerSecond).toFixed(3)}`);
    if (requestsPerSecond >= 40) console.log(`    fetch ${ratePerQuarter(fetchArrivals, requestsPerSecond)}`);
    console.log(`  end to end ${(contacts / totalSeconds).toFixed(1)} contacts/s (${totalSeconds.toFixed(1)} s from start to completed; the review was approved at once)`);
    console.log(`  AC requests per 1,000 contacts: ${((requests / contacts) * 1000).toFixed(1)} (fetch ${((fetchRequests / contacts) * 1000).toFixed(1)}, apply ${((applyRequests / contacts) * 1000).toFixed(1)})`);
    console.log(`  429s: ${stats.status429}; peak RSS of the product's process (server + worker, in a process of its own, as npm start runs it): ${rss.toFixed(0)} MB`);
  } finally {
    await product.close();
    await fake.close();
    await dns.close();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const contacts = Number(process.argv[2] ?? 50_000);
  const rps = Number(process.argv[3] ?? 200);
  await benchRun({ contacts, requestsPerSecond: rps, reviewOnly: process.argv.includes("--review-only") });
}
