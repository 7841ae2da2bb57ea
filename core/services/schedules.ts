import { Cron } from "croner";
import { and, desc, eq, inArray } from "drizzle-orm";
import { z } from "zod";
import { schema, transaction, type Db } from "../../db/index.ts";
import { newId } from "../../db/ids.ts";
import type { OccurrenceState, RunStatus } from "../../db/schema/index.ts";
import { actionsSchema, scopeSchema, usesDelete, type RunActions, type RunScope } from "../domain/scope-actions.ts";
import type { Deps, Principal } from "../deps.ts";
import { AppError, notFound } from "../errors.ts";
import { getConnectionRow } from "./connections.ts";

export type ScheduleRow = typeof schema.schedules.$inferSelect;
export type OccurrenceRow = typeof schema.scheduleOccurrences.$inferSelect;
export type DayOfMonth = number | "last";

/** When a schedule fires: monthly, on a day (1-28 or the last), at a whole hour in a time zone. */
export interface ScheduleTiming {
  dayOfMonth: DayOfMonth;
  hour: number;
  timeZone: string;
}

const DAY_MS = 86_400_000;
const RECENT_OCCURRENCES = 6;

// ---------------------------------------------------------------------------------------------
// Input

const digitsToNumber = (v: unknown) => (typeof v === "string" && /^\s*\d+\s*$/.test(v) ? Number(v) : v);

const DAY_MESSAGE = 'must be a day from 1 to 28, or "last" (days 29-31 do not exist in every month)';
export const dayOfMonthSchema = z.preprocess(
  digitsToNumber,
  z.union([z.number().int(DAY_MESSAGE).min(1, DAY_MESSAGE).max(28, DAY_MESSAGE), z.literal("last")], { error: DAY_MESSAGE }),
);

const HOUR_MESSAGE = "must be a whole hour from 0 to 23";
export const hourSchema = z.preprocess(digitsToNumber, z.number({ error: HOUR_MESSAGE }).int(HOUR_MESSAGE).min(0, HOUR_MESSAGE).max(23, HOUR_MESSAGE));

let zoneNames: Map<string, string> | undefined;

/**
 * The IANA name of a time zone as stored: the listed spelling ("europe/berlin" → "Europe/Berlin"),
 * a valid name as typed ("Asia/Kolkata", which this ICU calls Asia/Calcutta), or null if unknown.
 */
export function canonicalTimeZone(name: string): string | null {
  if (!/^[A-Za-z][A-Za-z0-9_+\-/]*$/.test(name)) return null;
  let resolved: string;
  try {
    resolved = new Intl.DateTimeFormat("en-US", { timeZone: name }).resolvedOptions().timeZone;
  } catch {
    return null;
  }
  zoneNames ??= new Map(Intl.supportedValuesOf("timeZone").map((z) => [z.toLowerCase(), z]));
  const listed = zoneNames.get(name.toLowerCase());
  if (listed) return listed;
  if (resolved.toLowerCase() === name.toLowerCase()) return resolved;
  return /^[A-Z]/.test(name) ? name : resolved;
}

export const timeZoneSchema = z
  .string({ error: "is required: an IANA time zone such as Europe/Berlin or America/New_York" })
  .trim()
  .transform((name, ctx) => {
    const zone = canonicalTimeZone(name);
    if (!zone) {
      ctx.addIssue({ code: "custom", message: `must be an IANA time zone such as Europe/Berlin or America/New_York; "${name.slice(0, 60)}" is not one` });
      return z.NEVER;
    }
    return zone;
  });

const THRESHOLD_MESSAGE = "must be a share from 0 to 0.99: 0.3 holds a run for review when more than 30% of contacts would be unsubscribed or deleted";
export const holdThresholdSchema = z.number({ error: THRESHOLD_MESSAGE }).min(0, THRESHOLD_MESSAGE).max(0.99, THRESHOLD_MESSAGE);

const bool = (what: string, required = false) =>
  z.boolean({ error: (iss) => (required && iss.input === undefined ? `is required (true or false): ${what}` : "must be true or false") });

/** Every field a schedule has, for the API and the dashboard's forms. */
export const scheduleFields = {
  connectionId: z.string({ error: "is required" }).min(1, "is required"),
  scope: scopeSchema,
  actions: actionsSchema,
  smtpProbe: bool("probe mailboxes over SMTP"),
  dayOfMonth: dayOfMonthSchema,
  hour: hourSchema,
  timeZone: timeZoneSchema,
  autoApply: bool("apply the plan without review unless the destructive share is above holdThreshold", true),
  holdThreshold: holdThresholdSchema,
  confirmDelete: bool("these actions delete contacts from ActiveCampaign"),
  paused: bool("pause the schedule"),
};

export const createScheduleSchema = z.object({
  connectionId: scheduleFields.connectionId,
  scope: scheduleFields.scope,
  actions: scheduleFields.actions,
  smtpProbe: scheduleFields.smtpProbe.optional(),
  dayOfMonth: scheduleFields.dayOfMonth,
  hour: scheduleFields.hour,
  timeZone: scheduleFields.timeZone,
  autoApply: scheduleFields.autoApply,
  holdThreshold: scheduleFields.holdThreshold.optional(),
  confirmDelete: scheduleFields.confirmDelete.optional(),
});
/** As the API takes it: `actions` may leave out what has a default (label, overrides…); the service parses it. */
export type CreateScheduleInput = Omit<z.infer<typeof createScheduleSchema>, "actions"> & { actions: z.input<typeof actionsSchema> };

const patchShape = {
  scope: scheduleFields.scope.optional(),
  // Without its default: in a PATCH an absent field means "unchanged".
  actions: actionsSchema.unwrap().optional(),
  smtpProbe: scheduleFields.smtpProbe.optional(),
  dayOfMonth: scheduleFields.dayOfMonth.optional(),
  hour: scheduleFields.hour.optional(),
  timeZone: scheduleFields.timeZone.optional(),
  autoApply: bool("apply without review").optional(),
  holdThreshold: scheduleFields.holdThreshold.optional(),
  confirmDelete: scheduleFields.confirmDelete.optional(),
  paused: scheduleFields.paused.optional(),
};

/** A PATCH names only what changes; a field a schedule does not have is an error, not ignored. */
export const updateScheduleSchema = z.looseObject(patchShape).superRefine((body, ctx) => {
  for (const key of Object.keys(body)) {
    if (key in patchShape) continue;
    ctx.addIssue({
      code: "custom",
      path: [key],
      message: key === "connectionId" ? "cannot change: create a schedule for the other connection instead" : "is not a field a schedule can change",
    });
  }
});
export type UpdateScheduleInput = Omit<z.infer<z.ZodObject<typeof patchShape>>, "actions"> & { actions?: z.input<typeof actionsSchema> | undefined };

// ---------------------------------------------------------------------------------------------
// Calendar (croner does the month ends, "L" and the daylight-saving changes)

function cronOf(t: ScheduleTiming): Cron {
  return new Cron(`0 0 ${t.hour} ${t.dayOfMonth === "last" ? "L" : t.dayOfMonth} * *`, { timezone: t.timeZone, mode: "6-part" });
}

/**
 * Occurrences in (after, until], oldest first, at most `limit` (the latest ones when there are
 * more). An hour that does not exist on a daylight-saving day fires at the first valid time
 * after the gap; an hour that occurs twice fires once, at its first occurrence.
 */
export function occurrencesBetween(t: ScheduleTiming, after: number, until: number, limit = 24): Date[] {
  const cron = cronOf(t);
  // Monthly: `limit` occurrences fit in `limit` months; start no earlier than that.
  let cursor = new Date(Math.max(after, until - (limit + 1) * 31 * DAY_MS));
  const found: Date[] = [];
  for (;;) {
    const next = cron.nextRun(cursor);
    if (!next || next.getTime() > until) break;
    if (next.getTime() > after) found.push(next);
    cursor = next;
  }
  return found.slice(-limit);
}

/** The first occurrence after `after`. */
export function nextOccurrence(t: ScheduleTiming, after: number): Date | null {
  return cronOf(t).nextRun(new Date(after));
}

interface ZonedParts {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

function zonedParts(at: Date, timeZone: string): ZonedParts {
  const parts = new Intl.DateTimeFormat("en-US", {
    timeZone,
    year: "numeric",
    month: "numeric",
    day: "numeric",
    hour: "numeric",
    minute: "numeric",
    second: "numeric",
    hourCycle: "h23",
  }).formatToParts(at);
  const get = (type: Intl.DateTimeFormatPartTypes) => Number(parts.find((p) => p.type === type)?.value ?? 0);
  return { year: get("year"), month: get("month"), day: get("day"), hour: get("hour"), minute: get("minute"), second: get("second") };
}

const pad = (n: number, width = 2) => String(Math.abs(n)).padStart(width, "0");

/** "2026-11": the month an instant falls in, in a time zone. */
export function periodOf(at: Date, timeZone: string): string {
  const p = zonedParts(at, timeZone);
  return `${p.year}-${pad(p.month)}`;
}

/** An instant as the API shows it: ISO in UTC, ISO with the zone's offset, and words. */
export interface ZonedTime {
  /** "2026-12-01T08:00:00.000Z" */
  at: string;
  /** "2026-12-01T09:00:00+01:00", wall-clock time in the schedule's zone. */
  local: string;
  /** "Tue, 1 Dec 2026, 09:00 CET" */
  label: string;
  timeZone: string;
}

export function formatInZone(at: Date, timeZone: string): ZonedTime {
  const p = zonedParts(at, timeZone);
  const wall = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second);
  const offsetMin = Math.round((wall - Math.floor(at.getTime() / 1000) * 1000) / 60_000);
  const offset = `${offsetMin < 0 ? "-" : "+"}${pad(Math.trunc(offsetMin / 60))}:${pad(offsetMin % 60)}`;
  const label = new Intl.DateTimeFormat("en-GB", {
    timeZone,
    weekday: "short",
    day: "numeric",
    month: "short",
    year: "numeric",
    hour: "2-digit",
    minute: "2-digit",
    hourCycle: "h23",
    timeZoneName: "short",
  }).format(at);
  return {
    at: at.toISOString(),
    local: `${p.year}-${pad(p.month)}-${pad(p.day)}T${pad(p.hour)}:${pad(p.minute)}:${pad(p.second)}${offset}`,
    label,
    timeZone,
  };
}

function ordinal(n: number): string {
  const rem = n % 100;
  if (rem >= 11 && rem <= 13) return `${n}th`;
  return `${n}${{ 1: "st", 2: "nd", 3: "rd" }[n % 10] ?? "th"}`;
}

/** "Monthly on the 1st at 09:00 (Europe/Berlin)" */
export function describeTiming(t: ScheduleTiming): string {
  const day = t.dayOfMonth === "last" ? "the last day" : `the ${ordinal(t.dayOfMonth)}`;
  return `Monthly on ${day} at ${pad(t.hour)}:00 (${t.timeZone})`;
}

export function timingOf(row: Pick<ScheduleRow, "dayOfMonth" | "hour" | "timeZone">): ScheduleTiming {
  return { dayOfMonth: row.dayOfMonth === "last" ? "last" : Number(row.dayOfMonth), hour: row.hour, timeZone: row.timeZone };
}

// ---------------------------------------------------------------------------------------------
// Views

export interface OccurrenceView {
  occurrence: ZonedTime;
  state: OccurrenceState;
  /** Why it waits or was skipped, or that it ran late after a restart. */
  reason: string | null;
  run: { id: string; status: RunStatus; statusReason: string | null } | null;
}

export interface ScheduleView {
  id: string;
  connectionId: string;
  connectionName: string;
  scope: RunScope;
  actions: RunActions;
  smtpProbe: boolean;
  dayOfMonth: DayOfMonth;
  hour: number;
  timeZone: string;
  /** "Monthly on the last day at 23:00 (America/New_York)" */
  description: string;
  autoApply: boolean;
  holdThreshold: number;
  deleteConfirmed: boolean;
  paused: boolean;
  /** Null while paused. */
  nextRun: ZonedTime | null;
  /** Why the last scheduled run failed or could not start; null after one completes. */
  lastError: string | null;
  /** What kind of failure `lastError` is: the failed run's status code, or why a run could not start. */
  lastErrorCode: string | null;
  /** Newest first; a waiting occurrence (and why it waits) is the first. */
  recentOccurrences: OccurrenceView[];
  createdAt: string;
  updatedAt: string;
}

function recentOccurrences(db: Db, scheduleId: string, timeZone: string): OccurrenceView[] {
  const rows = db
    .select({ occ: schema.scheduleOccurrences, run: { id: schema.runs.id, status: schema.runs.status, statusReason: schema.runs.statusReason } })
    .from(schema.scheduleOccurrences)
    .leftJoin(schema.runs, eq(schema.runs.id, schema.scheduleOccurrences.runId))
    .where(eq(schema.scheduleOccurrences.scheduleId, scheduleId))
    .orderBy(desc(schema.scheduleOccurrences.occurrenceAt))
    .limit(RECENT_OCCURRENCES)
    .all();
  return rows.map(({ occ, run }) => ({
    occurrence: formatInZone(occ.occurrenceAt, timeZone),
    state: occ.state,
    reason: occ.reason,
    run: run ? { id: run.id, status: run.status, statusReason: run.statusReason } : null,
  }));
}

/**
 * The next time this schedule fires: after now and after its activeFrom, in a month that has
 * no occurrence yet (one occurrence per month, even when the day or hour were changed after
 * this month's run).
 */
export function nextRunOf(db: Db, row: ScheduleRow, now: number): Date | null {
  if (row.paused) return null;
  const timing = timingOf(row);
  const taken = new Set(
    db
      .select({ period: schema.scheduleOccurrences.period })
      .from(schema.scheduleOccurrences)
      .where(eq(schema.scheduleOccurrences.scheduleId, row.id))
      .orderBy(desc(schema.scheduleOccurrences.occurrenceAt))
      .limit(3)
      .all()
      .map((r) => r.period),
  );
  let after = Math.max(now, row.activeFrom.getTime());
  for (let i = 0; i < 4; i++) {
    const next = nextOccurrence(timing, after);
    if (!next || !taken.has(periodOf(next, row.timeZone))) return next;
    after = next.getTime();
  }
  return null;
}

export function scheduleView(deps: Pick<Deps, "db" | "clock">, row: ScheduleRow): ScheduleView {
  const connection = deps.db.select({ name: schema.connections.name }).from(schema.connections).where(eq(schema.connections.id, row.connectionId)).get();
  const timing = timingOf(row);
  const next = nextRunOf(deps.db, row, deps.clock.now());
  return {
    id: row.id,
    connectionId: row.connectionId,
    connectionName: connection?.name ?? "",
    scope: JSON.parse(row.scope) as RunScope,
    actions: JSON.parse(row.actions) as RunActions,
    smtpProbe: row.smtpProbe,
    dayOfMonth: timing.dayOfMonth,
    hour: row.hour,
    timeZone: row.timeZone,
    description: describeTiming(timing),
    autoApply: row.autoApply,
    holdThreshold: row.holdThreshold,
    deleteConfirmed: row.deleteConfirmed,
    paused: row.paused,
    nextRun: next ? formatInZone(next, row.timeZone) : null,
    lastError: row.lastError,
    lastErrorCode: row.lastErrorCode,
    recentOccurrences: recentOccurrences(deps.db, row.id, row.timeZone),
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}

// ---------------------------------------------------------------------------------------------
// Service functions

function checkOptions(deps: Deps, input: { smtpProbe: boolean; actions: RunActions; confirmDelete: boolean | undefined; confirmRequired: boolean }) {
  if (input.smtpProbe && !deps.config.SMTP_PROBE) {
    throw new AppError("invalid_input", "SMTP probing is turned off on this server (SMTP_PROBE=off)", "smtpProbe");
  }
  if (input.confirmRequired && usesDelete(input.actions) && input.confirmDelete !== true) {
    throw new AppError(
      "invalid_input",
      'This schedule\'s actions delete contacts from ActiveCampaign; send {"confirmDelete": true} to save it',
      "confirmDelete",
    );
  }
}

export function getScheduleRow(db: Db, { workspaceId, id }: { workspaceId: string; id: string }): ScheduleRow {
  const row = db
    .select()
    .from(schema.schedules)
    .where(and(eq(schema.schedules.id, id), eq(schema.schedules.workspaceId, workspaceId)))
    .get();
  if (!row) throw notFound("Schedule");
  return row;
}

/** Saves a monthly schedule; actions that delete contacts need `confirmDelete: true`. */
export function createSchedule(deps: Deps, { ctx, input }: { ctx: Pick<Principal, "workspaceId">; input: CreateScheduleInput }): ScheduleView {
  const connection = getConnectionRow(deps, { workspaceId: ctx.workspaceId, id: input.connectionId });
  const actions = actionsSchema.parse(input.actions);
  const smtpProbe = input.smtpProbe ?? false;
  checkOptions(deps, { smtpProbe, actions, confirmDelete: input.confirmDelete, confirmRequired: true });
  const now = new Date(deps.clock.now());
  const row: ScheduleRow = {
    id: newId("sch", now.getTime()),
    workspaceId: ctx.workspaceId,
    connectionId: connection.id,
    scope: JSON.stringify(scopeSchema.parse(input.scope)),
    actions: JSON.stringify(actions),
    smtpProbe,
    dayOfMonth: String(input.dayOfMonth),
    hour: input.hour,
    timeZone: input.timeZone,
    autoApply: input.autoApply,
    holdThreshold: input.holdThreshold ?? 0.3,
    deleteConfirmed: usesDelete(actions),
    paused: false,
    lastError: null,
    lastErrorCode: null,
    activeFrom: now,
    createdAt: now,
    updatedAt: now,
  };
  deps.db.insert(schema.schedules).values(row).run();
  deps.logger.info({ scheduleId: row.id, workspaceId: ctx.workspaceId, connectionId: connection.id }, "schedule created");
  return scheduleView(deps, row);
}

export function listSchedules(deps: Deps, { ctx, connectionId }: { ctx: Pick<Principal, "workspaceId">; connectionId?: string }): ScheduleView[] {
  const where = connectionId
    ? and(eq(schema.schedules.workspaceId, ctx.workspaceId), eq(schema.schedules.connectionId, connectionId))
    : eq(schema.schedules.workspaceId, ctx.workspaceId);
  return deps.db
    .select()
    .from(schema.schedules)
    .where(where)
    .orderBy(desc(schema.schedules.createdAt), desc(schema.schedules.id))
    .all()
    .map((row) => scheduleView(deps, row));
}

export function getSchedule(deps: Deps, { ctx, id }: { ctx: Pick<Principal, "workspaceId">; id: string }): ScheduleView {
  return scheduleView(deps, getScheduleRow(deps.db, { workspaceId: ctx.workspaceId, id }));
}

/**
 * Pauses, resumes or changes a schedule. New actions that delete need `confirmDelete: true`.
 * Resuming, or changing the day, hour or time zone, starts counting occurrences from now: an
 * edit never makes an earlier occurrence look missed.
 */
export function updateSchedule(
  deps: Deps,
  { ctx, id, input }: { ctx: Pick<Principal, "workspaceId">; id: string; input: UpdateScheduleInput },
): ScheduleView {
  const row = transaction(deps.db, (tx) => {
    const current = getScheduleRow(tx, { workspaceId: ctx.workspaceId, id });
    const actions = input.actions ? actionsSchema.parse(input.actions) : (JSON.parse(current.actions) as RunActions);
    const smtpProbe = input.smtpProbe ?? current.smtpProbe;
    // Confirmed deletes stay confirmed; new actions, or letting deletes apply without review, need a new "yes".
    checkOptions(deps, {
      smtpProbe: input.smtpProbe === true,
      actions,
      confirmDelete: input.confirmDelete,
      confirmRequired: input.actions !== undefined || (input.autoApply === true && !current.autoApply),
    });
    const now = new Date(deps.clock.now());
    const timing = {
      dayOfMonth: input.dayOfMonth === undefined ? current.dayOfMonth : String(input.dayOfMonth),
      hour: input.hour ?? current.hour,
      timeZone: input.timeZone ?? current.timeZone,
    };
    const retimed = timing.dayOfMonth !== current.dayOfMonth || timing.hour !== current.hour || timing.timeZone !== current.timeZone;
    const resumed = current.paused && input.paused === false;
    const next: ScheduleRow = {
      ...current,
      ...timing,
      scope: input.scope ? JSON.stringify(scopeSchema.parse(input.scope)) : current.scope,
      actions: JSON.stringify(actions),
      smtpProbe,
      autoApply: input.autoApply ?? current.autoApply,
      holdThreshold: input.holdThreshold ?? current.holdThreshold,
      deleteConfirmed: usesDelete(actions),
      paused: input.paused ?? current.paused,
      activeFrom: retimed || resumed ? now : current.activeFrom,
      updatedAt: now,
    };
    tx.update(schema.schedules).set(next).where(eq(schema.schedules.id, id)).run();
    return next;
  });
  deps.logger.info({ scheduleId: id, workspaceId: ctx.workspaceId, paused: row.paused }, "schedule updated");
  return scheduleView(deps, row);
}

/** Deletes the schedule and its occurrence history; runs it started stay. */
export function deleteSchedule(deps: Deps, { ctx, id }: { ctx: Pick<Principal, "workspaceId">; id: string }): void {
  const result = deps.db
    .delete(schema.schedules)
    .where(and(eq(schema.schedules.id, id), eq(schema.schedules.workspaceId, ctx.workspaceId)))
    .run();
  if (result.changes === 0) throw notFound("Schedule");
  deps.logger.info({ scheduleId: id, workspaceId: ctx.workspaceId }, "schedule deleted");
}

/** The schedules of some connections, for the connection page. */
export function schedulesByConnection(deps: Deps, { ctx, connectionIds }: { ctx: Pick<Principal, "workspaceId">; connectionIds: string[] }) {
  const rows = deps.db
    .select()
    .from(schema.schedules)
    .where(and(eq(schema.schedules.workspaceId, ctx.workspaceId), inArray(schema.schedules.connectionId, connectionIds)))
    .orderBy(desc(schema.schedules.createdAt))
    .all();
  const out = new Map<string, ScheduleView[]>();
  for (const row of rows) out.set(row.connectionId, [...(out.get(row.connectionId) ?? []), scheduleView(deps, row)]);
  return out;
}
