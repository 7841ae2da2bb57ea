import { and, eq } from "drizzle-orm";
import { setupServer } from "msw/node";
import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { openDb, schema } from "../db/index.ts";
import { testConfig } from "../core/config.ts";
import { createDeps } from "../core/deps.ts";
import { createLogger } from "../core/logger.ts";
import { signup } from "../core/services/accounts.ts";
import { createConnection } from "../core/services/connections.ts";
import { grantCredits } from "../core/services/credits.ts";
import { approveRun, createRun, type RunView } from "../core/services/runs.ts";
import { createSchedule, type ScheduleView } from "../core/services/schedules.ts";
import { startListwarden } from "../boot/start.ts";
import { readRun } from "../core/runs/store.ts";
import type { RunEvent } from "../worker/runs/context.ts";
import { createScheduler, type ScheduleEvent, type SchedulerOptions } from "../worker/schedules/scheduler.ts";
import { publicLookup } from "./support/app.ts";
import { FakeClock } from "./support/clock.ts";
import { AC_BASE, AC_KEY, createRunHarness, parseCsv, type RunHarness } from "./support/runs.ts";
import { address } from "./support/world.ts";

const server = setupServer();
beforeAll(() => server.listen({ onUnhandledRequest: "error" }));
afterEach(() => server.resetHandlers());
afterAll(() => server.close());

const ACTIVE = 1;
const UNSUBSCRIBED = 2;
const DAY = 86_400_000;
const ROOT = path.resolve(import.meta.dirname, "..");

interface Setup {
  h: RunHarness;
  api(method: string, path: string, body?: unknown): Promise<Response>;
  schedule(body?: Record<string, unknown>): Promise<ScheduleView>;
  getSchedule(id: string): Promise<ScheduleView>;
  getRun(id: string): Promise<RunView>;
  addConnection(name: string): Promise<string>;
  scheduler(opts?: SchedulerOptions): ReturnType<typeof createScheduler>;
}

/**
 * A run harness with an API token (sessions expire after 14 days; scheduling tests move the
 * clock by months) and helpers to save schedules and read runs.
 */
async function setup(opts: Parameters<typeof createRunHarness>[1] = {}): Promise<Setup> {
  const h = await createRunHarness(server, opts);
  const res = await h.t.request("POST", "/api/tokens", { as: h.user, body: { name: "scheduler tests" } });
  const { token } = (await res.json()) as { token: string };
  const api = (method: string, p: string, body?: unknown) => h.t.request(method, p, { bearer: token, ...(body === undefined ? {} : { body }) });
  return {
    h,
    api,
    async schedule(body = {}) {
      const r = await api("POST", "/api/schedules", { connectionId: h.connectionId, scope: { kind: "all" }, dayOfMonth: 1, hour: 9, timeZone: "UTC", autoApply: false, ...body });
      expect(r.status, await r.clone().text()).toBe(201);
      return (await r.json()) as ScheduleView;
    },
    async getSchedule(id) {
      return (await (await api("GET", `/api/schedules/${id}`)).json()) as ScheduleView;
    },
    async getRun(id) {
      return (await (await api("GET", `/api/runs/${id}`)).json()) as RunView;
    },
    async addConnection(name) {
      const r = await api("POST", "/api/connections", { apiUrl: AC_BASE, apiKey: AC_KEY, name });
      expect(r.status).toBe(201);
      return ((await r.json()) as { id: string }).id;
    },
    scheduler: (o = {}) => createScheduler(h.t.deps, o),
  };
}

/** A list of `good` deliverable and `bad` undeliverable contacts. */
function seedList(h: RunHarness, good: number, bad: number, name = "Newsletter") {
  const list = h.fake.addList(name);
  const ids: string[] = [];
  for (let i = 0; i < good; i++) ids.push(h.fake.addContact({ email: address("deliverable", `${name}-ok${i}`), lists: { [list]: ACTIVE } }));
  for (let i = 0; i < bad; i++) ids.push(h.fake.addContact({ email: address("noMail", `${name}-bad${i}`), lists: { [list]: ACTIVE } }));
  return { list, good: ids.slice(0, good), bad: ids.slice(good) };
}

const started = (events: ScheduleEvent[]) => events.filter((e): e is Extract<ScheduleEvent, { type: "started" }> => e.type === "started");
const runsOf = (h: RunHarness) => h.t.db.select().from(schema.runs).all();
const occurrencesOf = (h: RunHarness, scheduleId?: string) =>
  h.t.db
    .select()
    .from(schema.scheduleOccurrences)
    .where(scheduleId ? eq(schema.scheduleOccurrences.scheduleId, scheduleId) : undefined)
    .orderBy(schema.scheduleOccurrences.occurrenceAt)
    .all();

describe("one run per occurrence", () => {
  it("starts the run at the occurrence and never again for it, however often it ticks", async () => {
    const s = await setup(); // 2026-11-02T09:00Z
    const sch = await s.schedule({ dayOfMonth: 1, hour: 9, timeZone: "Europe/Berlin" });
    const scheduler = s.scheduler();
    s.h.clock.set("2026-12-01T07:59:59Z");
    expect(await scheduler.tick()).toEqual([]);
    s.h.clock.set("2026-12-01T08:00:00Z"); // 09:00 CET
    const events = await scheduler.tick();
    expect(events).toEqual([{ type: "started", scheduleId: sch.id, occurrenceAt: "2026-12-01T08:00:00.000Z", runId: expect.any(String) }]);
    for (const step of [0, 1_000, 3_600_000, DAY]) {
      s.h.clock.advance(step);
      expect(await scheduler.tick()).toEqual([]);
      expect(await s.scheduler().tick()).toEqual([]); // a restarted process
    }
    const runs = runsOf(s.h);
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ scheduleId: sch.id, connectionId: s.h.connectionId, autoApply: false, status: "queued" });
    const view = await s.getSchedule(sch.id);
    expect(view.recentOccurrences).toEqual([
      {
        occurrence: { at: "2026-12-01T08:00:00.000Z", local: "2026-12-01T09:00:00+01:00", label: "Tue, 1 Dec 2026, 09:00 CET", timeZone: "Europe/Berlin" },
        state: "started",
        reason: null,
        run: { id: runs[0]!.id, status: "queued", statusReason: null },
      },
    ]);
    expect(view.nextRun?.at).toBe("2027-01-01T08:00:00.000Z");
    await s.h.close();
  });

  it('runs "last" on 29 February in a leap year, not on the 28th', async () => {
    const s = await setup();
    s.h.clock.set("2028-02-20T00:00:00Z");
    const sch = await s.schedule({ dayOfMonth: "last", hour: 9 });
    expect(sch.nextRun?.at).toBe("2028-02-29T09:00:00.000Z");
    const scheduler = s.scheduler();
    s.h.clock.set("2028-02-28T09:00:00Z");
    expect(await scheduler.tick()).toEqual([]);
    s.h.clock.set("2028-02-29T09:00:00Z");
    expect(started(await scheduler.tick())).toHaveLength(1);
    expect((await s.getSchedule(sch.id)).nextRun?.at).toBe("2028-03-31T09:00:00.000Z");
    await s.h.close();
  });

  it("runs an hour skipped by spring-forward once, right after the gap (America/New_York)", async () => {
    const s = await setup();
    s.h.clock.set("2027-03-10T00:00:00Z");
    const sch = await s.schedule({ dayOfMonth: 14, hour: 2, timeZone: "America/New_York" }); // 14 March 2027: 02:00 → 03:00
    expect(sch.nextRun).toMatchObject({ at: "2027-03-14T07:00:00.000Z", local: "2027-03-14T03:00:00-04:00" });
    const scheduler = s.scheduler();
    for (const t of ["2027-03-14T06:59:59Z", "2027-03-14T07:00:00Z", "2027-03-14T08:00:00Z"]) {
      s.h.clock.set(t);
      await scheduler.tick();
    }
    expect(runsOf(s.h)).toHaveLength(1);
    expect(occurrencesOf(s.h)[0]?.occurrenceAt.toISOString()).toBe("2027-03-14T07:00:00.000Z");
    await s.h.close();
  });

  it("runs an hour repeated by fall-back once, at its first occurrence (Europe/Berlin)", async () => {
    const s = await setup();
    s.h.clock.set("2027-10-20T00:00:00Z");
    const sch = await s.schedule({ dayOfMonth: "last", hour: 2, timeZone: "Europe/Berlin" }); // 31 Oct 2027: 03:00 → 02:00
    expect(sch.nextRun).toMatchObject({ at: "2027-10-31T00:00:00.000Z", local: "2027-10-31T02:00:00+02:00" });
    const scheduler = s.scheduler();
    // 02:00 CEST, then 02:00 CET an hour later, then the rest of the day.
    for (const t of ["2027-10-31T00:00:00Z", "2027-10-31T01:00:00Z", "2027-10-31T01:30:00Z", "2027-10-31T23:00:00Z"]) {
      s.h.clock.set(t);
      await scheduler.tick();
    }
    expect(runsOf(s.h)).toHaveLength(1);
    expect(occurrencesOf(s.h).map((o) => o.occurrenceAt.toISOString())).toEqual(["2027-10-31T00:00:00.000Z"]);
    expect((await s.getSchedule(sch.id)).nextRun).toMatchObject({ at: "2027-11-30T01:00:00.000Z", local: "2027-11-30T02:00:00+01:00" });
    await s.h.close();
  });

  it("changing the hour after this month's run does not run it again this month", async () => {
    const s = await setup();
    const sch = await s.schedule({ dayOfMonth: 1, hour: 9 });
    s.h.clock.set("2026-12-01T09:00:00Z");
    const scheduler = s.scheduler();
    expect(started(await scheduler.tick())).toHaveLength(1);
    s.h.clock.set("2026-12-01T09:30:00Z");
    const moved = (await (await s.api("PATCH", `/api/schedules/${sch.id}`, { hour: 15 })).json()) as ScheduleView;
    expect(moved.nextRun?.at).toBe("2027-01-01T15:00:00.000Z");
    s.h.clock.set("2026-12-01T15:00:00Z");
    expect(await scheduler.tick()).toEqual([]);
    s.h.clock.set("2027-01-01T15:00:00Z");
    await s.api("POST", `/api/runs/${runsOf(s.h)[0]!.id}/cancel`);
    expect(started(await scheduler.tick())).toHaveLength(1);
    expect(runsOf(s.h)).toHaveLength(2);
    await s.h.close();
  });
});

describe("several schedulers on one database", () => {
  it("create exactly one run per occurrence when they tick at once, in one process and in four", async () => {
    const dbFile = path.join(mkdtempSync(path.join(tmpdir(), "lw-sched-")), "db.sqlite");
    const s = await setup({ dbFile });
    const connections = [s.h.connectionId, await s.addConnection("second"), await s.addConnection("third")];
    for (const connectionId of connections) await s.schedule({ connectionId });
    // A second connection to the same file, as another process would have.
    const otherDeps = createDeps({ ...s.h.t.deps, db: openDb(dbFile) });
    const schedulers = [s.scheduler({ id: "a" }), s.scheduler({ id: "b" }), createScheduler(otherDeps, { id: "c" }), createScheduler(otherDeps, { id: "d" })];

    s.h.clock.set("2026-12-01T09:00:00Z");
    const results = await Promise.all(schedulers.map((x) => x.tick()));
    // The first to insert an occurrence starts its run; the others find it taken and do nothing.
    expect(results.flat().map((e) => e.type)).toEqual(["started", "started", "started"]);
    expect(runsOf(s.h)).toHaveLength(3);
    expect(occurrencesOf(s.h)).toHaveLength(3);
    expect(new Set(runsOf(s.h).map((r) => r.connectionId))).toEqual(new Set(connections));
    expect((await Promise.all(schedulers.map((x) => x.tick()))).flat()).toEqual([]);

    // Next month, four separate processes tick at the same instant.
    for (const run of runsOf(s.h)) await s.api("POST", `/api/runs/${run.id}/cancel`);
    expect((await schedulers[0]!.tick()).map((e) => e.type)).toEqual(["settled", "settled", "settled"]);
    const now = Date.parse("2027-01-01T09:00:00Z");
    // Each child loads everything, says "ready", and ticks on "go", so their ticks overlap.
    const code = `
      const [root, dbFile, now] = process.argv.slice(1);
      const load = (p) => import(root + p);
      const { openDb } = await load("/db/index.ts");
      const { testConfig } = await load("/core/config.ts");
      const { createDeps } = await load("/core/deps.ts");
      const { createAcLimiters } = await load("/core/ac/index.ts");
      const { createLogger } = await load("/core/logger.ts");
      const { createScheduler } = await load("/worker/schedules/scheduler.ts");
      const deps = createDeps({ db: openDb(dbFile), config: testConfig(), clock: { now: () => Number(now) }, logger: createLogger({ level: "silent" }), acLimiters: createAcLimiters({ requestsPerSecond: 5 }) });
      const scheduler = createScheduler(deps);
      process.stdout.write("ready\\n");
      process.stdin.once("data", async () => {
        process.stdout.write(JSON.stringify(await scheduler.tick()));
        process.exit(0);
      });
    `;
    const children = [1, 2, 3, 4].map(() => {
      const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", code, ROOT, dbFile, String(now)], { cwd: ROOT });
      let out = "";
      let err = "";
      child.stderr.on("data", (d: Buffer) => (err += String(d)));
      const ready = new Promise<void>((resolve) => child.stdout.on("data", (d: Buffer) => ((out += String(d)), out.startsWith("ready\n") && resolve())));
      const exited = new Promise<string>((resolve, reject) =>
        child.on("exit", (status) => (status === 0 ? resolve(out.slice("ready\n".length)) : reject(new Error(`child exited ${status}: ${err}`)))),
      );
      return { child, ready, exited };
    });
    await Promise.all(children.map((c) => c.ready));
    for (const c of children) c.child.stdin.write("go\n");
    const outputs = await Promise.all(children.map((c) => c.exited));
    const childEvents = outputs.flatMap((o) => JSON.parse(o) as ScheduleEvent[]);
    expect(childEvents.map((e) => e.type)).toEqual(["started", "started", "started"]);
    expect(runsOf(s.h).filter((r) => r.createdAt.getTime() === now)).toHaveLength(3);
    expect(occurrencesOf(s.h)).toHaveLength(6);
    otherDeps.db.$client.close();
    await s.h.close();
  }, 90_000);
});

describe("missed occurrences", () => {
  it("after a 5-day outage runs the latest missed occurrence within the grace window once and records the older one as skipped", async () => {
    const s = await setup();
    const second = await s.addConnection("second");
    const older = await s.schedule({ dayOfMonth: 28, hour: 9 }); // 28 Nov: 4 days before the restart
    const newer = await s.schedule({ connectionId: second, dayOfMonth: 1, hour: 9 }); // 1 Dec: 1 day before
    s.h.clock.set("2026-11-27T12:00:00Z");
    expect(await s.scheduler().tick()).toEqual([]);

    // Down from 27 Nov to 2 Dec.
    s.h.clock.set("2026-12-02T10:00:00Z");
    const events = await s.scheduler().tick();
    expect(events).toEqual([
      { type: "skipped", scheduleId: older.id, occurrenceAt: "2026-11-28T09:00:00.000Z", reason: expect.stringMatching(/^Missed: .*more than 3 day\(s\) ago$/) },
      { type: "started", scheduleId: newer.id, occurrenceAt: "2026-12-01T09:00:00.000Z", runId: expect.any(String) },
    ]);
    expect(runsOf(s.h)).toHaveLength(1);
    expect((await s.getSchedule(newer.id)).recentOccurrences[0]).toMatchObject({ state: "started", reason: expect.stringMatching(/^Started late.*not running at the scheduled time/) });
    expect((await s.getSchedule(older.id)).recentOccurrences[0]).toMatchObject({ state: "skipped", run: null, reason: expect.stringMatching(/Listwarden was not running at Sat, 28 Nov 2026, 09:00 UTC/) });
    // Another restart changes nothing.
    expect(await s.scheduler().tick()).toEqual([]);
    expect(runsOf(s.h)).toHaveLength(1);
    await s.h.close();
  });

  it("after months down runs only the latest missed occurrence and records each older one as skipped", async () => {
    const s = await setup();
    s.h.clock.set("2026-08-20T00:00:00Z");
    const sch = await s.schedule({ dayOfMonth: 1, hour: 9 });
    s.h.clock.set("2026-11-02T10:00:00Z");
    const events = await s.scheduler().tick();
    expect(events.map((e) => [e.type, "occurrenceAt" in e ? e.occurrenceAt : null])).toEqual([
      ["skipped", "2026-09-01T09:00:00.000Z"],
      ["skipped", "2026-10-01T09:00:00.000Z"],
      ["started", "2026-11-01T09:00:00.000Z"],
    ]);
    expect(occurrencesOf(s.h, sch.id).map((o) => o.reason?.replace(/ at .*;/, ";"))).toEqual([
      "Missed: Listwarden was not running; only the latest missed occurrence runs",
      "Missed: Listwarden was not running; only the latest missed occurrence runs",
      expect.stringMatching(/^Started late/),
    ]);
    expect(runsOf(s.h)).toHaveLength(1);
    await s.h.close();
  });

  it("a grace window from config is honoured (SCHEDULE_GRACE_DAYS)", async () => {
    const s = await setup();
    await s.schedule({ dayOfMonth: 1, hour: 9 });
    s.h.clock.set("2026-12-02T10:00:00Z"); // 25 hours late
    const strict = createScheduler({ ...s.h.t.deps, config: { ...s.h.t.deps.config, SCHEDULE_GRACE_DAYS: 1 } });
    expect((await strict.tick()).map((e) => e.type)).toEqual(["skipped"]);
    expect(runsOf(s.h)).toHaveLength(0);
    await s.h.close();
  });
});

describe("no overlap", () => {
  it("waits while a run of the same connection is active, says why, and starts when it ends", async () => {
    const s = await setup();
    seedList(s.h, 3, 1);
    const manual = (await (await s.api("POST", "/api/runs", { connectionId: s.h.connectionId, scope: { kind: "all" } })).json()) as RunView;
    await s.h.worker().drain();
    expect((await s.getRun(manual.id)).status).toBe("awaiting_review");

    const sch = await s.schedule({ autoApply: true });
    const scheduler = s.scheduler();
    s.h.clock.set("2026-12-01T09:00:00Z");
    const waiting = await scheduler.tick();
    expect(waiting).toEqual([{ type: "waiting", scheduleId: sch.id, occurrenceAt: "2026-12-01T09:00:00.000Z", reason: expect.any(String) }]);
    const shown = (await s.getSchedule(sch.id)).recentOccurrences[0]!;
    expect(shown).toMatchObject({ state: "waiting", run: null });
    expect(shown.reason).toBe(`Waiting: run ${manual.id} of this connection is awaiting review; this run starts when it ends, or is skipped after Fri, 4 Dec 2026, 09:00 UTC`);
    expect(runsOf(s.h)).toHaveLength(1);

    s.h.clock.advance(3_600_000);
    expect(await scheduler.tick()).toEqual([]);

    await s.api("POST", `/api/runs/${manual.id}/approve`, {});
    await s.h.worker().drain();
    expect((await s.getRun(manual.id)).status).toBe("completed");
    s.h.clock.advance(60_000);
    const resumed = await scheduler.tick();
    expect(started(resumed)).toHaveLength(1);
    const view = await s.getSchedule(sch.id);
    expect(view.recentOccurrences[0]).toMatchObject({ state: "started", reason: expect.stringMatching(/once the connection's earlier run had ended/) });
    await s.h.worker().drain();
    expect((await s.getRun(started(resumed)[0]!.runId)).status).toBe("completed");
    await s.h.close();
  });

  it("skips the occurrence when the connection's run is still active after the grace window", async () => {
    const s = await setup();
    seedList(s.h, 3, 1);
    const manual = (await (await s.api("POST", "/api/runs", { connectionId: s.h.connectionId, scope: { kind: "all" } })).json()) as RunView;
    await s.h.worker().drain();
    const sch = await s.schedule();
    const scheduler = s.scheduler();
    s.h.clock.set("2026-12-01T09:00:00Z");
    expect((await scheduler.tick()).map((e) => e.type)).toEqual(["waiting"]);
    s.h.clock.set("2026-12-04T09:00:00Z");
    expect(await scheduler.tick()).toEqual([]);
    s.h.clock.set("2026-12-04T09:01:00Z");
    expect(await scheduler.tick()).toEqual([
      {
        type: "skipped",
        scheduleId: sch.id,
        occurrenceAt: "2026-12-01T09:00:00.000Z",
        reason: `Skipped: run ${manual.id} of this connection was still awaiting review 3 day(s) after this occurrence`,
      },
    ]);
    expect(runsOf(s.h)).toHaveLength(1);
    expect((await s.getSchedule(sch.id)).nextRun?.at).toBe("2027-01-01T09:00:00.000Z");
    await s.h.close();
  });

  it("a waiting occurrence whose blocker ended while Listwarden was down is skipped once past the grace window, not started months late", async () => {
    const s = await setup();
    seedList(s.h, 3, 1);
    const manual = (await (await s.api("POST", "/api/runs", { connectionId: s.h.connectionId, scope: { kind: "all" } })).json()) as RunView;
    await s.h.worker().drain();
    const sch = await s.schedule();
    s.h.clock.set("2026-12-01T09:00:00Z");
    expect((await s.scheduler().tick()).map((e) => e.type)).toEqual(["waiting"]);
    // Listwarden goes down; the blocking run is cancelled meanwhile; it comes back 71 days later.
    s.h.clock.set("2026-12-02T09:00:00Z");
    await s.api("POST", `/api/runs/${manual.id}/cancel`);
    s.h.clock.set("2027-02-10T09:00:00Z");
    const events = await s.scheduler().tick();
    expect(events.filter((e) => e.type === "started")).toEqual([]);
    expect(events).toContainEqual({
      type: "skipped",
      scheduleId: sch.id,
      occurrenceAt: "2026-12-01T09:00:00.000Z",
      reason: "Skipped: it could not start within 3 day(s) of its time (an earlier run of this connection had not ended, and Listwarden was not running when it did)",
    });
    expect(runsOf(s.h)).toHaveLength(1);
    await s.h.close();
  });

  it("a waiting occurrence from before the schedule was retimed is skipped when its blocker ends, not started", async () => {
    const s = await setup();
    seedList(s.h, 3, 1);
    const manual = (await (await s.api("POST", "/api/runs", { connectionId: s.h.connectionId, scope: { kind: "all" } })).json()) as RunView;
    await s.h.worker().drain();
    const sch = await s.schedule();
    s.h.clock.set("2026-12-01T09:00:00Z");
    const scheduler = s.scheduler();
    expect((await scheduler.tick()).map((e) => e.type)).toEqual(["waiting"]);
    s.h.clock.set("2026-12-01T09:30:00Z");
    expect((await s.api("PATCH", `/api/schedules/${sch.id}`, { hour: 12 })).status).toBe(200);
    await s.api("POST", `/api/runs/${manual.id}/cancel`);
    s.h.clock.set("2026-12-01T09:31:00Z");
    expect(await scheduler.tick()).toEqual([
      {
        type: "skipped",
        scheduleId: sch.id,
        occurrenceAt: "2026-12-01T09:00:00.000Z",
        reason: "Skipped: the schedule was changed or resumed after this occurrence; it runs from the next one",
      },
    ]);
    expect(runsOf(s.h)).toHaveLength(1);
    await s.h.close();
  });

  it("two schedules of one connection due at once start one run; the other waits for it", async () => {
    const s = await setup();
    seedList(s.h, 2, 0);
    await s.schedule({ hour: 9 });
    await s.schedule({ hour: 9, scope: { kind: "tag", tagId: 1 } });
    s.h.clock.set("2026-12-01T09:00:00Z");
    const scheduler = s.scheduler();
    expect((await scheduler.tick()).map((e) => e.type).sort()).toEqual(["started", "waiting"]);
    await s.h.worker().drain(); // nothing to change: completes without review
    expect(started(await scheduler.tick())).toHaveLength(1);
    expect(runsOf(s.h)).toHaveLength(2);
    await s.h.close();
  });
});

describe("what a scheduled run does", () => {
  it("without autoApply stops in review like a manual run", async () => {
    const s = await setup();
    seedList(s.h, 9, 1);
    await s.schedule({ autoApply: false });
    s.h.clock.set("2026-12-01T09:00:00Z");
    const [event] = started(await s.scheduler().tick());
    await s.h.worker().drain();
    const run = await s.getRun(event!.runId);
    expect(run).toMatchObject({ status: "awaiting_review", statusReason: "Review the plan: approving would unsubscribe 1 contact", scheduleId: expect.any(String) });
    expect(s.h.fake.requests.filter((r) => r.method !== "GET")).toHaveLength(0);
    await s.h.close();
  });

  it("with autoApply holds for review when more than 30% would be unsubscribed, and says why", async () => {
    const s = await setup();
    seedList(s.h, 6, 4);
    await s.schedule({ autoApply: true });
    s.h.clock.set("2026-12-01T09:00:00Z");
    const [event] = started(await s.scheduler().tick());
    await s.h.worker().drain();
    const run = await s.getRun(event!.runId);
    expect(run.status).toBe("awaiting_review");
    expect(run.statusReason).toBe("Held for review: 40.0% of contacts would be unsubscribed or deleted, above this schedule's 30% limit");
    expect(s.h.fake.requests.filter((r) => r.method !== "GET")).toHaveLength(0);
    await s.h.close();
  });

  it("with autoApply applies by itself at 30% or less and completes", async () => {
    const s = await setup();
    const { list, bad, good } = seedList(s.h, 7, 3);
    const sch = await s.schedule({ autoApply: true });
    s.h.clock.set("2026-12-01T09:00:00Z");
    const scheduler = s.scheduler();
    const [event] = started(await scheduler.tick());
    await s.h.worker().drain();
    const run = await s.getRun(event!.runId);
    expect(run).toMatchObject({ status: "completed", statusReason: "Done in ActiveCampaign: unsubscribed from 3 list memberships", progress: { applied: 3 } });
    for (const id of bad) expect(s.h.fake.listStatus(id, list)).toBe(UNSUBSCRIBED);
    for (const id of good) expect(s.h.fake.listStatus(id, list)).toBe(ACTIVE);
    expect((await scheduler.tick()).map((e) => e.type)).toEqual(["settled"]);
    expect((await s.getSchedule(sch.id)).recentOccurrences[0]).toMatchObject({ state: "started", run: { status: "completed" } });
    await s.h.close();
  });

  it("pauses for credits and resumes after a grant, without a second run", async () => {
    const s = await setup({ signupCredits: 5 });
    seedList(s.h, 12, 0);
    const sch = await s.schedule({ autoApply: true });
    s.h.clock.set("2026-12-01T09:00:00Z");
    const scheduler = s.scheduler();
    const [event] = started(await scheduler.tick());
    await s.h.worker().drain();
    const paused = await s.getRun(event!.runId);
    expect(paused.status).toBe("paused_credits");
    // The 5 credits paid for 5 contacts; the rest is said.
    expect(paused.statusReason).toMatch(/About 7 more credits are needed/);
    expect(paused.credits.charged).toBe(5);
    s.h.clock.advance(60_000);
    expect(await scheduler.tick()).toEqual([]);
    expect((await s.getSchedule(sch.id)).recentOccurrences[0]).toMatchObject({ run: { status: "paused_credits" } });

    grantCredits(s.h.t.db, s.h.clock, { workspaceId: s.h.user.workspaceId, amount: 100, reason: "top-up" });
    s.h.clock.advance(5_000);
    await s.h.worker().drain();
    expect((await s.getRun(event!.runId)).status).toBe("completed");
    expect((await scheduler.tick()).map((e) => e.type)).toEqual(["settled"]);
    expect(runsOf(s.h)).toHaveLength(1);
    expect((await s.getSchedule(sch.id)).lastError).toBeNull();
    await s.h.close();
  });

  it("when AC refuses the key the run fails with AC's words, the schedule stays and shows the error until a run completes", async () => {
    const s = await setup();
    seedList(s.h, 2, 0);
    const sch = await s.schedule({ autoApply: true });
    s.h.fake.apiKeys.clear();
    s.h.clock.set("2026-12-01T09:00:00Z");
    const scheduler = s.scheduler();
    const [event] = started(await scheduler.tick());
    await s.h.worker().drain();
    const run = await s.getRun(event!.runId);
    expect(run.status).toBe("failed");
    expect(run.statusReason).toMatch(/ActiveCampaign refused this API key/);
    expect(await scheduler.tick()).toEqual([{ type: "settled", scheduleId: sch.id, runId: event!.runId, status: "failed" }]);

    const view = await s.getSchedule(sch.id);
    expect(view.lastError).toMatch(/^The run of Tue, 1 Dec 2026, 09:00 UTC failed: .*ActiveCampaign refused this API key/);
    expect(view).toMatchObject({ paused: false, nextRun: { at: "2027-01-01T09:00:00.000Z" }, recentOccurrences: [{ state: "started", run: { status: "failed" } }] });
    const listed = (await (await s.api("GET", "/api/schedules")).json()) as { schedules: ScheduleView[] };
    expect(listed.schedules[0]?.lastError).toBe(view.lastError);

    s.h.fake.apiKeys.add(AC_KEY);
    s.h.clock.set("2027-01-01T09:00:00Z");
    const [next] = started(await scheduler.tick());
    await s.h.worker().drain();
    expect((await s.getRun(next!.runId)).status).toBe("completed");
    await scheduler.tick();
    expect((await s.getSchedule(sch.id)).lastError).toBeNull();
    await s.h.close();
  });
});

describe("end to end", () => {
  it("a scheduled occurrence produces a completed run and its report through the fake AC", async () => {
    const s = await setup();
    const { list, bad } = seedList(s.h, 8, 1);
    const temp = s.h.fake.addContact({ email: address("disposable", "temp"), lists: { [list]: ACTIVE } });
    const sch = await s.schedule({
      scope: { kind: "lists", listIds: [list] },
      actions: { undeliverable: "unsubscribe", overrides: [{ reason: "disposable", action: "delete" }] },
      confirmDelete: true,
      autoApply: true,
      dayOfMonth: "last",
      hour: 22,
      timeZone: "America/New_York",
    });
    expect(sch.nextRun?.local).toBe("2026-11-30T22:00:00-05:00");
    const scheduler = s.scheduler();
    s.h.clock.set(sch.nextRun!.at);
    const [event] = started(await scheduler.tick());
    await s.h.worker().drain();

    const run = await s.getRun(event!.runId);
    expect(run).toMatchObject({ status: "completed", scheduleId: sch.id, progress: { fetched: 10, verified: 10, applied: 2, failed: 0 } });
    expect(s.h.t.db.select({ d: schema.runs.deleteConfirmed }).from(schema.runs).where(and(eq(schema.runs.id, run.id))).get()?.d).toBe(true);
    expect(s.h.fake.listStatus(bad[0]!, list)).toBe(UNSUBSCRIBED);
    expect(s.h.fake.contacts.has(temp)).toBe(false);

    const csv = await s.api("GET", `/api/runs/${run.id}/report.csv`);
    expect(csv.status).toBe(200);
    expect(csv.headers.get("content-type")).toMatch(/text\/csv/);
    const rows = parseCsv(await csv.text());
    expect(rows).toHaveLength(10);
    expect(rows.find((r) => r.email === address("noMail", "Newsletter-bad0"))).toMatchObject({ status: "undeliverable", action: "unsubscribe", action_result: "done (Newsletter)" });
    expect(rows.find((r) => r.email === address("disposable", "temp"))).toMatchObject({ action: "delete", action_result: "done" });

    await scheduler.tick();
    const view = await s.getSchedule(sch.id);
    expect(view).toMatchObject({ lastError: null, recentOccurrences: [{ state: "started", run: { id: run.id, status: "completed" } }] });
    expect(view.nextRun?.local).toBe("2026-12-31T22:00:00-05:00");
    await s.h.close();
  });
});

describe("in the running product", () => {
  it("startListwarden runs the scheduler beside the worker, on its own timer, and close() stops both", async () => {
    const h = await createRunHarness(server);
    seedList(h, 3, 0);
    const clock = new FakeClock(Date.parse("2026-11-30T12:00:00Z"));
    const events: ScheduleEvent[] = [];
    let onStarted!: () => void;
    const startedOnce = new Promise<void>((resolve) => (onStarted = resolve));
    let onFinished!: (status: string) => void;
    const finished = new Promise<string>((resolve) => (onFinished = resolve));
    const lw = await startListwarden({
      config: testConfig({ PORT: 0, DNS_SERVERS: [h.dns.address], DNS_TIMEOUT_MS: 300, LOG_LEVEL: "silent" }),
      logger: createLogger({ level: "silent" }),
      clock,
      dbFile: ":memory:",
      acLookup: publicLookup,
      worker: { pollMs: 10, onEvent: (e) => e.type === "finished" && onFinished(e.status) },
      scheduler: {
        tickMs: 10,
        onEvent: (e) => {
          events.push(e);
          if (e.type === "started") onStarted();
        },
      },
    });
    expect(lw.scheduler).not.toBeNull();
    const { principal } = await signup(lw.deps, { email: "sched@example.com", password: "correct horse battery" });
    const connection = await createConnection(lw.deps, { ctx: principal, input: { apiUrl: AC_BASE, apiKey: AC_KEY } });
    createSchedule(lw.deps, {
      ctx: principal,
      input: { connectionId: connection.id, scope: { kind: "all" }, actions: { deliverable: "keep", risky: "keep", undeliverable: "unsubscribe", unknown: "keep", overrides: [] }, dayOfMonth: 1, hour: 0, timeZone: "UTC", autoApply: true },
    });
    clock.set("2026-12-01T00:00:00Z");
    await startedOnce;
    expect(await finished).toBe("completed");
    await lw.close();
    expect(events.filter((e) => e.type === "started")).toHaveLength(1);
    await h.close();
  });

  /** The product with a worker that looks for runs once when it starts, then not for an hour. */
  async function slowPollingProduct(h: RunHarness) {
    const events: RunEvent[] = [];
    let notify = () => {};
    const lw = await startListwarden({
      config: testConfig({ PORT: 0, DNS_SERVERS: [h.dns.address], DNS_TIMEOUT_MS: 300, LOG_LEVEL: "silent" }),
      logger: createLogger({ level: "silent" }),
      dbFile: ":memory:",
      acLookup: publicLookup,
      worker: { pollMs: 3_600_000, onEvent: (e) => (events.push(e), notify()) },
    });
    /** Resolves at the first event `match` accepts; fails the test after 20 s (the poll is an hour). */
    const next = (match: (e: RunEvent) => boolean) =>
      new Promise<RunEvent>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no such worker event within 20 s; saw ${events.map((e) => e.type).join(", ")}`)), 20_000);
        notify = () => {
          const found = events.find(match);
          if (found) {
            clearTimeout(timer);
            resolve(found);
          }
        };
        notify();
      });
    const { principal } = await signup(lw.deps, { email: "wake@example.com", password: "correct horse battery" });
    const connection = await createConnection(lw.deps, { ctx: principal, input: { apiUrl: AC_BASE, apiKey: AC_KEY } });
    return { lw, principal, connection, next };
  }

  it("a run queued through the service wakes the worker at once instead of waiting for its next poll", async () => {
    const h = await createRunHarness(server);
    seedList(h, 3, 0);
    const { lw, principal, connection, next } = await slowPollingProduct(h);
    try {
      createRun(lw.deps, {
        ctx: principal,
        input: { connectionId: connection.id, scope: { kind: "all" }, actions: { deliverable: "keep", risky: "keep", undeliverable: "keep", unknown: "keep", overrides: [] } },
      });
      expect(await next((e) => e.type === "finished")).toMatchObject({ status: "completed" });
    } finally {
      await lw.close();
      await h.close();
    }
  });

  it("an approval wakes the worker at once too: the run's changes are sent without waiting for the next poll", async () => {
    const h = await createRunHarness(server);
    const { list, bad } = seedList(h, 2, 1);
    const { lw, principal, connection, next } = await slowPollingProduct(h);
    try {
      const run = createRun(lw.deps, {
        ctx: principal,
        input: { connectionId: connection.id, scope: { kind: "all" }, actions: { deliverable: "keep", risky: "keep", undeliverable: "unsubscribe", unknown: "keep", overrides: [] } },
      });
      expect(await next((e) => e.type === "planned")).toMatchObject({ status: "awaiting_review" });
      // The attempt ends after that event: its lease released, then the worker looks once more
      // (nothing to claim yet) and goes back to its hour. Only then is the run approved.
      while (readRun(lw.deps.db, run.id)?.leaseOwner) await new Promise((resolve) => setTimeout(resolve, 10));
      await new Promise((resolve) => setTimeout(resolve, 50));
      approveRun(lw.deps, { ctx: principal, id: run.id, confirmDelete: false });
      expect(await next((e) => e.type === "finished")).toMatchObject({ status: "completed" });
      expect(h.fake.listStatus(bad[0]!, list)).toBe(UNSUBSCRIBED);
    } finally {
      await lw.close();
      await h.close();
    }
  });
});

