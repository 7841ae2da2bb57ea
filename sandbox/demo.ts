import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { loadConfig, type Config } from "../core/config.ts";
import { createLogger } from "../core/logger.ts";
import { startListwarden, type Listwarden, type StartOptions } from "../boot/start.ts";
import { startDnsServer, type TestDnsServer } from "./dns.ts";
import { startSandbox, type Sandbox } from "./server.ts";
import { startSmtpServers, type FakeMxFleet } from "./smtp.ts";
import { WORLD_ZONE, worldMailHosts, type World } from "./world.ts";

export const DEMO_USER = { email: "demo@listwarden.test", password: "listwarden-demo" } as const;
export const DEMO_CONNECTION_NAME = "Sandbox AC (demo)";
export const DEMO_CREDITS = 20_000;

/**
 * Time limits short enough to watch: a tarpit is given up after 1.5 s, greylisting is retried
 * after 0.25, 0.5 and 1 s, a silent DNS server after 2 × 0.5 s.
 */
export const DEMO_TIMINGS = {
  dnsTimeoutMs: 500,
  smtpConnectTimeoutMs: 1_000,
  smtpReplyTimeoutMs: 1_500,
  greylistDelaysMs: [250, 500, 1_000],
  tarpitDelayMs: 5_000,
} as const;

export interface DemoOptions {
  /** Contacts in the sandbox account (at least MIN_WORLD_CONTACTS). */
  contacts?: number;
  /** The dashboard's port; 0 picks a free one. */
  port?: number;
  /** The sandbox account's rate limit, which the product is set to as well. */
  requestsPerSecond?: number;
  /** An empty directory for the product's database; by default a new temporary one that close() removes. */
  dataDir?: string;
  logLevel?: Config["LOG_LEVEL"];
  worker?: StartOptions["worker"];
}

export interface Demo {
  /** The dashboard, e.g. http://localhost:3000. */
  url: string;
  /** The same on the address it listens on, for scripts. */
  apiBase: string;
  user: { email: string; password: string };
  connectionId: string;
  sandbox: Sandbox;
  world: World;
  dns: TestDnsServer;
  smtp: FakeMxFleet;
  lw: Listwarden;
  dataDir: string;
  close(): Promise<void>;
}

/**
 * Everything on loopback: the sandbox AC seeded with the demo world, its DNS server, its
 * SMTP servers (127.0.0.2-16 on one port), and Listwarden set to use them with SMTP probing
 * on, with a demo user that has credits and a connection to the sandbox.
 */
export async function startDemo(opts: DemoOptions = {}): Promise<Demo> {
  const rps = opts.requestsPerSecond ?? 5;
  const closers: (() => Promise<void> | void)[] = [];
  const close = async () => {
    for (const fn of closers.splice(0).reverse()) await fn();
  };
  try {
    const sandbox = await startSandbox({ contacts: opts.contacts ?? 5_000, requestsPerSecond: rps });
    closers.push(() => sandbox.close());
    const world = sandbox.world!;
    const dns = await startDnsServer(WORLD_ZONE);
    closers.push(() => dns.close());
    const smtp = await startSmtpServers(worldMailHosts(world, { tarpitDelayMs: DEMO_TIMINGS.tarpitDelayMs }));
    closers.push(() => smtp.close());

    const dataDir = opts.dataDir ?? mkdtempSync(path.join(tmpdir(), "listwarden-demo-"));
    if (!opts.dataDir) closers.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const config = loadConfig({
      NODE_ENV: "development",
      HOST: "127.0.0.1",
      PORT: String(opts.port ?? 3000),
      DATA_DIR: dataDir,
      LOG_LEVEL: opts.logLevel ?? "warn",
      SIGNUP_CREDITS: String(DEMO_CREDITS),
      AC_ALLOW_PRIVATE_HOSTS: "on",
      AC_REQUESTS_PER_SECOND: String(rps),
      DNS_SERVERS: dns.address,
      // The demo's DNS knows only its own world: the resolver check asks for domains of it.
      DNS_HEALTH_DOMAINS: "acme.test,globex.test,initech.test",
      DNS_TIMEOUT_MS: String(DEMO_TIMINGS.dnsTimeoutMs),
      SMTP_PROBE: "on",
      SMTP_HELO: "probe.listwarden.test",
      SMTP_MAIL_FROM: "bounces@probe.listwarden.test",
      SMTP_PORT: String(smtp.port),
      SMTP_CONNECT_TIMEOUT_MS: String(DEMO_TIMINGS.smtpConnectTimeoutMs),
      SMTP_REPLY_TIMEOUT_MS: String(DEMO_TIMINGS.smtpReplyTimeoutMs),
      SMTP_GREYLIST_DELAYS_MS: DEMO_TIMINGS.greylistDelaysMs.join(","),
      // The sandbox's mail servers are ours, on loopback: no need to pace probes to them.
      SMTP_BUDGET_PER_MX_PER_MINUTE: "0",
      SMTP_BUDGET_PER_PATH_PER_DAY: "0",
    });
    const lw = await startListwarden({ config, logger: createLogger({ level: config.LOG_LEVEL }), worker: { pollMs: 200, ...opts.worker } });
    closers.push(() => lw.close());

    const apiBase = `http://127.0.0.1:${new URL(lw.url).port}`;
    // The sandbox delivers its webhooks to the address Listwarden listens on (127.0.0.1, not "localhost", which may resolve to ::1).
    lw.deps.publicUrl = apiBase;
    const connectionId = await createDemoAccount(apiBase, sandbox);
    // The demo user is the operator too: the Operator page shows how credit requests are approved.
    lw.deps.db.$client.prepare("UPDATE users SET role = 'admin' WHERE email = ?").run(DEMO_USER.email);
    return { url: lw.url, apiBase, user: { ...DEMO_USER }, connectionId, sandbox, world, dns, smtp, lw, dataDir, close };
  } catch (err) {
    await close();
    throw err;
  }
}

/** Signs the demo user up through the API and connects it to the sandbox account. */
async function createDemoAccount(apiBase: string, sandbox: Sandbox): Promise<string> {
  const signup = await fetch(`${apiBase}/api/auth/signup`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(DEMO_USER),
  });
  if (signup.status !== 201) throw new Error(`demo sign-up failed: ${signup.status} ${await signup.text()}`);
  const { csrfToken } = (await signup.json()) as { csrfToken: string };
  const cookie = (signup.headers.get("set-cookie") ?? "").split(";")[0] ?? "";
  const res = await fetch(`${apiBase}/api/connections`, {
    method: "POST",
    headers: { "content-type": "application/json", cookie, "x-csrf-token": csrfToken },
    body: JSON.stringify({ name: DEMO_CONNECTION_NAME, apiUrl: sandbox.url, apiKey: sandbox.apiKey }),
  });
  if (res.status !== 201) throw new Error(`demo connection failed: ${res.status} ${await res.text()}`);
  const id = ((await res.json()) as { id: string }).id;
  // Monitoring on, with its defaults: the sandbox registers the webhook, and each subscriber
  // added with POST /sandbox/subscribe is checked as it arrives.
  const monitor = await fetch(`${apiBase}/api/connections/${id}/monitor`, {
    method: "PUT",
    headers: { "content-type": "application/json", cookie, "x-csrf-token": csrfToken },
    body: JSON.stringify({ enabled: true, scope: { kind: "all" }, actions: {} }),
  });
  if (monitor.status !== 200) throw new Error(`demo monitoring failed: ${monitor.status} ${await monitor.text()}`);
  return id;
}
