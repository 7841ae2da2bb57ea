import { setupServer } from "msw/node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { balanceOf } from "../core/services/credits.ts";
import { answer, apiClient } from "./support/api.ts";
import { createRunHarness, parseCsv, type RunHarness } from "./support/runs.ts";
import { address, KINDS, type Kind } from "./support/world.ts";

const server = setupServer();
beforeAll(() => server.listen({ onUnhandledRequest: "error" }));
afterEach(() => server.resetHandlers());
afterAll(() => server.close());

const ACTIVE = 1;
const UNSUBSCRIBED = 2;

/** Seeds three lists and contacts of every kind, some on several lists, some already unsubscribed. */
function seed(h: RunHarness) {
  const fake = h.fake;
  const l1 = fake.addList("Newsletter");
  const l2 = fake.addList("Customers");
  const l3 = fake.addList("Not chosen");
  const contacts: { id: string; email: string; kind: Kind | "syntax" | "bounced"; lists: Record<string, number> }[] = [];
  const add = (email: string, kind: (typeof contacts)[number]["kind"], lists: Record<string, number>, extra: { bouncedHard?: boolean; firstName?: string } = {}) => {
    const id = fake.addContact({ email, lists, firstName: extra.firstName ?? `First ${contacts.length}`, lastName: "Last", bouncedHard: extra.bouncedHard ?? false });
    contacts.push({ id, email, kind, lists });
  };
  for (let i = 0; i < 6; i++) add(address("deliverable", `good${i}`), "deliverable", { [l1]: ACTIVE });
  add(address("aOnly", "aonly"), "aOnly", { [l1]: ACTIVE, [l2]: ACTIVE });
  // Undeliverable, active on both chosen lists and on a list outside the scope.
  add(address("nullMx", "nullmx"), "nullMx", { [l1]: ACTIVE, [l2]: ACTIVE, [l3]: ACTIVE });
  // Undeliverable, already unsubscribed from l1: only l2 may be touched.
  add(address("noDomain", "gone"), "noDomain", { [l1]: UNSUBSCRIBED, [l2]: ACTIVE });
  add(address("noMail", "nomail"), "noMail", { [l2]: ACTIVE });
  add("not an address", "syntax", { [l1]: ACTIVE });
  add(address("deliverable", "bounced"), "bounced", { [l2]: ACTIVE }, { bouncedHard: true });
  add(address("dnsError", "unknown"), "dnsError", { [l1]: ACTIVE });
  add(address("disposable", "temp"), "disposable", { [l1]: ACTIVE });
  add(address("deliverable", "formula"), "deliverable", { [l2]: ACTIVE }, { firstName: "=HYPERLINK(\"http://evil\")" });
  // Only on the list outside the scope: must not be fetched.
  fake.addContact({ email: address("nullMx", "outside"), lists: { [l3]: ACTIVE } });
  return { l1, l2, l3, contacts };
}

describe("hygiene run, end to end through the HTTP API", () => {
  it("fetches two lists, verifies, holds for review, applies exactly the planned unsubscribes and deletes, and reports", async () => {
    // The fake allows 10 a second against our 5: a 429 would take a limiter that lets bursts
    // through, not the scheduling jitter of a busy test machine (the 5/s edge is ac-rate.test.ts's).
    const h = await createRunHarness(server, { acRequestsPerSecond: 5, fakeRequestsPerSecond: 10 });
    const { l1, l2, l3, contacts } = seed(h);
    const started = await h.startRun({
      scope: { kind: "lists", listIds: [l1, Number(l2)] },
      actions: { undeliverable: "unsubscribe", overrides: [{ reason: "disposable", action: "delete" }] },
    });
    expect(started.status).toBe("queued");

    await h.worker().drain();
    const review = await h.getRun(started.id);
    expect(review.status).toBe("awaiting_review");
    expect(review.progress).toMatchObject({ fetched: contacts.length, verified: contacts.length });
    expect(review.counts.byReason).toMatchObject({ mail_domain_ok: 8, null_mx: 1, domain_not_found: 1, no_mail_server: 1, invalid_syntax: 1, hard_bounced: 1, dns_error: 1, disposable: 1 });
    expect(review.credits).toEqual({ charged: contacts.length, refunded: 1, net: contacts.length - 1 });
    // nullmx: l1+l2 (not l3); gone: l2 only; nomail: l2; syntax: l1; bounced: l2 → 6 requests, 5 contacts; 1 delete.
    expect(review.plan).toMatchObject({ unsubscribe: { contacts: 5, requests: 6 }, delete: { contacts: 1 }, keep: contacts.length - 6 });
    expect(review.plan!.sample.length).toBe(6);
    expect(h.fake.requests.every((r) => r.method === "GET")).toBe(true);

    const unconfirmed = await h.t.request("POST", `/api/runs/${started.id}/approve`, { as: h.user, body: {} });
    expect(unconfirmed.status).toBe(400);
    expect(await unconfirmed.json()).toMatchObject({ error: { field: "confirmDelete" } });

    const approved = await h.t.request("POST", `/api/runs/${started.id}/approve`, { as: h.user, body: { confirmDelete: true } });
    expect(approved.status).toBe(200);
    await h.worker().drain();
    const done = await h.getRun(started.id);
    expect(done.status).toBe("completed");
    expect(done.progress).toMatchObject({ applied: 7, failed: 0, planned: 7 });
    expect(h.fake.countStatus(429)).toBe(0);

    const byEmail = new Map(contacts.map((c) => [c.email, c]));
    const status = (email: string, list: string) => h.fake.listStatus(byEmail.get(email)!.id, list);
    expect(status(address("nullMx", "nullmx"), l1)).toBe(UNSUBSCRIBED);
    expect(status(address("nullMx", "nullmx"), l2)).toBe(UNSUBSCRIBED);
    expect(status(address("nullMx", "nullmx"), l3)).toBe(ACTIVE);
    expect(status(address("noDomain", "gone"), l2)).toBe(UNSUBSCRIBED);
    expect(status(address("dnsError", "unknown"), l1)).toBe(ACTIVE);
    expect(h.fake.contacts.has(byEmail.get(address("disposable", "temp"))!.id)).toBe(false);
    for (const c of contacts.filter((x) => x.kind === "deliverable" || x.kind === "aOnly")) {
      for (const list of Object.keys(c.lists)) expect(status(c.email, list)).toBe(ACTIVE);
    }

    const writes = h.fake.requests.filter((r) => r.method !== "GET");
    expect(writes).toHaveLength(7);
    for (const w of writes.filter((r) => r.method === "POST")) {
      expect(w.path).toBe("/api/3/contactLists");
      expect((w.body as { contactList: { status: number } }).contactList.status).toBe(2);
    }
    const touched = new Set(writes.map((w) => (w.method === "DELETE" ? w.path.split("/").pop() : String((w.body as { contactList: { contact: unknown } }).contactList.contact))));
    for (const c of contacts.filter((x) => ["deliverable", "aOnly", "dnsError"].includes(x.kind))) expect(touched.has(c.id)).toBe(false);
    // The previously unsubscribed list was not written to.
    expect(writes.some((w) => w.method === "POST" && (w.body as { contactList: { list: number; contact: number } }).contactList.contact === Number(byEmail.get(address("noDomain", "gone"))!.id) && (w.body as { contactList: { list: number } }).contactList.list === Number(l1))).toBe(false);

    const csvRes = await h.t.request("GET", `/api/runs/${started.id}/report.csv`, { as: h.user });
    expect(csvRes.headers.get("content-type")).toMatch(/text\/csv/);
    const rows = parseCsv(await csvRes.text());
    expect(rows).toHaveLength(contacts.length);
    const row = (email: string) => rows.find((r) => r.email === email)!;
    expect(row(address("nullMx", "nullmx"))).toMatchObject({ status: "undeliverable", reason: "null_mx", action: "unsubscribe", action_result: "done (Newsletter, Customers)" });
    expect(row(address("disposable", "temp"))).toMatchObject({ status: "risky", reason: "disposable", action: "delete", action_result: "done", first_name: expect.any(String) });
    expect(row(address("dnsError", "unknown"))).toMatchObject({ status: "unknown", reason: "dns_error", action: "keep", action_result: "" });
    expect(row(address("deliverable", "formula")).first_name).toBe("'=HYPERLINK(\"http://evil\")");

    const summary = await answer(await apiClient(h.t, h.user).runs[":id"]["summary.json"].$get({ param: { id: started.id } }), 200);
    expect(summary).toMatchObject({ status: "completed", contacts: contacts.length, applied: { done: 7, failed: 0 }, credits: { charged: contacts.length, refunded: 1 } });
    expect(summary.acRequests).toBe(h.fake.requests.length);
    await h.close();
  }, 60_000);

  it("completes without review when nothing would change, and costs no write request", async () => {
    const h = await createRunHarness(server);
    const list = h.fake.addList("Clean list");
    for (let i = 0; i < 5; i++) h.fake.addContact({ email: address("deliverable", `c${i}`), lists: { [list]: ACTIVE } });
    const run = await h.startRun({ scope: { kind: "all" } });
    await h.worker().drain();
    const done = await h.getRun(run.id);
    expect(done.status).toBe("completed");
    expect(done.statusReason).toMatch(/Nothing to change/);
    expect(h.fake.requests.filter((r) => r.method !== "GET")).toHaveLength(0);
    await h.close();
  });

  it("unsubscribes from every active list for a tag scope", async () => {
    const h = await createRunHarness(server);
    const a = h.fake.addList("A");
    const b = h.fake.addList("B");
    const tag = h.fake.addTag("import-2019");
    const bad = h.fake.addContact({ email: address("noMail", "x"), lists: { [a]: ACTIVE, [b]: ACTIVE }, tags: [tag] });
    h.fake.addContact({ email: address("noMail", "untagged"), lists: { [a]: ACTIVE } });
    const run = await h.startRun({ scope: { kind: "tag", tagId: tag } });
    await h.worker().drain();
    expect((await h.getRun(run.id)).progress.fetched).toBe(1);
    await h.t.request("POST", `/api/runs/${run.id}/approve`, { as: h.user, body: {} });
    await h.worker().drain();
    expect(h.fake.listStatus(bad, a)).toBe(UNSUBSCRIBED);
    expect(h.fake.listStatus(bad, b)).toBe(UNSUBSCRIBED);
    await h.close();
  });

  it("cancels a run in review without changing anything, and says so in the report", async () => {
    const h = await createRunHarness(server);
    const list = h.fake.addList("L");
    h.fake.addContact({ email: address("noMail", "x"), lists: { [list]: ACTIVE } });
    const run = await h.startRun({ scope: { kind: "lists", listIds: [list] } });
    await h.worker().drain();
    const cancelled = await answer(await apiClient(h.t, h.user).runs[":id"].cancel.$post({ param: { id: run.id } }), 200);
    expect(cancelled.status).toBe("cancelled");
    await h.worker().drain();
    expect(h.fake.requests.filter((r) => r.method !== "GET")).toHaveLength(0);
    const rows = parseCsv(await (await h.t.request("GET", `/api/runs/${run.id}/report.csv`, { as: h.user })).text());
    expect(rows[0]).toMatchObject({ action: "unsubscribe", action_result: "not applied: run cancelled (L)" });
    expect((await h.t.request("POST", `/api/runs/${run.id}/approve`, { as: h.user, body: {} })).status).toBe(409);
    await h.close();
  });

  it("fails the run with AC's words when the key is refused before anything is fetched, charging nothing", async () => {
    const h = await createRunHarness(server);
    const list = h.fake.addList("L");
    h.fake.addContact({ email: address("deliverable", "k"), lists: { [list]: ACTIVE } });
    h.fake.apiKeys.clear();
    const run = await h.startRun({ scope: { kind: "all" } });
    await h.worker().drain();
    const failed = await h.getRun(run.id);
    expect(failed.status).toBe("failed");
    expect(failed.statusReason).toMatch(/ActiveCampaign refused this API key \(Settings → Developer\)/);
    expect(failed.progress.fetched).toBe(0);
    expect(failed.credits).toEqual({ charged: 0, refunded: 0, net: 0 });
    expect(balanceOf(h.t.db, h.user.workspaceId)).toBe(10_000);
    await h.close();
  });
});

describe("POST /api/runs validation", () => {
  it("names the field at fault and keeps workspaces apart: single-run routes, the run lists and the dashboard history", async () => {
    const h = await createRunHarness(server);
    const bad = [
      [{ scope: { kind: "lists", listIds: [] } }, "scope.listIds"],
      [{ scope: { kind: "lists", listIds: ["abc"] } }, "scope.listIds.0"],
      [{ scope: { kind: "everything" } }, "scope.kind"],
      [{ scope: { kind: "all" }, actions: { risky: "destroy" } }, "actions.risky"],
      [{ scope: { kind: "all" }, actions: { overrides: [{ reason: "nope", action: "keep" }] } }, "actions.overrides.0.reason"],
      [{ scope: { kind: "all" }, smtpProbe: true }, "smtpProbe"],
    ] as const;
    for (const [body, field] of bad) {
      const res = await h.t.request("POST", "/api/runs", { as: h.user, body: { connectionId: h.connectionId, ...body } });
      expect({ field, status: res.status }).toEqual({ field, status: 400 });
      expect(((await res.json()) as { error: { field: string } }).error.field).toBe(field);
    }
    const missing = await h.t.request("POST", "/api/runs", { as: h.user, body: { connectionId: "con_nope", scope: { kind: "all" } } });
    expect(missing.status).toBe(404);

    const run = await h.startRun({ scope: { kind: "all" } });
    const { signUp } = await import("./support/app.ts");
    const other = await signUp(h.t);
    for (const [method, path] of [
      ["GET", `/api/runs/${run.id}`],
      ["GET", `/api/runs/${run.id}/report.csv`],
      ["GET", `/api/runs/${run.id}/summary.json`],
      ["POST", `/api/runs/${run.id}/approve`],
      ["POST", `/api/runs/${run.id}/cancel`],
    ] as const) {
      expect((await h.t.request(method, path, { as: other, body: method === "POST" ? {} : undefined })).status).toBe(404);
    }
    expect((await h.t.request("POST", "/api/runs", { as: other, body: { connectionId: h.connectionId, scope: { kind: "all" } } })).status).toBe(404);
    // The run lists: the owner's has the run, the other workspace's has nothing, even asked by connection.
    const runIds = async (as: typeof other, query = "") => ((await (await h.t.request("GET", `/api/runs${query}`, { as })).json()) as { runs: { id: string }[] }).runs.map((r) => r.id);
    expect(await runIds(h.user)).toEqual([run.id]);
    expect(await runIds(other)).toEqual([]);
    expect(await runIds(other, `?connectionId=${h.connectionId}`)).toEqual([]);
    // Nor the dashboard's history of that connection, nor the run's page.
    expect((await h.t.request("GET", `/connections/${h.connectionId}/runs`, { as: other })).status).toBe(404);
    expect((await h.t.request("GET", `/runs/${run.id}`, { as: other })).status).toBe(404);
    await h.close();
  });
});

describe("credits", () => {
  it("pauses a run bigger than the balance, resumes after a grant, and the ledger sums to unique contacts minus refunds", async () => {
    const h = await createRunHarness(server, { signupCredits: 150 });
    const list = h.fake.addList("Big");
    const other = h.fake.addList("Overlap");
    for (let i = 0; i < 230; i++) {
      const kind: Kind = i % 23 === 0 ? "dnsError" : "deliverable";
      h.fake.addContact({ email: address(kind, `p${i}`), lists: i < 20 ? { [list]: ACTIVE, [other]: ACTIVE } : { [list]: ACTIVE } });
    }
    const run = await h.startRun({ scope: { kind: "lists", listIds: [list, other] } });
    const worker = h.worker();
    await worker.drain();
    const paused = await h.getRun(run.id);
    expect(paused.status).toBe("paused_credits");
    // The total still needed is said: up to 100 (the 20 contacts on both lists are counted on each).
    expect(paused.statusReason).toMatch(/Up to 100 more credits are needed/);
    expect(paused.progress.fetched).toBe(150);
    expect(paused.progress.verified).toBe(paused.progress.fetched);
    expect(paused.credits.charged).toBe(paused.progress.fetched);

    h.clock.advance(5_000);
    await worker.drain();
    expect((await h.getRun(run.id)).status).toBe("paused_credits");

    const { grantCredits } = await import("../core/services/credits.ts");
    grantCredits(h.t.db, h.clock, { workspaceId: h.user.workspaceId, amount: 500, reason: "top-up" });
    h.clock.advance(5_000);
    await worker.drain();
    const done = await h.getRun(run.id);
    expect(done.status).toBe("completed");
    expect(done.progress.fetched).toBe(230);
    const unknown = done.counts.byStatus.unknown!;
    expect(unknown).toBe(10);
    expect(done.credits).toEqual({ charged: 230, refunded: unknown, net: 230 - unknown });
    expect(balanceOf(h.t.db, h.user.workspaceId)).toBe(150 + 500 - 230 + unknown);
    await h.close();
  });
});
