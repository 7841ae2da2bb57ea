import { eq } from "drizzle-orm";
import { beforeAll, describe, expect, it } from "vitest";
import { schema } from "../db/index.ts";
import type { Principal } from "../core/deps.ts";
import { signup } from "../core/services/accounts.ts";
import {
  createSchedule,
  deleteSchedule,
  getSchedule,
  getScheduleRow,
  listSchedules,
  schedulesByConnection,
  updateSchedule,
  type CreateScheduleInput,
} from "../core/services/schedules.ts";
import { createTestApp, refusal, storedConnection, uniqueEmail, type TestApp } from "./support/app.ts";
import { FakeClock } from "./support/clock.ts";

// The schedule service's own rules (issue 20, mutation testing), its functions called directly:
// each refuses another workspace's schedule, deletes need a "yes" when saved and again when
// they change or start applying without review, the probe needs a server that has it, and
// retiming or resuming counts occurrences from then.

let t: TestApp;
let clock: FakeClock;
let a: Principal;
let b: Principal;
let connA: string;
let connB: string;

let seq = 0;
const connection = (workspaceId: string, name: string) => storedConnection(t, workspaceId, name, `conn_${name.toLowerCase()}_${++seq}`);

beforeAll(async () => {
  clock = new FakeClock();
  t = createTestApp({ clock, config: { LOG_LEVEL: "warn" } });
  a = (await signup(t.deps, { email: uniqueEmail("sch-a"), password: "correct horse battery" })).principal;
  b = (await signup(t.deps, { email: uniqueEmail("sch-b"), password: "correct horse battery" })).principal;
  connA = connection(a.workspaceId, "Main");
  connB = connection(b.workspaceId, "Theirs");
});

const KEEP = { deliverable: "keep", risky: "keep", undeliverable: "unsubscribe", unknown: "keep" } as const;
const DELETE = { ...KEEP, undeliverable: "delete" } as const;

function input(o: Partial<CreateScheduleInput> = {}): CreateScheduleInput {
  return { connectionId: connA, scope: { kind: "all" }, actions: KEEP, dayOfMonth: 1, hour: 9, timeZone: "UTC", autoApply: false, ...o };
}

function create(o: Partial<CreateScheduleInput> = {}, who = a) {
  clock.advance(1000);
  return createSchedule(t.deps, { ctx: who, input: input(o) });
}

function expectNotFound(fn: () => unknown, what = "Schedule") {
  const err = refusal(fn);
  expect(err.code).toBe("not_found");
  expect(err.message).toContain(what);
}

const row = (id: string) => getScheduleRow(t.db, { workspaceId: a.workspaceId, id });

describe("createSchedule", () => {
  it("saves a monthly schedule on the caller's connection with its defaults", () => {
    const view = create({ scope: { kind: "lists", listIds: ["4", "4"] }, dayOfMonth: "last", hour: 23 });
    expect(view).toMatchObject({
      connectionId: connA,
      connectionName: "Main",
      scope: { kind: "lists", listIds: ["4"] },
      actions: { ...KEEP, overrides: [] },
      smtpProbe: false,
      dayOfMonth: "last",
      hour: 23,
      timeZone: "UTC",
      autoApply: false,
      holdThreshold: 0.3,
      deleteConfirmed: false,
      paused: false,
      lastError: null,
      recentOccurrences: [],
    });
    expect(view.id).toMatch(/^sch_/);
    expect(view.nextRun).not.toBeNull();
    expect(row(view.id)).toMatchObject({ workspaceId: a.workspaceId, dayOfMonth: "last", activeFrom: new Date(clock.now()), createdAt: new Date(clock.now()) });
    expect(create({ dayOfMonth: 5, holdThreshold: 0.5, autoApply: true })).toMatchObject({ dayOfMonth: 5, holdThreshold: 0.5, autoApply: true });
  });

  it("refuses another workspace's connection", () => {
    expectNotFound(() => create({ connectionId: connB }), "Connection");
    expect(listSchedules(t.deps, { ctx: a, connectionId: connB })).toEqual([]);
  });

  it("actions that delete need confirmDelete: true, and are saved as confirmed", () => {
    for (const confirmDelete of [undefined, false]) {
      expect(refusal(() => create({ actions: DELETE, ...(confirmDelete === undefined ? {} : { confirmDelete }) }))).toMatchObject({
        code: "invalid_input",
        field: "confirmDelete",
      });
    }
    expect(create({ actions: DELETE, confirmDelete: true }).deleteConfirmed).toBe(true);
    expect(create({ actions: KEEP, confirmDelete: false }).deleteConfirmed).toBe(false);
  });

  it("refuses the SMTP probe on a server without it, and takes it on one with it", async () => {
    expect(refusal(() => create({ smtpProbe: true }))).toMatchObject({ code: "invalid_input", field: "smtpProbe" });
    expect(create({ smtpProbe: false }).smtpProbe).toBe(false);
    const probing = createTestApp({ clock, config: { LOG_LEVEL: "warn", SMTP_PROBE: true } });
    const p = (await signup(probing.deps, { email: uniqueEmail("sch-p"), password: "correct horse battery" })).principal;
    probing.db
      .insert(schema.connections)
      .values({ id: "conn_p", workspaceId: p.workspaceId, name: "P", apiUrl: "https://acct.api-us1.com", apiKeyCiphertext: "x", keyHint: "abcd", createdAt: new Date(clock.now()) })
      .run();
    expect(createSchedule(probing.deps, { ctx: p, input: input({ connectionId: "conn_p", smtpProbe: true }) }).smtpProbe).toBe(true);
  });
});

describe("reading and deleting schedules", () => {
  it("are listed, newest first, and by connection, only in their own workspace", async () => {
    const { principal: w } = await signup(t.deps, { email: uniqueEmail("sch-list"), password: "correct horse battery" });
    const c1 = connection(w.workspaceId, "One");
    const c2 = connection(w.workspaceId, "Two");
    const older = create({ connectionId: c1 }, w);
    const newer = create({ connectionId: c2 }, w);
    const newest = create({ connectionId: c1 }, w);
    create({ connectionId: connB }, b);
    expect(listSchedules(t.deps, { ctx: w }).map((s) => s.id)).toEqual([newest.id, newer.id, older.id]);
    expect(listSchedules(t.deps, { ctx: w, connectionId: c1 }).map((s) => s.id)).toEqual([newest.id, older.id]);
    expect(listSchedules(t.deps, { ctx: w, connectionId: connB })).toEqual([]);
    const byConnection = schedulesByConnection(t.deps, { ctx: w, connectionIds: [c1, c2, connB] });
    expect([...byConnection.keys()].sort()).toEqual([c1, c2].sort());
    expect(byConnection.get(c1)?.map((s) => s.id)).toEqual([newest.id, older.id]);
    expect(byConnection.get(c2)?.map((s) => s.id)).toEqual([newer.id]);
    expect(schedulesByConnection(t.deps, { ctx: w, connectionIds: [] }).size).toBe(0);
    expect(schedulesByConnection(t.deps, { ctx: b, connectionIds: [c1] }).size).toBe(0);
  });

  it("are read only in their own workspace", () => {
    const mine = create();
    expect(getSchedule(t.deps, { ctx: a, id: mine.id }).id).toBe(mine.id);
    expectNotFound(() => getSchedule(t.deps, { ctx: b, id: mine.id }));
    expectNotFound(() => getScheduleRow(t.db, { workspaceId: b.workspaceId, id: mine.id }));
  });

  it("are deleted only in their own workspace, once", () => {
    const mine = create();
    expectNotFound(() => deleteSchedule(t.deps, { ctx: b, id: mine.id }));
    expect(getSchedule(t.deps, { ctx: a, id: mine.id }).id).toBe(mine.id);
    deleteSchedule(t.deps, { ctx: a, id: mine.id });
    expectNotFound(() => getSchedule(t.deps, { ctx: a, id: mine.id }));
    expectNotFound(() => deleteSchedule(t.deps, { ctx: a, id: mine.id }));
  });
});

describe("updateSchedule", () => {
  const update = (id: string, patch: Parameters<typeof updateSchedule>[1]["input"], who = a) => {
    clock.advance(1000);
    return updateSchedule(t.deps, { ctx: who, id, input: patch });
  };

  it("refuses another workspace's schedule, changing nothing", () => {
    const mine = create();
    expectNotFound(() => update(mine.id, { paused: true }, b));
    expect(row(mine.id).paused).toBe(false);
  });

  it("changes only what the patch names", () => {
    const mine = create({ actions: DELETE, confirmDelete: true, smtpProbe: false, autoApply: true, holdThreshold: 0.4 });
    const before = row(mine.id);
    const view = update(mine.id, { scope: { kind: "tag", tagId: "8" } });
    expect(view).toMatchObject({ scope: { kind: "tag", tagId: "8" }, actions: { ...DELETE, overrides: [] }, autoApply: true, holdThreshold: 0.4, deleteConfirmed: true, paused: false });
    expect(row(mine.id)).toMatchObject({ ...before, scope: JSON.stringify({ kind: "tag", tagId: "8" }), updatedAt: new Date(clock.now()) });
    expect(update(mine.id, { holdThreshold: 0.2, autoApply: false })).toMatchObject({ holdThreshold: 0.2, autoApply: false, scope: { kind: "tag", tagId: "8" } });
    expect(update(mine.id, {}).scope).toEqual({ kind: "tag", tagId: "8" });
  });

  it("new actions that delete need a new confirmDelete; keeping confirmed deletes does not", () => {
    const mine = create();
    expect(refusal(() => update(mine.id, { actions: DELETE }))).toMatchObject({ code: "invalid_input", field: "confirmDelete" });
    expect(row(mine.id).deleteConfirmed).toBe(false);
    expect(update(mine.id, { actions: DELETE, confirmDelete: true }).deleteConfirmed).toBe(true);
    // The confirmed deletes stay confirmed through other changes.
    expect(update(mine.id, { hour: 10 }).deleteConfirmed).toBe(true);
    // Changing them again needs a new "yes".
    expect(refusal(() => update(mine.id, { actions: { ...DELETE, risky: "delete" } }))).toMatchObject({ field: "confirmDelete" });
    expect(update(mine.id, { actions: KEEP }).deleteConfirmed).toBe(false);
  });

  it("turning auto-apply on for deleting actions needs a new confirmDelete; already on, it does not", () => {
    const manual = create({ actions: DELETE, confirmDelete: true, autoApply: false });
    expect(refusal(() => update(manual.id, { autoApply: true }))).toMatchObject({ code: "invalid_input", field: "confirmDelete" });
    expect(row(manual.id).autoApply).toBe(false);
    expect(update(manual.id, { autoApply: true, confirmDelete: true }).autoApply).toBe(true);
    expect(update(manual.id, { autoApply: true }).autoApply).toBe(true);
    expect(update(manual.id, { autoApply: false }).autoApply).toBe(false);

    const keeping = create({ autoApply: false });
    expect(update(keeping.id, { autoApply: true }).autoApply).toBe(true);
  });

  it("turning the probe on needs a server that has it; a schedule keeps its probe setting otherwise", () => {
    const mine = create();
    expect(refusal(() => update(mine.id, { smtpProbe: true }))).toMatchObject({ code: "invalid_input", field: "smtpProbe" });
    // A schedule saved with the probe (before the server turned it off) can still be changed.
    t.db.update(schema.schedules).set({ smtpProbe: true }).where(eq(schema.schedules.id, mine.id)).run();
    expect(update(mine.id, { hour: 11 }).smtpProbe).toBe(true);
    expect(update(mine.id, { smtpProbe: false }).smtpProbe).toBe(false);
  });

  it("changing the day, hour or time zone, or resuming, counts occurrences from now; other edits do not", () => {
    const mine = create({ dayOfMonth: 3, hour: 9, timeZone: "UTC" });
    const created = row(mine.id).activeFrom;
    expect(update(mine.id, { holdThreshold: 0.1, dayOfMonth: 3, hour: 9, timeZone: "UTC" })).toMatchObject({ dayOfMonth: 3, hour: 9, timeZone: "UTC" });
    expect(row(mine.id).activeFrom).toEqual(created);
    expect(update(mine.id, { paused: false }).paused).toBe(false);
    expect(row(mine.id).activeFrom).toEqual(created);

    for (const patch of [{ dayOfMonth: 4 }, { dayOfMonth: "last" as const }, { hour: 10 }, { timeZone: "Europe/Berlin" }]) {
      const view = update(mine.id, patch);
      expect(view).toMatchObject(patch);
      expect(row(mine.id).activeFrom).toEqual(new Date(clock.now()));
    }
    const retimed = row(mine.id).activeFrom;

    const paused = update(mine.id, { paused: true });
    expect(paused).toMatchObject({ paused: true, nextRun: null });
    expect(row(mine.id).activeFrom).toEqual(retimed);
    expect(update(mine.id, { paused: true }).paused).toBe(true);
    expect(row(mine.id).activeFrom).toEqual(retimed);
    expect(update(mine.id, { hour: 10 }).paused).toBe(true);
    const resumed = update(mine.id, { paused: false });
    expect(resumed.paused).toBe(false);
    expect(row(mine.id).activeFrom).toEqual(new Date(clock.now()));
  });
});
