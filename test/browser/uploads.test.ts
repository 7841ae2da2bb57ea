import { existsSync, readFileSync } from "node:fs";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findUserByEmail } from "../../core/services/accounts.ts";
import { grantCredits } from "../../core/services/credits.ts";
import { readCsv } from "../support/uploads.ts";
import { address, WORLD_ZONE, type Kind } from "../support/world.ts";
import { CHROMIUM, DESKTOP, launchChromium, snap, startStack, type Stack, watchPage } from "./stack.ts";

const haveChromium = existsSync(CHROMIUM);

/** 150 addresses (semicolons, UTF-8 with a BOM, as a European Excel saves them) and 10 rows repeating one in upper case. */
function contactsFile(): Buffer {
  const lines = ["Name;E-Mail;Firma"];
  for (let i = 0; i < 150; i++) {
    const kind: Kind = i % 5 === 0 ? "noMail" : i % 9 === 0 ? "dnsError" : "deliverable";
    lines.push(`Kontakt ${i};${address(kind, `k${i}`)};Müller & Söhne`);
  }
  for (let i = 0; i < 10; i++) lines.push(`Wieder ${i};${lines[i * 3 + 2]!.split(";")[1]!.toUpperCase()};`);
  return Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(lines.join("\r\n") + "\r\n")]);
}

describe.skipIf(!haveChromium && !process.env.CI)("verifying a file in Chromium", () => {
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

  const text = async (page: Page, selector: string) => ((await page.locator(selector).first().textContent()) ?? "").replace(/\s+/g, " ").trim();

  it("a marketer uploads a file, confirms the column, sees the cost, starts, watches it pause and finish, and downloads the results and a filtered file", async () => {
    const context = await browser.newContext({ viewport: DESKTOP, acceptDownloads: true });
    const page = await context.newPage();
    const seen = watchPage(page);
    const url = (p: string) => `${stack.url}${p}`;

    await page.goto(url("/signup"));
    const email = "files@example.com";
    await page.fill("#f-email", email);
    await page.fill("#f-password", "correct horse battery staple");
    await Promise.all([page.waitForURL(url("/?notice=welcome")), page.click("button:has-text('Create account')")]);

    // From the navigation to the upload form.
    await Promise.all([page.waitForURL(url("/uploads")), page.click("nav a:has-text('Verify a file')")]);
    await snap(page, "uploads-empty");
    // A workbook is refused with what to do about it, next to the file field.
    await page.setInputFiles("#f-file", { name: "contacts.xlsx", mimeType: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", buffer: Buffer.from("PK\x03\x04rest of a zip") });
    await page.click("button:has-text('Upload and read the file')");
    await page.waitForSelector("#f-file-error");
    expect(await text(page, "#f-file-error")).toContain("This is an Excel workbook (.xlsx) or another zip file, not a CSV file");
    await snap(page, "uploads-refused");

    await page.setInputFiles("#f-file", { name: "Messe-Kontakte.csv", mimeType: "text/csv", buffer: contactsFile() });
    await Promise.all([page.waitForURL(/\/uploads\/upl_/), page.click("button:has-text('Upload and read the file')")]);
    const uploadPath = new URL(page.url()).pathname;

    // Step 1: the detected column is shown, chosen, for the user to confirm or change.
    expect(await text(page, "h1")).toBe("Messe-Kontakte.csv");
    expect(await text(page, ".meta")).toContain("UTF-8 with a byte-order mark");
    expect(await text(page, ".meta")).toContain("Separated by semicolons");
    expect(await page.locator("table.preview th.chosen").textContent()).toBe("E-Mail");
    expect(await page.isChecked("input[name=column][value='1']")).toBe(true);
    expect(await text(page, "#retention")).toMatch(/kept until .* \(30 days after the upload\), then deleted/);
    await snap(page, "upload-column");
    await Promise.all([page.waitForURL(url(`${uploadPath}`)), page.click("button:has-text('Confirm the column')")]);

    // Step 2: the cost, before anything is charged.
    expect(await text(page, "[data-cost=rows]")).toBe("160");
    expect(await text(page, "[data-cost=unique]")).toBe("150");
    expect(await text(page, "[data-cost=credits]")).toBe("150");
    expect(await text(page, "[data-cost=balance]")).toBe("100");
    expect(await text(page, "#cost-step")).toContain("10 rows repeat an address of another row");
    expect(await text(page, "#cost-step .notice.warn")).toContain("Your balance covers 100 of 150");
    await snap(page, "upload-cost");

    // Start: the page follows the run by itself; it pauses when the 100 credits are spent.
    await page.click("button:has-text('Start: verify 150 addresses')");
    await page.waitForSelector("#run[data-status='paused_credits']", { timeout: 20_000 });
    expect(await text(page, "#progress-text")).toContain("Paused. Checked 100 of 150");
    await snap(page, "upload-paused");

    // Credits arrive: it goes on and finishes without a reload by the user.
    const user = findUserByEmail(stack.lw.deps.db, email)!;
    grantCredits(stack.lw.deps.db, stack.lw.deps.clock, { workspaceId: user.workspaceId, amount: 100, reason: "Top-up by the operator" });
    await page.waitForSelector("#run[data-status='completed']", { timeout: 20_000 });
    expect(await text(page, "#progress-text")).toBe("Done: 150 unique addresses checked for 160 rows.");
    expect(await text(page, "[data-bind=charged]")).toBe("150");
    expect(await page.locator("#chart-status").count()).toBe(1);
    await snap(page, "upload-done");

    // The whole file with results, in its own encoding and separator.
    const [all] = await Promise.all([page.waitForEvent("download"), page.click("a[data-filter=all]")]);
    expect(all.suggestedFilename()).toBe("Messe-Kontakte-results.csv");
    const bytes = readFileSync((await all.path())!);
    expect([...bytes.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
    const rows = readCsv(bytes, "utf-8", ";");
    expect(rows[0]).toEqual(["Name", "E-Mail", "Firma", "status", "reason", "flags", "suggestion", "normalized"]);
    expect(rows).toHaveLength(161);
    expect(rows[1]).toEqual(["Kontakt 0", "k0@nomail.example.com", "Müller & Söhne", "undeliverable", "no_mail_server", "", "", "k0@nomail.example.com"]);
    expect(rows[2]!.slice(0, 5)).toEqual(["Kontakt 1", "k1@ok.example.com", "Müller & Söhne", "deliverable", "mail_domain_ok"]);

    // A filtered file: the rows safe to mail.
    const [deliverable] = await Promise.all([page.waitForEvent("download"), page.click("a[data-filter=deliverable]")]);
    expect(deliverable.suggestedFilename()).toBe("Messe-Kontakte-deliverable.csv");
    const kept = readCsv(readFileSync((await deliverable.path())!), "utf-8", ";").slice(1);
    expect(kept.length).toBeGreaterThan(0);
    expect(kept.every((r) => r[3] === "deliverable")).toBe(true);
    expect(kept).toHaveLength(rows.slice(1).filter((r) => r[3] === "deliverable").length);

    // The list of files links to it.
    await page.goto(url("/uploads"));
    expect(await text(page, "table")).toContain("Messe-Kontakte.csv");
    await snap(page, "uploads-list");
    expect(seen.dialogs).toEqual([]);
    expect(seen.problems).toEqual([]);
    await context.close();
  });
});
