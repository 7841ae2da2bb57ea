import { existsSync } from "node:fs";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { address, WORLD_ZONE } from "../support/world.ts";
import { CHROMIUM, DESKTOP, launchChromium, snap, startStack, type Stack, watchPage } from "./stack.ts";

const KEY = "3e5a7b9c1d3e5f7a9b1c3d5e7f9a1b3c5d7e9f1a3b5c7d9e1f3a5b7c9d1e3f5a7b9c1d";
const PASSWORD = "correct horse battery staple";
const haveChromium = existsSync(CHROMIUM);

/** What the live page shows, read from the DOM: the bound figures and the progress bar. */
interface Shown {
  status: string;
  fetched: number;
  verified: number;
  charged: number;
  refunded: number;
  value: number;
  text: Record<string, string>;
}

const num = (s: string | undefined) => Number((s ?? "").replace(/[^0-9]/g, "") || "0");

describe.skipIf(!haveChromium && !process.env.CI)("counts, cost and progress in Chromium", () => {
  let stack: Stack;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let seen: ReturnType<typeof watchPage>;
  const lists: Record<string, string> = {};
  let counter = 0;

  beforeAll(async () => {
    // AC's own pace (5 requests a second) makes a 4,000-contact run last long enough to watch.
    stack = await startStack({ zone: WORLD_ZONE, fake: { apiKeys: [KEY], requestsPerSecond: 5 }, config: { AC_REQUESTS_PER_SECOND: 5, SIGNUP_CREDITS: 100 } });
    const f = stack.fake;
    lists.news = f.addList("Newsletter");
    lists.customers = f.addList("Customers");
    lists.big = f.addList("Everyone 2024");
    f.addTag("vip");
    for (let i = 0; i < 60; i++) f.addContact({ email: address(i % 5 === 0 ? "noDomain" : "deliverable", `n${i}`), lists: i < 20 ? { [lists.news!]: 1, [lists.customers!]: 1 } : { [lists.news!]: 1 } });
    for (let i = 0; i < 25; i++) f.addContact({ email: address("deliverable", `c${i}`), lists: { [lists.customers!]: 1 } });
    f.addContacts(4_000, (i) => ({ email: address(i % 7 === 0 ? "noDomain" : "deliverable", `big${i}`), lists: { [lists.big!]: 1 } }));
    browser = await launchChromium();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await stack?.close();
  });

  beforeEach(async () => {
    context = await browser.newContext({ viewport: DESKTOP });
    page = await context.newPage();
    seen = watchPage(page);
  });

  afterEach(async () => {
    await context.close();
    expect(seen.dialogs).toEqual([]);
    expect(seen.problems).toEqual([]);
  });

  const url = (p: string) => `${stack.url}${p}`;
  const text = async (selector: string) => ((await page.locator(selector).first().textContent()) ?? "").replace(/\s+/g, " ").trim();

  async function signUpAndConnect(): Promise<string> {
    await page.goto(url("/signup"));
    await page.fill("#f-email", `watcher${++counter}@example.com`);
    await page.fill("#f-password", PASSWORD);
    await Promise.all([page.waitForURL(/\/\?notice=welcome/), page.click("button:has-text('Create account')")]);
    await page.goto(url("/connections/new"));
    await page.fill("#f-apiUrl", stack.acServer.url);
    await page.fill("#f-apiKey", KEY);
    await Promise.all([page.waitForURL(/\/connections\/[^/]+\?notice=connected$/), page.click("button:has-text('Check and connect')")]);
    return new URL(page.url()).pathname;
  }

  it("the connection page shows each list's and tag's size and the estimate of the scope chosen, next to the balance", async () => {
    await signUpAndConnect();
    // Sizes are counted in ActiveCampaign (one request each) and shown beside each list.
    await page.waitForFunction(() => !document.body.textContent?.includes("counting…"), undefined, { timeout: 20_000 });
    expect(await text(`[data-size="list:${lists.news}"]`)).toBe("60 contacts");
    expect(await text(`[data-size="list:${lists.customers}"]`)).toBe("45 contacts");
    expect(await text(`[data-size="list:${lists.big}"]`)).toBe("4,000 contacts");
    expect(await text('[data-size="all"]')).toBe("4,085 contacts");
    expect(await text('[data-bind="contacts"]')).toBe("Choose what to check to see the estimate.");
    expect(await text('[data-bind="balance"]')).toBe("100 credits");

    await page.check(`#list-${lists.news}`);
    await page.waitForFunction(() => document.querySelector('[data-bind="contacts"]')?.textContent?.startsWith("About 60"));
    expect(await text('[data-bind="credits"]')).toContain("60 credits");
    expect(await text('[data-bind="time"]')).toMatch(/to fetch and check \(2 requests to ActiveCampaign/);
    expect(await text('[data-bind="verdict"]')).toBe("Your balance covers it.");

    await page.check(`#list-${lists.customers}`);
    await page.waitForFunction(() => document.querySelector('[data-bind="contacts"]')?.textContent?.startsWith("Up to 105"));
    expect(await text('[data-bind="verdict"]')).toContain("Your balance covers 100 contacts");
    expect(await page.getAttribute('[data-bind="verdict"]', "class")).toBe("notice warn");
    await snap(page, "connection-estimate");

    // Starting what the balance cannot cover asks first.
    await page.click("button:has-text('Start checking')");
    await page.waitForSelector("#shortfall");
    expect(await text("#shortfall")).toContain("It needs up to 105 credits and you have 100 credits");
    expect(await page.getAttribute("#shortfall a", "href")).toBe("/credits#top-up");
    await snap(page, "connection-shortfall");
  }, 60_000);

  it("the live page's figures move together, never go backwards, and agree with the API", async () => {
    const connectionPath = await signUpAndConnect();
    const connectionId = connectionPath.split("/").pop()!;
    // Enough credits for the big list, through the operator's own path.
    const { findUserByEmail } = await import("../../core/services/accounts.ts");
    const { grantCredits } = await import("../../core/services/credits.ts");
    const user = findUserByEmail(stack.lw.deps.db, `watcher${counter}@example.com`)!;
    grantCredits(stack.lw.deps.db, stack.lw.deps.clock, { workspaceId: user.workspaceId, amount: 5_000, reason: "test" });

    await page.goto(url(connectionPath));
    await page.check(`#list-${lists.big}`);
    await Promise.all([page.waitForURL(/\/runs\/[^/?]+$/), page.click("button:has-text('Start checking')")]);
    const runId = new URL(page.url()).pathname.split("/").pop()!;

    /** The page reloads itself when the status changes: a read caught by that reload is read again. */
    const read = async (): Promise<Shown> => {
      for (let attempt = 0; ; attempt++) {
        try {
          return await readOnce();
        } catch (err) {
          if (attempt > 5 || !/context was destroyed|navigat/i.test(String(err))) throw err;
          await page.waitForLoadState("load");
        }
      }
    };
    const readOnce = (): Promise<Shown> =>
      page.evaluate(() => {
        const texts: Record<string, string> = {};
        document.querySelectorAll("[data-bind]").forEach((el) => (texts[el.getAttribute("data-bind")!] = (el.textContent ?? "").trim()));
        const bar = document.getElementById("run-progress") as HTMLProgressElement | null;
        const n = (k: string) => Number((texts[k] ?? "").replace(/[^0-9]/g, "") || "0");
        return {
          status: document.getElementById("run")?.getAttribute("data-status") ?? "",
          fetched: n("fetched"),
          verified: n("verified"),
          charged: n("charged"),
          refunded: n("refunded"),
          value: bar && bar.hasAttribute("value") ? bar.value : 0,
          text: texts,
        };
      });
    const api = async () => (await (await page.request.get(url(`/api/runs/${runId}`))).json()) as { status: string; progress: { fetched: number; verified: number; total: number | null }; credits: { charged: number; refunded: number } };

    const samples: Shown[] = [];
    let midRun = false;
    for (let i = 0; i < 120; i++) {
      const shown = await read();
      const after = await api();
      if (shown.status !== "running" && shown.status !== "queued") break;
      samples.push(shown);
      // The API is never behind what the page shows: both read the same counters.
      expect(after.progress.fetched).toBeGreaterThanOrEqual(shown.fetched);
      expect(after.progress.verified).toBeGreaterThanOrEqual(shown.verified);
      expect(after.credits.charged).toBeGreaterThanOrEqual(shown.charged);
      // Every figure moves together: what is checked was fetched and charged.
      expect(shown.verified).toBeLessThanOrEqual(shown.fetched);
      expect(shown.charged).toBe(shown.fetched);
      if (!midRun && shown.verified > 0 && shown.text.left && shown.text.left !== "Measuring…") {
        midRun = true;
        expect(shown.text.total).toMatch(/^(about )?4,000$/);
        expect(shown.text.rate).toMatch(/contacts a minute$/);
        expect(shown.text.left).toMatch(/^(under a minute|about \d+ min)/);
        await snap(page, "run-live");
      }
      await page.waitForTimeout(250);
    }
    expect(samples.length).toBeGreaterThan(3);
    expect(midRun).toBe(true);
    for (let i = 1; i < samples.length; i++) {
      for (const k of ["fetched", "verified", "charged", "refunded", "value"] as const) {
        expect(samples[i]![k], `${k} went backwards between samples ${i - 1} and ${i}`).toBeGreaterThanOrEqual(samples[i - 1]![k]);
      }
    }

    await page.waitForSelector('#run[data-status="awaiting_review"]', { timeout: 60_000 });
    const final = await read();
    const done = await api();
    expect({ fetched: final.fetched, verified: final.verified, charged: final.charged, refunded: final.refunded }).toEqual({
      fetched: done.progress.fetched,
      verified: done.progress.verified,
      charged: done.credits.charged,
      refunded: done.credits.refunded,
    });
    expect(done.progress.total).toBe(4_000);
    expect(final.text.total).toBe("4,000");
    expect(final.text.waiting).toBe("Your review");

    // The home page says the run waits for the user.
    await page.goto(url("/"));
    expect(await text(".waiting-banner")).toContain("A run waits for you");
    expect(await page.getAttribute(".waiting-banner a", "href")).toBe(`/runs/${runId}`);
    await snap(page, "home-waiting");

    // The credit history: one line for the run, its entries inside.
    await page.goto(url("/credits"));
    const runLine = page.locator("details.ledger-run");
    expect(await runLine.count()).toBe(1);
    expect(await text("details.ledger-run summary")).toContain("Run on");
    await runLine.locator("summary").click();
    expect(await runLine.locator(".ledger-entries li").count()).toBeGreaterThan(10);
    await snap(page, "credits-history");
    expect(connectionId).toBeTruthy();
  }, 120_000);
});
