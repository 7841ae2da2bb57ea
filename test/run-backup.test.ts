import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { openBackup, sealBackup, type BackupRecord } from "../core/runs/backups.ts";
import { SecretBox } from "../core/lib/crypto.ts";
import { createScheduler } from "../worker/schedules/scheduler.ts";
import { signUp } from "./support/app.ts";
import { mswServer } from "./support/msw.ts";
import { AC_BASE, AC_KEY, ACTIVE, createRunHarness, DAY, parseCsv, type RunHarness, UNSUBSCRIBED } from "./support/runs.ts";
import { address } from "./support/world.ts";

const server = mswServer();

/** A disposable address to delete, with everything a record has; a kept one and one to unsubscribe beside it. */
function seed(h: RunHarness) {
  const news = h.fake.addList("Newsletter, weekly");
  const customers = h.fake.addList("Customers");
  const vip = h.fake.addTag("VIP, gold");
  const promo = h.fake.addTag("=promo");
  const company = h.fake.addField("Company");
  const plan = h.fake.addField("Plan");
  const temp = h.fake.addContact({
    email: address("disposable", "temp"),
    firstName: "Tess",
    lastName: "O'Temp",
    phone: "+1 555 0100",
    lists: { [news]: ACTIVE, [customers]: UNSUBSCRIBED },
    tags: [vip, promo],
  });
  h.fake.setFieldValue(temp, company, "Acme, Inc.");
  h.fake.setFieldValue(temp, plan, "gold");
  const keep = h.fake.addContact({ email: address("deliverable", "keep"), lists: { [news]: ACTIVE } });
  h.fake.setFieldValue(keep, company, "Kept Ltd");
  h.fake.addContact({ email: address("noMail", "gone"), lists: { [news]: ACTIVE } });
  return { news, customers, vip, promo, company, plan, temp, keep };
}

async function deleteRun(h: RunHarness, listIds: string[]) {
  const run = await h.startRun({ scope: { kind: "lists", listIds }, actions: { undeliverable: "unsubscribe", overrides: [{ reason: "disposable", action: "delete" }] } });
  await h.worker().drain();
  const approved = await h.t.request("POST", `/api/runs/${run.id}/approve`, { as: h.user, body: { confirmDelete: true } });
  expect(approved.status).toBe(200);
  await h.worker().drain();
  return h.getRun(run.id);
}

describe("backup of deleted contacts (issue 14)", () => {
  it("keeps each deleted contact's whole record, read before the delete, sealed, and downloads it as CSV and JSON for AC's import", async () => {
    const h = await createRunHarness(server);
    try {
      const s = seed(h);
      const run = await deleteRun(h, [s.news]);
      expect(run.status).toBe("completed");
      expect(run.progress.byKind.delete.done).toBe(1);
      expect(h.fake.contacts.has(s.temp)).toBe(false);

      // Read (contact, lists, field values, tags) before the DELETE left, never after.
      const paths = h.fake.requests.map((r) => `${r.method} ${r.path}`);
      const del = paths.indexOf(`DELETE /api/3/contacts/${s.temp}`);
      expect(del).toBeGreaterThan(-1);
      expect(paths.slice(0, del)).toContain(`GET /api/3/contacts/${s.temp}`);
      expect(paths.slice(0, del)).toContain(`GET /api/3/contacts/${s.temp}/contactTags`);

      // One backup, of the deleted contact only, kept 30 days (BACKUP_RETENTION_DAYS' default).
      expect(run.backup.contacts).toBe(1);
      const rows = h.t.db.$client.prepare("SELECT contact_id, sealed, taken_at, expires_at FROM run_backups WHERE run_id = ?").all(run.id) as {
        contact_id: number;
        sealed: string;
        taken_at: number;
        expires_at: number;
      }[];
      expect(rows.map((r) => r.contact_id)).toEqual([Number(s.temp)]);
      expect(rows[0]!.expires_at - rows[0]!.taken_at).toBe(30 * DAY);
      expect(run.backup.expiresAt).toBe(new Date(rows[0]!.expires_at).toISOString());
      // Personal data at rest is sealed: neither the address nor a value shows in the row.
      expect(rows[0]!.sealed).not.toContain("temp");
      expect(rows[0]!.sealed).not.toContain("Acme");

      // CSV in the importer's shape: names, phone, tags by name, a column per custom field, lists apart.
      const csvRes = await h.t.request("GET", `/api/runs/${run.id}/backup.csv`, { as: h.user });
      expect(csvRes.status).toBe(200);
      expect(csvRes.headers.get("content-type")).toContain("text/csv");
      expect(csvRes.headers.get("content-disposition")).toContain("attachment");
      const csv = parseCsv(await csvRes.text());
      expect(csv).toEqual([
        {
          Email: address("disposable", "temp"),
          "First Name": "Tess",
          "Last Name": "O'Temp",
          // A cell a spreadsheet would run as a formula is escaped; the JSON keeps it exact.
          Phone: "'+1 555 0100",
          Tags: "VIP, gold, =promo",
          Company: "Acme, Inc.",
          Plan: "gold",
          "Active on lists": "Newsletter, weekly",
          "Other list statuses": "Customers: unsubscribed",
          "ActiveCampaign ID": s.temp,
        },
      ]);

      // JSON: `contacts` is a bulk import body; sent to AC it brings the contact back as it was.
      const jsonRes = await h.t.request("GET", `/api/runs/${run.id}/backup.json`, { as: h.user });
      expect(jsonRes.status).toBe(200);
      const backup = (await jsonRes.json()) as { runId: string; contacts: Record<string, unknown>[]; records: { email: string; lists: unknown[] }[] };
      expect(backup.runId).toBe(run.id);
      expect(backup.contacts).toEqual([
        {
          email: address("disposable", "temp"),
          first_name: "Tess",
          last_name: "O'Temp",
          phone: "+1 555 0100",
          tags: ["VIP, gold", "=promo"],
          fields: [
            { id: Number(s.company), value: "Acme, Inc." },
            { id: Number(s.plan), value: "gold" },
          ],
          subscribe: [{ listid: Number(s.news) }],
          unsubscribe: [{ listid: Number(s.customers) }],
        },
      ]);
      expect(backup.records[0]!.lists).toEqual([
        { id: s.news, name: "Newsletter, weekly", status: ACTIVE },
        { id: s.customers, name: "Customers", status: UNSUBSCRIBED },
      ]);
      const imported = await fetch(`${AC_BASE}/api/3/import/bulk_import`, {
        method: "POST",
        headers: { "Api-Token": AC_KEY, "content-type": "application/json" },
        body: JSON.stringify({ contacts: backup.contacts }),
      });
      expect(imported.status).toBe(200);
      h.fake.processImports(Number.MAX_SAFE_INTEGER);
      const back = [...h.fake.contacts.values()].find((c) => c.email === address("disposable", "temp"))!;
      expect(back).toMatchObject({ firstName: "Tess", lastName: "O'Temp" });
      expect(h.fake.listStatus(back.id, s.news)).toBe(ACTIVE);
      expect(h.fake.fieldValue(back.id, s.company)).toBe("Acme, Inc.");
      expect(h.fake.tagNamesOf(back.id)).toEqual(["=promo", "VIP, gold"]);

      // The page offers it.
      const html = await (await h.t.request("GET", `/runs/${run.id}`, { as: h.user })).text();
      expect(html).toContain(`href="/api/runs/${run.id}/backup.csv"`);
      expect(html).toMatch(/data-count="backup"[^>]*>1 contact</);

      // Another workspace never reads it.
      const other = await signUp(h.t);
      for (const file of ["backup.csv", "backup.json"]) {
        const res = await h.t.request("GET", `/api/runs/${run.id}/${file}`, { as: other });
        expect(res.status).toBe(404);
      }
    } finally {
      await h.close();
    }
  });

  it("takes no backup without a delete: a run that deletes nobody answers 404 with words, a bad id too", async () => {
    const h = await createRunHarness(server);
    try {
      const s = seed(h);
      const run = await h.startRun({ scope: { kind: "lists", listIds: [s.news] }, actions: { undeliverable: "unsubscribe" } });
      await h.worker().drain();
      await h.t.request("POST", `/api/runs/${run.id}/approve`, { as: h.user, body: {} });
      await h.worker().drain();
      expect((await h.getRun(run.id)).backup).toEqual({ contacts: 0, expiresAt: null });
      const res = await h.t.request("GET", `/api/runs/${run.id}/backup.csv`, { as: h.user });
      expect(res.status).toBe(404);
      const body = (await res.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe("not_found");
      expect(body.error.message).toContain("no backup of deleted contacts");
      expect((await h.t.request("GET", `/api/runs/run_nope/backup.json`, { as: h.user })).status).toBe(404);
      expect((await h.t.request("GET", `/runs/${run.id}`, { as: h.user }).then((r) => r.text()))).not.toContain("backup.csv");
    } finally {
      await h.close();
    }
  });

  it("weather while reading the record waits and tries again (never deletes without a backup); a contact gone first is done without one", async () => {
    const h = await createRunHarness(server);
    try {
      const s = seed(h);
      const gone = h.fake.addContact({ email: address("disposable", "vanished"), lists: { [s.news]: ACTIVE } });
      const run = await h.startRun({ scope: { kind: "lists", listIds: [s.news] }, actions: { undeliverable: "keep", overrides: [{ reason: "disposable", action: "delete" }] } });
      await h.worker().drain();
      await h.t.request("POST", `/api/runs/${run.id}/approve`, { as: h.user, body: { confirmDelete: true } });
      // The vanished contact leaves AC before the apply; the record of the other meets 503s first.
      h.fake.removeContact(gone);
      h.fake.clearRequests();
      h.fake.failNext(6, { status: 503 }, (r) => r.method === "GET" && r.path === `/api/3/contacts/${s.temp}/contactTags`);
      for (let i = 0; i < 10 && (await h.getRun(run.id)).status !== "completed"; i++) {
        await h.worker().drain();
        h.clock.advance(60_000);
      }
      const after = await h.getRun(run.id);
      expect(after.status).toBe("completed");
      expect(after.progress.byKind.delete).toMatchObject({ done: 2, failed: 0 });
      // Never a DELETE before its record was kept; one for the contact that was there.
      const deletes = h.fake.requests.filter((r) => r.method === "DELETE");
      expect(deletes.map((r) => r.path)).toEqual([`/api/3/contacts/${s.temp}`]);
      const tagReads = h.fake.requests.filter((r) => r.path === `/api/3/contacts/${s.temp}/contactTags`);
      expect(tagReads.some((r) => r.status === 503)).toBe(true);
      expect(tagReads.at(-1)!.status).toBe(200);
      expect(after.backup.contacts).toBe(1);
      const csv = parseCsv(await (await h.t.request("GET", `/api/runs/${run.id}/backup.csv`, { as: h.user })).text());
      expect(csv.map((r) => r.Email)).toEqual([address("disposable", "temp")]);
    } finally {
      await h.close();
    }
  });

  it("a delete whose answer was lost keeps the backup taken before it, and is not sent again once AC shows the contact gone", async () => {
    const h = await createRunHarness(server);
    try {
      const s = seed(h);
      const run = await h.startRun({ scope: { kind: "lists", listIds: [s.news] }, actions: { undeliverable: "keep", overrides: [{ reason: "disposable", action: "delete" }] } });
      await h.worker().drain();
      await h.t.request("POST", `/api/runs/${run.id}/approve`, { as: h.user, body: { confirmDelete: true } });
      h.fake.clearRequests();
      h.fake.failNext(1, { answerLost: true }, (r) => r.method === "DELETE");
      for (let i = 0; i < 10 && (await h.getRun(run.id)).status !== "completed"; i++) {
        await h.worker().drain();
        h.clock.advance(60_000);
      }
      const after = await h.getRun(run.id);
      expect(after.status).toBe("completed");
      expect(h.fake.contacts.has(s.temp)).toBe(false);
      // The DELETE reached AC once; what followed found the contact gone.
      expect(h.fake.requests.filter((r) => r.method === "DELETE" && r.status === 200)).toHaveLength(1);
      expect(after.backup.contacts).toBe(1);
      const backup = (await (await h.t.request("GET", `/api/runs/${run.id}/backup.json`, { as: h.user })).json()) as { contacts: { email: string; fields: unknown[] }[] };
      expect(backup.contacts.map((c) => [c.email, c.fields.length])).toEqual([[address("disposable", "temp"), 2]]);
    } finally {
      await h.close();
    }
  });

  it("is removed by the scheduler after BACKUP_RETENTION_DAYS, and then no longer downloads", async () => {
    const h = await createRunHarness(server, { config: { BACKUP_RETENTION_DAYS: 2 } });
    try {
      const s = seed(h);
      const run = await deleteRun(h, [s.news]);
      expect(run.backup.contacts).toBe(1);
      const scheduler = createScheduler(h.t.deps);
      h.clock.advance(2 * DAY - 1_000);
      await scheduler.tick();
      expect((await h.t.request("GET", `/api/runs/${run.id}/backup.csv`, { as: h.user })).status).toBe(200);
      h.clock.advance(1_000);
      await scheduler.tick();
      expect(h.t.db.$client.prepare("SELECT count(*) AS n FROM run_backups").get()).toEqual({ n: 0 });
      expect((await h.t.request("GET", `/api/runs/${run.id}/backup.csv`, { as: h.user })).status).toBe(404);
      const view = await h.getRun(run.id);
      expect(view.backup).toEqual({ contacts: 0, expiresAt: null });
      expect(await (await h.t.request("GET", `/runs/${run.id}`, { as: h.user })).text()).toContain("No backup is kept");
    } finally {
      await h.close();
    }
  });

  it("a sealed backup opens only as the backup of its own run and contact", () => {
    const box = new SecretBox(randomBytes(32));
    const record: BackupRecord = { contactId: "7", email: "ada@example.com", firstName: "Ada", lastName: "", phone: "", acCreated: "", acUpdated: "", lists: [], fields: [], tags: [] };
    const sealed = sealBackup(box, "run_a", record);
    expect(openBackup(box, "run_a", 7, sealed)).toEqual(record);
    // Copied to another run's row, or to another contact's, it does not decrypt.
    expect(() => openBackup(box, "run_b", 7, sealed)).toThrow();
    expect(() => openBackup(box, "run_a", 8, sealed)).toThrow();
  });
});
