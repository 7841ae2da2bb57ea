import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { address, WORLD_ZONE } from "../support/world.ts";
import { CHROMIUM, chromiumSuite, DESKTOP, PHONE, signUpAndConnect, snap } from "./stack.ts";

/** Checking new contacts as they arrive (issue 18), as a marketer meets it in the dashboard. */

const KEY = "3b5d7f9a1c3e5b7d9f1a3c5e7b9d1f3a5c7e9b1d3f5a7c9e1b3d5f7a9c1e3b5d7f9a1c3e5";
const PASSWORD = "correct horse battery staple";

describe.skipIf(!existsSync(CHROMIUM) && !process.env.CI)("monitoring in the dashboard, in Chromium", () => {
  let newsletter = "";
  let other = "";

  const s = chromiumSuite({
    stack: { zone: WORLD_ZONE, fake: { apiKeys: [KEY] } },
    setUp: (stack) => {
      // The sandbox delivers its webhook to the address the server listens on (127.0.0.1).
      stack.lw.deps.publicUrl = stack.url;
      newsletter = stack.fake.addList("Newsletter");
      other = stack.fake.addList("Customers");
    },
  });

  const { url, text } = s;

  it("a marketer turns monitoring on for one list, sees a new subscriber checked and unsubscribed, and turns it off", async () => {
    const { page, stack } = s;
    const connectionId = await signUpAndConnect(page, stack, { email: "monitor@example.com", password: PASSWORD, key: KEY });

    await Promise.all([page.waitForURL(url(`/connections/${connectionId}/monitoring`)), page.click("a:has-text('New contacts')")]);
    // The defaults, and what they do, before anything is saved.
    expect(await page.inputValue("#f-undeliverable")).toBe("unsubscribe");
    expect(await text("#preview")).toContain("Undeliverable: unsubscribed from the list it joined");
    expect(await text("#preview")).toContain("Risky: kept");

    await page.check("#f-enabled");
    await page.check("#scope-lists");
    await page.check(`#list-${newsletter}`);
    await Promise.all([page.waitForURL(/notice=monitor-on/), page.click("button:has-text('Save')")]);
    expect(await text(".monitor-status .badges")).toContain("Webhook: Registered");
    expect(stack.fake.webhooks.size).toBe(1);

    const bad = stack.fake.subscribe({ email: address("nullMx", "typo"), lists: [newsletter] });
    const elsewhere = stack.fake.subscribe({ email: address("nullMx", "elsewhere"), lists: [other] });
    await stack.fake.webhooksIdle();
    for (let i = 0; i < 200 && stack.fake.listStatus(bad, newsletter) !== 2; i++) await new Promise((r) => setTimeout(r, 25));
    expect(stack.fake.listStatus(bad, newsletter)).toBe(2);
    expect(stack.fake.listStatus(elsewhere, other)).toBe(1);

    await page.reload();
    const row = page.locator("table tr", { hasText: address("nullMx", "typo") });
    expect(((await row.textContent()) ?? "").replace(/\s+/g, " ")).toContain("Unsubscribed");
    expect(((await row.textContent()) ?? "").replace(/\s+/g, " ")).toContain("From Newsletter");
    expect(await page.locator("table tr", { hasText: address("nullMx", "elsewhere") }).count()).toBe(0);

    // Nothing overflows on a phone.
    await page.setViewportSize(PHONE);
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(PHONE.width);
    await page.setViewportSize(DESKTOP);
    await snap(page, "monitoring");

    await page.uncheck("#f-enabled");
    await Promise.all([page.waitForURL(/notice=monitor-off/), page.click("button:has-text('Save')")]);
    expect(stack.fake.webhooks.size).toBe(0);
    expect(await text(".monitor-status .badges")).toContain("Off");
  });
});
