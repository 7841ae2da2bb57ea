import { existsSync } from "node:fs";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WORLD_ZONE } from "../support/world.ts";
import { CHROMIUM, DESKTOP, launchChromium, snap, startStack, type Stack, watchPage } from "./stack.ts";

const PASSWORD = "correct horse battery staple";
const haveChromium = existsSync(CHROMIUM);

describe.skipIf(!haveChromium && !process.env.CI)("the API reference in Chromium", () => {
  let stack: Stack;
  let browser: Browser;

  beforeAll(async () => {
    stack = await startStack({ zone: WORLD_ZONE });
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await stack?.close();
  });

  it("opens from the API tokens page, shows every resource under its own strict CSP, and tries routes with the session", async () => {
    const context = await browser.newContext({ viewport: DESKTOP });
    const page = await context.newPage();
    const seen = watchPage(page);
    const url = (p: string) => `${stack.url}${p}`;

    await page.goto(url("/signup"));
    await page.fill("#f-email", "reader@example.com");
    await page.fill("#f-password", PASSWORD);
    await Promise.all([page.waitForURL(url("/?notice=welcome")), page.click("button:has-text('Create account')")]);
    await page.goto(url("/tokens"));

    const [answer] = await Promise.all([page.waitForResponse(url("/api/reference")), page.click("a:has-text('API reference')")]);
    const csp = answer.headers()["content-security-policy"] ?? "";
    expect(csp).toContain("script-src 'self';");
    expect(csp).toContain("style-src 'self';");
    expect(csp).not.toMatch(/unsafe-eval|unsafe-inline|https?:/);
    await page.waitForSelector(".opblock-tag-section");
    for (const tag of ["auth", "tokens", "credits", "connections", "runs", "schedules"]) {
      expect(await page.locator(`.opblock-tag-section h3[data-tag="${tag}"]`).count()).toBe(1);
    }
    expect(await page.evaluate(() => [...document.scripts].filter((s) => !s.src).length)).toBe(0);
    await snap(page, "api-reference");

    // A read with the session cookie.
    const credits = page.locator("#operations-credits-get_credits");
    await credits.locator(".opblock-summary").click();
    await credits.locator("button.try-out__btn").click();
    await credits.locator("button.execute").click();
    await credits.locator(".responses-table.live-responses-table tbody .response-col_status").first().waitFor();
    expect((await credits.locator(".live-responses-table tbody .response-col_status").first().textContent())?.trim()).toBe("200");

    // A change with the session cookie: the page filled in the session's CSRF token.
    const create = page.locator("#operations-tokens-post_tokens");
    await create.locator(".opblock-summary").click();
    await create.locator("button.try-out__btn").click();
    await create.locator("textarea.body-param__text").fill('{"name": "From the reference"}');
    await create.locator("button.execute").click();
    await create.locator(".live-responses-table tbody .response-col_status").first().waitFor();
    expect((await create.locator(".live-responses-table tbody .response-col_status").first().textContent())?.trim()).toBe("201");
    await snap(page, "api-reference-tried");

    // The error shape, as a schema of its own.
    await page.locator("section.models button.models-control").click();
    const errorSchema = page.locator("section.models article[data-json-schema-level='0']", { has: page.locator(".json-schema-2020-12__title", { hasText: /^Error$/ }) });
    await errorSchema.locator(".json-schema-2020-12-expand-deep-button").first().click();
    for (const field of ["code", "message", "requestId", "field"]) await errorSchema.getByText(field, { exact: true }).first().waitFor();

    await context.close();
    expect(seen.dialogs).toEqual([]);
    expect(seen.problems).toEqual([]);
  });
});
