import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { startListwarden, type Listwarden } from "../boot/start.ts";
import { testConfig } from "../core/config.ts";
import { createLogger } from "../core/logger.ts";
import { startDnsServer } from "../test/support/dns-server.ts";
import { WORLD_ZONE, address } from "../test/support/world.ts";
import { FakeAc, startFakeAcServer } from "../sandbox/fake-ac.ts";

/**
 * Monitoring (issue 18), over real HTTP on 127.0.0.1:
 *
 * 1. The receiver: N deliveries of AC's `subscribe` (form-encoded, as the sandbox posts them),
 *    C at a time, to a Listwarden that only receives (WORKER=off): events accepted per second.
 * 2. Event to action at AC's rate with an empty queue: one undeliverable subscriber at a time,
 *    delivered by the sandbox to a Listwarden with its worker on at 5 req/s; seconds from the
 *    sandbox firing the event to its unsubscribe arriving at the sandbox.
 */

const [eventsArg = "5000", concurrencyArg = "32", samplesArg = "10"] = process.argv.slice(2);
const EVENTS = Number(eventsArg);
const CONCURRENCY = Number(concurrencyArg);
const SAMPLES = Number(samplesArg);

async function signUp(lw: Listwarden): Promise<{ cookie: string; csrf: string }> {
  const res = await fetch(`${lw.url}/api/auth/signup`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ email: "bench@example.com", password: "benchmark password" }),
  });
  return { cookie: (res.headers.get("set-cookie") ?? "").split(";")[0]!, csrf: ((await res.json()) as { csrfToken: string }).csrfToken };
}

async function call(lw: Listwarden, s: { cookie: string; csrf: string }, method: string, p: string, body: unknown): Promise<{ id?: string }> {
  const res = await fetch(`${lw.url}${p}`, { method, headers: { "content-type": "application/json", cookie: s.cookie, "x-csrf-token": s.csrf }, body: JSON.stringify(body) });
  if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${await res.text()}`);
  return (await res.json()) as { id?: string };
}

async function setUp(worker: boolean, rps: number) {
  const dns = await startDnsServer(WORLD_ZONE);
  const fake = new FakeAc({ requestsPerSecond: rps, holdWebhooks: true });
  const acServer = await startFakeAcServer(fake);
  const dataDir = mkdtempSync(path.join(tmpdir(), "lw-bench-monitor-"));
  const lw = await startListwarden({
    config: testConfig({
      PORT: 0,
      HOST: "127.0.0.1",
      DATA_DIR: dataDir,
      AC_ALLOW_PRIVATE_HOSTS: true,
      AC_REQUESTS_PER_SECOND: rps,
      DNS_SERVERS: [dns.address],
      SIGNUP_CREDITS: 1_000_000,
      WORKER: worker,
      LOG_LEVEL: "warn",
    }),
    logger: createLogger({ level: "warn" }),
    dbFile: path.join(dataDir, "listwarden.db"),
    monitor: { pollMs: 1_000 },
  });
  lw.deps.publicUrl = `http://127.0.0.1:${new URL(lw.url).port}`;
  const session = await signUp(lw);
  const conn = await call(lw, session, "POST", "/api/connections", { apiUrl: acServer.url, apiKey: fake.apiKey });
  const list = fake.addList("Newsletter");
  await call(lw, session, "PUT", `/api/connections/${conn.id}/monitor`, { enabled: true, scope: { kind: "all" }, actions: {} });
  return {
    fake,
    list,
    lw,
    async close() {
      await lw.close();
      await acServer.close();
      await dns.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

async function receiver(): Promise<void> {
  const s = await setUp(false, 1000);
  for (let i = 0; i < EVENTS; i++) s.fake.subscribe({ email: address("deliverable", `r${i}`), lists: [s.list] });
  const deliveries = s.fake.outbox.splice(0);
  let next = 0;
  const statuses = new Map<number, number>();
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < deliveries.length) {
        const d = deliveries[next++]!;
        const res = await fetch(d.url, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: d.body });
        await res.arrayBuffer();
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const queued = (s.lw.deps.db.$client.prepare("SELECT count(*) AS n FROM monitor_contacts").get() as { n: number }).n;
  console.log(`receiver: ${EVENTS.toLocaleString("en-US")} subscribe deliveries (${deliveries[0]!.body.length} bytes each), ${CONCURRENCY} at a time, over HTTP on 127.0.0.1, WORKER=off`);
  console.log(`  answers: ${[...statuses].map(([k, v]) => `${v} × ${k}`).join(", ")}; contacts queued: ${queued}`);
  console.log(`  ${(EVENTS / seconds).toFixed(0)} events accepted per second (${seconds.toFixed(2)} s)`);
  await s.close();
}

async function eventToAction(): Promise<void> {
  const rps = 5;
  const s = await setUp(true, rps);
  s.fake.holdWebhooks = false;
  const times: number[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    // An idle second between samples: the account's 5 req/s window is empty, as is the queue.
    await new Promise((r) => setTimeout(r, 1_100));
    const started = performance.now();
    const id = s.fake.subscribe({ email: address("nullMx", `late${i}`), lists: [s.list] });
    for (;;) {
      if (s.fake.listStatus(id, s.list) === 2) break;
      await new Promise((r) => setTimeout(r, 5));
      if (performance.now() - started > 30_000) throw new Error("no unsubscribe within 30 s");
    }
    times.push((performance.now() - started) / 1000);
  }
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)]!;
  console.log(`event to action: ${SAMPLES} undeliverable subscribers one at a time, queue empty, AC at ${rps} req/s (sandbox and Listwarden's limiter), no SMTP probe`);
  console.log(`  requests per contact: 1 re-read (GET /contacts/{id}, lists sideloaded) + 1 unsubscribe`);
  console.log(`  seconds from the event to the unsubscribe at AC: median ${median.toFixed(3)}, min ${times[0]!.toFixed(3)}, max ${times.at(-1)!.toFixed(3)}`);
  await s.close();
}

await receiver();
await eventToAction();
