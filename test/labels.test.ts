import { eq } from "drizzle-orm";
import { http } from "msw";
import { setupServer } from "msw/node";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createDeps } from "../core/deps.ts";
import { reportSummary } from "../core/services/reports.ts";
import { createRun, getRun } from "../core/services/runs.ts";
import { openDb, schema } from "../db/index.ts";
import type { RunEvent } from "../worker/runs/context.ts";
import { createWorker } from "../worker/runs/worker.ts";
import { createScheduler } from "../worker/schedules/scheduler.ts";
import { createRunHarness, expectCountersMatchRows, parseCsv, type NewRun, type RunHarness } from "./support/runs.ts";
import { address, KINDS, type Kind } from "./support/world.ts";

/**
 * Label in ActiveCampaign (issue 17), end to end: the API starts the run, the worker checks,
 * plans and (after approval) writes the labels into the sandbox AC through msw.
 */

const server = setupServer();
beforeAll(() => server.listen({ onUnhandledRequest: "error" }));
afterEach(() => server.resetHandlers());
afterAll(() => server.close());

const ACTIVE = 1;
const STATUSES = ["deliverable", "risky", "undeliverable", "unknown"] as const;
const LABEL_ALL: NewRun["actions"] = {
  undeliverable: "keep",
  label: { statuses: [...STATUSES], tagPrefix: "lw-", reasonFieldName: "Email status reason" },
};
const CYCLE: Kind[] = ["deliverable", "disposable", "noMail", "dnsError"];
const kindOf = (i: number) => CYCLE[i % CYCLE.length]!;
const expectedOf = (i: number) => KINDS[kindOf(i)].expected;

/** `n` contacts on one list, cycling through the four results. */
function seed(h: RunHarness, n: number) {
  const list = h.fake.addList("Newsletter");
  const ids = h.fake.addContacts(n, (i) => ({ email: address(kindOf(i), `c${i}`), lists: { [list]: ACTIVE } }));
  return { list, ids };
}

/** A contact's label as the sandbox has it: the field values and the lw- tags. */
function labelOf(h: RunHarness, id: string) {
  const field = h.fake.fieldByTitle("Email status");
  const reason = h.fake.fieldByTitle("Email status reason");
  return {
    value: field ? h.fake.fieldValue(id, field.id) : undefined,
    reason: reason ? h.fake.fieldValue(id, reason.id) : undefined,
    tags: h.fake.tagNamesOf(id).filter((t) => t.startsWith("lw-")),
  };
}

async function approve(h: RunHarness, runId: string) {
  const res = await h.t.request("POST", `/api/runs/${runId}/approve`, { as: h.user, body: {} });
  expect(res.status).toBe(200);
}

/** Drains workers (advancing the clock past any wait) until the run is finished. */
async function finish(h: RunHarness, runId: string, opts: Parameters<RunHarness["worker"]>[0] = {}, get = (id: string) => h.getRun(id)) {
  for (let i = 0; i < 40; i++) {
    await h.worker({ labelPollMs: 2, ...opts }).drain();
    const run = await get(runId);
    if (run.status === "completed" || run.status === "failed") return run;
    h.clock.advance(10 * 60_000);
  }
  throw new Error("the run did not finish");
}

describe("labels in ActiveCampaign, through the API against the sandbox", () => {
  it("a run with Label on every status leaves each contact with exactly its field values and tag, no stale tag, no contact created, and no contact touched whose e-mail changed since the fetch", async () => {
    const h = await createRunHarness(server);
    const { ids } = seed(h, 560);
    // An earlier run's marks: the field exists, some contacts carry a verdict that no longer holds.
    const field = h.fake.addField("Email status");
    const lwDeliverable = h.fake.addTag("lw-deliverable");
    const vip = h.fake.addTag("vip");
    for (let i = 0; i < 40; i++) {
      const id = ids[i]!;
      h.fake.setFieldValue(id, field, "deliverable");
      h.fake.tagContact(id, lwDeliverable);
      h.fake.tagContact(id, vip);
    }
    const run = await h.startRun({ scope: { kind: "all" }, actions: LABEL_ALL });
    await h.worker().drain();
    const review = await h.getRun(run.id);
    expect(review.status).toBe("awaiting_review");
    expect(review.statusReason).toBe("Review the plan: approving would label 560 contacts in ActiveCampaign");
    expect(review.plan?.label).toEqual({ contacts: 560, byValue: { deliverable: 140, risky: 140, undeliverable: 140, unknown: 140 } });
    expect(review.plan?.sample[0]).toMatchObject({ action: "keep", label: "deliverable" });
    expect(h.fake.requests.filter((r) => r.method !== "GET")).toEqual([]);

    // Between the fetch and the write, people change things in ActiveCampaign.
    const a = ids[101]!;
    const b = ids[102]!;
    const emailOf = (id: string) => h.fake.contacts.get(id)!.email;
    const [ea, eb] = [emailOf(a), emailOf(b)];
    h.fake.changeEmail(a, eb); // two contacts swap addresses: an import by e-mail would label each as the other
    h.fake.changeEmail(b, ea);
    const c = ids[300]!;
    h.fake.changeEmail(c, "someone.else@example.com");
    const gone = ids[420]!;
    h.fake.removeContact(gone);
    const changed = [a, b, c];
    const before = new Map(changed.map((id) => [id, { ...labelOf(h, id), all: h.fake.tagNamesOf(id) }]));
    const contactsBefore = h.fake.contacts.size;
    h.fake.clearRequests();

    await approve(h, run.id);
    const done = await finish(h, run.id);
    expect(done.status).toBe("completed");
    expect(done.progress.labels).toEqual({ planned: 560, done: 556, skipped: 4, failed: 0, byValue: { deliverable: 138, risky: 139, undeliverable: 139, unknown: 140 } });
    expect(done.statusReason).toBe("Labelled 556 contacts (4 left out (changed or gone since the check)) in ActiveCampaign");

    // Exactly the right values and tags, and nothing stale.
    for (const [i, id] of ids.entries()) {
      if (changed.includes(id) || id === gone) continue;
      const want = expectedOf(i);
      expect({ i, ...labelOf(h, id) }).toEqual({ i, value: want.status, reason: want.reason, tags: [`lw-${want.status}`] });
    }
    // Tags that are not ours stay.
    expect(h.fake.tagNamesOf(ids[2]!)).toEqual(["lw-undeliverable", "vip"]);
    // The contacts changed since the fetch were not touched, and none was created.
    for (const id of changed) expect({ ...labelOf(h, id), all: h.fake.tagNamesOf(id) }).toEqual(before.get(id));
    expect(h.fake.contacts.size).toBe(contactsBefore);
    expect(h.fake.contacts.has(gone)).toBe(false);
    expect([...h.fake.imports.values()].flatMap((imp) => imp.success)).toEqual([]);
    const imported = [...h.fake.imports.values()].flatMap((imp) => imp.contacts.map((x) => x.email));
    for (const id of [...changed, gone]) expect(imported).not.toContain(address(kindOf(ids.indexOf(id)), `c${ids.indexOf(id)}`));
    // Imports carry no list and skip automations; nothing else was changed.
    expect([...h.fake.imports.values()].every((imp) => imp.excludeAutomations && imp.contacts.every((x) => !("subscribe" in x) && !("unsubscribe" in x)))).toBe(true);
    expect(h.fake.automationTriggers).toEqual([]);
    expect(h.fake.requests.filter((r) => r.path === "/api/3/contactLists" || (r.method === "DELETE" && r.path.startsWith("/api/3/contacts/")))).toEqual([]);
    // The field was attached to every list; the reason field created.
    expect([...h.fake.fieldRels.values()].filter((r) => r.relid === "0").map((r) => h.fake.fields.get(r.field)?.title).sort()).toEqual(["Email status", "Email status reason"]);

    // The report: the value written and each contact's batch outcome.
    const rows = parseCsv(await (await h.t.request("GET", `/api/runs/${run.id}/report.csv`, { as: h.user })).text());
    const row = (id: string) => rows.find((r) => r.contact_id === id)!;
    expect(row(ids[41]!)).toMatchObject({ label: "risky (disposable)", label_result: expect.stringMatching(/^written \(import \d+, ActiveCampaign batch 0641fbdd-[^)]+\)$/) });
    expect(row(ids[2]!).label_result).toMatch(/^written \(import \d+, ActiveCampaign batch [^)]+\); removed lw-deliverable$/);
    expect(row(a).label_result).toBe("left out: its e-mail address changed in ActiveCampaign since the check");
    expect(row(gone).label_result).toBe("left out: no longer in ActiveCampaign");
    const summary = (await (await h.t.request("GET", `/api/runs/${run.id}/summary.json`, { as: h.user })).json()) as { labels: Record<string, unknown> };
    expect(summary.labels).toMatchObject({
      planned: 560,
      written: 556,
      alreadyCurrent: 0,
      leftOut: { emailChanged: 3, gone: 1 },
      failed: 0,
      byValue: { deliverable: 138, risky: 139, undeliverable: 139, unknown: 140 },
      imports: 3,
      field: "Email status",
      reasonField: "Email status reason",
      tagPrefix: "lw-",
    });
    await expectCountersMatchRows(h, run.id);
    await h.close();
  });

  it("labels 1,000 contacts with 10 re-reads, 4 imports and a status poll each, besides finding (or, the first time, creating) the field and finding the tags", async () => {
    const h = await createRunHarness(server);
    seed(h, 1_000);
    const run = await h.startRun({ scope: { kind: "all" }, actions: { undeliverable: "keep", label: { statuses: [...STATUSES], tagPrefix: "lw-" } } });
    await h.worker().drain();
    await approve(h, run.id);
    h.fake.clearRequests();
    await finish(h, run.id, { labelPollMs: 20 });
    const kinds = new Map<string, number>();
    for (const r of h.fake.requests) {
      const kind =
        r.path === "/api/3/contacts" ? "re-read" : r.path === "/api/3/import/bulk_import" ? "import" : r.path === "/api/3/import/info" ? "poll" : `setup ${r.method} ${r.path}`;
      kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
    }
    expect(Object.fromEntries(kinds)).toEqual({
      "re-read": 10,
      import: 4,
      poll: 4,
      "setup GET /api/3/fields": 1,
      "setup POST /api/3/fields": 1,
      "setup POST /api/3/fieldRels": 1,
      "setup GET /api/3/tags": 1,
    });
    // The imports created the tags by name.
    expect(["lw-deliverable", "lw-risky", "lw-undeliverable", "lw-unknown"].every((t) => h.fake.tagByName(t))).toBe(true);
    // A second run finds the field and tags, and writes nothing that is already as wanted.
    const again = await h.startRun({ scope: { kind: "all" }, actions: { undeliverable: "keep", label: { statuses: [...STATUSES], tagPrefix: "lw-" } } });
    await h.worker().drain();
    await approve(h, again.id);
    h.fake.clearRequests();
    const second = await finish(h, again.id);
    expect(second.progress.labels).toMatchObject({ done: 1_000, failed: 0 });
    expect(h.fake.requests.map((r) => `${r.method} ${r.path}`).filter((r) => r !== "GET /api/3/contacts")).toEqual(["GET /api/3/fields", "GET /api/3/tags"]);
    const summary = (await (await h.t.request("GET", `/api/runs/${again.id}/summary.json`, { as: h.user })).json()) as { labels: { alreadyCurrent: number; imports: number } };
    expect(summary.labels).toMatchObject({ alreadyCurrent: 1_000, imports: 0 });
    await h.close();
  });

  it("writes a handful of labels with the per-contact endpoints when that takes fewer requests than an import", async () => {
    const h = await createRunHarness(server);
    const list = h.fake.addList("L");
    const risky = h.fake.addContact({ email: address("disposable", "temp"), lists: { [list]: ACTIVE } });
    h.fake.addContact({ email: address("deliverable", "fine"), lists: { [list]: ACTIVE } });
    const field = h.fake.addField("Email status");
    const run = await h.startRun({ scope: { kind: "all" }, actions: { undeliverable: "keep", label: { statuses: ["risky"] } } });
    await h.worker().drain();
    await approve(h, run.id);
    h.fake.clearRequests();
    const done = await finish(h, run.id);
    expect(done.progress.labels).toMatchObject({ planned: 1, done: 1, skipped: 0, failed: 0 });
    expect(h.fake.fieldValue(risky, field)).toBe("risky");
    expect(h.fake.requests.map((r) => `${r.method} ${r.path}`)).toEqual(["GET /api/3/fields", "GET /api/3/contacts", "POST /api/3/fieldValues"]);
    const rows = parseCsv(await (await h.t.request("GET", `/api/runs/${run.id}/report.csv`, { as: h.user })).text());
    expect(rows.find((r) => r.contact_id === risky)?.label_result).toMatch(/^written \(batch 1, per-contact requests\)$/);
    await h.close();
  });

  it("labels per reason when an override says so, and not when it says not to; combined with unsubscribe and delete", async () => {
    const h = await createRunHarness(server);
    const list = h.fake.addList("L");
    const ids = {
      disposable: h.fake.addContact({ email: address("disposable", "d"), lists: { [list]: ACTIVE } }),
      role: h.fake.addContact({ email: address("deliverable", "info"), lists: { [list]: ACTIVE } }),
      noMail: h.fake.addContact({ email: address("noMail", "n"), lists: { [list]: ACTIVE } }),
      nullMx: h.fake.addContact({ email: address("nullMx", "x"), lists: { [list]: ACTIVE } }),
      ok: h.fake.addContact({ email: address("deliverable", "ok"), lists: { [list]: ACTIVE } }),
    };
    const run = await h.startRun({
      scope: { kind: "all" },
      actions: {
        undeliverable: "unsubscribe",
        overrides: [
          { reason: "disposable", action: "delete", label: true },
          { reason: "null_mx", label: false },
        ],
        label: { statuses: ["undeliverable"] },
      },
    });
    await h.worker().drain();
    const review = await h.getRun(run.id);
    expect(review.plan?.label.contacts).toBe(2);
    const labelled = h.t.db.select().from(schema.runLabels).where(eq(schema.runLabels.runId, run.id)).all();
    expect(labelled.map((l) => [String(l.contactId), l.value]).sort()).toEqual([
      [ids.disposable, "risky"],
      [ids.noMail, "undeliverable"],
    ].sort());
    await h.t.request("POST", `/api/runs/${run.id}/approve`, { as: h.user, body: { confirmDelete: true } });
    const done = await finish(h, run.id);
    expect(done.status).toBe("completed");
    // Labelled first, then deleted: the contact to delete was labelled while it was still there.
    expect(h.fake.contacts.has(ids.disposable)).toBe(false);
    expect(h.fake.deletedContacts.get(ids.disposable)?.fieldValues.map((v) => v.value)).toEqual(["risky"]);
    expect(h.fake.listStatus(ids.noMail, list)).toBe(2);
    expect(labelOf(h, ids.noMail).value).toBe("undeliverable");
    expect(labelOf(h, ids.nullMx).value).toBeUndefined();
    expect(done.statusReason).toBe("Done in ActiveCampaign: unsubscribed from 2 list memberships, deleted 1 contact; labelled 2 contacts");
    await h.close();
  });
});

describe("how labels are written", () => {
  it("lets AC's automations react to the imports only when the run says so", async () => {
    const h = await createRunHarness(server);
    const list = h.fake.addList("L");
    const ids = h.fake.addContacts(4, (i) => ({ email: address("deliverable", `a${i}`), lists: { [list]: ACTIVE } }));
    const run = await h.startRun({ scope: { kind: "all" }, actions: { label: { statuses: ["deliverable"], tagPrefix: "lw-", runAutomations: true } } });
    await h.worker().drain();
    await approve(h, run.id);
    await finish(h, run.id);
    expect([...h.fake.imports.values()].map((imp) => imp.excludeAutomations)).toEqual([false]);
    expect([...h.fake.automationTriggers].sort()).toEqual([...ids].sort());
    await h.close();
  });

  it("without AC's sideloads, reads each contact's tags and field values on its own, and still removes an earlier verdict's tag", async () => {
    const h = await createRunHarness(server, { sideloadContactLists: false });
    const list = h.fake.addList("L");
    const ids = h.fake.addContacts(4, (i) => ({ email: address(i === 0 ? "noMail" : "deliverable", `b${i}`), lists: { [list]: ACTIVE } }));
    h.fake.tagContact(ids[0]!, h.fake.addTag("lw-deliverable"));
    const run = await h.startRun({ scope: { kind: "all" }, actions: { undeliverable: "keep", label: { statuses: [...STATUSES], tagPrefix: "lw-" } } });
    await h.worker().drain();
    await approve(h, run.id);
    h.fake.clearRequests();
    const done = await finish(h, run.id);
    expect(done.progress.labels).toMatchObject({ done: 4, failed: 0 });
    for (const id of ids) {
      expect(h.fake.requests.filter((r) => r.path === `/api/3/contacts/${id}/contactTags`)).toHaveLength(1);
      expect(h.fake.requests.filter((r) => r.path === `/api/3/contacts/${id}/fieldValues`)).toHaveLength(1);
    }
    expect(labelOf(h, ids[0]!).tags).toEqual(["lw-undeliverable"]);
    expect(labelOf(h, ids[1]!).tags).toEqual(["lw-deliverable"]);
    await h.close();
  });
});

describe("when ActiveCampaign does not take a batch", () => {
  it("sends a failed batch again, then splits it, down to the one contact it fails on, which is reported with AC's words", async () => {
    const h = await createRunHarness(server);
    const list = h.fake.addList("L");
    const ids = h.fake.addContacts(6, (i) => ({ email: address("deliverable", `p${i}`), lists: { [list]: ACTIVE } }));
    const bad = address("deliverable", "p4");
    // Every import with p4 fails; so does writing its field on its own (a lone contact goes per contact).
    h.fake.failImports(100, (imp) => imp.contacts.some((c) => c.email === bad));
    h.fake.failNext(100, { status: 422, body: { errors: [{ title: "The value could not be saved", detail: "" }] } }, (r) => r.method === "POST" && r.path === "/api/3/fieldValues" && String((r.body as { fieldValue: { contact: unknown } }).fieldValue.contact) === ids[4]);
    const run = await h.startRun({ scope: { kind: "all" }, actions: { label: { statuses: ["deliverable"], tagPrefix: "lw-" } } });
    await h.worker().drain();
    await approve(h, run.id);
    const done = await finish(h, run.id);
    expect(done.status).toBe("completed");
    expect(done.progress.labels).toMatchObject({ planned: 6, done: 5, skipped: 0, failed: 1 });
    expect(done.canRetryActions).toBe(true);
    for (const [i, id] of ids.entries()) expect(labelOf(h, id).value).toBe(i === 4 ? undefined : "deliverable");
    const batches = h.t.db.select().from(schema.runLabelBatches).where(eq(schema.runLabelBatches.runId, run.id)).all();
    // 6 → 3 + 3 → (the half with p4) 2 + 1 → 1 + 1: each failing import was sent twice before it was split;
    // a lone contact goes per contact, where p4's field is refused.
    const splits = batches.filter((b) => b.state === "split");
    expect(splits.map((b) => b.contacts)).toEqual([6, 3, 2]);
    expect(splits.every((b) => b.sends === 2 && b.failures === 2 && b.mode === "import")).toBe(true);
    const rows = parseCsv(await (await h.t.request("GET", `/api/runs/${run.id}/report.csv`, { as: h.user })).text());
    expect(rows.find((r) => r.email === bad)?.label_result).toMatch(/^failed: ActiveCampaign rejected the request: The value could not be saved \(batch \d+, per-contact requests\)$/);

    // AC is fixed; the user retries the changes that failed: only the one label is sent again.
    h.fake.importFaults.length = 0;
    h.fake.faults.length = 0;
    const retried = await h.t.request("POST", `/api/runs/${run.id}/retry`, { as: h.user });
    expect(retried.status).toBe(200);
    h.fake.clearRequests();
    const after = await finish(h, run.id);
    expect(after.progress.labels).toMatchObject({ planned: 6, done: 6, skipped: 0, failed: 0 });
    expect(labelOf(h, ids[4]!).value).toBe("deliverable");
    await expectCountersMatchRows(h, run.id);
    await h.close();
  });

  it("fails only the contacts AC's import names as refused, and writes the others in a new batch", async () => {
    const h = await createRunHarness(server);
    const list = h.fake.addList("L");
    const ids = h.fake.addContacts(5, (i) => ({ email: address("deliverable", `r${i}`), lists: { [list]: ACTIVE } }));
    const run = await h.startRun({ scope: { kind: "all" }, actions: { label: { statuses: ["deliverable"], tagPrefix: "lw-" } } });
    await h.worker().drain();
    await approve(h, run.id);
    let refusedOnce = false;
    server.use(
      http.post(`${h.fake.baseUrl}/api/3/import/bulk_import`, async ({ request }) => {
        const body = (await request.clone().json()) as { contacts: { email: string }[] };
        // An address AC keeps but its importer refuses (its checks are stricter than the contact form's).
        const at = body.contacts.findIndex((c) => c.email === address("deliverable", "r2"));
        if (at >= 0 && !refusedOnce) {
          refusedOnce = true;
          return Response.json({ success: 0, message: "JSON payload did not pass validation.", failureReasons: [{ contact: at, failureReason: "Field 'email' is blocked" }] }, { status: 400 });
        }
        return h.fake.handle(request);
      }),
    );
    const done = await finish(h, run.id);
    expect(done.progress.labels).toMatchObject({ planned: 5, done: 4, skipped: 0, failed: 1 });
    const rows = parseCsv(await (await h.t.request("GET", `/api/runs/${run.id}/report.csv`, { as: h.user })).text());
    expect(rows.find((r) => r.contact_id === ids[2])?.label_result).toMatch(/^failed: ActiveCampaign refused this contact in the import: Field 'email' is blocked/);
    for (const id of [ids[0]!, ids[1]!, ids[3]!, ids[4]!]) expect(labelOf(h, id)).toEqual({ value: "deliverable", reason: undefined, tags: ["lw-deliverable"] });
    await h.close();
  });

  it("reports an address on the account's exclusion list as not taken, and labels the rest", async () => {
    const h = await createRunHarness(server);
    const list = h.fake.addList("L");
    const ids = h.fake.addContacts(4, (i) => ({ email: address("deliverable", `x${i}`), lists: { [list]: ACTIVE } }));
    h.fake.excludedEmails.add(address("deliverable", "x1"));
    const run = await h.startRun({ scope: { kind: "all" }, actions: { label: { statuses: ["deliverable"], tagPrefix: "lw-" } } });
    await h.worker().drain();
    await approve(h, run.id);
    const done = await finish(h, run.id);
    expect(done.progress.labels).toMatchObject({ planned: 4, done: 3, skipped: 0, failed: 1 });
    expect(labelOf(h, ids[1]!).tags).toEqual([]);
    await h.close();
  });
});

describe("scheduled runs", () => {
  it("a scheduled run that only labels applies by itself: labels never count towards the hold threshold", async () => {
    const h = await createRunHarness(server);
    const list = h.fake.addList("L");
    h.fake.addContacts(4, (i) => ({ email: address(i < 3 ? "noMail" : "deliverable", `s${i}`), lists: { [list]: ACTIVE } }));
    const run = createRun(h.t.deps, {
      ctx: { workspaceId: h.user.workspaceId },
      input: { connectionId: h.connectionId, scope: { kind: "all" }, actions: { undeliverable: "keep", label: { statuses: [...STATUSES] } } },
      schedule: { id: "sch_labels", autoApply: true, holdThreshold: 0.1, deleteConfirmed: false, notes: [] },
    });
    const done = await finish(h, run.id);
    expect(done.status).toBe("completed");
    expect(done.timings.reviewAt).toBeNull();
    expect(done.progress.labels.done).toBe(4);
    await h.close();
  });
});

describe("monthly schedules", () => {
  it("a monthly schedule that labels keeps the field current: next month's run relabels a contact whose verdict changed and removes its old tag", async () => {
    const h = await createRunHarness(server);
    const list = h.fake.addList("L");
    const ids = h.fake.addContacts(5, (i) => ({ email: address("deliverable", `m${i}`), lists: { [list]: ACTIVE } }));
    const created = await h.t.request("POST", "/api/schedules", {
      as: h.user,
      body: {
        connectionId: h.connectionId,
        scope: { kind: "all" },
        actions: { undeliverable: "keep", label: { statuses: [...STATUSES], tagPrefix: "lw-" } },
        dayOfMonth: 1,
        hour: 9,
        timeZone: "UTC",
        autoApply: true,
      },
    });
    expect(created.status).toBe(201);
    const schedule = (await created.json()) as { id: string; actions: { label: unknown } };
    expect(schedule.actions.label).toEqual({ statuses: [...STATUSES], fieldName: "Email status", reasonFieldName: null, tagPrefix: "lw-", runAutomations: false });
    const page = await (await h.t.request("GET", `/connections/${h.connectionId}`, { as: h.user })).text();
    expect(page).toContain("Deliverable → Label · Risky → Label · Undeliverable → Label · Unknown → Label");

    const month = async (iso: string) => {
      h.clock.set(iso);
      await createScheduler(h.t.deps).tick();
      const runId = h.t.db.select().from(schema.runs).all().at(-1)!.id;
      // A month on, the session has expired: the run is read through its service.
      return finish(h, runId, {}, async (id) => getRun(h.t.deps, { ctx: { workspaceId: h.user.workspaceId }, id }));
    };
    const first = await month("2026-12-01T09:00:00Z");
    expect(first.status).toBe("completed");
    expect(ids.map((id) => labelOf(h, id).value)).toEqual(Array(5).fill("deliverable"));
    // During the month, a contact's address is changed to one whose domain takes no mail.
    h.fake.changeEmail(ids[3]!, address("noMail", "m3"));
    const second = await month("2027-01-01T09:00:00Z");
    expect(second.status).toBe("completed");
    expect(labelOf(h, ids[3]!)).toEqual({ value: "undeliverable", reason: undefined, tags: ["lw-undeliverable"] });
    for (const id of [ids[0]!, ids[1]!, ids[2]!, ids[4]!]) expect(labelOf(h, id)).toEqual({ value: "deliverable", reason: undefined, tags: ["lw-deliverable"] });
    expect(reportSummary(h.t.deps, { ctx: { workspaceId: h.user.workspaceId }, id: second.id }).labels).toMatchObject({ written: 1, alreadyCurrent: 4 });
    await h.close();
  });
});

describe("a crash while labelling", () => {
  const LEASE_MS = 60_000;

  function freshWorker(h: RunHarness, dbFile: string, onEvent?: (e: RunEvent) => void) {
    const deps = createDeps({ ...h.t.deps, db: openDb(dbFile) });
    return { deps, worker: createWorker(deps, { verifiers: h.verifiers, leaseMs: LEASE_MS, pollMs: 10, labelPollMs: 2, holdMs: 0, ...(onEvent ? { onEvent } : {}) }) };
  }

  /** A fresh world, checked and approved, ready to label 600 contacts (three batches). */
  async function prepared(dbFile?: string) {
    const h = await createRunHarness(server, dbFile ? { dbFile } : {});
    const { ids } = seed(h, 600);
    const lw = h.fake.addTag("lw-deliverable");
    for (let i = 2; i < 600; i += 4) h.fake.tagContact(ids[i]!, lw); // undeliverable now, deliverable before
    const run = await h.startRun({ scope: { kind: "all" }, actions: LABEL_ALL });
    await h.worker().drain();
    await approve(h, run.id);
    return { h, ids, runId: run.id };
  }

  const finalState = (h: RunHarness, ids: string[]) => ids.map((id) => ({ email: h.fake.contacts.get(id)?.email, ...labelOf(h, id) }));

  for (const moment of ["after an import reached AC but before its answer came back", "after AC queued an import, before its outcome was known"] as const) {
    it(`a worker killed ${moment} is resumed: each batch is written at most once more, and the final state is that of a run without the crash`, async () => {
      const reference = await prepared();
      await finish(reference.h, reference.runId);
      const expected = finalState(reference.h, reference.ids);
      await reference.h.close();

      const dbFile = path.join(mkdtempSync(path.join(tmpdir(), "lw-labels-crash-")), "listwarden.db");
      const { h, ids, runId } = await prepared(dbFile);
      // AC holds the imports until the crash is over, so a resent batch meets its first copy still queued.
      h.fake.holdImports = true;
      let killed: Promise<void> | undefined;
      let killedAt: string | undefined;
      let worker: ReturnType<typeof freshWorker>["worker"];
      const first = freshWorker(h, dbFile, (e) => {
        if (moment.startsWith("after AC queued") && e.type === "label_batch" && e.state === "queued" && !killed) {
          killedAt = e.batchId;
          killed = worker.kill();
        }
      });
      worker = first.worker;
      let imports = 0;
      server.use(
        http.all(`${h.fake.baseUrl}/*`, async ({ request }) => {
          const isImport = request.method === "POST" && new URL(request.url).pathname === "/api/3/import/bulk_import";
          if (isImport && ++imports === 2 && moment.startsWith("after an import reached")) {
            h.fake.failNext(1, { answerLost: true });
            const res = await h.fake.handle(request);
            killed ??= worker.kill();
            return res;
          }
          // The resumed worker's imports: AC works through its queue again.
          if (isImport && killed) h.fake.holdImports = false;
          return h.fake.handle(request);
        }),
      );
      await worker.drain();
      await killed;
      first.deps.db.$client.close();
      expect(killed).toBeDefined();
      expect((await h.getRun(runId)).status).toBe("applying");

      h.clock.advance(LEASE_MS + 1);
      const second = freshWorker(h, dbFile);
      await second.worker.drain();
      second.deps.db.$client.close();
      h.fake.holdImports = false;
      h.fake.processImports();

      const done = await h.getRun(runId);
      expect(done.status).toBe("completed");
      expect(done.progress.labels).toMatchObject({ planned: 600, done: 600, skipped: 0, failed: 0 });
      // Each batch at most once more: no batch sent more than twice, no contact in more than two imports.
      const batches = h.t.db.select().from(schema.runLabelBatches).where(eq(schema.runLabelBatches.runId, runId)).all();
      expect(batches.map((b) => b.sends).every((n) => n <= 2)).toBe(true);
      const sent = new Map<string, number>();
      for (const imp of h.fake.imports.values()) for (const c of imp.contacts) sent.set(c.email, (sent.get(c.email) ?? 0) + 1);
      expect(Math.max(...sent.values())).toBeLessThanOrEqual(2);
      // The batch whose answer was lost was sent again; the one AC had queued was only polled.
      if (moment.startsWith("after an import reached")) expect(batches.some((b) => b.sends === 2)).toBe(true);
      else expect(batches.find((b) => b.id === killedAt)?.sends).toBe(1);
      expect(finalState(h, ids)).toEqual(expected);
      expect([...h.fake.imports.values()].flatMap((imp) => imp.success)).toEqual([]);
      await expectCountersMatchRows(h, runId);
      await h.close();
    });
  }
});
