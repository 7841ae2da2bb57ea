import { setupServer } from "msw/node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { balanceOf } from "../core/services/credits.ts";
import { editPlan, MAX_EDIT_CONTACTS } from "../core/services/plan.ts";
import { createRunHarness, parseCsv } from "./support/runs.ts";
import { address } from "./support/world.ts";

const server = setupServer();
beforeAll(() => server.listen({ onUnhandledRequest: "error" }));
afterEach(() => server.resetHandlers());
afterAll(() => server.close());

const ACTIVE = 1;
const UNSUBSCRIBED = 2;

describe("an editable plan at review (issue 14)", () => {
  it("changes a result's and a reason's action and excludes a contact, without checking or charging again; AC ends as the edited plan", async () => {
    const h = await createRunHarness(server);
    const news = h.fake.addList("Newsletter");
    const shop = h.fake.addList("Shop");
    const keep = h.fake.addContact({ email: address("deliverable", "ada"), firstName: "Ada", lists: { [news]: ACTIVE } });
    const nomail = h.fake.addContact({ email: address("noMail", "bob"), firstName: "Bob", lists: { [news]: ACTIVE, [shop]: ACTIVE } });
    const gone = h.fake.addContact({ email: address("noDomain", "cy"), firstName: "Cy", lists: { [news]: ACTIVE } });
    const temp = h.fake.addContact({ email: address("disposable", "dee"), firstName: "Dee", lists: { [shop]: ACTIVE } });
    const nullmx = h.fake.addContact({ email: address("nullMx", "eve"), firstName: "Eve", lists: { [news]: ACTIVE } });
    const run = await h.startRun({ scope: { kind: "lists", listIds: [news, shop] }, actions: { undeliverable: "unsubscribe" } });
    await h.worker().drain();
    const before = await h.getRun(run.id);
    expect(before.plan).toMatchObject({ contacts: 5, keep: 2, unsubscribe: { contacts: 3, requests: 4 }, delete: { contacts: 0 } });
    const verified = [...h.verifications.values()].reduce((a, b) => a + b, 0);
    const balance = balanceOf(h.t.db, h.user.workspaceId);
    const requests = h.fake.requests.length;

    const patch = (body: unknown) => h.t.request("PATCH", `/api/runs/${run.id}/plan`, { as: h.user, body });
    // Risky → delete; "domain does not exist" → keep; exclude Eve.
    const edited = await patch({ statuses: { risky: "delete" }, reasons: { domain_not_found: "keep" }, exclude: [Number(nullmx)] });
    expect(edited.status, await edited.clone().text()).toBe(200);
    const view = (await edited.json()) as Awaited<ReturnType<typeof h.getRun>>;
    expect(view.plan).toMatchObject({ contacts: 5, keep: 3, unsubscribe: { contacts: 1, requests: 2 }, delete: { contacts: 1 }, nothingToDo: 0, excluded: 1 });
    expect(view.statusReason).toBe("Review the plan: approving would unsubscribe 1 contact, delete 1 contact");
    expect(view.actions).toMatchObject({ risky: "delete", overrides: [{ reason: "domain_not_found", action: "keep" }] });
    // Planning again is local: no check, no charge, no request to AC.
    expect([...h.verifications.values()].reduce((a, b) => a + b, 0)).toBe(verified);
    expect(balanceOf(h.t.db, h.user.workspaceId)).toBe(balance);
    expect(h.fake.requests.length).toBe(requests);

    // The contacts list, filtered, and its CSV.
    const list = async (query: string) => (await (await h.t.request("GET", `/api/runs/${run.id}/contacts?${query}`, { as: h.user })).json()) as { total: number; contacts: { contactId: number; email: string; action: string; excluded: boolean; lists: { id: string; name: string | null }[] }[] };
    expect((await list("")).total).toBe(5);
    expect((await list("excluded=yes")).contacts.map((c) => c.email)).toEqual([address("nullMx", "eve")]);
    expect((await list("action=delete")).contacts.map((c) => c.email)).toEqual([address("disposable", "dee")]);
    expect((await list("q=BOB")).contacts).toMatchObject([{ email: address("noMail", "bob"), action: "unsubscribe", lists: [{ id: news, name: "Newsletter" }, { id: shop, name: "Shop" }] }]);
    expect((await list(`list=${shop}&result=undeliverable`)).total).toBe(1);
    expect((await list("limit=2&offset=2")).contacts.map((c) => c.contactId)).toEqual([Number(gone), Number(temp)]);
    const csv = parseCsv(await (await h.t.request("GET", `/api/runs/${run.id}/contacts.csv?result=undeliverable`, { as: h.user })).text());
    expect(csv.map((r) => r.email).sort()).toEqual([address("noMail", "bob"), address("noDomain", "cy"), address("nullMx", "eve")].sort());

    // Bad input: a clear 400 naming the field, never a 500.
    for (const [body, field] of [
      [{ statuses: { risky: "burn" } }, "statuses.risky"],
      [{ exclude: ["x"] }, "exclude.0"],
      [{ exclude: [999_999] }, "exclude"],
      [{ nope: 1 }, null],
    ] as const) {
      const res = await patch(body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      if (field) expect(((await res.json()) as { error: { field: string } }).error.field).toBe(field);
    }
    expect((await h.t.request("GET", `/api/runs/${run.id}/contacts?result=great`, { as: h.user })).status).toBe(400);
    expect((await h.t.request("GET", `/api/runs/${run.id}/contacts?limit=0`, { as: h.user })).status).toBe(400);

    // Include Eve again, then exclude Bob instead; approve.
    expect((await patch({ include: [Number(nullmx)], exclude: [Number(nomail)] })).status).toBe(200);
    const final = await h.getRun(run.id);
    expect(final.plan).toMatchObject({ keep: 3, unsubscribe: { contacts: 1, requests: 1 }, delete: { contacts: 1 }, excluded: 1 });
    expect((await h.t.request("POST", `/api/runs/${run.id}/approve`, { as: h.user, body: { confirmDelete: true } })).status).toBe(200);
    await h.worker().drain();
    expect((await h.getRun(run.id)).status).toBe("completed");
    // ActiveCampaign matches the edited plan exactly.
    expect(h.fake.listStatus(nullmx, news)).toBe(UNSUBSCRIBED);
    expect(h.fake.listStatus(nomail, news)).toBe(ACTIVE);
    expect(h.fake.listStatus(nomail, shop)).toBe(ACTIVE);
    expect(h.fake.listStatus(gone, news)).toBe(ACTIVE);
    expect(h.fake.listStatus(keep, news)).toBe(ACTIVE);
    expect(h.fake.contacts.has(temp)).toBe(false);
    expect(h.fake.requests.filter((r) => r.method !== "GET")).toHaveLength(2);
    // After the review the plan cannot change.
    expect((await patch({ statuses: { risky: "keep" } })).status).toBe(409);
    await h.close();
  });

  it("approves only the plan the approver was shown: after an edit, an approval of the earlier revision is refused, by the API and by the page's form", async () => {
    const h = await createRunHarness(server);
    const news = h.fake.addList("Newsletter");
    const temp = h.fake.addContact({ email: address("disposable", "dee"), lists: { [news]: ACTIVE } });
    const nomail = h.fake.addContact({ email: address("noMail", "bob"), lists: { [news]: ACTIVE } });
    const run = await h.startRun({ scope: { kind: "lists", listIds: [news] }, actions: { undeliverable: "unsubscribe" } });
    await h.worker().drain();
    const shown = (await h.getRun(run.id)).plan!;
    expect(shown).toMatchObject({ revision: 0, delete: { contacts: 0 } });
    // Someone else (another tab, a teammate) turns risky into delete.
    expect((await h.t.request("PATCH", `/api/runs/${run.id}/plan`, { as: h.user, body: { statuses: { risky: "delete" } } })).status).toBe(200);
    expect((await h.getRun(run.id)).plan).toMatchObject({ revision: 1, delete: { contacts: 1 } });

    const stale = await h.t.request("POST", `/api/runs/${run.id}/approve`, { as: h.user, body: { confirmDelete: true, planRevision: shown.revision } });
    expect(stale.status).toBe(409);
    expect(((await stale.json()) as { error: { field: string } }).error.field).toBe("planRevision");
    const page = await h.t.request("POST", `/runs/${run.id}/approve`, {
      as: h.user,
      body: new URLSearchParams({ confirmDelete: "on", planRevision: String(shown.revision) }).toString(),
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    expect(page.status).toBe(409);
    const html = await page.text();
    expect(html).toContain("The plan was changed after you looked at it");
    // The page now shows the edited plan, and its form carries that plan's revision.
    expect(html).toContain('name="planRevision" value="1"');
    await h.worker().drain();
    expect((await h.getRun(run.id)).status).toBe("awaiting_review");
    expect(h.fake.requests.filter((r) => r.method !== "GET")).toHaveLength(0);

    expect((await h.t.request("POST", `/api/runs/${run.id}/approve`, { as: h.user, body: { confirmDelete: true, planRevision: 1 } })).status).toBe(200);
    await h.worker().drain();
    expect(h.fake.contacts.has(temp)).toBe(false);
    expect(h.fake.listStatus(nomail, news)).toBe(UNSUBSCRIBED);
    await h.close();
  });

  it("keeps one override per reason: set, changed in place, removed when set back to its result, a label choice kept; limits and unknown contacts refused by field", async () => {
    const h = await createRunHarness(server);
    const news = h.fake.addList("Newsletter");
    // Id 1: planning again starts before the first contact id AC gives.
    const nomail = h.fake.addContact({ id: "1", email: address("noMail", "bob"), lists: { [news]: ACTIVE } });
    h.fake.addContact({ email: address("disposable", "dee"), lists: { [news]: ACTIVE } });
    const run = await h.startRun({
      scope: { kind: "lists", listIds: [news] },
      actions: { undeliverable: "unsubscribe", label: { statuses: ["undeliverable"] }, overrides: [{ reason: "role_account", label: true }] },
    });
    await h.worker().drain();
    const patch = async (body: unknown) => {
      const res = await h.t.request("PATCH", `/api/runs/${run.id}/plan`, { as: h.user, body });
      return { status: res.status, body: (await res.json()) as { actions?: { overrides: unknown[] }; error?: { field?: string; message: string } } };
    };
    const overrides = async (body: unknown) => {
      const res = await patch(body);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      return res.body.actions!.overrides;
    };

    expect(await overrides({ reasons: { disposable: "delete" } })).toEqual([{ reason: "role_account", label: true }, { reason: "disposable", action: "delete" }]);
    // Bob (undeliverable) is still to be labelled after planning again.
    expect((await h.getRun(run.id)).progress.labels.planned).toBe(1);
    expect(await overrides({ reasons: { disposable: "keep" } })).toEqual([{ reason: "role_account", label: true }, { reason: "disposable", action: "keep" }]);
    // Null for a reason without an override adds none, and leaves the others as they are.
    expect(await overrides({ reasons: { domain_not_found: null } })).toEqual([{ reason: "role_account", label: true }, { reason: "disposable", action: "keep" }]);
    // An override with a label choice keeps it when its action goes; one with only an action goes.
    expect(await overrides({ reasons: { role_account: "delete" } })).toEqual([{ reason: "role_account", label: true, action: "delete" }, { reason: "disposable", action: "keep" }]);
    expect(await overrides({ reasons: { role_account: null, disposable: null } })).toEqual([{ reason: "role_account", label: true }]);

    // At most MAX_EDIT_CONTACTS ids at once; up to it, each is looked up.
    const ids = (n: number) => Array.from({ length: n }, (_, i) => 900_000 + i);
    const tooMany = await patch({ exclude: ids(MAX_EDIT_CONTACTS - 1), include: ids(2) });
    expect([tooMany.status, tooMany.body.error?.field, tooMany.body.error?.message]).toEqual([400, "exclude", `names more than ${MAX_EDIT_CONTACTS} contacts; change the plan in several steps`]);
    const atLimit = await patch({ exclude: ids(MAX_EDIT_CONTACTS) });
    expect([atLimit.status, atLimit.body.error?.message]).toEqual([400, "contact 900000 is not in this run"]);
    const unknownIncluded = await patch({ include: [Number(nomail), 999_999] });
    expect([unknownIncluded.status, unknownIncluded.body.error?.field]).toEqual([400, "include"]);

    // The service checks the plan it would store, whoever calls it.
    let refused: unknown;
    try {
      editPlan(h.t.deps, { ctx: { workspaceId: h.user.workspaceId }, id: run.id, edit: { statuses: { risky: "burn" as never } } });
    } catch (err) {
      refused = err;
    }
    expect(refused).toMatchObject({ code: "invalid_input", field: "actions", message: expect.stringMatching(/./) });
    expect((refused as Error).message).not.toBe("is not a valid plan");
    await h.close();
  });
});
