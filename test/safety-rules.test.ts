import { setupServer } from "msw/node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { neutralizeCell } from "../core/services/reports.ts";
import { createRunHarness, parseCsv, type RunHarness } from "./support/runs.ts";
import { address } from "./support/world.ts";

// The rules that keep customers' lists safe (docs/architecture.md, "Safety rules"), each with a
// test of its own: before issue 20 each was one assertion inside the big end-to-end test of
// runs.test.ts, where another change could hide it.

const server = setupServer();
beforeAll(() => server.listen({ onUnhandledRequest: "error" }));
afterEach(() => server.resetHandlers());
afterAll(() => server.close());

// AC's contactList statuses: 0 unconfirmed, 1 active, 2 unsubscribed, 3 bounced.
const UNCONFIRMED = 0;
const ACTIVE = 1;
const UNSUBSCRIBED = 2;
const BOUNCED = 3;

/** The (contact, list) pairs the run wrote to AC: unsubscribes as `unsubscribe c l`, deletes as `delete c`. */
function writes(h: RunHarness): string[] {
  return h.fake.requests
    .filter((r) => r.method !== "GET")
    .map((r) => {
      if (r.method === "DELETE") return `delete ${r.path.split("/").pop()}`;
      const cl = (r.body as { contactList: { contact: number; list: number; status: number } }).contactList;
      return `unsubscribe ${cl.contact} ${cl.list} status ${cl.status}`;
    })
    .sort();
}

async function reviewed(h: RunHarness, body: Parameters<RunHarness["startRun"]>[0]) {
  const run = await h.startRun(body);
  await h.worker().drain();
  const view = await h.getRun(run.id);
  expect(view.status).toBe("awaiting_review");
  return view;
}

describe("unsubscribe only where the contact is active", () => {
  it("sends status 2 for the active lists only, never to a list where the contact is unconfirmed, unsubscribed or bounced", async () => {
    const h = await createRunHarness(server);
    const [active1, unconfirmed, unsubscribed, bounced, active2] = ["A1", "Unconfirmed", "Unsubscribed", "Bounced", "A2"].map((n) => h.fake.addList(n)) as [string, string, string, string, string];
    const bad = h.fake.addContact({
      email: address("noMail", "many"),
      lists: { [active1]: ACTIVE, [unconfirmed]: UNCONFIRMED, [unsubscribed]: UNSUBSCRIBED, [bounced]: BOUNCED, [active2]: ACTIVE },
    });
    const run = await reviewed(h, { scope: { kind: "all" } });
    expect(run.plan).toMatchObject({ unsubscribe: { contacts: 1, requests: 2 } });
    await h.t.request("POST", `/api/runs/${run.id}/approve`, { as: h.user, body: {} });
    await h.worker().drain();
    expect((await h.getRun(run.id)).status).toBe("completed");
    expect(writes(h)).toEqual([`unsubscribe ${bad} ${active1} status 2`, `unsubscribe ${bad} ${active2} status 2`].sort());
    expect(h.fake.listStatus(bad, unconfirmed)).toBe(UNCONFIRMED);
    expect(h.fake.listStatus(bad, bounced)).toBe(BOUNCED);
    await h.close();
  });
});

describe("for a list scope, only the chosen lists", () => {
  it("leaves the contact subscribed to every list the user did not choose, and plans nothing for a contact active only elsewhere", async () => {
    const h = await createRunHarness(server);
    const chosen = h.fake.addList("Chosen");
    const alsoChosen = h.fake.addList("Also chosen");
    const other = h.fake.addList("Not chosen");
    const both = h.fake.addContact({ email: address("noMail", "both"), lists: { [chosen]: ACTIVE, [alsoChosen]: UNSUBSCRIBED, [other]: ACTIVE } });
    const elsewhere = h.fake.addContact({ email: address("noMail", "elsewhere"), lists: { [alsoChosen]: UNSUBSCRIBED, [other]: ACTIVE } });
    const run = await reviewed(h, { scope: { kind: "lists", listIds: [chosen, alsoChosen] } });
    expect(run.plan).toMatchObject({ unsubscribe: { contacts: 1, requests: 1 } });
    await h.t.request("POST", `/api/runs/${run.id}/approve`, { as: h.user, body: {} });
    await h.worker().drain();
    expect(writes(h)).toEqual([`unsubscribe ${both} ${chosen} status 2`]);
    expect(h.fake.listStatus(both, other)).toBe(ACTIVE);
    expect(h.fake.listStatus(elsewhere, other)).toBe(ACTIVE);
    await h.close();
  });
});

describe("deletes need confirmDelete", () => {
  it("refuses to approve a plan that deletes without confirmDelete: true, changes nothing, and approves with it", async () => {
    const h = await createRunHarness(server);
    const list = h.fake.addList("L");
    const temp = h.fake.addContact({ email: address("disposable", "temp"), lists: { [list]: ACTIVE } });
    const run = await reviewed(h, { scope: { kind: "all" }, actions: { overrides: [{ reason: "disposable", action: "delete" }] } });
    expect(run.plan).toMatchObject({ delete: { contacts: 1 } });

    for (const body of [{}, { confirmDelete: false }]) {
      const refused = await h.t.request("POST", `/api/runs/${run.id}/approve`, { as: h.user, body });
      expect(refused.status).toBe(400);
      expect(await refused.json()).toMatchObject({ error: { code: "invalid_input", field: "confirmDelete" } });
      await h.worker().drain();
      expect((await h.getRun(run.id)).status).toBe("awaiting_review");
    }
    expect(writes(h)).toEqual([]);
    expect(h.fake.contacts.has(temp)).toBe(true);

    const approved = await h.t.request("POST", `/api/runs/${run.id}/approve`, { as: h.user, body: { confirmDelete: true } });
    expect(approved.status).toBe(200);
    await h.worker().drain();
    expect((await h.getRun(run.id)).status).toBe("completed");
    expect(writes(h)).toEqual([`delete ${temp}`]);
    expect(h.fake.contacts.has(temp)).toBe(false);
    await h.close();
  });

  it("a plan without deletes is approved without it", async () => {
    const h = await createRunHarness(server);
    const list = h.fake.addList("L");
    h.fake.addContact({ email: address("noMail", "x"), lists: { [list]: ACTIVE } });
    const run = await reviewed(h, { scope: { kind: "all" } });
    const approved = await h.t.request("POST", `/api/runs/${run.id}/approve`, { as: h.user, body: {} });
    expect(approved.status).toBe(200);
    await h.close();
  });
});

describe("CSV cells are safe from formula injection", () => {
  it("prefixes a cell a spreadsheet would read as a formula, and only such a cell", () => {
    const formulas = ["=1+1", "+1", "-1", "@SUM(A1)", "  =cmd", "\u0000=x", "\u001f+x", "\t1", "\r1", "\n1", "\t", "="];
    for (const cell of formulas) expect(neutralizeCell(cell), JSON.stringify(cell)).toBe(`'${cell}`);
    const plain = ["", "plain", "a=b", "1-2", "x@example.com", "first name", " a", "'=already", "a\tb", "line 1\nline 2", "a\r"];
    for (const cell of plain) expect(neutralizeCell(cell), JSON.stringify(cell)).toBe(cell);
  });

  it("the report neutralises each column AC fills in (first and last name), not only one", async () => {
    const h = await createRunHarness(server);
    const list = h.fake.addList("L");
    h.fake.addContact({ email: address("deliverable", "f"), lists: { [list]: ACTIVE }, firstName: "+SUM(1)", lastName: "@cmd" });
    h.fake.addContact({ email: address("deliverable", "g"), lists: { [list]: ACTIVE }, firstName: "-2", lastName: "\tTab" });
    const run = await h.startRun({ scope: { kind: "all" } });
    await h.worker().drain();
    const rows = parseCsv(await (await h.t.request("GET", `/api/runs/${run.id}/report.csv`, { as: h.user })).text());
    expect(rows.map((r) => [r.first_name, r.last_name]).sort()).toEqual([
      ["'+SUM(1)", "'@cmd"],
      ["'-2", "'\tTab"],
    ]);
    await h.close();
  });
});
