import { existsSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseCsv } from "../support/runs.ts";
import { address, WORLD_ZONE } from "../support/world.ts";
import { CHROMIUM, chromiumSuite, signUpAndConnect, snap } from "./stack.ts";

/** The backup of deleted contacts (issue 14), downloaded from the finished run's page. */

const KEY = "5c7e9b1d3f5a7c9e1b3d5f7a9c1e3b5d7f9a1c3e5b7d9f1a3c5e7b9d1f3a5c7e9b1d3f5a";
const PASSWORD = "correct horse battery staple";
const ACTIVE = 1;
const UNSUBSCRIBED = 2;

describe.skipIf(!existsSync(CHROMIUM) && !process.env.CI)("the backup of deleted contacts, in Chromium", () => {
  let news = "";
  let shop = "";
  let dee = "";

  const s = chromiumSuite({
    stack: { zone: WORLD_ZONE, fake: { apiKeys: [KEY] } },
    setUp: (stack) => {
      const f = stack.fake;
      news = f.addList("Newsletter");
      shop = f.addList("Shop customers");
      const vip = f.addTag("VIP");
      const company = f.addField("Company");
      f.addContact({ email: address("deliverable", "ada"), firstName: "Ada", lists: { [news]: ACTIVE } });
      // An undeliverable address: the default plan unsubscribes it, so the run stops for review.
      f.addContact({ email: address("noMail", "bob"), firstName: "Bob", lists: { [news]: ACTIVE } });
      dee = f.addContact({ email: address("disposable", "dee"), firstName: "Dee", lastName: "Dahl", phone: "555 0199", lists: { [news]: ACTIVE, [shop]: UNSUBSCRIBED }, tags: [vip] });
      f.setFieldValue(dee, company, "Dahl & Daughters");
    },
    context: { acceptDownloads: true },
  });

  const { url, text } = s;

  it("a run that deletes a contact offers its whole record as a download that parses and holds what AC had", async () => {
    const { page, stack } = s;
    await signUpAndConnect(page, stack, { email: "backup@example.com", password: PASSWORD, key: KEY });
    await page.check(`#list-${news}`);
    await Promise.all([page.waitForURL(/\/runs\/[^/?]+$/), page.click("button:has-text('Start checking')")]);
    const runId = new URL(page.url()).pathname.split("/").pop()!;
    await page.waitForSelector("#review", { timeout: 20_000 });

    // Risky (the disposable address) → delete; then approve with the delete confirmed.
    await page.click("#change-plan > summary");
    await page.selectOption("#f-status-risky", "delete");
    await Promise.all([page.waitForURL(/notice=plan-changed/), page.click("button:has-text('Update the plan')")]);
    await page.check("#f-confirmDelete");
    await page.click("button:has-text('Approve')");
    await page.waitForSelector('#run[data-status="completed"]', { timeout: 20_000 });
    expect(stack.fake.contacts.has(dee)).toBe(false);

    // The backup section says what is kept, until when, and offers the download.
    expect(await text("#backup h2")).toBe("Backup of deleted contacts");
    expect(await text("#backup [data-count='backup']")).toBe("1 contact");
    expect(await text("#backup")).toContain("Kept until");
    await page.locator("#backup").scrollIntoViewIfNeeded();
    await snap(page, "backup");

    const [download] = await Promise.all([page.waitForEvent("download"), page.click("text=Download backup of deleted contacts")]);
    expect(download.suggestedFilename()).toBe(`listwarden-${runId}-deleted-contacts.csv`);
    const rows = parseCsv(readFileSync((await download.path())!, "utf8"));
    expect(rows).toEqual([
      {
        Email: address("disposable", "dee"),
        "First Name": "Dee",
        "Last Name": "Dahl",
        Phone: "555 0199",
        Tags: "VIP",
        Company: "Dahl & Daughters",
        "Active on lists": "Newsletter",
        "Other list statuses": "Shop customers: unsubscribed",
        "ActiveCampaign ID": dee,
      },
    ]);

    const [json] = await Promise.all([page.waitForEvent("download"), page.click("text=Download backup (JSON)")]);
    const backup = JSON.parse(readFileSync((await json.path())!, "utf8")) as { contacts: { email: string; tags: string[]; subscribe: { listid: number }[] }[] };
    expect(backup.contacts).toMatchObject([{ email: address("disposable", "dee"), tags: ["VIP"], subscribe: [{ listid: Number(news) }] }]);
  });
});
