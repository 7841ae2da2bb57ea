import { existsSync } from "node:fs";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { address, WORLD_ZONE } from "../support/world.ts";
import { schema } from "../../db/index.ts";
import { findUserByEmail } from "../../core/services/accounts.ts";
import { getRun } from "../../core/services/runs.ts";
import { createSchedule } from "../../core/services/schedules.ts";
import { CHROMIUM, DESKTOP, launchChromium, shiftedClock, snap, startFakeAc, startStack, type Stack, watchPage } from "./stack.ts";

const KEY = "3c5d7e9f1a2b4c6d8e0f1a3b5c7d9e1f3a5b7c9d1e3f5a7b9c1d3e5f7a9b1c3d5e7f9a1b";
const PASSWORD = "correct horse battery staple";
/** The browser's zone; schedules in other zones also show the time here. */
const BROWSER_ZONE = "Europe/Berlin";

const haveChromium = existsSync(CHROMIUM);

/** Wall-clock parts of an instant in a zone, e.g. { day: 1, time: "09:00", lastDay: false }. */
function wallClock(iso: string, timeZone: string) {
  const at = new Date(iso);
  const parts = new Intl.DateTimeFormat("en-GB", { timeZone, year: "numeric", month: "numeric", day: "numeric", hour: "2-digit", minute: "2-digit", hourCycle: "h23" }).formatToParts(at);
  const get = (t: string) => parts.find((p) => p.type === t)?.value ?? "";
  const nextDay = new Intl.DateTimeFormat("en-GB", { timeZone, day: "numeric" }).format(new Date(at.getTime() + 86_400_000));
  return { day: Number(get("day")), time: `${get("hour")}:${get("minute")}`, lastDay: nextDay === "1" };
}

describe.skipIf(!haveChromium && !process.env.CI)("connection settings, schedules and API tokens in Chromium", () => {
  const clock = shiftedClock();
  let stack: Stack;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let seen: ReturnType<typeof watchPage>;
  let emailCounter = 0;
  let email = "";
  const lists: Record<string, string> = {};
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    // The scheduler ticks when a test says so, at the time the test's clock says.
    stack = await startStack({ zone: WORLD_ZONE, fake: { apiKeys: [KEY] }, clock, schedulerTickMs: 3_600_000 });
    const f = stack.fake;
    lists.news = f.addList("Newsletter");
    lists.monthly = f.addList("Monthly digest");
    f.addTag("vip");
    f.addContact({ email: address("deliverable", "ada"), lists: { [lists.news]: 1 } });
    f.addContact({ email: address("disposable", "tom"), lists: { [lists.news]: 1 } });
    f.addContact({ email: address("nullMx", "dave"), lists: { [lists.news]: 1 } });
    for (const who of ["ann", "ben", "cat", "dan"]) ids[who] = f.addContact({ email: address("deliverable", who), lists: { [lists.monthly]: 1 } });
    ids.throwaway = f.addContact({ email: address("disposable", "throwaway"), lists: { [lists.monthly]: 1 } });
    ids.gone = f.addContact({ email: address("nullMx", "gone"), lists: { [lists.monthly]: 1 } });
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await stack?.close();
  });

  beforeEach(async () => {
    context = await browser.newContext({ viewport: DESKTOP, timezoneId: BROWSER_ZONE, locale: "en-GB" });
    page = await context.newPage();
    seen = watchPage(page);
  });

  afterEach(async () => {
    await context.close();
    // Each test's schedules end with it: a later test's clock must not start their runs.
    stack.lw.deps.db.delete(schema.schedules).run();
    clock.offsetMs = 0;
    expect(seen.dialogs).toEqual([]);
    expect(seen.problems).toEqual([]);
  });

  const url = (p: string) => `${stack.url}${p}`;
  const pathOf = (p: Page) => new URL(p.url()).pathname;
  const text = async (selector: string) => ((await page.locator(selector).first().textContent()) ?? "").replace(/\s+/g, " ").trim();
  const squash = (s: string | null) => (s ?? "").replace(/\s+/g, " ").trim();

  async function signUp() {
    email = `planner${++emailCounter}@example.com`;
    await page.goto(url("/signup"));
    await page.fill("#f-email", email);
    await page.fill("#f-password", PASSWORD);
    await Promise.all([page.waitForURL(url("/?notice=welcome")), page.click("button:has-text('Create account')")]);
  }

  /** Signs up and connects an AC account; returns the connection page's path. */
  async function signUpAndConnect(apiUrl = stack.acServer.url, key = KEY): Promise<string> {
    await signUp();
    await page.goto(url("/connections/new"));
    await page.fill("#f-apiUrl", apiUrl);
    await page.fill("#f-apiKey", key);
    await page.fill("#f-name", "Main account");
    await Promise.all([page.waitForURL(/\/connections\/[^/]+\?notice=connected$/), page.click("button:has-text('Check and connect')")]);
    return pathOf(page);
  }

  /** Opens a page; after the clock moved past the session's end, signs in again first. */
  async function open(path: string) {
    await page.goto(url(path));
    if (pathOf(page) !== "/login") return;
    await page.fill("#f-email", email);
    await page.fill("#f-password", PASSWORD);
    await Promise.all([page.waitForURL((u) => u.pathname === path.split("#")[0]), page.click("button:has-text('Sign in')")]);
  }

  const card = (description: string) => page.locator("article.schedule", { has: page.locator(`h3:text-is("${description}")`) });

  it("schedules: created in the browser's zone, a Delete without confirmation is refused next to the field, paused, resumed, edited and deleted", async () => {
    const connectionPath = await signUpAndConnect();
    expect(await text("#schedules")).toContain("No schedule yet");
    await Promise.all([page.waitForURL(url(`${connectionPath}/schedules/new`)), page.click("a:has-text('Add a schedule')")]);
    expect(await text("h1")).toBe("New monthly schedule");
    // Preselected by the page script: the server cannot know the browser's zone.
    expect(await page.inputValue("#f-timeZone")).toBe(BROWSER_ZONE);
    expect(await page.locator("#f-holdThreshold").isHidden()).toBe(true);
    await snap(page, "schedule-new");

    await page.selectOption("#f-dayOfMonth", "1");
    await page.selectOption("#f-hour", "9");
    await page.check(`#list-${lists.news}`);
    await page.selectOption("#f-undeliverable", "delete");
    expect(await page.locator("#f-confirmDelete").isVisible()).toBe(true);
    await page.check("#f-autoApply");
    await page.fill("#f-holdThreshold", "20");
    await page.click("button:has-text('Create schedule')");
    await page.waitForSelector("#f-confirmDelete-error");
    const confirmField = page.locator(".field.has-error", { has: page.locator("#f-confirmDelete") });
    expect(squash(await confirmField.locator(".field-error").textContent())).toContain("Tick the box to confirm that this schedule may delete contacts");
    expect(await page.getAttribute("#f-confirmDelete", "aria-describedby")).toBe("f-confirmDelete-error");
    expect(await text("#error-summary")).toContain("Confirm deletes");
    // Everything else is kept as sent, the zone included.
    expect(await page.inputValue("#f-timeZone")).toBe(BROWSER_ZONE);
    expect(await page.inputValue("#f-dayOfMonth")).toBe("1");
    expect(await page.inputValue("#f-hour")).toBe("9");
    expect(await page.inputValue("#f-undeliverable")).toBe("delete");
    expect(await page.isChecked(`#list-${lists.news}`)).toBe(true);
    expect(await page.isChecked("#f-autoApply")).toBe(true);
    expect(await page.inputValue("#f-holdThreshold")).toBe("20");
    await snap(page, "schedule-error");

    await page.check("#f-confirmDelete");
    await Promise.all([page.waitForURL(/\?notice=schedule-created#schedule-/), page.click("button:has-text('Create schedule')")]);
    const berlin = card("Monthly on the 1st at 09:00 (Europe/Berlin)");
    expect(await berlin.count()).toBe(1);
    const berlinAt = (await berlin.locator("[data-your-time]").getAttribute("data-your-time"))!;
    expect(wallClock(berlinAt, BROWSER_ZONE)).toMatchObject({ day: 1, time: "09:00" });
    expect(Date.parse(berlinAt)).toBeGreaterThan(Date.now());
    expect(Date.parse(berlinAt) - Date.now()).toBeLessThanOrEqual(31 * 86_400_000);
    const berlinLabel = new Intl.DateTimeFormat("en-GB", { timeZone: BROWSER_ZONE, weekday: "short", day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZoneName: "short" }).format(new Date(berlinAt));
    expect(squash(await berlin.locator(".next-run").textContent())).toBe(`Next run: ${berlinLabel}`);
    // Same zone as the browser: no second time.
    expect(await berlin.locator(".your-time").isHidden()).toBe(true);
    expect(squash(await berlin.locator(".badges").textContent())).toContain("deletes contacts (confirmed)");
    expect(squash(await berlin.locator(".apply-mode").textContent())).toBe("Applies automatically unless more than 20% would change");
    expect(squash(await berlin.locator(".schedule-facts").textContent())).toContain("“Newsletter”");

    // A second schedule in another zone shows its time there and here.
    await page.click("a:has-text('Add a schedule')");
    await page.selectOption("#f-dayOfMonth", "last");
    await page.selectOption("#f-hour", "23");
    await page.selectOption("#f-timeZone", "America/New_York");
    await page.check("#scope-all");
    await Promise.all([page.waitForURL(/\?notice=schedule-created#schedule-/), page.click("button:has-text('Create schedule')")]);
    const ny = card("Monthly on the last day at 23:00 (America/New_York)");
    const nyAt = (await ny.locator("[data-your-time]").getAttribute("data-your-time"))!;
    expect(wallClock(nyAt, "America/New_York")).toMatchObject({ time: "23:00", lastDay: true });
    expect(squash(await ny.locator(".next-run strong").textContent())).toMatch(/ 23:00 GMT-[45]$/);
    const here = wallClock(nyAt, BROWSER_ZONE);
    expect(await ny.locator(".your-time").isVisible()).toBe(true);
    expect(squash(await ny.locator(".your-time").textContent())).toMatch(new RegExp(`^\\(your time: .*\\b${here.day}\\b.*${here.time} CES?T\\)$`));
    expect(squash(await ny.locator(".apply-mode").textContent())).toBe("Stops for your review");
    expect(await ny.locator(".badges").textContent()).not.toContain("deletes contacts");
    expect(await page.locator("article.schedule").count()).toBe(2);
    await page.locator("#schedules").scrollIntoViewIfNeeded();
    await snap(page, "connection-schedules");

    // Pause and resume.
    await Promise.all([page.waitForURL(/notice=schedule-paused/), berlin.locator("button:has-text('Pause')").click()]);
    expect(squash(await berlin.locator(".badges").textContent())).toContain("Paused");
    expect(squash(await berlin.locator(".next-run").textContent())).toBe("Paused: no run until you resume it.");
    expect(await berlin.locator("button:has-text('Pause')").count()).toBe(0);
    await snap(page, "connection-schedule-paused");
    await Promise.all([page.waitForURL(/notice=schedule-resumed/), berlin.locator("button:has-text('Resume')").click()]);
    expect(squash(await berlin.locator(".next-run").textContent())).toBe(`Next run: ${berlinLabel}`);

    // Edit: the form shows the schedule as saved (its own zone, not the browser's).
    await Promise.all([page.waitForURL(/\/schedules\/sch_/), ny.locator("a:has-text('Edit')").click()]);
    expect(await text("h1")).toBe("Edit schedule");
    expect(await page.inputValue("#f-timeZone")).toBe("America/New_York");
    expect(await page.inputValue("#f-dayOfMonth")).toBe("last");
    expect(await page.inputValue("#f-hour")).toBe("23");
    expect(await page.isChecked("#scope-all")).toBe(true);
    await snap(page, "schedule-edit");
    await page.selectOption("#f-hour", "7");
    await Promise.all([page.waitForURL(/notice=schedule-saved/), page.click("button:has-text('Save schedule')")]);
    const edited = card("Monthly on the last day at 07:00 (America/New_York)");
    expect(await edited.count()).toBe(1);

    await Promise.all([page.waitForURL(/notice=schedule-deleted/), edited.locator("button:has-text('Delete')").click()]);
    expect(await page.locator("article.schedule").count()).toBe(1);
    expect(await text(".notice.ok")).toContain("Schedule deleted");
    const api = (await (await page.request.get(url(`/api/schedules?connectionId=${connectionPath.split("/").pop()}`))).json()) as { schedules: { paused: boolean; description: string }[] };
    expect(api.schedules).toMatchObject([{ paused: false, description: "Monthly on the 1st at 09:00 (Europe/Berlin)" }]);
    await page.goto(url("/"));
    expect(await text("ul.cards")).toContain(`Next scheduled run: ${berlinLabel}`);
    await snap(page, "home-scheduled");
  });

  it("the Clean form sends per-reason actions: Disposable → Delete in one click reaches the plan", async () => {
    const connectionPath = await signUpAndConnect();
    expect(await page.locator("#f-overrides").getAttribute("open")).toBeNull();
    await page.check(`#list-${lists.news}`);
    await page.click("button:has-text('Delete disposable addresses')");
    expect(await page.getAttribute("#f-overrides", "open")).not.toBeNull();
    expect(await page.inputValue("#f-override-disposable")).toBe("delete");
    expect(await page.inputValue("#f-risky")).toBe("keep");
    expect(await page.locator("#delete-warning").isVisible()).toBe(true);
    await page.selectOption("#f-override-role_account", "unsubscribe");
    await page.locator("#f-overrides").scrollIntoViewIfNeeded();
    await snap(page, "clean-overrides");

    await Promise.all([page.waitForURL(/\/runs\/[^/?]+$/), page.click("button:has-text('Start checking')")]);
    await page.waitForSelector("#review", { timeout: 20_000 });
    expect(await text(".plan-delete strong")).toBe("1");
    expect(await text(".plan-unsub strong")).toBe("1");
    expect(await text("table.sample")).toContain(address("disposable", "tom"));
    expect(await text(".details")).toContain("Disposable address: Delete · Role address (info@, sales@…): Unsubscribe");
    await page.click("#review button:has-text('Cancel run')");
    await page.waitForSelector('#run[data-status="cancelled"]');
    expect(pathOf(page)).not.toBe(connectionPath);
  });

  it("a scheduled run starts at its time, applies by itself under the threshold, and shows in the schedule and the run history", async () => {
    const connectionPath = await signUpAndConnect();
    await page.goto(url(`${connectionPath}/schedules/new`));
    await page.check(`#list-${lists.monthly}`);
    await page.click("button:has-text('Delete disposable addresses')");
    expect(await page.locator("#f-confirmDelete").isVisible()).toBe(true);
    await page.check("#f-confirmDelete");
    await page.check("#f-autoApply");
    await page.fill("#f-holdThreshold", "50");
    await Promise.all([page.waitForURL(/\?notice=schedule-created#schedule-/), page.click("button:has-text('Create schedule')")]);
    const schedule = page.locator("article.schedule").first();
    expect(squash(await schedule.locator(".schedule-facts").textContent())).toContain("Undeliverable → Unsubscribe · Disposable address → Delete");
    const at = (await schedule.locator("[data-your-time]").getAttribute("data-your-time"))!;
    const scheduleId = (await schedule.getAttribute("id"))!.replace(/^schedule-/, "");

    // A minute after the scheduled time, the scheduler starts the run.
    clock.offsetMs = Date.parse(at) - Date.now() + 60_000;
    const events = (await stack.lw.scheduler!.tick()).filter((e) => e.scheduleId === scheduleId);
    expect(events).toMatchObject([{ type: "started", occurrenceAt: at }]);
    const runId = (events[0] as { runId: string }).runId;

    await open(connectionPath);
    const occurrence = page.locator("article.schedule").first().locator(".occurrences tbody tr");
    expect(await occurrence.count()).toBe(1);
    expect(squash(await occurrence.locator("td").nth(1).textContent())).toContain("Started");
    await Promise.all([page.waitForURL(url(`/runs/${runId}`)), occurrence.locator("a:has-text('View run')").click()]);
    expect(await text(".page-header .meta")).toContain("Scheduled Monthly schedule");
    // 2 of 6 contacts change (one unsubscribed, one deleted): under 50%, so no review.
    await page.waitForSelector('#run[data-status="completed"]', { timeout: 20_000 });
    expect(getRun(stack.lw.deps, { ctx: { workspaceId: findUserByEmail(stack.lw.deps.db, email)!.workspaceId }, id: runId }).timings.reviewAt).toBeNull();
    expect(stack.fake.contacts.has(ids.throwaway!)).toBe(false);
    expect(stack.fake.listStatus(ids.gone!, lists.monthly!)).toBe(2);
    expect(stack.fake.contacts.has(ids.ann!)).toBe(true);
    expect((await stack.lw.scheduler!.tick()).filter((e) => e.scheduleId === scheduleId)).toMatchObject([{ type: "settled", runId, status: "completed" }]);

    await open(connectionPath);
    const row = page.locator("article.schedule .occurrences tbody tr").first();
    expect(squash(await row.textContent())).toContain("Completed");
    // The next occurrence is the following month's.
    const next = (await page.locator("article.schedule [data-your-time]").getAttribute("data-your-time"))!;
    expect(Date.parse(next)).toBeGreaterThan(Date.parse(at) + 27 * 86_400_000);
    await page.locator("#schedules").scrollIntoViewIfNeeded();
    await snap(page, "connection-schedule-occurrence");

    await open(`${connectionPath}/runs`);
    expect(squash(await page.locator("tbody tr").first().locator("td").first().textContent())).toContain("Scheduled");
    await snap(page, "history-scheduled");
  });

  it("replacing a key ActiveCampaign refused: the failed scheduled run says why, a wrong new key is refused next to the field, the right one clears the error", async () => {
    const oldKey = "9e1f3a5b7c9d1e3f5a7b9c1d3e5f7a9b1c3d5e7f9a1b3c5d7e9f1a2b4c6d8e0f1a3b5c7d";
    const newKey = "1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f";
    const { fake, acServer } = await startFakeAc({ apiKeys: [oldKey] });
    try {
      const list = fake.addList("Customers");
      fake.addContact({ email: address("deliverable", "kim"), lists: { [list]: 1 } });
      const connectionPath = await signUpAndConnect(acServer.url, oldKey);
      const connectionId = connectionPath.split("/").pop()!;
      const workspaceId = findUserByEmail(stack.lw.deps.db, email)!.workspaceId;
      const schedule = createSchedule(stack.lw.deps, {
        ctx: { workspaceId },
        input: { connectionId, scope: { kind: "all" }, actions: { deliverable: "keep", risky: "keep", undeliverable: "unsubscribe", unknown: "keep", overrides: [] }, dayOfMonth: 15, hour: 6, timeZone: "UTC", autoApply: false },
      });

      // The key is revoked in ActiveCampaign and a new one made; the monthly run fails.
      fake.apiKeys.clear();
      fake.apiKeys.add(newKey);
      clock.offsetMs = Date.parse(schedule.nextRun!.at) - Date.now() + 60_000;
      const started = (await stack.lw.scheduler!.tick()).find((e) => e.scheduleId === schedule.id);
      expect(started).toMatchObject({ type: "started" });
      const runId = (started as { runId: string }).runId;
      await open(`/runs/${runId}`);
      await page.waitForSelector('#run[data-status="failed"]', { timeout: 20_000 });
      expect(await text(".run-status .notice.bad")).toContain("ActiveCampaign refused this API key");
      await stack.lw.scheduler!.tick();

      await open(connectionPath);
      expect(await text("#replace-key h2")).toBe("ActiveCampaign refused this account’s API key");
      expect(await page.locator("form.clean-form").count()).toBe(0);
      expect(await page.locator("#f-apiKey").isVisible()).toBe(true);
      expect(await text("article.schedule .schedule-error")).toContain("failed: ActiveCampaign refused this API key");
      await snap(page, "connection-key-refused");

      // Home points to the fix.
      await page.goto(url("/"));
      expect(await text("ul.cards .notice.bad")).toContain("ActiveCampaign refused this API key");
      await Promise.all([page.waitForURL(url(`${connectionPath}#replace-key`)), page.click("a:has-text('Replace the API key')")]);

      // Another key AC does not know: refused next to the field, and never echoed.
      const wrongKey = "ffffeeeeddddccccbbbbaaaa9999888877776666555544443333222211110000aaaa";
      await page.fill("#f-apiKey", wrongKey);
      await page.fill("#f-name", "Shop account");
      await page.click("button:has-text('Check and replace the key')");
      await page.waitForSelector("#f-apiKey-error");
      const keyField = page.locator(".field.has-error", { has: page.locator("#f-apiKey") });
      expect(await keyField.locator(".field-error").textContent()).toContain("ActiveCampaign refused this API key too.");
      expect(await page.getAttribute("#f-apiKey", "aria-invalid")).toBe("true");
      expect(await page.inputValue("#f-apiKey")).toBe("");
      expect(await page.inputValue("#f-name")).toBe("Shop account");
      expect(await page.content()).not.toContain(wrongKey);
      await snap(page, "connection-key-error");

      await page.fill("#f-apiKey", ` ${newKey} `);
      await Promise.all([page.waitForURL(url(`${connectionPath}?notice=key-replaced`)), page.click("button:has-text('Check and replace the key')")]);
      expect(await text(".notice.ok")).toContain("ActiveCampaign accepted the new API key");
      expect(await text("h1")).toBe("Shop account");
      expect(await text(".page-header .meta")).toContain(`Key ending in ${newKey.slice(-4)}`);
      expect(await page.locator("#replace-key").count()).toBe(0);
      expect(await page.locator("form.clean-form").count()).toBe(1);
      expect(await page.content()).not.toContain(newKey);
      await page.goto(url("/"));
      expect(await page.locator("ul.cards .notice.bad").count()).toBe(0);

      // Later: rename only, from the closed settings panel.
      await page.goto(url(connectionPath));
      await page.click("#settings summary");
      expect(await page.inputValue("#f-name")).toBe("Shop account");
      await page.fill("#f-name", "Shop (EU)");
      await page.click("#settings button:has-text('Save')");
      await page.waitForURL(url(`${connectionPath}?notice=connection-saved`));
      expect(await text("h1")).toBe("Shop (EU)");
      expect(await text(".page-header .meta")).toContain(`Key ending in ${newKey.slice(-4)}`);
      await page.click("#settings summary");
      await page.locator("#settings").scrollIntoViewIfNeeded();
      await snap(page, "connection-settings");
    } finally {
      await acServer.close();
    }
  });

  it("API tokens: created and shown once, usable with the API, listed by their last 4 characters, deleted after a confirmation", async () => {
    await signUp();
    await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: stack.url });
    await Promise.all([page.waitForURL(url("/tokens")), page.click("nav a:has-text('API tokens')")]);
    expect(await page.getAttribute("nav a[href='/tokens']", "aria-current")).toBe("page");
    expect(await text("#tokens-h + *")).toBe("No API tokens yet.");

    await page.click("button:has-text('Create token')");
    await page.waitForSelector("#f-name-error");
    expect(await text("#f-name-error")).toContain("Enter a name");

    await page.fill("#f-name", "Report script");
    await page.click("button:has-text('Create token')");
    await page.waitForSelector(".token-created");
    const token = await page.inputValue("#new-token");
    expect(token).toMatch(/^lw_/);
    expect(await text(".token-created")).toContain("shown only this once");
    await page.click("button[data-copy]");
    await page.waitForFunction(() => document.querySelector(".copy-status")?.textContent !== "");
    expect(await text(".copy-status")).toBe("Copied to the clipboard.");
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(token);
    await snap(page, "tokens-created");

    const asProgram = () => page.request.get(url("/api/connections"), { headers: { authorization: `Bearer ${token}` } });
    expect((await asProgram()).status()).toBe(200);
    await page.goto(url("/tokens"));
    expect(await page.content()).not.toContain(token);
    const row = page.locator("table.tokens tbody tr");
    expect(await row.count()).toBe(1);
    expect(squash(await row.locator("td[data-label='Name']").textContent())).toBe("Report script");
    expect(squash(await row.locator("td[data-label='Token']").textContent())).toBe(`lw_…${token.slice(-4)}`);
    expect(await row.locator("td[data-label='Last used']").textContent()).not.toContain("Never");
    await snap(page, "tokens");

    await Promise.all([page.waitForURL(/\/tokens\/tok_[^/]+\/delete$/), row.locator("a:has-text('Delete')").click()]);
    expect(await text("h1")).toBe("Delete the token “Report script”?");
    await snap(page, "token-delete");
    await Promise.all([page.waitForURL(url("/tokens?notice=token-deleted")), page.click("button:has-text('Delete token')")]);
    expect(await page.locator("table.tokens").count()).toBe(0);
    expect((await asProgram()).status()).toBe(401);
  });
});
