import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseCsv } from "../support/runs.ts";
import { address, WORLD_ZONE } from "../support/world.ts";
import { CHROMIUM, chromiumSuite, signUpAndConnect, snap } from "./stack.ts";

/** The review a marketer can trust (issue 14): one set of numbers, an editable plan, the anomaly guard. */

const KEY = "3b5d7f9a1c3e5b7d9f1a3c5e7b9d1f3a5c7e9b1d3f5a7c9e1b3d5f7a9c1e3b5d7f9a1c3e";
const PASSWORD = "correct horse battery staple";
const ACTIVE = 1;
const UNSUBSCRIBED = 2;

const haveChromium = existsSync(CHROMIUM);

describe.skipIf(!haveChromium && !process.env.CI)("the review, in Chromium", () => {
  const ids: Record<string, string> = {};
  let news = "";
  let shop = "";

  // A manual run unsubscribing or deleting more than half of its contacts needs the number typed.
  const s = chromiumSuite({
    stack: { zone: WORLD_ZONE, fake: { apiKeys: [KEY] }, config: { ANOMALY_PERCENT: 50 } },
    setUp: (stack) => {
      const f = stack.fake;
      news = f.addList("Newsletter");
      shop = f.addList("Shop customers");
      ids.ada = f.addContact({ email: address("deliverable", "ada"), firstName: "Ada", lastName: "Lovelace", lists: { [news]: ACTIVE, [shop]: ACTIVE } });
      ids.alan = f.addContact({ email: address("aOnly", "alan"), firstName: "Alan", lists: { [news]: ACTIVE } });
      ids.bob = f.addContact({ email: address("noMail", "bob"), firstName: "Bob", lists: { [news]: ACTIVE, [shop]: ACTIVE } });
      ids.cy = f.addContact({ email: address("noDomain", "cy"), firstName: "Cy", lists: { [news]: ACTIVE } });
      ids.dee = f.addContact({ email: address("disposable", "dee"), firstName: "Dee", lists: { [shop]: ACTIVE } });
      ids.eve = f.addContact({ email: address("nullMx", "eve"), firstName: "Eve", lists: { [news]: ACTIVE, [shop]: UNSUBSCRIBED } });
      ids.fay = f.addContact({ email: address("noMail", "fay"), firstName: "Fay", lists: { [news]: UNSUBSCRIBED } });
    },
  });

  const { url, text } = s;
  const counts = async () => {
    const out: Record<string, string> = {};
    for (const k of ["contacts", "keep", "unsubscribe", "memberships", "delete", "nothing"]) out[k] = await text(`#review [data-count="${k}"]`);
    return out;
  };

  it("review → change an action and take a contact out → the counts follow → the anomaly needs its number → approve → ActiveCampaign is the edited plan", async () => {
    const { page, stack } = s;
    await signUpAndConnect(page, stack, { email: "review@example.com", password: PASSWORD, key: KEY });
    await page.check(`#list-${news}`);
    await page.check(`#list-${shop}`);
    await Promise.all([page.waitForURL(/\/runs\/[^/?]+$/), page.click("button:has-text('Start checking')")]);
    const runId = new URL(page.url()).pathname.split("/").pop()!;

    await page.waitForSelector("#review", { timeout: 20_000 });
    // Undeliverable → unsubscribe (the default): bob (2 lists), cy, eve (news only), fay (nothing to do).
    expect(await counts()).toEqual({ contacts: "7", keep: "3", unsubscribe: "3", memberships: "4", delete: "0", nothing: "1" });
    expect(await text("#sample-note")).toBe("These are all the contacts with a change.");
    expect(await text(".meta")).toContain("“Newsletter”, “Shop customers”");
    expect(await text("#chart-status")).toContain("Domain OK, mailbox not checked");
    await snap(page, "review");

    // Change the plan: risky (disposable) → delete. The anomaly guard shows (4 of 7 > 50%).
    await page.click("#change-plan > summary");
    await page.selectOption("#f-status-risky", "delete");
    await Promise.all([page.waitForURL(/notice=plan-changed/), page.click("button:has-text('Update the plan')")]);
    expect(await counts()).toEqual({ contacts: "7", keep: "2", unsubscribe: "3", memberships: "4", delete: "1", nothing: "1" });
    expect(await text("#anomaly")).toContain("it unsubscribes or deletes 4 contacts, 57% of those checked (more than 50%)");

    // Take Cy out of the plan from the contacts page, found by search.
    await page.click("#all-contacts");
    await page.fill("#f-q", "cy");
    await Promise.all([page.waitForURL(/contacts\?q=cy/), page.click(".filters button:has-text('Show')")]);
    expect(await text("#contacts-count")).toBe("Showing 1–1 of 1 contact");
    await Promise.all([page.waitForURL(/contacts\?q=cy/), page.click("button:has-text('Take out')")]);
    expect(await text("table.contacts")).toContain("Taken out of the plan");
    // The filtered view exports as CSV: the undeliverable contacts only.
    await page.goto(url(`/runs/${runId}/contacts?result=undeliverable`));
    expect(await text("#contacts-count")).toBe("Showing 1–4 of 4 contacts");
    await snap(page, "contacts");
    const exported = parseCsv(await (await page.request.get(url(`/api/runs/${runId}/contacts.csv?result=undeliverable`))).text());
    expect(exported.map((r) => r.email).sort()).toEqual([address("noMail", "bob"), address("noDomain", "cy"), address("nullMx", "eve"), address("noMail", "fay")].sort());

    // Back at the review: the counts follow everywhere (page, API).
    await page.goto(url(`/runs/${runId}`));
    expect(await counts()).toEqual({ contacts: "7", keep: "3", unsubscribe: "2", memberships: "3", delete: "1", nothing: "1" });
    const api = (await (await page.request.get(url(`/api/runs/${runId}`))).json()) as { plan: { keep: number; unsubscribe: { contacts: number; requests: number }; delete: { contacts: number }; excluded: number; anomaly: { needsConfirmation: boolean } } };
    expect(api.plan).toMatchObject({ keep: 3, unsubscribe: { contacts: 2, requests: 3 }, delete: { contacts: 1 }, excluded: 1, anomaly: { needsConfirmation: false } });
    // 3 of 7 is under 50%: no number to type now, only the delete to confirm.
    expect(await page.locator("#f-confirmCount").count()).toBe(0);

    // Put Cy back: 4 of 7 again, and the number must be typed.
    await page.goto(url(`/runs/${runId}/contacts?excluded=yes`));
    await Promise.all([page.waitForURL(/contacts\?excluded=yes/), page.click("button:has-text('Put back')")]);
    await page.goto(url(`/runs/${runId}`));
    expect(await text("#review [data-count='unsubscribe']")).toBe("3");
    await page.check("#f-confirmDelete");
    await page.fill("#f-confirmCount", "3");
    await page.click("button:has-text('Approve: unsubscribe 3 contacts and delete 1 contact')");
    await page.waitForSelector("#f-confirmCount[aria-invalid='true']");
    expect(await text(".error-summary, [role='alert']")).toContain("Type the number of contacts");
    expect(stack.fake.requests.filter((r) => r.method !== "GET")).toHaveLength(0);
    await page.check("#f-confirmDelete");
    await page.fill("#f-confirmCount", "4");
    await page.click("button:has-text('Approve: unsubscribe 3 contacts and delete 1 contact')");
    await page.waitForSelector('#run[data-status="completed"]', { timeout: 20_000 });

    // The finished run keeps its story, with the same numbers.
    expect(await text("#outcome [data-count='unsubscribe']")).toBe("3");
    expect(await text("#outcome [data-count='memberships']")).toBe("4");
    expect(await text("#outcome .plan-unsub small")).toContain("4 done");
    expect(await text("[data-count-kind='unsubscribe']")).toBe("4 of 4");
    expect(await text("[data-count-kind='delete']")).toBe("1 of 1");
    expect(await text("#outcome table.per-list")).toContain("Shop customers");
    await snap(page, "finished");

    // ActiveCampaign is exactly the edited plan.
    const f = stack.fake;
    expect([f.listStatus(ids.bob!, news), f.listStatus(ids.bob!, shop)]).toEqual([UNSUBSCRIBED, UNSUBSCRIBED]);
    expect(f.listStatus(ids.cy!, news)).toBe(UNSUBSCRIBED);
    expect([f.listStatus(ids.eve!, news), f.listStatus(ids.eve!, shop)]).toEqual([UNSUBSCRIBED, UNSUBSCRIBED]);
    expect(f.contacts.has(ids.dee!)).toBe(false);
    expect([f.listStatus(ids.ada!, news), f.listStatus(ids.ada!, shop), f.listStatus(ids.alan!, news)]).toEqual([ACTIVE, ACTIVE, ACTIVE]);
    expect(f.requests.filter((r) => r.method === "POST" && r.path.endsWith("/contactLists"))).toHaveLength(4);
    expect(f.requests.filter((r) => r.method === "DELETE")).toHaveLength(1);

    // The history names the lists and compares like with like.
    await page.goto(url(`/connections/${(await (await page.request.get(url(`/api/runs/${runId}`))).json() as { connectionId: string }).connectionId}/runs`));
    expect(await text("table")).toContain("“Newsletter”, “Shop customers”");
    expect(await text("#trend-scope")).toContain("without mailbox checks");
    await snap(page, "review-history");
  });
});
