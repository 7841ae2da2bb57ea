import { eq } from "drizzle-orm";
import { setupServer } from "msw/node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { schema } from "../db/index.ts";
import { parseConfig } from "../core/config.ts";
import type { InferRequestType } from "hono/client";
import { formatInZone, nextOccurrence, occurrencesBetween, periodOf, type ScheduleTiming, type ScheduleView } from "../core/services/schedules.ts";
import { createScheduler } from "../worker/schedules/scheduler.ts";
import { answer, apiClient } from "./support/api.ts";
import { signUp } from "./support/app.ts";
import { AC_BASE, AC_KEY, createRunHarness, type RunHarness } from "./support/runs.ts";

const server = setupServer();
beforeAll(() => server.listen({ onUnhandledRequest: "error" }));
afterEach(() => server.resetHandlers());
afterAll(() => server.close());

const iso = (d: Date | null) => d?.toISOString() ?? null;
const between = (t: ScheduleTiming, from: string, to: string) => occurrencesBetween(t, Date.parse(from), Date.parse(to)).map((d) => d.toISOString());

describe("schedule calendar", () => {
  it('fires on the last day of 31-, 30-, 29- and 28-day months with "last"', () => {
    const last: ScheduleTiming = { dayOfMonth: "last", hour: 9, timeZone: "UTC" };
    expect(between(last, "2027-12-15T00:00:00Z", "2028-05-01T00:00:00Z")).toEqual([
      "2027-12-31T09:00:00.000Z",
      "2028-01-31T09:00:00.000Z",
      "2028-02-29T09:00:00.000Z", // leap year
      "2028-03-31T09:00:00.000Z",
      "2028-04-30T09:00:00.000Z",
    ]);
    expect(iso(nextOccurrence(last, Date.parse("2027-02-01T00:00:00Z")))).toBe("2027-02-28T09:00:00.000Z");
    expect(iso(nextOccurrence(last, Date.parse("2100-02-01T00:00:00Z")))).toBe("2100-02-28T09:00:00.000Z"); // not a leap year
  });

  it("fires on day 28 in every month, February included", () => {
    const days = between({ dayOfMonth: 28, hour: 0, timeZone: "UTC" }, "2027-01-01T00:00:00Z", "2027-12-31T23:00:00Z");
    expect(days).toHaveLength(12);
    expect(days.every((d) => d.slice(8, 10) === "28")).toBe(true);
  });

  it('"last" in a time zone east of UTC is the last day there, not in UTC', () => {
    // 23:00 on 29 Feb 2028 in Auckland (UTC+13) is 10:00 UTC the same day.
    expect(iso(nextOccurrence({ dayOfMonth: "last", hour: 23, timeZone: "Pacific/Auckland" }, Date.parse("2028-02-10T00:00:00Z")))).toBe(
      "2028-02-29T10:00:00.000Z",
    );
    // 00:00 on 1 Dec in Berlin is still November in UTC, but the month is the zone's.
    expect(periodOf(new Date("2026-11-30T23:00:00Z"), "Europe/Berlin")).toBe("2026-12");
  });

  it("runs an hour that does not exist on the spring-forward day at the first valid time after the gap", () => {
    // New York springs forward on Sunday 8 March 2026: 02:00-02:59 does not exist.
    const ny: ScheduleTiming = { dayOfMonth: 8, hour: 2, timeZone: "America/New_York" };
    expect(between(ny, "2026-03-01T00:00:00Z", "2026-04-30T00:00:00Z")).toEqual(["2026-03-08T07:00:00.000Z", "2026-04-08T06:00:00.000Z"]);
    expect(formatInZone(new Date("2026-03-08T07:00:00Z"), ny.timeZone).local).toBe("2026-03-08T03:00:00-04:00");
    // Berlin springs forward on Sunday 25 March 2029.
    expect(iso(nextOccurrence({ dayOfMonth: 25, hour: 2, timeZone: "Europe/Berlin" }, Date.parse("2029-03-20T00:00:00Z")))).toBe(
      "2029-03-25T01:00:00.000Z",
    );
  });

  it("runs an hour that exists twice on the fall-back day once, at its first occurrence", () => {
    // New York falls back on Sunday 1 November 2026: 01:00-01:59 happens twice.
    const ny: ScheduleTiming = { dayOfMonth: 1, hour: 1, timeZone: "America/New_York" };
    expect(between(ny, "2026-10-31T00:00:00Z", "2026-11-30T00:00:00Z")).toEqual(["2026-11-01T05:00:00.000Z"]);
    expect(formatInZone(new Date("2026-11-01T05:00:00Z"), ny.timeZone).local).toBe("2026-11-01T01:00:00-04:00");
    // Berlin falls back on Sunday 31 October 2027, which is also the last day of the month.
    const berlin: ScheduleTiming = { dayOfMonth: "last", hour: 2, timeZone: "Europe/Berlin" };
    expect(between(berlin, "2027-10-15T00:00:00Z", "2027-11-15T00:00:00Z")).toEqual(["2027-10-31T00:00:00.000Z"]);
  });
});

/** The typed API as the harness's user with an API token, which (unlike a session) outlives months of fake time. */
async function tokenApi(h: RunHarness) {
  const { token } = await answer(await apiClient(h.t, h.user).tokens.$post({ json: { name: "schedules test" } }), 201);
  return apiClient(h.t, { bearer: token });
}

type NewSchedule = InferRequestType<ReturnType<typeof apiClient>["schedules"]["$post"]>["json"];

async function post(h: RunHarness, body: Record<string, unknown>, as = h.user) {
  return h.t.request("POST", "/api/schedules", { as, body: { connectionId: h.connectionId, scope: { kind: "all" }, dayOfMonth: 1, hour: 9, timeZone: "Europe/Berlin", autoApply: false, ...body } });
}

async function created(h: RunHarness, body: Partial<NewSchedule> = {}): Promise<ScheduleView> {
  const json = { connectionId: h.connectionId, scope: { kind: "all" }, dayOfMonth: 1, hour: 9, timeZone: "Europe/Berlin", autoApply: false, ...body } as const;
  return answer(await apiClient(h.t, h.user).schedules.$post({ json }), 201);
}

describe("POST /api/schedules", () => {
  it("saves a schedule and shows its next run in UTC and in its time zone", async () => {
    const h = await createRunHarness(server); // the clock reads 2026-11-02T09:00:00Z
    const s = await created(h, { dayOfMonth: "last", hour: 23, timeZone: "america/new_york", autoApply: true });
    expect(s).toMatchObject({
      connectionId: h.connectionId,
      dayOfMonth: "last",
      hour: 23,
      timeZone: "America/New_York",
      description: "Monthly on the last day at 23:00 (America/New_York)",
      autoApply: true,
      holdThreshold: 0.3,
      paused: false,
      lastError: null,
      recentOccurrences: [],
      actions: { undeliverable: "unsubscribe", deliverable: "keep" },
      nextRun: { at: "2026-12-01T04:00:00.000Z", local: "2026-11-30T23:00:00-05:00", timeZone: "America/New_York" },
    });
    expect(s.nextRun!.label).toMatch(/Mon, 30 Nov 2026, 23:00/);

    const api = apiClient(h.t, h.user);
    const list = await answer(await api.schedules.$get({ query: {} }), 200);
    expect(list.schedules.map((x) => x.id)).toEqual([s.id]);
    const one = await answer(await api.schedules[":id"].$get({ param: { id: s.id } }), 200);
    expect(one.nextRun?.at).toBe("2026-12-01T04:00:00.000Z");
    await h.close();
  });

  it("names the field at fault", async () => {
    const h = await createRunHarness(server);
    const bad: [Record<string, unknown>, string, RegExp?][] = [
      [{ dayOfMonth: 31 }, "dayOfMonth", /from 1 to 28, or "last"/],
      [{ dayOfMonth: 29 }, "dayOfMonth"],
      [{ dayOfMonth: 0 }, "dayOfMonth"],
      [{ dayOfMonth: 2.5 }, "dayOfMonth"],
      [{ dayOfMonth: "first" }, "dayOfMonth"],
      [{ dayOfMonth: undefined }, "dayOfMonth"],
      [{ hour: 24 }, "hour", /0 to 23/],
      [{ hour: -1 }, "hour"],
      [{ timeZone: "Mars/Olympus_Mons" }, "timeZone", /IANA time zone/],
      [{ timeZone: "+01:00" }, "timeZone"],
      [{ timeZone: undefined }, "timeZone"],
      [{ autoApply: undefined }, "autoApply", /is required/],
      [{ autoApply: "yes" }, "autoApply"],
      [{ holdThreshold: 1.5 }, "holdThreshold", /0 to 0.99/],
      [{ holdThreshold: -0.1 }, "holdThreshold"],
      [{ scope: { kind: "lists", listIds: [] } }, "scope.listIds"],
      [{ actions: { risky: "destroy" } }, "actions.risky"],
      [{ smtpProbe: true }, "smtpProbe", /SMTP_PROBE=off/],
      [{ actions: { undeliverable: "delete" } }, "confirmDelete", /delete contacts/],
      [{ actions: { overrides: [{ reason: "disposable", action: "delete" }] }, confirmDelete: false }, "confirmDelete"],
      [{ connectionId: "" }, "connectionId"],
    ];
    for (const [body, field, message] of bad) {
      const res = await post(h, body);
      const json = (await res.json()) as { error: { code: string; field: string; message: string; requestId: string } };
      expect({ body, status: res.status, field: json.error.field }).toEqual({ body, status: 400, field });
      expect(json.error).toMatchObject({ code: "invalid_input", requestId: expect.any(String) });
      if (message) expect(json.error.message).toMatch(message);
    }
    expect((await post(h, { connectionId: "con_nope" })).status).toBe(404);
    expect(await h.t.db.select().from(schema.schedules).all()).toHaveLength(0);

    const ok = await created(h, { dayOfMonth: "28", hour: "0", timeZone: "UTC", actions: { undeliverable: "delete" }, confirmDelete: true });
    expect(ok).toMatchObject({ dayOfMonth: 28, hour: 0, deleteConfirmed: true, actions: { undeliverable: "delete" } });
    await h.close();
  });
});

describe("PATCH and DELETE /api/schedules/:id", () => {
  it("pauses, resumes and changes fields with the same validation", async () => {
    const h = await createRunHarness(server);
    const s = await created(h);
    const patch = (body: unknown) => h.t.request("PATCH", `/api/schedules/${s.id}`, { as: h.user, body });
    const json = async (res: Response) => (await res.json()) as ScheduleView & { error: { field: string } };

    const paused = await json(await patch({ paused: true }));
    expect(paused).toMatchObject({ paused: true, nextRun: null });
    const resumed = await json(await patch({ paused: false }));
    expect(resumed).toMatchObject({ paused: false, nextRun: { at: "2026-12-01T08:00:00.000Z", local: "2026-12-01T09:00:00+01:00" } });

    const changed = await json(await patch({ dayOfMonth: 15, hour: 6, timeZone: "Asia/Kolkata", holdThreshold: 0.1, autoApply: true, scope: { kind: "tag", tagId: 7 } }));
    // A valid name stays as typed even where this ICU knows it by an older one (Asia/Calcutta).
    expect(changed).toMatchObject({ dayOfMonth: 15, hour: 6, timeZone: "Asia/Kolkata", holdThreshold: 0.1, autoApply: true, scope: { kind: "tag", tagId: "7" } });
    expect(changed.nextRun).toMatchObject({ at: "2026-11-15T00:30:00.000Z", local: "2026-11-15T06:00:00+05:30" });
    // Unchanged fields stay as they were.
    expect(changed.actions).toMatchObject({ undeliverable: "unsubscribe" });

    for (const [body, field] of [
      [{ dayOfMonth: 30 }, "dayOfMonth"],
      [{ hour: 25 }, "hour"],
      [{ timeZone: "Berlin" }, "timeZone"],
      [{ pause: true }, "pause"],
      [{ connectionId: "con_other" }, "connectionId"],
      [{ actions: { risky: "delete" } }, "confirmDelete"],
      [{ holdThreshold: 2 }, "holdThreshold"],
    ] as const) {
      const res = await patch(body);
      expect({ body, status: res.status, field: (await json(res)).error.field }).toEqual({ body, status: 400, field });
    }
    const deletes = await json(await patch({ actions: { risky: "delete" }, confirmDelete: true }));
    expect(deletes).toMatchObject({ deleteConfirmed: true, actions: { risky: "delete" } });
    // Editing something else keeps the confirmed deletes.
    expect(await json(await patch({ hour: 7 }))).toMatchObject({ deleteConfirmed: true, hour: 7 });

    expect((await h.t.request("DELETE", `/api/schedules/${s.id}`, { as: h.user })).status).toBe(204);
    expect((await h.t.request("GET", `/api/schedules/${s.id}`, { as: h.user })).status).toBe(404);
    expect((await h.t.request("DELETE", `/api/schedules/${s.id}`, { as: h.user })).status).toBe(404);
    await h.close();
  });

  it("turning autoApply on for a schedule that deletes asks for the confirmation again", async () => {
    const h = await createRunHarness(server);
    const s = await created(h, { actions: { undeliverable: "delete" }, confirmDelete: true });
    const res = await h.t.request("PATCH", `/api/schedules/${s.id}`, { as: h.user, body: { autoApply: true } });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { field: string } }).error.field).toBe("confirmDelete");
    const ok = await h.t.request("PATCH", `/api/schedules/${s.id}`, { as: h.user, body: { autoApply: true, confirmDelete: true } });
    expect(ok.status).toBe(200);
    await h.close();
  });

  it("resuming does not run the occurrences that passed while paused", async () => {
    const h = await createRunHarness(server);
    const api = await tokenApi(h);
    const s = await created(h, { timeZone: "UTC" });
    await answer(await api.schedules[":id"].$patch({ param: { id: s.id }, json: { paused: true } }), 200);
    h.clock.set("2026-12-01T10:00:00Z");
    const scheduler = createScheduler(h.t.deps);
    expect(await scheduler.tick()).toEqual([]);
    const resumed = await answer(await api.schedules[":id"].$patch({ param: { id: s.id }, json: { paused: false } }), 200);
    expect(resumed.nextRun?.at).toBe("2027-01-01T09:00:00.000Z");
    expect(await scheduler.tick()).toEqual([]);
    expect(await h.t.db.select().from(schema.runs).all()).toHaveLength(0);
    await h.close();
  });
});

describe("workspaces and connections", () => {
  it("keeps another workspace's schedules out of reach (404), and its connections too", async () => {
    const h = await createRunHarness(server);
    const s = await created(h);
    const other = await signUp(h.t);
    for (const [method, body] of [
      ["GET", undefined],
      ["PATCH", { paused: true }],
      ["DELETE", undefined],
    ] as const) {
      const res = await h.t.request(method, `/api/schedules/${s.id}`, { as: other, ...(body ? { body } : {}) });
      expect({ method, status: res.status }).toEqual({ method, status: 404 });
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe("not_found");
    }
    const list = await answer(await apiClient(h.t, other).schedules.$get({ query: {} }), 200);
    expect(list.schedules).toEqual([]);
    expect((await post(h, {}, other)).status).toBe(404);
    expect((await h.t.request("GET", "/api/schedules", {})).status).toBe(401);
    expect((await h.t.request("GET", `/api/schedules/${s.id}`, { as: h.user })).status).toBe(200);
    expect((await h.t.request("POST", "/api/schedules", { as: h.user, csrf: false, body: {} })).status).toBe(403);
    await h.close();
  });

  it("deleting a connection deletes its schedules and their occurrences, and keeps other connections' schedules", async () => {
    const h = await createRunHarness(server);
    const api = await tokenApi(h);
    const { id: secondId } = await answer(await api.connections.$post({ json: { apiUrl: AC_BASE, apiKey: AC_KEY, name: "second" } }), 201);
    const s = await created(h, { timeZone: "UTC" });
    const kept = await created(h, { connectionId: secondId, timeZone: "UTC", hour: 12 });
    h.clock.set("2026-12-01T09:00:00Z");
    await createScheduler(h.t.deps).tick();
    expect(await h.t.db.select().from(schema.scheduleOccurrences).all()).toHaveLength(1);

    expect((await api.connections[":id"].$delete({ param: { id: h.connectionId } })).status).toBe(204);
    expect((await api.schedules[":id"].$get({ param: { id: s.id } })).status).toBe(404);
    expect(await h.t.db.select().from(schema.schedules).where(eq(schema.schedules.connectionId, h.connectionId)).all()).toHaveLength(0);
    expect(await h.t.db.select().from(schema.scheduleOccurrences).all()).toHaveLength(0);
    expect((await api.schedules[":id"].$get({ param: { id: kept.id } })).status).toBe(200);
    // The run it started stays, with its report.
    expect(await h.t.db.select().from(schema.runs).all()).toHaveLength(1);
    await h.close();
  });

  it("filters the list by connection", async () => {
    const h = await createRunHarness(server);
    await created(h);
    const api = apiClient(h.t, h.user);
    expect((await answer(await api.schedules.$get({ query: { connectionId: "con_none" } }), 200)).schedules).toEqual([]);
    expect((await answer(await api.schedules.$get({ query: { connectionId: h.connectionId } }), 200)).schedules).toHaveLength(1);
    await h.close();
  });
});

describe("SCHEDULE_GRACE_DAYS", () => {
  it("defaults to 3 and a bad value stops start-up naming it", () => {
    expect(parseConfig({}).SCHEDULE_GRACE_DAYS).toBe(3);
    expect(parseConfig({ SCHEDULE_GRACE_DAYS: "0.5" }).SCHEDULE_GRACE_DAYS).toBe(0.5);
    expect(() => parseConfig({ SCHEDULE_GRACE_DAYS: "40" })).toThrow(/SCHEDULE_GRACE_DAYS: must be at most 27/);
    expect(() => parseConfig({ SCHEDULE_GRACE_DAYS: "0" })).toThrow(/SCHEDULE_GRACE_DAYS: must be above 0/);
    expect(() => parseConfig({ SCHEDULE_GRACE_DAYS: "soon" })).toThrow(/SCHEDULE_GRACE_DAYS: must be a number/);
  });
});
