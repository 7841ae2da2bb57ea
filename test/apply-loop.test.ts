import { afterEach, describe, expect, it, vi } from "vitest";
import { AcError, type AcClient, type AcContactRecord } from "../core/ac/index.ts";
import type { BackupRecord } from "../core/runs/backups.ts";
import type { ActionKey, ActionOutcome, ActionRow, AttemptStore } from "../core/runs/attempt.ts";
import type { LabelCounts } from "../core/runs/labels.ts";
import { LeaseLost } from "../core/runs/store.ts";
import { applyRun, CONTACT_GONE } from "../worker/runs/apply.ts";
import type { RunContext, RunEvent } from "../worker/runs/context.ts";

// The apply stage's loop (issue 20, mutation testing), on a store and an AC client kept in
// memory rather than through a whole run: which actions are sent and when, what is recorded
// before and after, weather and the run let go, the last words, the backup before a delete.

const BASE_MS = 100;
const RUN_DATE = "2026-11-02T10:00:00-06:00";

type Row = ActionRow;
type Answer = "ok" | "gone" | Error | (() => "ok" | "gone" | Error | Promise<"ok" | "gone" | Error>);

function applyWorld(rows: Partial<Row>[], o: { holdMs?: number; concurrency?: number; labels?: Partial<LabelCounts> } = {}) {
  const now = () => Date.now();
  const table: Row[] = rows.map((r, i) => ({
    id: `act_${i + 1}`,
    runId: "run_1",
    contactId: i + 1,
    kind: "unsubscribe",
    listId: 3,
    state: "pending",
    error: null,
    resultCode: null,
    nextAttemptAt: null,
    attempts: 0,
    updatedAt: null,
    acUpdated: null,
    ...r,
  }));
  /** What happened, in order: the store's writes and AC's requests. */
  const log: string[] = [];
  const saved: ActionOutcome[] = [];
  const backups: BackupRecord[] = [];
  const moves: { to: string; statusReason?: string; finishedAt?: Date }[] = [];
  const dueLimits: number[] = [];
  /** Each read of due actions: where it started (a contact id, or "start") and how many it asked for. */
  const dueCalls: string[] = [];
  const keyOf = (r: ActionKey) => [r.contactId, r.kind, r.listId] as const;
  const after = (a: ActionKey, b: ActionKey) => {
    const [x, y] = [keyOf(a), keyOf(b)];
    for (let i = 0; i < 3; i++) if (x[i] !== y[i]) return x[i]! > y[i]!;
    return false;
  };
  const store = {
    dueActions: (from: ActionKey | null, limit: number) => {
      dueLimits.push(limit);
      dueCalls.push(`${from ? from.contactId : "start"}+${limit}`);
      return table
        .filter((r) => r.state === "sending" || (r.state === "pending" && (r.nextAttemptAt === null || r.nextAttemptAt.getTime() <= now())))
        .filter((r) => from === null || after(r, from))
        .sort((a, b) => (after(a, b) ? 1 : -1))
        .slice(0, limit)
        .map((r) => ({ ...r }));
    },
    markSending: (actions: { id: string; attempts: number }[]) => {
      if (actions.length && store.failMark) throw store.failMark;
      if (actions.length) log.push(`sending ${actions.map((a) => `${a.id}#${a.attempts}`).join(" ")}`);
      for (const a of actions) Object.assign(table.find((r) => r.id === a.id)!, { state: "sending", attempts: a.attempts });
    },
    saveActionOutcomes: (batch: ActionOutcome[]) => {
      if (store.failSave) throw store.failSave;
      for (const out of batch) {
        saved.push(out);
        log.push(`saved ${out.id} ${out.state}`);
        Object.assign(table.find((r) => r.id === out.id)!, {
          state: out.state,
          resultCode: out.resultCode,
          error: out.error,
          nextAttemptAt: out.state === "pending" ? new Date(out.nextAttemptAt) : null,
        });
      }
    },
    actionCounts: () => {
      const c = { pending: 0, sending: 0, done: 0, failed: 0, doneByKind: { unsubscribe: 0, delete: 0 } };
      for (const r of table) {
        c[r.state] += 1;
        if (r.state === "done") c.doneByKind[r.kind] += 1;
      }
      return c;
    },
    nextActionAt: () => {
      const next = table.filter((r) => r.state === "pending" && r.nextAttemptAt !== null).map((r) => r.nextAttemptAt!.getTime());
      return next.length ? Math.min(...next) : null;
    },
    labelCounts: () => ({ planned: 0, pending: 0, done: 0, skipped: 0, failed: 0, ...o.labels }),
    saveBackup: (record: BackupRecord) => {
      log.push(`backup ${record.contactId}`);
      backups.push(record);
    },
    move: (to: string, values: { statusReason?: string; finishedAt?: Date }) => {
      log.push(`move ${to}`);
      moves.push({ to, ...values });
    },
    failSave: null as Error | null,
    failMark: null as Error | null,
  };

  /** AC's answer to each contact's unsubscribe or delete, in turn (the last one repeats); "ok" when none. */
  const answers = new Map<number, Answer[]>();
  /** Contacts AC holds, for the backup before a delete. */
  const records = new Map<number, AcContactRecord>();
  const names = { lists: [{ id: "3", name: "Newsletter" }], tags: [{ id: "5", name: "vip" }], fields: [{ id: "8", title: "Company" }] };
  let namesFail = 0;
  let inFlight = 0;
  let maxInFlight = 0;
  const controller = new AbortController();
  const answer = async (contactId: number, signal?: AbortSignal): Promise<"ok" | "gone"> => {
    expect(signal?.aborted).toBe(false);
    inFlight += 1;
    maxInFlight = Math.max(maxInFlight, inFlight);
    await new Promise((resolve) => setImmediate(resolve));
    inFlight -= 1;
    const list = answers.get(contactId) ?? [];
    let a: Answer = (list.length > 1 ? list.shift() : list[0]) ?? "ok";
    if (typeof a === "function") a = await a();
    // Like the real client: a request whose signal is aborted ends with the abort.
    if (signal?.aborted) throw signal.reason;
    if (a instanceof Error) throw a;
    return a;
  };
  const client = {
    unsubscribe: async (id: string, list: string, opts: { signal?: AbortSignal }) => {
      log.push(`unsubscribe ${id} ${list}`);
      const a = await answer(Number(id), opts.signal);
      return { contactGone: a === "gone", updated: a === "gone" ? undefined : RUN_DATE };
    },
    deleteContact: async (id: string, opts: { signal?: AbortSignal }) => {
      log.push(`delete ${id}`);
      return { alreadyGone: (await answer(Number(id), opts.signal)) === "gone" };
    },
    getContactLists: async (id: string) => {
      log.push(`lists ${id}`);
      return [{ listId: "3", status: 1 }];
    },
    request: async (method: string, path: string) => {
      log.push(`${method} ${path}`);
      return { contact: {} };
    },
    readContactRecord: async (id: string, opts: { signal?: AbortSignal }) => {
      expect(opts.signal?.aborted).toBe(false);
      log.push(`read ${id}`);
      return records.get(Number(id)) ?? null;
    },
    listLists: async (opts: { signal?: AbortSignal }) => {
      expect(opts.signal?.aborted).toBe(false);
      log.push("names");
      if (namesFail > 0) {
        namesFail -= 1;
        throw new AcError("server", "ActiveCampaign answered 503", { status: 503, retryable: true });
      }
      return names.lists;
    },
    listTags: async (opts: { signal?: AbortSignal }) => {
      expect(opts.signal?.aborted).toBe(false);
      return names.tags;
    },
    listFields: async (opts: { signal?: AbortSignal }) => {
      expect(opts.signal?.aborted).toBe(false);
      return names.fields;
    },
  } as unknown as AcClient;
  const events: RunEvent[] = [];
  const ctx = {
    runId: "run_1",
    store: store as unknown as AttemptStore,
    client,
    signal: controller.signal,
    clock: { now },
    settings: { holdMs: o.holdMs ?? 10_000, applyConcurrency: o.concurrency ?? 4, actionRetryBaseMs: BASE_MS, actionRetryMaxMs: 8 * BASE_MS },
    emit: (e: RunEvent) => events.push(e),
  } as unknown as RunContext;
  return {
    ctx,
    table,
    log,
    saved,
    backups,
    moves,
    dueLimits,
    dueCalls,
    answers,
    records,
    events,
    controller,
    store,
    failNames: (n: number) => (namesFail = n),
    maxInFlight: () => maxInFlight,
  };
}

/** Runs the stage to its end, moving the fake clock on while it waits. */
async function finish<T>(p: Promise<T>): Promise<T> {
  let settled = false;
  p.then(
    () => (settled = true),
    () => (settled = true),
  );
  for (let i = 0; i < 10_000 && !settled; i++) {
    await new Promise((resolve) => setImmediate(resolve));
    await vi.advanceTimersByTimeAsync(10);
  }
  return p;
}

/** Lets the event loop turn `n` times. */
async function turns(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
}

const weather = () => new AcError("server", "ActiveCampaign answered 503", { status: 503, retryable: true });

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe("applyRun", () => {
  it("sends only the actions due, each recorded as sending before it leaves and its outcome after, and ends completed", async () => {
    const later = new Date(Date.now() + 60_000);
    const w = applyWorld([{}, { state: "done" }, { state: "failed" }, { nextAttemptAt: new Date(Date.now() - 1) }, { contactId: 9, listId: 4, attempts: 0 }], { holdMs: 1 });
    w.table.push({ ...w.table[0]!, id: "act_later", contactId: 20, nextAttemptAt: later });
    // The one due later lets go of the run: nothing else left to send.
    const out = await applyRun(w.ctx);
    expect(out).toEqual({ kind: "waiting", pending: 1, nextAt: later.getTime() });
    expect(w.log.filter((l) => !l.startsWith("saved"))).toEqual(["sending act_1#1 act_4#1 act_5#1", "unsubscribe 1 3", "unsubscribe 4 3", "unsubscribe 9 4"]);
    expect(w.log.indexOf("sending act_1#1 act_4#1 act_5#1")).toBeLessThan(w.log.indexOf("unsubscribe 1 3"));
    expect(w.saved).toEqual(
      ["act_1", "act_4", "act_5"].map((id) => ({ id, state: "done", resultCode: null, error: null, acUpdated: RUN_DATE })),
    );
    expect(w.events).toEqual(["act_1", "act_4", "act_5"].map((actionId) => ({ type: "action_done", runId: "run_1", actionId, state: "done" })));
    expect(w.moves).toEqual([]);
    expect(w.table.map((r) => r.state)).toEqual(["done", "done", "failed", "done", "done", "pending"]);
  });

  it("ends completed, with words saying what was done and what failed, and a finished event", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    const start = Date.now();
    const w = applyWorld([{}, { listId: 4, contactId: 1 }, { kind: "delete", listId: 0 }, {}]);
    w.records.set(3, { id: "3", email: "c@x.test", firstName: "", lastName: "", phone: "", cdate: RUN_DATE, udate: RUN_DATE, lists: [], fieldValues: [], tagIds: [] });
    w.answers.set(4, [new AcError("validation", "List is closed", { status: 422 })]);
    await expect(applyRun(w.ctx)).resolves.toEqual({ kind: "completed", done: 3, failed: 1 });
    expect(w.saved.find((s) => s.id === "act_4")).toEqual({ id: "act_4", state: "failed", resultCode: "validation", error: "List is closed" });
    expect(w.moves).toEqual([
      {
        to: "completed",
        statusReason: "Done in ActiveCampaign: unsubscribed from 2 list memberships, deleted 1 contact; 1 change failed (see the report for ActiveCampaign's message)",
        finishedAt: new Date(start),
      },
    ]);
    expect(w.events.at(-1)).toEqual({ type: "finished", runId: "run_1", status: "completed" });
    expect(w.events.filter((e) => e.type === "finished")).toHaveLength(1);
  });

  it("its last words name each count, and the contacts labelled", async () => {
    const words = async (rows: Partial<Row>[], labels?: Partial<LabelCounts>) => {
      const w = applyWorld(rows, { labels });
      await applyRun(w.ctx);
      return w.moves.map((m) => m.statusReason);
    };
    expect(await words([])).toEqual(["Done in ActiveCampaign: nothing changed"]);
    expect(await words([{ state: "done" }])).toEqual(["Done in ActiveCampaign: unsubscribed from 1 list membership"]);
    expect(await words([{ state: "done", kind: "delete" }, { state: "done", kind: "delete" }])).toEqual(["Done in ActiveCampaign: deleted 2 contacts"]);
    expect(await words([{ state: "failed" }, { state: "failed" }])).toEqual([
      "Done in ActiveCampaign: nothing changed; 2 changes failed (see the report for ActiveCampaign's message)",
    ]);
    expect(await words([], { planned: 4, done: 4 })).toEqual(["Labelled 4 contacts in ActiveCampaign"]);
    expect(await words([], { planned: 4, done: 1, skipped: 2, failed: 1 })).toEqual([
      "Labelled 1 contact (2 left out (changed or gone since the check), 1 failed) in ActiveCampaign",
    ]);
    expect(await words([], { planned: 3, done: 2, skipped: 1 })).toEqual(["Labelled 2 contacts (1 left out (changed or gone since the check)) in ActiveCampaign"]);
    expect(await words([], { planned: 3, done: 2, failed: 1 })).toEqual(["Labelled 2 contacts (1 failed) in ActiveCampaign"]);
    expect(await words([{ state: "done" }], { planned: 2, done: 2 })).toEqual(["Done in ActiveCampaign: unsubscribed from 1 list membership; labelled 2 contacts"]);
    expect(await words([{ state: "failed" }], { planned: 2, done: 2 })).toEqual([
      "Done in ActiveCampaign: nothing changed; 1 change failed (see the report for ActiveCampaign's message); labelled 2 contacts",
    ]);
  });

  it("takes a contact gone from AC as done, for an unsubscribe and a delete, and never sends the delete of one gone before its backup", async () => {
    const w = applyWorld([{}, { kind: "delete", listId: 0 }, { kind: "delete", listId: 0 }]);
    w.answers.set(1, ["gone"]);
    w.answers.set(3, ["gone"]);
    w.records.set(3, { id: "3", email: "c@x.test", firstName: "", lastName: "", phone: "", cdate: RUN_DATE, udate: RUN_DATE, lists: [], fieldValues: [], tagIds: [] });
    await expect(applyRun(w.ctx)).resolves.toEqual({ kind: "completed", done: 3, failed: 0 });
    expect(CONTACT_GONE).toBe("No longer in ActiveCampaign");
    const gone = { state: "done", resultCode: "contact_gone", error: CONTACT_GONE, acUpdated: null };
    expect([...w.saved].sort((a, b) => a.id.localeCompare(b.id))).toEqual([
      { id: "act_1", ...gone },
      { id: "act_2", ...gone },
      { id: "act_3", ...gone },
    ]);
    expect(w.log).not.toContain("delete 2");
    expect(w.backups.map((b) => b.contactId)).toEqual(["3"]);
  });

  it("keeps the contact's whole record, with AC's names, before its delete is sent", async () => {
    const w = applyWorld([{ kind: "delete", listId: 0, contactId: 7 }, { kind: "delete", listId: 0, contactId: 8 }], { concurrency: 1 });
    const record = (id: string): AcContactRecord => ({
      id,
      email: `${id}@x.test`,
      firstName: "Ada",
      lastName: "Lovelace",
      phone: "+1 555",
      cdate: "2020-01-01T00:00:00-06:00",
      udate: RUN_DATE,
      lists: [
        { listId: "3", status: 1 },
        { listId: "99", status: 2 },
      ],
      fieldValues: [
        { fieldId: "8", value: "Acme" },
        { fieldId: "98", value: "x" },
      ],
      tagIds: ["5", "97"],
    });
    w.records.set(7, record("7"));
    w.records.set(8, record("8"));
    await expect(applyRun(w.ctx)).resolves.toEqual({ kind: "completed", done: 2, failed: 0 });
    // AC's names are read once for the stage.
    expect(w.log.filter((l) => !/^(saved|move)/.test(l))).toEqual(["sending act_1#1", "read 7", "names", "backup 7", "delete 7", "sending act_2#1", "read 8", "backup 8", "delete 8"]);
    expect(w.backups[0]).toEqual({
      contactId: "7",
      email: "7@x.test",
      firstName: "Ada",
      lastName: "Lovelace",
      phone: "+1 555",
      acCreated: "2020-01-01T00:00:00-06:00",
      acUpdated: RUN_DATE,
      lists: [
        { id: "3", name: "Newsletter", status: 1 },
        { id: "99", name: null, status: 2 },
      ],
      fields: [
        { id: "8", title: "Company", value: "Acme" },
        { id: "98", title: null, value: "x" },
      ],
      tags: [
        { id: "5", name: "vip" },
        { id: "97", name: null },
      ],
    });
  });

  it("reads AC's names again after a failed read: that delete waits for the weather, the next one is backed up and sent", async () => {
    vi.useFakeTimers({ toFake: ["Date", "setTimeout", "clearTimeout"] });
    vi.spyOn(Math, "random").mockReturnValue(0);
    const w = applyWorld([{ kind: "delete", listId: 0 }, { kind: "delete", listId: 0 }], { concurrency: 1 });
    for (const c of [1, 2]) w.records.set(c, { id: String(c), email: "c@x.test", firstName: "", lastName: "", phone: "", cdate: RUN_DATE, udate: RUN_DATE, lists: [], fieldValues: [], tagIds: [] });
    w.failNames(1);
    const start = Date.now();
    await expect(finish(applyRun(w.ctx))).resolves.toEqual({ kind: "completed", done: 2, failed: 0 });
    expect(w.saved[0]).toEqual({ id: "act_1", state: "pending", resultCode: "server", error: "ActiveCampaign answered 503", nextAttemptAt: start + BASE_MS / 2 });
    expect(w.log.filter((l) => !/^(saved|move)/.test(l))).toEqual([
      "sending act_1#1",
      "read 1",
      "names",
      "sending act_2#1",
      "read 2",
      "names",
      "backup 2",
      "delete 2",
      "sending act_1#2",
      "GET /api/3/contacts/1",
      "read 1",
      "backup 1",
      "delete 1",
    ]);
    expect(w.saved.map((o) => `${o.id} ${o.state}`)).toEqual(["act_1 pending", "act_2 done", "act_1 done"]);
  });

  it("puts an action held by weather back with a growing wait, checks AC before sending it again, and waits out a wait up to holdMs", async () => {
    vi.useFakeTimers({ toFake: ["Date", "setTimeout", "clearTimeout"] });
    vi.spyOn(Math, "random").mockReturnValue(0);
    // The second wait (attempt 2: base, halved by the jitter) is exactly holdMs.
    const w = applyWorld([{}], { holdMs: BASE_MS });
    w.answers.set(1, [weather(), weather(), "ok"]);
    const start = Date.now();
    await expect(finish(applyRun(w.ctx))).resolves.toEqual({ kind: "completed", done: 1, failed: 0 });
    expect(w.saved.map((s) => (s.state === "pending" ? s.nextAttemptAt - start : s.state))).toEqual([BASE_MS / 2, BASE_MS / 2 + BASE_MS, "done"]);
    expect(w.saved[0]).toEqual({ id: "act_1", state: "pending", resultCode: "server", error: "ActiveCampaign answered 503", nextAttemptAt: start + BASE_MS / 2 });
    expect(w.log).toEqual([
      "sending act_1#1",
      "unsubscribe 1 3",
      "saved act_1 pending",
      "sending act_1#2",
      "lists 1",
      "unsubscribe 1 3",
      "saved act_1 pending",
      "sending act_1#3",
      "lists 1",
      "unsubscribe 1 3",
      "saved act_1 done",
      "move completed",
    ]);
    // Not sent again before its time.
    expect(Date.now() - start).toBeGreaterThanOrEqual(BASE_MS / 2 + BASE_MS);
  });

  it("lets go of the run when the next wait is longer than holdMs: waiting, with when the first action is due", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.spyOn(Math, "random").mockReturnValue(0);
    const w = applyWorld([{}, {}, { attempts: 2 }], { holdMs: BASE_MS / 2 - 1 });
    for (const c of [1, 3]) w.answers.set(c, [weather()]);
    const start = Date.now();
    await expect(applyRun(w.ctx)).resolves.toEqual({ kind: "waiting", pending: 2, nextAt: start + BASE_MS / 2 });
    expect(w.saved.find((s) => s.id === "act_3")).toMatchObject({ state: "pending", nextAttemptAt: start + 2 * BASE_MS });
    expect(w.moves).toEqual([]);
    expect(w.events.some((e) => e.type === "finished")).toBe(false);
    expect(Date.now()).toBe(start);
  });

  it("never hands out an action in hand twice, and keeps at most applyConcurrency requests in flight", async () => {
    const one = applyWorld([{}], { concurrency: 3 });
    await expect(applyRun(one.ctx)).resolves.toEqual({ kind: "completed", done: 1, failed: 0 });
    expect(one.log.filter((l) => l.startsWith("unsubscribe"))).toEqual(["unsubscribe 1 3"]);

    const many = applyWorld(Array.from({ length: 7 }, () => ({})), { concurrency: 3 });
    await expect(applyRun(many.ctx)).resolves.toEqual({ kind: "completed", done: 7, failed: 0 });
    expect(many.maxInFlight()).toBe(3);
    expect(many.log.filter((l) => l.startsWith("unsubscribe"))).toHaveLength(7);
  });

  it("asks the store for at most 200 actions at once", async () => {
    const w = applyWorld(Array.from({ length: 250 }, () => ({})), { concurrency: 1_000 });
    await expect(applyRun(w.ctx)).resolves.toEqual({ kind: "completed", done: 250, failed: 0 });
    expect(Math.max(...w.dueLimits)).toBe(200);
    // The next 50 are taken at once, not after one of the first 200 is back.
    expect(w.maxInFlight()).toBe(250);
  });

  it("sends an action put back behind where the walk stopped, starting over from the first", async () => {
    vi.useFakeTimers({ toFake: ["Date", "setTimeout", "clearTimeout"] });
    vi.spyOn(Math, "random").mockReturnValue(0);
    const w = applyWorld([{}, {}, {}], { concurrency: 1 });
    w.answers.set(1, [weather(), "ok"]);
    // The third is slow enough for the first to be due again while the walk is past it.
    w.answers.set(3, [() => (vi.advanceTimersByTime(BASE_MS), "ok")]);
    await expect(finish(applyRun(w.ctx))).resolves.toEqual({ kind: "completed", done: 3, failed: 0 });
    expect(w.log.filter((l) => l.startsWith("sending"))).toEqual(["sending act_1#1", "sending act_2#1", "sending act_3#1", "sending act_1#2"]);
  });

  it("fails when its outcomes cannot be stored, and stops the requests in flight", async () => {
    const w = applyWorld([{}, {}]);
    w.store.failSave = new Error("disk full");
    await expect(applyRun(w.ctx)).rejects.toHaveProperty("message", "disk full");
    expect(w.moves).toEqual([]);
  });

  it("throws what a task throws (a refused key), storing the outcomes already known; a lost lease stores nothing more", async () => {
    const w = applyWorld([{}, {}], { concurrency: 2 });
    w.answers.set(2, [new AcError("auth", "key refused", { status: 403 })]);
    await expect(applyRun(w.ctx)).rejects.toMatchObject({ kind: "auth" });
    expect(w.saved.map((s) => s.id)).toEqual(["act_1"]);
    expect(w.moves).toEqual([]);

    const lost = applyWorld([{}, {}], { concurrency: 2 });
    lost.answers.set(2, [new LeaseLost("run_1")]);
    await expect(applyRun(lost.ctx)).rejects.toBeInstanceOf(LeaseLost);
    await turns(5);
    expect(lost.saved).toEqual([]);
  });

  it("a lease lost while storing outcomes: an answer that comes in after the stop is not stored, not even tried", async () => {
    const w = applyWorld([{}, {}], { concurrency: 2 });
    w.store.failSave = new LeaseLost("run_1");
    const tried: string[][] = [];
    const save = w.store.saveActionOutcomes;
    w.store.saveActionOutcomes = (batch) => {
      tried.push(batch.map((o) => o.id));
      return save(batch);
    };
    // AC's answer to the second was on its way when the stage stopped: the request ends well
    // after the stop (the first one's outcome could not be stored: the lease is lost).
    const unsubscribe = w.ctx.client.unsubscribe.bind(w.ctx.client);
    w.ctx.client.unsubscribe = async (id, list, opts) => {
      if (id === "1") return unsubscribe(id, list, opts);
      for (let i = 0; i < 50 && !opts!.signal!.aborted; i++) await turns(1);
      expect(opts!.signal!.aborted).toBe(true);
      return { contactGone: false, updated: RUN_DATE };
    };
    await expect(applyRun(w.ctx)).rejects.toBeInstanceOf(LeaseLost);
    await turns(5);
    expect(tried).toEqual([["act_1"]]);
    expect(w.saved).toEqual([]);
  });

  it("stops when the attempt is stopped, storing nothing more", async () => {
    const w = applyWorld([{}, {}]);
    // Stopped after AC answered the first: that answer is known, but no longer stored.
    w.answers.set(2, [() => (w.controller.abort(new Error("cancelled")), "ok")]);
    await expect(applyRun(w.ctx)).rejects.toHaveProperty("message", "cancelled");
    await turns(5);
    expect(w.saved).toEqual([]);
  });

  it("checks AC before sending an action left sending, even one with no attempt counted", async () => {
    const w = applyWorld([{ state: "sending", attempts: 0 }]);
    await expect(applyRun(w.ctx)).resolves.toEqual({ kind: "completed", done: 1, failed: 0 });
    expect(w.log.filter((l) => !/^(saved|move)/.test(l))).toEqual(["sending act_1#1", "lists 1", "unsubscribe 1 3"]);
  });

  it("stores each outcome as soon as it is known, while other requests are still in flight", async () => {
    const w = applyWorld([{}, {}, {}], { concurrency: 3 });
    const savedBy: Record<string, string[]> = {};
    const after = (n: number, id: string) => async () => {
      for (let i = 0; i < 20 && w.saved.length < n; i++) await turns(1);
      savedBy[id] = w.saved.map((o) => o.id);
      return "ok" as const;
    };
    w.answers.set(2, [after(1, "act_2")]);
    w.answers.set(3, [after(2, "act_3")]);
    await expect(applyRun(w.ctx)).resolves.toEqual({ kind: "completed", done: 3, failed: 0 });
    expect(savedBy).toEqual({ act_2: ["act_1"], act_3: ["act_1", "act_2"] });
    expect(w.events.slice(0, 2)).toEqual([
      { type: "action_done", runId: "run_1", actionId: "act_1", state: "done" },
      { type: "action_done", runId: "run_1", actionId: "act_2", state: "done" },
    ]);
  });

  it("fails with the store's error when outcomes cannot be stored while others are in flight, and stops those requests", async () => {
    const w = applyWorld([{}, {}], { concurrency: 2 });
    let stoppedInFlight = false;
    w.answers.set(2, [
      async () => {
        w.store.failSave = new Error("disk full");
        await turns(20);
        stoppedInFlight = requests[1]!.aborted;
        return "ok" as const;
      },
    ]);
    const requests: AbortSignal[] = [];
    const unsubscribe = w.ctx.client.unsubscribe.bind(w.ctx.client);
    w.ctx.client.unsubscribe = (id, list, opts) => {
      requests.push(opts!.signal!);
      return unsubscribe(id, list, opts);
    };
    await expect(applyRun(w.ctx)).rejects.toHaveProperty("message", "disk full");
    expect(stoppedInFlight).toBe(true);
    expect(w.ctx.signal.aborted).toBe(false);
  });

  it("returns only after the requests in flight have ended", async () => {
    const w = applyWorld([{}, {}], { concurrency: 2 });
    let ended = false;
    w.answers.set(1, [new AcError("auth", "key refused", { status: 403 })]);
    w.answers.set(2, [
      async () => {
        await turns(10);
        ended = true;
        return "ok" as const;
      },
    ]);
    await expect(applyRun(w.ctx)).rejects.toMatchObject({ kind: "auth" });
    expect(ended).toBe(true);
  });

  it("throws what the store throws mid-run, storing the outcomes already known; a lost lease while storing them is not thrown over it", async () => {
    for (const saving of [null, new LeaseLost("run_1"), new Error("disk full")]) {
      const w = applyWorld([{}, {}], { concurrency: 1 });
      w.answers.set(1, [
        () => {
          w.store.failMark = new Error("marking failed");
          w.store.failSave = saving;
          return "ok";
        },
      ]);
      const run = applyRun(w.ctx);
      if (saving instanceof LeaseLost || saving === null) await expect(run).rejects.toHaveProperty("message", "marking failed");
      else await expect(run).rejects.toHaveProperty("message", "disk full");
      expect(w.saved.map((o) => o.id)).toEqual(saving ? [] : ["act_1"]);
    }
  });

  it("ends as soon as its last outcome is stored, without waiting on a timer", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    const w = applyWorld([{}, {}], { concurrency: 2 });
    let settled = false;
    const run = applyRun(w.ctx).finally(() => (settled = true));
    await turns(20);
    expect(settled).toBe(true);
    await expect(run).resolves.toEqual({ kind: "completed", done: 2, failed: 0 });
  });

  it("walks the due actions from where the last walk stopped, reading no more than it has room for", async () => {
    const w = applyWorld([{}, {}, {}], { concurrency: 2 });
    await expect(applyRun(w.ctx)).resolves.toEqual({ kind: "completed", done: 3, failed: 0 });
    // Two taken; then room for one: the third; then from there to the end, over once from the
    // start past the two in hand (still sending), and no further.
    expect(w.dueCalls).toEqual(["start+2", "2+1", "3+1", "start+1", "1+1", "2+1", "3+1", "start+2", "start+2"]);
  });
});
