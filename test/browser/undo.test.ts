import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { address, WORLD_ZONE } from "../support/world.ts";
import { CHROMIUM, chromiumSuite, signUpAndConnect, snap } from "./stack.ts";

/** Undoing a run's unsubscribes (issue 14), from the finished run's page. */

const KEY = "7e9b1d3f5a7c9e1b3d5f7a9c1e3b5d7f9a1c3e5b7d9f1a3c5e7b9d1f3a5c7e9b1d3f5a7c";
const PASSWORD = "correct horse battery staple";
const ACTIVE = 1;
const UNSUBSCRIBED = 2;

describe.skipIf(!existsSync(CHROMIUM) && !process.env.CI)("undo unsubscribes, in Chromium", () => {
  const ids: Record<string, string> = {};
  let news = "";
  let shop = "";

  const s = chromiumSuite({
    stack: { zone: WORLD_ZONE, fake: { apiKeys: [KEY] } },
    setUp: (stack) => {
      const f = stack.fake;
      news = f.addList("Newsletter");
      shop = f.addList("Shop customers");
      ids.ada = f.addContact({ email: address("deliverable", "ada"), firstName: "Ada", lists: { [news]: ACTIVE, [shop]: ACTIVE } });
      ids.bob = f.addContact({ email: address("noMail", "bob"), firstName: "Bob", lists: { [news]: ACTIVE, [shop]: ACTIVE } });
      ids.cy = f.addContact({ email: address("noDomain", "cy"), firstName: "Cy", lists: { [news]: ACTIVE } });
      ids.eve = f.addContact({ email: address("nullMx", "eve"), firstName: "Eve", lists: { [news]: ACTIVE, [shop]: UNSUBSCRIBED } });
    },
  });

  const { url, text } = s;

  it("restores exactly the memberships the run changed and refuses the one changed since", async () => {
    const { page, stack } = s;
    await signUpAndConnect(page, stack, { email: "undo@example.com", password: PASSWORD, key: KEY });
    await page.check(`#list-${news}`);
    await page.check(`#list-${shop}`);
    await Promise.all([page.waitForURL(/\/runs\/[^/?]+$/), page.click("button:has-text('Start checking')")]);
    const runId = new URL(page.url()).pathname.split("/").pop()!;
    await page.waitForSelector("#review", { timeout: 20_000 });
    await page.click("button:has-text('Approve')");
    await page.waitForSelector('#run[data-status="completed"]', { timeout: 20_000 });
    const f = stack.fake;
    expect([f.listStatus(ids.bob!, news), f.listStatus(ids.bob!, shop), f.listStatus(ids.cy!, news), f.listStatus(ids.eve!, news)]).toEqual([UNSUBSCRIBED, UNSUBSCRIBED, UNSUBSCRIBED, UNSUBSCRIBED]);

    // Since the run, Cy re-subscribed and unsubscribed again by other means.
    f.setListStatus(ids.cy!, news, ACTIVE);
    f.setListStatus(ids.cy!, news, UNSUBSCRIBED);
    f.contactLists.get(`${ids.cy}:${news}`)!.udate = "2099-01-01T00:00:00-00:00";

    // The page says what an undo will do, with the counts, and asks to confirm.
    await page.goto(url(`/runs/${runId}`));
    expect(await text("#undo [data-count='undo-memberships']")).toBe("4 list memberships");
    expect(await text("#undo [data-count='undo-contacts']")).toBe("3 contacts");
    expect(await text("#undo")).toContain("only if it is still as this run left it");
    await page.locator("#undo").scrollIntoViewIfNeeded();
    await snap(page, "undo-confirm");
    // Without the box ticked nothing is sent.
    await page.click("#undo button:has-text('Undo unsubscribes')");
    expect(new URL(page.url()).search).toBe("");
    expect(f.requests.filter((r) => r.method === "POST" && (r.body as { contactList?: { status?: number } })?.contactList?.status === 1)).toHaveLength(0);

    await page.check("#f-confirmUndo");
    await Promise.all([page.waitForURL(/notice=undo/), page.click("#undo button:has-text('Undo unsubscribes')")]);
    await page.waitForSelector('#undo[data-undo="done"]', { timeout: 20_000 });
    expect(await text("#undo-result")).toContain("Undone: 3 list memberships re-subscribed. 1 left as it is: changed since this run");
    await page.locator("#undo").scrollIntoViewIfNeeded();
    await snap(page, "undo-done");

    // ActiveCampaign: the three memberships still as the run left them are back; Cy's is as Cy left it; Eve's own unsubscribe is untouched.
    expect([f.listStatus(ids.bob!, news), f.listStatus(ids.bob!, shop), f.listStatus(ids.eve!, news)]).toEqual([ACTIVE, ACTIVE, ACTIVE]);
    expect(f.listStatus(ids.cy!, news)).toBe(UNSUBSCRIBED);
    expect(f.listStatus(ids.eve!, shop)).toBe(UNSUBSCRIBED);
    const resubscribed = f.requests
      .filter((r) => r.method === "POST" && (r.body as { contactList?: { status?: number } })?.contactList?.status === 1)
      .map((r) => (r.body as { contactList: { contact: number; list: number } }).contactList)
      .map((c) => `${c.contact}:${c.list}`)
      .sort();
    expect(resubscribed).toEqual([`${ids.bob}:${news}`, `${ids.bob}:${shop}`, `${ids.eve}:${news}`].sort());

    // Once only: the form is gone, and the API refuses a second undo.
    expect(await page.locator("#f-confirmUndo").count()).toBe(0);
    const { csrfToken } = (await (await page.request.get(url("/api/auth/me"))).json()) as { csrfToken: string };
    const again = await page.request.post(url(`/api/runs/${runId}/undo`), { headers: { "X-CSRF-Token": csrfToken } });
    expect(again.status()).toBe(409);
  });
});
