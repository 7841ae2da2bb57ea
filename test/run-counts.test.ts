import { setupServer } from "msw/node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { actionResult } from "../core/services/reports.ts";
import type { RunView } from "../core/services/runs.ts";
import { createRunHarness, parseCsv, type RunHarness } from "./support/runs.ts";
import { address } from "./support/world.ts";

const server = setupServer();
beforeAll(() => server.listen({ onUnhandledRequest: "error" }));
afterEach(() => server.resetHandlers());
afterAll(() => server.close());

const ACTIVE = 1;
const UNSUBSCRIBED = 2;

/**
 * Contacts for every count: kept, unsubscribed from one or two lists (multi-list), deleted,
 * with nothing to do (already off the chosen lists), and one on a list outside the scope.
 */
function seed(h: RunHarness) {
  const news = h.fake.addList("Newsletter, weekly");
  const customers = h.fake.addList("Customers");
  const other = h.fake.addList("Not chosen");
  for (let i = 0; i < 3; i++) h.fake.addContact({ email: address("deliverable", `keep${i}`), lists: { [news]: ACTIVE } });
  h.fake.addContact({ email: address("deliverable", "both"), lists: { [news]: ACTIVE, [customers]: ACTIVE } });
  h.fake.addContact({ email: address("noMail", "two"), lists: { [news]: ACTIVE, [customers]: ACTIVE } });
  h.fake.addContact({ email: address("noMail", "one"), lists: { [news]: ACTIVE, [customers]: UNSUBSCRIBED } });
  h.fake.addContact({ email: address("noDomain", "already"), lists: { [news]: UNSUBSCRIBED } });
  h.fake.addContact({ email: address("nullMx", "outside"), lists: { [customers]: ACTIVE, [other]: ACTIVE } });
  h.fake.addContact({ email: address("disposable", "temp"), lists: { [news]: ACTIVE, [customers]: ACTIVE } });
  return { news, customers, other };
}

/** The figures of the review page, by their data-count names. */
function pageCounts(html: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of html.matchAll(/data-count="(contacts|keep|unsubscribe|memberships|delete|nothing)"[^>]*>([\d,]+)</g)) out[m[1]!] = Number(m[2]!.replace(/,/g, ""));
  return out;
}

type Summary = {
  plan: { contacts: number; keep: number; unsubscribe: { contacts: number; requests: number }; delete: { contacts: number }; nothingToDo: number };
  applied: { planned: number; done: number; unsubscribe: { planned: number; done: number }; delete: { planned: number; done: number } };
  scopeNames: { lists: { id: string; name: string | null }[] };
  byClass: Record<string, number>;
  perList: { listId: string; name: string | null; unsubscribe: { planned: number; done: number }; delete: { planned: number; done: number } }[];
};

async function sources(h: RunHarness, id: string) {
  const api = await h.getRun(id);
  const summary = (await (await h.t.request("GET", `/api/runs/${id}/summary.json`, { as: h.user })).json()) as Summary;
  const bytes = new Uint8Array(await (await h.t.request("GET", `/api/runs/${id}/report.csv`, { as: h.user })).arrayBuffer());
  // UTF-8's BOM first, so a spreadsheet reads the names as UTF-8.
  expect([...bytes.slice(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
  const csv = parseCsv(new TextDecoder().decode(bytes));
  const html = await (await h.t.request("GET", `/runs/${id}`, { as: h.user })).text();
  return { api, summary, csv, html };
}

/** The plan as each source counts it: the API's view, summary.json, the CSV's rows and the page. */
function countsFrom({ api, summary, csv, html }: Awaited<ReturnType<typeof sources>>) {
  const plan = api.plan!;
  const unsubRows = csv.filter((r) => r.action === "unsubscribe" && r.action_list_ids !== "");
  return {
    api: { contacts: plan.contacts, keep: plan.keep, unsubscribe: plan.unsubscribe.contacts, memberships: plan.unsubscribe.requests, delete: plan.delete.contacts, nothing: plan.nothingToDo },
    summary: {
      contacts: summary.plan.contacts,
      keep: summary.plan.keep,
      unsubscribe: summary.plan.unsubscribe.contacts,
      memberships: summary.plan.unsubscribe.requests,
      delete: summary.plan.delete.contacts,
      nothing: summary.plan.nothingToDo,
    },
    csv: {
      contacts: csv.length,
      keep: csv.filter((r) => r.action === "keep").length,
      unsubscribe: unsubRows.length,
      memberships: unsubRows.reduce((a, r) => a + r.action_list_ids!.split(" ").length, 0),
      delete: csv.filter((r) => r.action === "delete").length,
      nothing: csv.filter((r) => r.action === "unsubscribe" && r.action_list_ids === "").length,
    },
    page: pageCounts(html),
  };
}

describe("one set of numbers (issue 14)", () => {
  it("the review page, the API's run view, summary.json and the CSV count the plan alike, before and after applying", async () => {
    const h = await createRunHarness(server);
    const { news, customers } = seed(h);
    const run = await h.startRun({
      scope: { kind: "lists", listIds: [news, customers] },
      actions: { undeliverable: "unsubscribe", overrides: [{ reason: "disposable", action: "delete" }] },
    });
    await h.worker().drain();
    const review = await sources(h, run.id);
    expect(review.api.status).toBe("awaiting_review");

    // By hand: keep 3+1; unsubscribe two (2 memberships), one (1), outside (customers only: 1);
    // nothing to do: already; delete: temp.
    const expected = { contacts: 9, keep: 4, unsubscribe: 3, memberships: 4, delete: 1, nothing: 1 };
    const counts = countsFrom(review);
    expect(counts).toEqual({ api: expected, summary: expected, csv: expected, page: expected });
    expect(expected.keep + expected.unsubscribe + expected.delete + expected.nothing).toBe(expected.contacts);
    // Changes planned: memberships + deletes, the same on every count of them.
    expect(review.api.progress.byKind).toMatchObject({ unsubscribe: { planned: 4 }, delete: { planned: 1 } });
    expect(review.api.progress.planned).toBe(5);
    expect(review.summary.applied).toMatchObject({ planned: 5, unsubscribe: { planned: 4, done: 0 }, delete: { planned: 1, done: 0 } });
    // The page's sample counts contacts with a change, never those with nothing to do.
    expect(review.html).toContain("These are all the contacts with a change.");
    expect(review.api.plan!.sample.map((s) => s.email).sort()).toEqual([address("disposable", "temp"), address("noMail", "one"), address("noMail", "two"), address("nullMx", "outside")].sort());

    // Per list, as sent: the memberships of each list add up to the total.
    const perList = new Map(review.api.plan!.perList.map((l) => [l.listId, l]));
    expect(perList.get(news)).toMatchObject({ name: "Newsletter, weekly", unsubscribe: { planned: 2 }, delete: { planned: 1 } });
    expect(perList.get(customers)).toMatchObject({ name: "Customers", unsubscribe: { planned: 2 }, delete: { planned: 1 } });
    expect(review.summary.perList.reduce((a, l) => a + l.unsubscribe.planned, 0)).toBe(expected.memberships);

    const approved = await h.t.request("POST", `/api/runs/${run.id}/approve`, { as: h.user, body: { confirmDelete: true } });
    expect(approved.status).toBe(200);
    await h.worker().drain();
    const done = await sources(h, run.id);
    expect(done.api.status).toBe("completed");
    expect(countsFrom(done)).toEqual({ api: expected, summary: expected, csv: expected, page: expected });
    expect(done.api.progress.byKind).toEqual({ unsubscribe: { planned: 4, done: 4, failed: 0 }, delete: { planned: 1, done: 1, failed: 0 } });
    expect(done.summary.applied).toMatchObject({ planned: 5, done: 5, unsubscribe: { planned: 4, done: 4 }, delete: { planned: 1, done: 1 } });
    expect(done.html).toMatch(/data-count-kind="unsubscribe"><span data-bind="unsubscribed">4<\/span> of <span data-bind="unsubscribePlanned">4</);
    expect(done.html).toMatch(/data-count-kind="delete"><span data-bind="deleted">1<\/span> of <span data-bind="deletePlanned">1</);
    // The finished run keeps its story: what was done, per list, the sample.
    expect(done.html).toContain('id="outcome"');
    expect(done.html).toContain("Per list");
    const doneList = new Map(done.api.plan!.perList.map((l) => [l.listId, l]));
    expect(doneList.get(news)).toMatchObject({ unsubscribe: { planned: 2, done: 2 }, delete: { planned: 1, done: 1 } });
    expect(doneList.get(customers)).toMatchObject({ unsubscribe: { planned: 2, done: 2 }, delete: { planned: 1, done: 1 } });
    // The fake AC's state matches the plan exactly.
    expect(h.fake.requests.filter((r) => r.method === "POST" && r.path.endsWith("/contactLists")).length).toBe(4);
    expect(h.fake.requests.filter((r) => r.method === "DELETE").length).toBe(1);
    await h.close();
  });

  it("names lists and tags as ActiveCampaign had them when the run fetched, ids beside them for machines", async () => {
    const h = await createRunHarness(server);
    const { news, customers } = seed(h);
    const run = await h.startRun({ scope: { kind: "lists", listIds: [news, customers] }, actions: { undeliverable: "unsubscribe" } });
    await h.worker().drain();
    // Renamed in AC after the fetch: the run keeps the names it saw.
    h.fake.lists.get(news)!.name = "Renamed later";
    const { api, summary, csv, html } = await sources(h, run.id);
    expect(api.names?.lists).toMatchObject({ [news]: "Newsletter, weekly", [customers]: "Customers" });
    expect(summary.scopeNames.lists).toEqual([
      { id: news, name: "Newsletter, weekly" },
      { id: customers, name: "Customers" },
    ]);
    const row = (local: string) => csv.find((r) => r.email!.startsWith(`${local}@`))!;
    expect(row("two")).toMatchObject({ lists: "Newsletter, weekly; Customers", list_ids: `${news} ${customers}`, action_list_ids: `${news} ${customers}`, action_result: "not applied yet (Newsletter, weekly, Customers)" });
    expect(row("outside")).toMatchObject({ action_list_ids: customers, action_result: "not applied yet (Customers)" });
    expect(html).toContain("“Newsletter, weekly”, “Customers”");
    expect(html).not.toContain("List #");
    expect(html).not.toContain("Renamed later");
    await h.close();
  });

  it("shows and exports a deliverable address whose mailbox was not checked as such, counted apart", async () => {
    const h = await createRunHarness(server);
    const { news } = seed(h);
    const run = await h.startRun({ scope: { kind: "lists", listIds: [news] } });
    await h.worker().drain();
    const { api, summary, csv, html } = await sources(h, run.id);
    expect(api.mailboxChecked).toBe(false);
    expect(api.counts.byClass).toMatchObject({ deliverable: 0, domain_ok: 4 });
    expect(summary.byClass).toEqual(api.counts.byClass);
    expect(csv.find((r) => r.email!.startsWith("keep0@"))).toMatchObject({ status: "deliverable", result: "Domain OK, mailbox not checked" });
    expect(html).toContain("Mailboxes were not checked in this run");
    expect(html).not.toMatch(/>Deliverable<span class="bar-help">/);
    await h.close();
  });

  it("after failed changes are sent again, the failures per kind and per list count only those that failed again", async () => {
    const h = await createRunHarness(server);
    const list = h.fake.addList("L");
    for (const n of ["a", "b"]) h.fake.addContact({ email: address("noMail", n), lists: { [list]: 1 } });
    const run = await h.startRun({ scope: { kind: "lists", listIds: [list] } });
    await h.worker().drain();
    const refuse = (n: number) => h.fake.failNext(n, { status: 400, body: { errors: [{ title: "No" }] } }, (r) => r.method === "POST" && r.path === "/api/3/contactLists");
    refuse(2);
    await h.t.request("POST", `/api/runs/${run.id}/approve`, { as: h.user, body: {} });
    await h.worker().drain();
    const first = await h.getRun(run.id);
    expect(first.progress.failed).toBe(2);
    expect(first.progress.byKind.unsubscribe).toMatchObject({ done: 0, failed: 2 });
    refuse(1);
    expect((await h.t.request("POST", `/api/runs/${run.id}/retry`, { as: h.user, body: {} })).status).toBe(200);
    await h.worker().drain();
    const v = await h.getRun(run.id);
    expect(v.progress.failed).toBe(1);
    expect(v.progress.byKind.unsubscribe).toMatchObject({ done: 1, failed: 1 });
    expect(v.plan!.perList[0]!.unsubscribe).toMatchObject({ done: 1, failed: 1 });
    await h.close();
  });
});

export type { RunView };

describe("the report's action_result words", () => {
  type Act = Parameters<typeof actionResult>[2][number];
  const act = (listId: number, state: Act["state"], error: string | null = null, kind: Act["kind"] = "unsubscribe"): Act => ({ contactId: 1, kind, listId, state, error });
  const names = (id: number) => ({ 3: "Newsletter", 4: "Customers" })[id] ?? `list ${id}`;

  it("say nothing for a contact kept, and that there was nothing to do for one planned but active on none of the lists", () => {
    expect(actionResult(null, "completed", [act(3, "done")])).toBe("");
    expect(actionResult("keep", "completed", [act(3, "done")])).toBe("");
    expect(actionResult("unsubscribe", "completed", [])).toBe("nothing to do: not active on the lists concerned");
  });

  it("say what became of the action, with AC's words for a failure, and whether a run still sending has sent it", () => {
    expect(actionResult("unsubscribe", "completed", [act(3, "failed", "List is closed")], names)).toBe("failed: List is closed (Newsletter)");
    expect(actionResult("unsubscribe", "completed", [act(3, "failed")], names)).toBe("failed: unknown error (Newsletter)");
    expect(actionResult("delete", "completed", [act(0, "done", null, "delete")], names)).toBe("done");
    expect(actionResult("delete", "completed", [act(0, "done", "No longer in ActiveCampaign", "delete")], names)).toBe("done (No longer in ActiveCampaign)");
    for (const [status, words] of [
      ["applying", "in progress"],
      ["cancelled", "not applied: run cancelled"],
      ["awaiting_review", "not applied yet"],
      ["failed", "not applied yet"],
    ]) {
      expect(actionResult("unsubscribe", status!, [act(3, "pending")], names), status).toBe(`${words} (Newsletter)`);
      expect(actionResult("unsubscribe", status!, [act(3, "sending")], names), status).toBe(`${words} (Newsletter)`);
    }
  });

  it("name the lists once when every list's outcome is the same, and each list with its own outcome when they differ", () => {
    expect(actionResult("unsubscribe", "completed", [act(3, "done"), act(4, "done")], names)).toBe("done (Newsletter, Customers)");
    expect(actionResult("unsubscribe", "completed", [act(3, "done"), act(4, "failed", "List is closed"), act(7, "done")], names)).toBe(
      "Newsletter: done; Customers: failed: List is closed; list 7: done",
    );
    // Lists are named by id when the run kept no names.
    expect(actionResult("unsubscribe", "applying", [act(3, "done"), act(4, "pending")])).toBe("list 3: done; list 4: in progress");
  });
});
