import { setupServer } from "msw/node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { creditsStillNeeded, sqliteAttemptStore, type AttemptStore } from "../core/runs/attempt.ts";
import { LeaseLost } from "../core/runs/store.ts";
import { countPlan, isAnomalous, labelRule, planRule, reviewReason, type PlanRule } from "../core/runs/planning.ts";
import type { RunRow } from "../core/runs/store.ts";
import type { RunActions } from "../core/domain/scope-actions.ts";
import type { RunContext } from "../worker/runs/context.ts";
import { planRun } from "../worker/runs/plan.ts";
import { createRunHarness } from "./support/runs.ts";
import { address } from "./support/world.ts";

// The plan stage's own decisions (issue 20, mutation testing): every chunk is planned, not only
// the first; the hold threshold's edge; a plan of labels alone is reviewed, not completed.

const server = setupServer();
beforeAll(() => server.listen({ onUnhandledRequest: "error" }));
afterEach(() => server.resetHandlers());
afterAll(() => server.close());

const NO_ACTIONS: RunActions = { deliverable: "keep", risky: "keep", undeliverable: "unsubscribe", unknown: "keep", overrides: [] };

/**
 * A store that answers planRun as the SQLite one would for a run of `chunks` chunks, and
 * records what planRun asked of it.
 */
function fakeStore(o: { chunks: number[]; contacts: number; destructive: number; labelled?: number; autoApply?: boolean; holdThreshold?: number | null; actions?: RunActions }) {
  const calls: string[] = [];
  const moves: { to: string; values: Record<string, unknown> }[] = [];
  const walk = (kind: string) => (after: number) => {
    calls.push(`${kind} after ${after}`);
    const next = o.chunks.find((last) => last > after);
    return { last: next ?? null };
  };
  const run = {
    planReady: false,
    status: "running",
    actions: JSON.stringify(o.actions ?? NO_ACTIONS),
    scope: JSON.stringify({ kind: "all" }),
    autoApply: o.autoApply ?? false,
    holdThreshold: o.holdThreshold ?? null,
  } as unknown as RunRow;
  const store = {
    run: () => run,
    planChunk: walk("plan"),
    planLabelChunk: walk("label"),
    // Every destructive contact is an unsubscribe here: the sentence's wording is reviewReason's (planning tests).
    planSummary: () => ({ contacts: o.contacts, destructive: o.destructive, unsubscribeContacts: o.destructive, deleteContacts: 0, labelled: o.labelled ?? 0 }),
    move: (to: string, values: Record<string, unknown> = {}) => {
      moves.push({ to, values });
      return run;
    },
  } as unknown as AttemptStore;
  const events: unknown[] = [];
  const ctx = { runId: "run_1", store, signal: new AbortController().signal, clock: { now: () => 1_000 }, emit: (e: unknown) => events.push(e) } as unknown as RunContext;
  return { ctx, calls, moves, events };
}

describe("planRun", () => {
  it("plans every chunk until the store says there is no more, each from where the last ended", async () => {
    const f = fakeStore({ chunks: [5, 9, 14], contacts: 14, destructive: 3 });
    await expect(planRun(f.ctx)).resolves.toBe("awaiting_review");
    expect(f.calls).toEqual(["plan after -1", "plan after 5", "plan after 9", "plan after 14"]);
    expect(f.moves).toEqual([{ to: "awaiting_review", values: expect.objectContaining({ planReady: true, statusReason: "Review the plan: approving would unsubscribe 3 contacts" }) }]);
    expect(f.events).toEqual([{ type: "planned", runId: "run_1", status: "awaiting_review" }]);
  });

  it("labels are planned in chunks too, only when some contact is to be labelled, and a plan of labels alone is reviewed", async () => {
    const labelling: RunActions = { ...NO_ACTIONS, undeliverable: "keep", label: { statuses: ["undeliverable"], fieldName: "Listwarden", reasonFieldName: null, tagPrefix: null, runAutomations: false } };
    const f = fakeStore({ chunks: [5, 9], contacts: 9, destructive: 0, labelled: 2, actions: labelling });
    await expect(planRun(f.ctx)).resolves.toBe("awaiting_review");
    expect(f.calls).toEqual(["plan after -1", "plan after 5", "plan after 9", "label after -1", "label after 5", "label after 9"]);
    expect(f.moves[0]!.values.statusReason).toBe("Review the plan: approving would label 2 contacts in ActiveCampaign");

    const none = fakeStore({ chunks: [5], contacts: 5, destructive: 0 });
    await expect(planRun(none.ctx)).resolves.toBe("completed");
    expect(none.calls).toEqual(["plan after -1", "plan after 5"]);
    expect(none.moves).toEqual([{ to: "completed", values: expect.objectContaining({ planReady: true }) }]);
  });

  it("a plan that unsubscribes and labels says both", async () => {
    const labelling: RunActions = { ...NO_ACTIONS, label: { statuses: ["risky"], fieldName: "Listwarden", reasonFieldName: null, tagPrefix: null, runAutomations: false } };
    const f = fakeStore({ chunks: [], contacts: 9, destructive: 3, labelled: 2, actions: labelling });
    await planRun(f.ctx);
    expect(f.moves[0]!.values.statusReason).toBe("Review the plan: approving would unsubscribe 3 contacts, label 2 contacts in ActiveCampaign");
  });

  it("a scheduled run applies by itself at exactly its hold threshold, and holds one contact above it", async () => {
    const at = fakeStore({ chunks: [], contacts: 10, destructive: 3, autoApply: true, holdThreshold: 0.3 });
    await expect(planRun(at.ctx)).resolves.toBe("applying");
    expect(at.moves).toEqual([{ to: "applying", values: expect.objectContaining({ planReady: true, approvedAt: new Date(1_000) }) }]);
    const above = fakeStore({ chunks: [], contacts: 10, destructive: 4, autoApply: true, holdThreshold: 0.3 });
    await expect(planRun(above.ctx)).resolves.toBe("awaiting_review");
    expect(above.moves[0]!.values.statusReason).toBe("Held for review: 40.0% of contacts would be unsubscribed or deleted, above this schedule's 30% limit");
    // Without a threshold of its own, the default 30%.
    await expect(planRun(fakeStore({ chunks: [], contacts: 10, destructive: 3, autoApply: true }).ctx)).resolves.toBe("applying");
    await expect(planRun(fakeStore({ chunks: [], contacts: 10, destructive: 4, autoApply: true }).ctx)).resolves.toBe("awaiting_review");
  });

  it("a run planned already is not planned again", async () => {
    const f = fakeStore({ chunks: [5], contacts: 5, destructive: 1 });
    (f.ctx.store.run() as { planReady: boolean; status: string }).planReady = true;
    (f.ctx.store.run() as { planReady: boolean; status: string }).status = "awaiting_review";
    await expect(planRun(f.ctx)).resolves.toBe("awaiting_review");
    expect(f.calls).toEqual([]);
    expect(f.moves).toEqual([]);
  });
});

describe("labelRule", () => {
  it("labels by status unless a reason's override says otherwise; an override that only changes the action leaves the label to its status", () => {
    const label = { statuses: ["risky" as const], fieldName: "Listwarden", reasonFieldName: null, tagPrefix: null, runAutomations: false };
    const rule = labelRule({ ...NO_ACTIONS, overrides: [{ reason: "disposable", action: "delete" }, { reason: "role_account", label: false }], label });
    expect(rule).toEqual({
      cases: [
        { reason: "role_account", label: false },
        { status: "deliverable", label: false },
        { status: "risky", label: true },
        { status: "undeliverable", label: false },
        { status: "unknown", label: false },
      ],
      withReason: false,
    });
    expect(labelRule({ ...NO_ACTIONS, label: { ...label, reasonFieldName: "Listwarden reason" } }).withReason).toBe(true);
  });
});

describe("the store's planChunk", () => {
  it("returns the last contact of each chunk, then null, and plans the same actions in chunks of one as in one chunk", async () => {
    const h = await createRunHarness(server);
    const list = h.fake.addList("L");
    for (let i = 0; i < 4; i++) h.fake.addContact({ email: address(i % 2 ? "noMail" : "deliverable", `c${i}`), lists: { [list]: 1 } });
    const run = await h.startRun({ scope: { kind: "all" } });
    await h.worker().drain();
    const db = h.t.db.$client;
    const planned = () => db.prepare("SELECT contact_id, kind, list_id FROM run_actions WHERE run_id = ? ORDER BY contact_id").all(run.id);
    const whole = planned();
    expect(whole).toHaveLength(2);

    db.prepare("DELETE FROM run_actions WHERE run_id = ?").run(run.id);
    db.prepare("UPDATE runs SET lease_token = 'test', lease_owner = 'test' WHERE id = ?").run(run.id);
    const store = sqliteAttemptStore(h.t.db, h.clock, { runId: run.id, owner: "test", token: "test" }, { box: h.t.deps.backupBox, retentionMs: 86_400_000 });
    const rule: PlanRule = planRule(NO_ACTIONS, { kind: "all" });
    const ids = (db.prepare("SELECT contact_id AS id FROM run_contacts WHERE run_id = ? ORDER BY contact_id").all(run.id) as { id: number }[]).map((r) => r.id);
    const lasts: (number | null)[] = [];
    for (let after = -1; ; ) {
      const { last } = store.planChunk(after, 1, rule);
      lasts.push(last);
      if (last === null) break;
      after = last;
    }
    expect(lasts).toEqual([...ids, null]);
    expect(planned()).toEqual(whole);

    // Once another attempt holds the run, this store reads and writes nothing more.
    expect(store.run().id).toBe(run.id);
    db.prepare("UPDATE runs SET lease_token = 'other' WHERE id = ?").run(run.id);
    expect(() => store.run()).toThrow(LeaseLost);
    expect(() => store.move("failed", { statusReason: "x" })).toThrow(LeaseLost);
    expect(() => store.planChunk(-1, 1, rule)).toThrow(LeaseLost);
    // storePage answers only a short balance itself: a lost lease is thrown.
    expect(() => store.storePage({ contacts: [], cursor: () => ({ cursor: null, done: true }) })).toThrow(LeaseLost);
    db.prepare("DELETE FROM runs WHERE id = ?").run(run.id);
    expect(() => store.run()).toThrow(LeaseLost);
    await h.close();
  });
});

describe("countPlan, isAnomalous and reviewReason", () => {
  it("counts the plan per action, per list (members, active, results per reason, unsubscribes, deletes) and in total; the results per list only when asked", async () => {
    const h = await createRunHarness(server);
    const a = h.fake.addList("A");
    const b = h.fake.addList("B");
    const c0 = h.fake.addContact({ email: address("deliverable", "k0"), lists: { [a]: 1, [b]: 2 } });
    const c1 = h.fake.addContact({ email: address("noMail", "k1"), lists: { [a]: 1, [b]: 1 } });
    const c2 = h.fake.addContact({ email: address("deliverable", "k2"), lists: { [b]: 1 } });
    const run = await h.startRun({ scope: { kind: "all" } });
    await h.worker().drain();
    const db = h.t.db.$client;
    // c0 to be deleted (planned by hand here), c1 unsubscribed from both lists by the rules, c2 not planned at all.
    db.prepare("UPDATE run_contacts SET action = 'delete' WHERE run_id = ? AND contact_id = ?").run(run.id, Number(c0));
    db.prepare("INSERT INTO run_actions (id, run_id, contact_id, kind, list_id, state, attempts, updated_at) VALUES ('act_d', ?, ?, 'delete', 0, 'pending', 0, 0)").run(run.id, Number(c0));
    db.prepare("UPDATE run_contacts SET action = NULL WHERE run_id = ? AND contact_id = ?").run(run.id, Number(c2));
    db.prepare("DELETE FROM run_counts WHERE run_id = ?").run(run.id);
    const reason = (c: string) => (db.prepare("SELECT reason FROM run_contacts WHERE run_id = ? AND contact_id = ?").get(run.id, Number(c)) as { reason: string }).reason;
    const counts = (kind: string) =>
      Object.fromEntries((db.prepare("SELECT key, n FROM run_counts WHERE run_id = ? AND kind = ? ORDER BY key").all(run.id, kind) as { key: string; n: number }[]).map((r) => [r.key, r.n]));

    // Without the results: the plan's counts only.
    const totals = countPlan(h.t.db, run.id, { chosenLists: null, withResults: false });
    expect(totals).toEqual({ contacts: 3, unsubscribeContacts: 1, deleteContacts: 1, destructive: 2, labelled: 0 });
    expect(counts("action")).toEqual({ delete: 1, unsubscribe: 1 });
    expect(counts("plan")).toEqual({ delete_contacts: 1, excluded: 0, unsubscribe_contacts: 1, unsubscribe_requests: 2 });
    const planned = { [`${a}:delete`]: 1, [`${a}:unsubscribe`]: 1, [`${b}:delete`]: 1, [`${b}:unsubscribe`]: 1 };
    expect(counts("list")).toEqual(planned);

    countPlan(h.t.db, run.id, { chosenLists: null, withResults: true });
    const byReason: Record<string, number> = {};
    for (const [list, c] of [[a, c0], [a, c1], [b, c0], [b, c1], [b, c2]] as const) byReason[`${list}:reason:${reason(c)}`] = (byReason[`${list}:reason:${reason(c)}`] ?? 0) + 1;
    expect(counts("list")).toEqual({ ...planned, ...byReason, [`${a}:members`]: 2, [`${a}:active`]: 2, [`${b}:members`]: 3, [`${b}:active`]: 2 });
    await h.close();
  });

  it("a plan is anomalous above its threshold of the contacts checked, never with none checked", () => {
    expect(isAnomalous({ contacts: 10, destructive: 4 }, 0.3)).toBe(true);
    expect(isAnomalous({ contacts: 10, destructive: 3 }, 0.3)).toBe(false);
    expect(isAnomalous({ contacts: 0, destructive: 1 }, 0.3)).toBe(false);
    expect(isAnomalous({ contacts: 0, destructive: 0 }, 0)).toBe(false);
  });

  it("a review of a plan that changes nothing says so", () => {
    expect(reviewReason({ unsubscribeContacts: 0, deleteContacts: 0, labelled: 0 })).toBe("Review the plan: approving changes nothing in ActiveCampaign");
    expect(reviewReason({ unsubscribeContacts: 1, deleteContacts: 2, labelled: 0 })).toBe("Review the plan: approving would unsubscribe 1 contact, delete 2 contacts");
  });
});

describe("creditsStillNeeded", () => {
  it("asks for at least one credit while no count is known, and says 'up to' for a scope of several lists", () => {
    const scope = (listIds?: number[]) => JSON.stringify(listIds ? { kind: "lists", listIds } : { kind: "all" });
    expect(creditsStillNeeded({ estimatedTotal: null, total: null, contactsFetched: 40, scope: scope() })).toEqual({ credits: 1, atLeast: true, upTo: false });
    expect(creditsStillNeeded({ estimatedTotal: 100, total: null, contactsFetched: 40, scope: scope() })).toEqual({ credits: 60, atLeast: false, upTo: false });
    expect(creditsStillNeeded({ estimatedTotal: null, total: 100, contactsFetched: 40, scope: scope([3]) })).toEqual({ credits: 60, atLeast: false, upTo: false });
    expect(creditsStillNeeded({ estimatedTotal: 100, total: null, contactsFetched: 40, scope: scope([3, 4]) })).toEqual({ credits: 60, atLeast: false, upTo: true });
  });
});
