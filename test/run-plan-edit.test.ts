import { setupServer } from "msw/node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { balanceOf } from "../core/services/credits.ts";
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
});
