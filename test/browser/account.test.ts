import { existsSync } from "node:fs";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startMailbox, type Mailbox } from "../support/mailbox.ts";
import { WORLD_ZONE } from "../support/world.ts";
import { CHROMIUM, DESKTOP, launchChromium, snap, startStack, type Stack, watchPage } from "./stack.ts";

const PASSWORD = "correct horse battery staple";
const NEW_PASSWORD = "violet harbour lantern echo";
const haveChromium = existsSync(CHROMIUM);

describe.skipIf(!haveChromium && !process.env.CI)("notifications, credits and passwords in Chromium", () => {
  let stack: Stack;
  let mailbox: Mailbox;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let seen: ReturnType<typeof watchPage>;

  beforeAll(async () => {
    mailbox = await startMailbox();
    stack = await startStack({ zone: WORLD_ZONE, config: { MAIL_URL: mailbox.url, MAIL_FROM: "Listwarden <lw@example.com>" } });
    browser = await launchChromium();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await stack?.close();
    await mailbox?.close();
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

  async function signUp(email: string) {
    await page.goto(url("/signup"));
    await page.fill("#f-email", email);
    await page.fill("#f-password", PASSWORD);
    await Promise.all([page.waitForURL(/\/\?notice=welcome/), page.click("button:has-text('Create account')")]);
  }
  async function signOut() {
    await Promise.all([page.waitForURL(/\/login/), page.click("button:has-text('Sign out')")]);
  }

  async function signIn(email: string) {
    await page.goto(url("/login"));
    await page.fill("#f-email", email);
    await page.fill("#f-password", PASSWORD);
    await Promise.all([page.waitForURL(url("/")), page.click("button:has-text('Sign in')")]);
  }

  it("a user chooses where to hear of runs, asks the operator for credits, and the operator approves them on the Operator page", async () => {
    // The operator: a user given the admin role (npx listwarden admin grant).
    await signUp("operator@example.com");
    stack.lw.deps.db.$client.prepare("UPDATE users SET role = 'admin' WHERE email = ?").run("operator@example.com");
    await signOut();

    await signUp("marketer@example.com");
    await page.click("nav a:has-text('Notifications')");
    await page.waitForURL(url("/settings/notifications"));
    expect(await page.inputValue("#f-email")).toBe("marketer@example.com");
    // Every event by default: 7 of runs and keys, 3 of monitoring (issue 18; a digest only comes when a connection asks for one).
    expect(await page.locator('input[name="events"]:checked').count()).toBe(10);
    // The server will call the webhook: a private address is refused next to the field.
    await page.fill("#f-webhookUrl", "https://10.0.0.8/hook");
    await page.click("button:has-text('Save')");
    await page.waitForSelector("#f-webhookUrl-error");
    expect(await text("#f-webhookUrl-error")).toContain("must be on a public host");
    await snap(page, "notifications-error");
    await page.fill("#f-webhookUrl", "");
    await page.uncheck("#ev-run_completed");
    await Promise.all([page.waitForURL(/notice=notifications-saved/), page.click("button:has-text('Save')")]);
    expect(await page.isChecked("#ev-run_completed")).toBe(false);
    await snap(page, "notifications");

    await page.goto(url("/credits"));
    await page.fill("#f-credits", "5000");
    await page.fill("#f-note", "Spring clean of Newsletter");
    await Promise.all([page.waitForURL(/notice=credits-requested/), page.click("button:has-text('Request credits')")]);
    expect(await text(".requests")).toContain("5,000 credits — waiting for the operator");
    await snap(page, "credits-request");
    await signOut();

    // The operator is e-mailed and decides on the Operator page.
    await signIn("operator@example.com");
    await stack.lw.deps.mailer.idle();
    expect(mailbox.mails.map((m) => [m.to[0], m.subject])).toContainEqual(["operator@example.com", "Credit request: 5,000 credits for marketer@example.com"]);
    await page.goto(url("/"));
    await Promise.all([page.waitForURL(url("/operator")), page.click("nav a:has-text('Operator')")]);
    expect(await text(".request")).toContain("marketer@example.com asks for 5,000 credits");
    expect(await text(".request")).toContain("Spring clean of Newsletter");
    await snap(page, "operator");
    await page.fill(".request input[name=credits]", "4000");
    await Promise.all([page.waitForURL(/notice=request-approved/), page.click(".request button:has-text('Approve')")]);
    expect(await text("#requests-h + p")).toBe("No request waits for you.");
    await signOut();

    await signIn("marketer@example.com");
    expect(await text(".balance .big-number")).toBe("4,100");
    await stack.lw.deps.mailer.idle();
    expect(mailbox.mails.map((m) => [m.to[0], m.subject])).toContainEqual(["marketer@example.com", "4,000 credits added to your Listwarden"]);
  }, 60_000);

  it("a forgotten password is reset from the e-mailed link, once", async () => {
    await signUp("forgetful@example.com");
    await signOut();
    await Promise.all([page.waitForURL(url("/forgot-password")), page.click("a:has-text('Forgot your password?')")]);
    await snap(page, "forgot-password");
    const before = mailbox.mails.length;
    await page.fill("#f-email", "forgetful@example.com");
    await Promise.all([page.waitForURL(/notice=reset-sent/), page.click("button:has-text('Send the link')")]);
    expect(await text(".notice.ok")).toContain("If an account uses this e-mail address");
    await stack.lw.deps.mailer.idle();
    const mail = mailbox.mails.slice(before).find((m) => m.to[0] === "forgetful@example.com")!;
    const link = new URL(/(http:\/\/\S+\/reset-password\?token=\S+)/.exec(mail.text)![1]!);

    await page.goto(url(`${link.pathname}${link.search}`));
    await snap(page, "reset-password");
    await page.fill("#f-password", NEW_PASSWORD);
    await Promise.all([page.waitForURL(/notice=password-reset/), page.click("button:has-text('Save the new password')")]);
    await page.fill("#f-email", "forgetful@example.com");
    await page.fill("#f-password", NEW_PASSWORD);
    await Promise.all([page.waitForURL(url("/")), page.click("button:has-text('Sign in')")]);
    await signOut();

    // The link works once.
    await page.goto(url(`${link.pathname}${link.search}`));
    expect(await text(".notice.bad")).toContain("This reset link is not valid");
  }, 60_000);
});
