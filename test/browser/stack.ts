import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { chromium, type Browser, type BrowserContext, type BrowserContextOptions, type Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, beforeEach, expect } from "vitest";
import { testConfig, type Config } from "../../core/config.ts";
import type { Clock } from "../../core/lib/clock.ts";
import { createLogger } from "../../core/logger.ts";
import { startListwarden, type Listwarden } from "../../boot/start.ts";
import { startDnsServer, type TestDnsServer, type Zone } from "../support/dns-server.ts";
import { FakeAc, startFakeAcServer, type FakeAcOptions, type FakeAcServer } from "../support/fake-ac.ts";

export const CHROMIUM = "/usr/bin/chromium";
export const SCREENSHOTS = path.resolve("test-results/screenshots");
export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 375, height: 812 };

/** The whole product on loopback: Listwarden (server + worker), a fake AC over HTTP, a DNS server. */
export interface Stack {
  /** Where the browser reaches Listwarden (an IP literal: nothing is resolved). */
  url: string;
  lw: Listwarden;
  fake: FakeAc;
  acServer: FakeAcServer;
  dns: TestDnsServer;
  close(): Promise<void>;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A fake AC account served over HTTP on loopback, at the base URL it believes it has. */
export async function startFakeAc(opts: FakeAcOptions = {}): Promise<{ fake: FakeAc; acServer: FakeAcServer }> {
  // The fake's own links name its base URL, so serve it exactly there.
  const port = await freePort();
  const fake = new FakeAc({ requestsPerSecond: 1000, ...opts, baseUrl: `http://127.0.0.1:${port}` });
  return { fake, acServer: await startFakeAcServer(fake, { port }) };
}

/** The real time shifted by `offsetMs`, which a test moves forward to reach a scheduled time. */
export interface ShiftedClock extends Clock {
  offsetMs: number;
}

export function shiftedClock(): ShiftedClock {
  const clock = { offsetMs: 0, now: () => Date.now() + clock.offsetMs };
  return clock;
}

export async function startStack(opts: { zone: Zone; fake?: FakeAcOptions; config?: Partial<Config>; clock?: Clock; schedulerTickMs?: number }): Promise<Stack> {
  const dir = mkdtempSync(path.join(tmpdir(), "lw-browser-"));
  const dns = await startDnsServer(opts.zone);
  const { fake, acServer } = await startFakeAc(opts.fake);
  const config = testConfig({
    PORT: 0,
    HOST: "127.0.0.1",
    DATA_DIR: dir,
    AC_ALLOW_PRIVATE_HOSTS: true,
    AC_REQUESTS_PER_SECOND: 1000,
    // As the product runs: AC's requests from the HTTP thread (the fake AC is on loopback, not msw).
    AC_HTTP_THREAD: true,
    DNS_SERVERS: [dns.address],
    DNS_TIMEOUT_MS: 300,
    LOG_LEVEL: process.env.LW_TEST_LOG ? "info" : "silent",
    ...opts.config,
  });
  const lw = await startListwarden({
    config,
    logger: createLogger({ level: config.LOG_LEVEL }),
    dbFile: path.join(dir, "listwarden.db"),
    worker: { pollMs: 50, creditsPollMs: 500 },
    ...(opts.clock ? { clock: opts.clock } : {}),
    ...(opts.schedulerTickMs ? { scheduler: { tickMs: opts.schedulerTickMs } } : {}),
  });
  const port = new URL(lw.url).port;
  return {
    url: `http://127.0.0.1:${port}`,
    lw,
    fake,
    acServer,
    dns,
    async close() {
      await lw.close();
      await acServer.close();
      await dns.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Debian's Chromium, headless, kept off the network: every host name resolves to nothing. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
      "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    ],
  });
}

/** Saves the page at desktop and phone width under test-results/screenshots/. */
/**
 * What a page did that a user would see as broken: alert/confirm dialogs (an injected script
 * would open one) and script errors or CSP violations in the console. 4xx responses are
 * expected on form errors and left out.
 */
export function watchPage(page: Page): { dialogs: string[]; problems: string[] } {
  const seen = { dialogs: [] as string[], problems: [] as string[] };
  page.on("dialog", (d) => {
    seen.dialogs.push(d.message());
    void d.dismiss();
  });
  page.on("console", (m) => {
    if (m.type() === "error" && !/^Failed to load resource: the server responded with a status of 4\d\d/.test(m.text())) seen.problems.push(m.text());
  });
  page.on("pageerror", (e) => seen.problems.push(e.message));
  return seen;
}

export async function snap(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const original = page.viewportSize() ?? DESKTOP;
  await page.setViewportSize(DESKTOP);
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}-desktop.png`), fullPage: true });
  await page.setViewportSize(PHONE);
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}-phone.png`), fullPage: true });
  await page.setViewportSize(original);
}

/** Signs a new user up in the page and connects the stack's fake AC with `key`; returns the connection's id. */
export async function signUpAndConnect(page: Page, stack: Stack, o: { email: string; password: string; key: string }): Promise<string> {
  await page.goto(`${stack.url}/signup`);
  await page.fill("#f-email", o.email);
  await page.fill("#f-password", o.password);
  await Promise.all([page.waitForURL(`${stack.url}/?notice=welcome`), page.click("button:has-text('Create account')")]);
  await page.goto(`${stack.url}/connections/new`);
  await page.fill("#f-apiUrl", stack.acServer.url);
  await page.fill("#f-apiKey", o.key);
  await Promise.all([page.waitForURL(/\/connections\/[^/]+\?notice=connected$/), page.click("button:has-text('Check and connect')")]);
  return new URL(page.url()).pathname.split("/").pop()!;
}

/** What a browser test works with; `stack` and `page` are set by the hooks `chromiumSuite` registers. */
export interface ChromiumSuite {
  readonly stack: Stack;
  readonly page: Page;
  /** `p` on the stack's URL. */
  url(p: string): string;
  /** The first match's text, its whitespace collapsed. */
  text(selector: string): Promise<string>;
}

/**
 * The lifecycle every browser test shares, registered in the calling `describe`: before all, the stack
 * (`startStack(o.stack)`), then `o.setUp` with it (the test's fixtures), then Chromium; after all, both
 * closed; each test gets a fresh desktop context (plus `o.context`) and page, watched, and ends with no
 * dialogs and no problems.
 */
export function chromiumSuite(o: {
  stack: Parameters<typeof startStack>[0];
  setUp?: (stack: Stack) => void | Promise<void>;
  context?: BrowserContextOptions;
}): ChromiumSuite {
  let stack: Stack | undefined;
  let browser: Browser | undefined;
  let context: BrowserContext;
  let page: Page;
  let seen: ReturnType<typeof watchPage>;

  beforeAll(async () => {
    stack = await startStack(o.stack);
    await o.setUp?.(stack);
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await stack?.close();
  });

  beforeEach(async () => {
    context = await browser!.newContext({ viewport: DESKTOP, ...o.context });
    page = await context.newPage();
    seen = watchPage(page);
  });

  afterEach(async () => {
    await context.close();
    expect(seen.dialogs).toEqual([]);
    expect(seen.problems).toEqual([]);
  });

  const suite: ChromiumSuite = {
    get stack() {
      return stack!;
    },
    get page() {
      return page;
    },
    url: (p) => `${suite.stack.url}${p}`,
    text: async (selector) => ((await suite.page.locator(selector).first().textContent()) ?? "").replace(/\s+/g, " ").trim(),
  };
  return suite;
}
