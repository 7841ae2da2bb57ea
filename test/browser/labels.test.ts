import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { address, WORLD_ZONE } from "../support/world.ts";
import { CHROMIUM, chromiumSuite, signUpAndConnect, snap } from "./stack.ts";

/** Label in ActiveCampaign (issue 17), as a marketer meets it in the dashboard. */

const KEY = "7a1c3e5b7d9f1a3c5e7b9d1f3a5c7e9b1d3f5a7c9e1b3d5f7a9c1e3b5d7f9a1c3e5b7d9f";
const PASSWORD = "correct horse battery staple";

const haveChromium = existsSync(CHROMIUM);

describe.skipIf(!haveChromium && !process.env.CI)("labels in the dashboard, in Chromium", () => {
  const ids: Record<string, string> = {};
  let list = "";

  const s = chromiumSuite({
    stack: { zone: WORLD_ZONE, fake: { apiKeys: [KEY] } },
    setUp: (stack) => {
      const f = stack.fake;
      list = f.addList("Newsletter");
      ids.ada = f.addContact({ email: address("deliverable", "ada"), firstName: "Ada", lists: { [list]: 1 } });
      ids.tom = f.addContact({ email: address("disposable", "tom"), firstName: "Tom", lists: { [list]: 1 } });
      ids.info = f.addContact({ email: address("deliverable", "info"), lists: { [list]: 1 } });
      ids.dave = f.addContact({ email: address("nullMx", "dave"), lists: { [list]: 1 } });
      ids.erin = f.addContact({ email: address("dnsError", "erin"), lists: { [list]: 1 } });
    },
  });

  const { url, text } = s;

  it("a marketer chooses Label for risky, sees it in the review, approves, and sees the values in the finished run", async () => {
    const { page, stack } = s;
    await signUpAndConnect(page, stack, { email: "labels@example.com", password: PASSWORD, key: KEY });

    // The Clean form: Label goes with any action; risky stays Keep, and is labelled.
    await page.check(`#list-${list}`);
    expect(await page.isChecked("#f-label-risky")).toBe(false);
    await page.check("#f-label-risky");
    await page.click("#f-label > summary");
    expect(await page.inputValue("#f-labelField")).toBe("Email status");
    expect(await page.locator("#f-tagPrefix").isVisible()).toBe(false);
    await page.check("#f-labelTags");
    expect(await page.locator("#f-tagPrefix").isVisible()).toBe(true);
    expect(await page.inputValue("#f-tagPrefix")).toBe("lw-");
    await page.locator("#f-label").scrollIntoViewIfNeeded();
    await snap(page, "labels-form");
    await Promise.all([page.waitForURL(/\/runs\/[^/?]+$/), page.click("button:has-text('Start checking')")]);
    const runId = new URL(page.url()).pathname.split("/").pop()!;

    // The review: labels are counted and shown, apart from the changes that unsubscribe.
    await page.waitForSelector("#review", { timeout: 20_000 });
    expect(await text("#plan-label")).toBe("2 labelled in ActiveCampaign “Email status”: risky 2");
    expect(await text(".plan-unsub strong")).toBe("1");
    expect(await text("#label-note")).toContain("tag lw-<result>");
    const tomRow = page.locator("table.sample tr", { hasText: address("disposable", "tom") });
    expect(await tomRow.locator(".a-label").textContent()).toBe("Label “risky”");
    expect(await text("#details-h + dl")).toContain("Deliverable: Keep · Risky: Keep + label · Undeliverable: Unsubscribe · Unknown: Keep");
    await snap(page, "labels-review");
    // Nothing was written before the approval.
    expect(stack.fake.fieldByTitle("Email status")).toBeUndefined();

    await page.click("button:has-text('Approve: unsubscribe 1 contact and label 2 contacts')");
    await page.waitForSelector('#run[data-status="completed"]', { timeout: 20_000 });
    expect(await text("#progress-text")).toBe("Done: 5 contacts checked, 1 list membership unsubscribed, 2 contacts labelled.");
    expect(await text('#labels [data-label="done"]')).toBe("2");
    expect(await text('#labels [data-label="skipped"]')).toBe("0");
    const cells = page.locator("#labels table.label-values tbody tr").first().locator("td");
    expect(await cells.nth(0).locator("code").textContent()).toBe("risky");
    expect(await cells.nth(0).locator(".sub-line").textContent()).toBe("tag lw-risky");
    expect(await cells.nth(1).textContent()).toBe("2");
    expect(await cells.nth(2).textContent()).toBe("2");
    expect(await page.locator("#labels table.label-values tbody tr").count()).toBe(1);
    await snap(page, "labels-completed");

    // ActiveCampaign has the values: the risky contacts, and no one else.
    const field = stack.fake.fieldByTitle("Email status")!;
    for (const who of ["tom", "info"]) {
      expect(stack.fake.fieldValue(ids[who]!, field.id), who).toBe("risky");
      expect(stack.fake.tagNamesOf(ids[who]!), who).toEqual(["lw-risky"]);
    }
    for (const who of ["ada", "dave", "erin"]) expect(stack.fake.fieldValue(ids[who]!, field.id), who).toBeUndefined();
    const report = await (await page.request.get(url(`/api/runs/${runId}/report.csv`))).text();
    expect(report).toContain(`risky,"written (import 1, ActiveCampaign batch`);
  });
});
