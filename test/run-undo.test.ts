import { describe, expect, it } from "vitest";
import type { RunView } from "../core/services/runs.ts";
import { signUp } from "./support/app.ts";
import { mswServer } from "./support/msw.ts";
import { ACTIVE, createRunHarness, DAY, type RunHarness, UNSUBSCRIBED } from "./support/runs.ts";
import { address } from "./support/world.ts";

const server = mswServer();

/**
 * bob: unsubscribed by the run from both lists; cy: from news; eve: from news only (she had left
 * customers herself before the run); ada: kept.
 */
function seed(h: RunHarness) {
  const news = h.fake.addList("Newsletter");
  const customers = h.fake.addList("Customers");
  const ada = h.fake.addContact({ email: address("deliverable", "ada"), lists: { [news]: ACTIVE, [customers]: ACTIVE } });
  const bob = h.fake.addContact({ email: address("noMail", "bob"), lists: { [news]: ACTIVE, [customers]: ACTIVE } });
  const cy = h.fake.addContact({ email: address("noDomain", "cy"), lists: { [news]: ACTIVE } });
  const eve = h.fake.addContact({ email: address("nullMx", "eve"), lists: { [news]: ACTIVE, [customers]: UNSUBSCRIBED } });
  return { news, customers, ada, bob, cy, eve };
}

async function appliedRun(h: RunHarness, listIds: string[]): Promise<RunView> {
  const run = await h.startRun({ scope: { kind: "lists", listIds }, actions: { undeliverable: "unsubscribe" } });
  await h.worker().drain();
  expect((await h.t.request("POST", `/api/runs/${run.id}/approve`, { as: h.user, body: {} })).status).toBe(200);
  await h.worker().drain();
  const done = await h.getRun(run.id);
  expect(done.status).toBe("completed");
  return done;
}

/** A membership changed in AC after the run, as a contact or another tool would: its status and its `udate`. */
function changeSince(h: RunHarness, contactId: string, listId: string, status: number) {
  h.fake.setListStatus(contactId, listId, status);
  h.fake.contactLists.get(`${contactId}:${listId}`)!.udate = "2099-01-01T00:00:00-00:00";
}

const resubscribes = (h: RunHarness) =>
  h.fake.requests
    .filter((r) => r.method === "POST" && r.path === "/api/3/contactLists" && (r.body as { contactList: { status: number } }).contactList.status === 1)
    .map((r) => (r.body as { contactList: { contact: number; list: number; sourceid: number } }).contactList);

async function drainUntilDone(h: RunHarness, id: string): Promise<RunView> {
  for (let i = 0; i < 12; i++) {
    await h.worker().drain();
    const run = await h.getRun(id);
    if (run.undo.state === "done") return run;
    h.clock.advance(60_000);
  }
  return h.getRun(id);
}

describe("undo a run's unsubscribes (issue 14)", () => {
  it("re-subscribes exactly the memberships the run unsubscribed and that are still as it left them; refuses those changed since and never touches others", async () => {
    const h = await createRunHarness(server);
    try {
      const s = seed(h);
      const run = await appliedRun(h, [s.news, s.customers]);
      expect(run.undo).toMatchObject({ state: "none", available: true, memberships: 4, contacts: 3 });
      expect(run.undo.until).toBe(new Date(Date.parse(run.timings.finishedAt!) + 30 * DAY).toISOString());

      // The page offers it, with a box to tick; the web form refuses without it.
      expect(await (await h.t.request("GET", `/runs/${run.id}`, { as: h.user })).text()).toContain('name="confirmUndo"');
      const unticked = await h.t.request("POST", `/runs/${run.id}/undo`, { as: h.user, body: {} });
      expect(unticked.status).toBe(400);
      expect((await h.getRun(run.id)).undo.state).toBe("none");

      // Since the run: cy re-subscribed and unsubscribed again by other means; bob re-joined customers himself.
      changeSince(h, s.cy, s.news, UNSUBSCRIBED);
      changeSince(h, s.bob, s.customers, ACTIVE);
      h.fake.clearRequests();

      const asked = await h.t.request("POST", `/api/runs/${run.id}/undo`, { as: h.user });
      expect(asked.status).toBe(202);
      const running = (await asked.json()) as RunView;
      expect(running.status).toBe("applying");
      expect(running.undo).toMatchObject({ state: "running", available: false, pending: 4 });
      // One row per membership, with the prefixed ids of the rest of the schema.
      const undoIds = h.t.db.$client.prepare("SELECT id FROM run_undos WHERE run_id = ?").all(run.id) as { id: string }[];
      expect(undoIds.map((r) => r.id)).toEqual(Array.from({ length: 4 }, () => expect.stringMatching(/^und_/)));
      // A second click never makes a second undo.
      const again = await h.t.request("POST", `/api/runs/${run.id}/undo`, { as: h.user });
      expect(again.status).toBe(409);
      expect(((await again.json()) as { error: { message: string } }).error.message).toBe("This run's unsubscribes are being undone");

      const after = await drainUntilDone(h, run.id);
      expect(after.status).toBe("completed");
      expect(after.undo).toMatchObject({ state: "done", restored: 2, skipped: 2, failed: 0, pending: 0, available: false });
      expect(after.statusReason).toBe("Done in ActiveCampaign: unsubscribed from 4 list memberships. Undone: re-subscribed 2 list memberships; 2 left as they are (changed since the run, or gone)");

      // Status 1 went only to the two memberships still as the run left them, each once, marked as a re-subscribe.
      expect(resubscribes(h).sort((a, b) => a.contact - b.contact)).toEqual([
        { list: Number(s.news), contact: Number(s.bob), status: 1, sourceid: 4 },
        { list: Number(s.news), contact: Number(s.eve), status: 1, sourceid: 4 },
      ]);
      expect(h.fake.listStatus(s.bob, s.news)).toBe(ACTIVE);
      expect(h.fake.listStatus(s.eve, s.news)).toBe(ACTIVE);
      // Changed since: left exactly as the contact left them.
      expect(h.fake.listStatus(s.cy, s.news)).toBe(UNSUBSCRIBED);
      expect(h.fake.listStatus(s.bob, s.customers)).toBe(ACTIVE);
      // Never touched: eve's own unsubscribe from before the run, ada (kept).
      expect(h.fake.listStatus(s.eve, s.customers)).toBe(UNSUBSCRIBED);
      expect(h.fake.requests.filter((r) => r.method !== "GET" && JSON.stringify(r.body).includes(`"contact":${s.ada}`))).toEqual([]);

      const third = await h.t.request("POST", `/api/runs/${run.id}/undo`, { as: h.user });
      expect(third.status).toBe(409);
      expect(((await third.json()) as { error: { message: string } }).error.message).toBe("This run's unsubscribes were undone already");
      // No second "run completed" notification for the undo's end.
      const completed = h.t.db.$client.prepare("SELECT count(*) AS n FROM notifications WHERE event = 'run_completed' AND json_extract(data, '$.runId') = ?").get(run.id) as { n: number };
      expect(completed.n).toBe(1);
    } finally {
      await h.close();
    }
  });

  it("treats weather as weather (tries again, never twice), and a lost answer is checked before sending again", async () => {
    const h = await createRunHarness(server);
    try {
      const s = seed(h);
      const run = await appliedRun(h, [s.news]);
      h.fake.clearRequests();
      const isResubscribe = (r: { method: string; path: string; body: unknown }) => r.method === "POST" && r.path === "/api/3/contactLists";
      h.fake.failNext(3, { status: 503 }, isResubscribe);
      h.fake.failNext(1, { answerLost: true }, (r) => isResubscribe(r) && (r.body as { contactList: { contact: number } }).contactList.contact === Number(s.cy));
      expect((await h.t.request("POST", `/api/runs/${run.id}/undo`, { as: h.user })).status).toBe(202);
      const after = await drainUntilDone(h, run.id);
      expect(after.undo).toMatchObject({ state: "done", restored: 3, skipped: 0, failed: 0 });
      for (const c of [s.bob, s.cy, s.eve]) expect(h.fake.listStatus(c, s.news)).toBe(ACTIVE);
      // Each membership reached AC once (the lost answer's membership was re-read, found active, not sent again).
      const landed = h.fake.requests.filter((r) => isResubscribe(r) && (r.status === 200 || r.fault !== undefined && "answerLost" in r.fault));
      const perContact = new Map<number, number>();
      for (const r of landed) {
        const c = (r.body as { contactList: { contact: number } }).contactList.contact;
        perContact.set(c, (perContact.get(c) ?? 0) + 1);
      }
      expect([...perContact.values()]).toEqual([1, 1, 1]);
      expect(h.fake.requests.some((r) => isResubscribe(r) && r.status === 503)).toBe(true);
    } finally {
      await h.close();
    }
  });

  it("refuses with words: outside the window, a run that unsubscribed no one, a run not finished, another workspace's run", async () => {
    const h = await createRunHarness(server, { config: { UNDO_DAYS: 2 } });
    try {
      const s = seed(h);
      const run = await appliedRun(h, [s.news]);
      const other = await signUp(h.t);
      expect((await h.t.request("POST", `/api/runs/${run.id}/undo`, { as: other })).status).toBe(404);
      expect((await h.t.request("POST", `/api/runs/run_nope/undo`, { as: h.user })).status).toBe(404);
      h.clock.advance(2 * DAY);
      expect((await h.getRun(run.id)).undo.available).toBe(false);
      const late = await h.t.request("POST", `/api/runs/${run.id}/undo`, { as: h.user });
      expect(late.status).toBe(409);
      expect(((await late.json()) as { error: { message: string } }).error.message).toBe("A run's unsubscribes can be undone for 2 days after it finished; that time has passed");
      const page = await (await h.t.request("GET", `/runs/${run.id}`, { as: h.user })).text();
      expect(page).toContain("The unsubscribes of this run can no longer be undone");
      expect(page).not.toContain('name="confirmUndo"');

      const review = await h.startRun({ scope: { kind: "lists", listIds: [s.customers] }, actions: { undeliverable: "unsubscribe" } });
      await h.worker().drain();
      const notYet = await h.t.request("POST", `/api/runs/${review.id}/undo`, { as: h.user });
      expect(notYet.status).toBe(409);
      expect(((await notYet.json()) as { error: { message: string } }).error.message).toBe("Only a finished run's unsubscribes can be undone");

      const kept = await h.startRun({ scope: { kind: "lists", listIds: [s.news] }, actions: { undeliverable: "keep" } });
      await h.worker().drain();
      const nothing = await h.t.request("POST", `/api/runs/${kept.id}/undo`, { as: h.user });
      expect(nothing.status).toBe(409);
      expect(((await nothing.json()) as { error: { message: string } }).error.message).toBe("This run unsubscribed no one: there is nothing to undo");
      expect(resubscribes(h)).toEqual([]);
    } finally {
      await h.close();
    }
  });

  it("refuses with words to undo a run whose connection was deleted, within the window", async () => {
    const h = await createRunHarness(server);
    try {
      const s = seed(h);
      const run = await appliedRun(h, [s.news]);
      expect((await h.t.request("DELETE", `/api/connections/${h.connectionId}`, { as: h.user })).status).toBe(204);
      expect((await h.getRun(run.id)).undo.available).toBe(false);
      const refused = await h.t.request("POST", `/api/runs/${run.id}/undo`, { as: h.user });
      expect(refused.status).toBe(409);
      expect(((await refused.json()) as { error: { message: string } }).error.message).toBe("The ActiveCampaign connection of this run was deleted; its unsubscribes cannot be undone");
      expect(resubscribes(h)).toEqual([]);
    } finally {
      await h.close();
    }
  });
});
