import { afterEach, describe, expect, it, vi } from "vitest";
import { AcError, type AcClient } from "../core/ac/index.ts";
import type { AttemptStore, UndoOutcome, UndoRow } from "../core/runs/attempt.ts";
import type { RunContext, RunEvent } from "../worker/runs/context.ts";
import { undoRun } from "../worker/runs/undo.ts";

// The undo stage's own decisions (issue 20, mutation testing), on a store and an AC client
// kept in memory rather than through a whole run: which membership is re-subscribed, which is
// left as it is and why, what is weather, what is thrown, and when the stage lets go.

const ACTIVE = 1;
const UNSUBSCRIBED = 2;
const RUN_DATE = "2026-11-02T10:00:00-06:00";
const BASE_MS = 10_000;

type Row = UndoRow & { state: UndoRow["state"] | "done" | "skipped" | "failed"; nextAttemptAt: number | null };

function undoWorld(rows: Partial<Row>[], o: { holdMs?: number; now?: () => number } = {}) {
  const now = o.now ?? (() => 1_000_000);
  const table: Row[] = rows.map((r, i) => ({ id: `und_${i + 1}`, contactId: i + 1, listId: 3, acUpdated: RUN_DATE, state: "pending", attempts: 0, nextAttemptAt: null, ...r }));
  const saved: UndoOutcome[] = [];
  const finished: string[] = [];
  const store = {
    dueUndos: (limit: number) =>
      table.filter((r) => r.state === "sending" || (r.state === "pending" && (r.nextAttemptAt === null || r.nextAttemptAt <= now()))).slice(0, limit).map((r) => ({ ...r }) as UndoRow),
    markUndoSending: (id: string, attempts: number) => Object.assign(table.find((r) => r.id === id)!, { state: "sending", attempts }),
    saveUndoOutcome: (out: UndoOutcome) => {
      saved.push(out);
      Object.assign(table.find((r) => r.id === out.id)!, { state: out.state, nextAttemptAt: out.state === "pending" ? out.nextAttemptAt : null });
    },
    undoCounts: () => {
      const c = { pending: 0, sending: 0, done: 0, skipped: 0, failed: 0 };
      for (const r of table) c[r.state] += 1;
      return c;
    },
    nextUndoAt: () => {
      const next = table.filter((r) => r.state === "pending" && r.nextAttemptAt !== null).map((r) => r.nextAttemptAt!);
      return next.length ? Math.min(...next) : null;
    },
    finishUndo: (words: string) => finished.push(words),
  } as unknown as AttemptStore;

  /** AC's memberships by contact: `${contactId}` → [{ listId, status, updated }]; errors by contact for reads and for re-subscribes. */
  const memberships = new Map<number, { listId: string; status: number; updated?: string }[]>();
  const readErrors = new Map<number, Error>();
  const restoreErrors = new Map<number, Error | (() => Error)>();
  const restored: string[] = [];
  const controller = new AbortController();
  const client = {
    getContactLists: async (id: string, opts: { signal?: AbortSignal }) => {
      expect(opts.signal).toBe(controller.signal);
      const err = readErrors.get(Number(id));
      if (err) throw err;
      return memberships.get(Number(id)) ?? [];
    },
    restoreSubscription: async (id: string, list: string, opts: { signal?: AbortSignal }) => {
      expect(opts.signal).toBe(controller.signal);
      const err = restoreErrors.get(Number(id));
      if (err) throw typeof err === "function" ? err() : err;
      restored.push(`${id}:${list}`);
    },
  } as unknown as AcClient;
  const events: RunEvent[] = [];
  const ctx = {
    runId: "run_1",
    store,
    client,
    signal: controller.signal,
    clock: { now },
    settings: { holdMs: o.holdMs ?? 1_000, actionRetryBaseMs: BASE_MS, actionRetryMaxMs: 8 * BASE_MS },
    emit: (e: RunEvent) => events.push(e),
  } as unknown as RunContext;
  return { ctx, table, saved, finished, memberships, readErrors, restoreErrors, restored, events, controller };
}

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe("undoRun", () => {
  it("re-subscribes only a membership AC shows unsubscribed with the run's own date; leaves one changed since, one not on the list, one without a recorded date", async () => {
    const w = undoWorld([{}, {}, {}, {}, { acUpdated: null }, { attempts: 1, state: "sending" }]);
    w.memberships.set(1, [{ listId: "3", status: UNSUBSCRIBED, updated: RUN_DATE }]);
    // Unsubscribed again since the run, by the contact or another tool: a new date.
    w.memberships.set(2, [{ listId: "3", status: UNSUBSCRIBED, updated: "2026-11-20T08:00:00-06:00" }]);
    // Re-subscribed since the run (never sent by this undo).
    w.memberships.set(3, [{ listId: "3", status: ACTIVE, updated: RUN_DATE }]);
    // Still unsubscribed as the run left it, but from another list only.
    w.memberships.set(4, [{ listId: "9", status: UNSUBSCRIBED, updated: RUN_DATE }]);
    w.memberships.set(5, [{ listId: "3", status: UNSUBSCRIBED, updated: RUN_DATE }]);
    // Sent before and active now: the re-subscribe landed, its answer was lost.
    w.memberships.set(6, [{ listId: "3", status: ACTIVE, updated: "2026-11-21T08:00:00-06:00" }]);

    await expect(undoRun(w.ctx)).resolves.toEqual({ kind: "completed", restored: 2, skipped: 4, failed: 0 });
    expect(w.restored).toEqual(["1:3"]);
    expect(w.saved).toEqual([
      { id: "und_1", state: "done" },
      { id: "und_2", state: "skipped", reason: "changed_since" },
      { id: "und_3", state: "skipped", reason: "changed_since" },
      { id: "und_4", state: "skipped", reason: "changed_since" },
      { id: "und_5", state: "skipped", reason: "not_recorded" },
      { id: "und_6", state: "done" },
    ]);
    expect(w.finished).toEqual(["Undone: re-subscribed 2 list memberships; 4 left as they are (changed since the run, or gone)"]);
    expect(w.events).toEqual([{ type: "finished", runId: "run_1", status: "completed" }]);
  });

  it("a membership sent before that AC no longer shows on the list is left as it is, not sent again", async () => {
    const w = undoWorld([{ attempts: 1, state: "sending" }]);
    w.memberships.set(1, []);
    await expect(undoRun(w.ctx)).resolves.toEqual({ kind: "completed", restored: 0, skipped: 1, failed: 0 });
    expect(w.saved).toEqual([{ id: "und_1", state: "skipped", reason: "changed_since" }]);
    expect(w.finished).toEqual(["Undone: re-subscribed 0 list memberships; 1 left as it is (changed since the run, or gone)"]);
    expect(w.restored).toEqual([]);
  });

  it("takes a contact gone from AC as gone, weather as a wait that grows with the attempts, and AC refusing as a failure with its words", async () => {
    vi.spyOn(Math, "random").mockReturnValue(0);
    const w = undoWorld([{}, {}, { attempts: 2 }, {}], { holdMs: 0 });
    for (const c of [1, 2, 3, 4]) w.memberships.set(c, [{ listId: "3", status: UNSUBSCRIBED, updated: RUN_DATE }]);
    w.readErrors.set(1, new AcError("not_found", "No Result found for Subscriber with id 1", { status: 404 }));
    w.restoreErrors.set(2, new AcError("validation", "refused", { status: 422, details: [{ title: "The related contact does not exist." }] }));
    w.restoreErrors.set(3, new AcError("server", "ActiveCampaign answered 503", { status: 503, retryable: true }));
    w.restoreErrors.set(4, new AcError("validation", "List is closed", { status: 422 }));

    const now = w.ctx.clock.now();
    // Weather: attempt 3 waits base × 2², halved by the jitter (Math.random() = 0).
    await expect(undoRun(w.ctx)).resolves.toEqual({ kind: "waiting", pending: 1, nextAt: now + 2 * BASE_MS });
    expect(w.saved).toEqual([
      { id: "und_1", state: "skipped", reason: "contact_gone" },
      { id: "und_2", state: "skipped", reason: "contact_gone" },
      { id: "und_3", state: "pending", reason: "server", error: "ActiveCampaign answered 503", nextAttemptAt: now + 2 * BASE_MS },
      { id: "und_4", state: "failed", reason: "validation", error: "List is closed" },
    ]);
    expect(w.finished).toEqual([]);
  });

  it("says what was refused, and one left as it is, in its last words", async () => {
    const w = undoWorld([{}, {}, {}]);
    for (const c of [1, 2, 3]) w.memberships.set(c, [{ listId: "3", status: UNSUBSCRIBED, updated: RUN_DATE }]);
    w.memberships.set(2, []);
    w.restoreErrors.set(3, new AcError("validation", "List is closed", { status: 422 }));
    await expect(undoRun(w.ctx)).resolves.toEqual({ kind: "completed", restored: 1, skipped: 1, failed: 1 });
    expect(w.finished).toEqual(["Undone: re-subscribed 1 list membership; 1 left as it is (changed since the run, or gone); 1 refused by ActiveCampaign"]);
  });

  it("throws a refused key, an error that is not AC's, and anything after the stage was stopped, instead of recording an outcome", async () => {
    const cases: [string, (w: ReturnType<typeof undoWorld>) => Error | (() => Error)][] = [
      ["auth", () => new AcError("auth", "key refused", { status: 403 })],
      ["not AC's", () => new TypeError("broken")],
      ["after stop", (w) => () => (w.controller.abort(new Error("stopped")), new AcError("timeout", "no answer", { retryable: true }))],
    ];
    for (const [name, error] of cases) {
      const w = undoWorld([{}]);
      w.memberships.set(1, [{ listId: "3", status: UNSUBSCRIBED, updated: RUN_DATE }]);
      w.restoreErrors.set(1, error(w));
      await expect(undoRun(w.ctx), name).rejects.toThrow();
      expect(w.saved, name).toEqual([]);
    }
  });

  it("waits out a retry due within holdMs, and lets go of the run for one due later", async () => {
    vi.useFakeTimers();
    const near = undoWorld([{}], { holdMs: 1_000, now: () => Date.now() });
    near.memberships.set(1, [{ listId: "3", status: UNSUBSCRIBED, updated: RUN_DATE }]);
    near.table[0]!.nextAttemptAt = Date.now() + 1_000;
    const done = undoRun(near.ctx);
    await vi.advanceTimersByTimeAsync(1_000);
    await expect(done).resolves.toEqual({ kind: "completed", restored: 1, skipped: 0, failed: 0 });

    const far = undoWorld([{}], { holdMs: 1_000, now: () => Date.now() });
    far.table[0]!.nextAttemptAt = Date.now() + 1_001;
    await expect(undoRun(far.ctx)).resolves.toEqual({ kind: "waiting", pending: 1, nextAt: Date.now() + 1_001 });
  });

  it("works through every batch that is due before it lets go for weather", async () => {
    vi.spyOn(Math, "random").mockReturnValue(0);
    const w = undoWorld(Array.from({ length: 51 }, () => ({})), { holdMs: 1_000 });
    for (let c = 1; c <= 51; c++) w.memberships.set(c, [{ listId: "3", status: UNSUBSCRIBED, updated: RUN_DATE }]);
    w.restoreErrors.set(1, new AcError("rate_limited", "slow down", { status: 429 }));
    await expect(undoRun(w.ctx)).resolves.toEqual({ kind: "waiting", pending: 1, nextAt: w.ctx.clock.now() + BASE_MS / 2 });
    expect(w.restored).toHaveLength(50);
  });
});
