import { index, integer, real, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";
import { createdAt, idColumn, timestamp } from "./columns.ts";
import { connections } from "./connections.ts";
import { runs } from "./runs.ts";
import { workspaces } from "./workspaces.ts";

/**
 * A monthly hygiene run of one connection: on `dayOfMonth` ("1"-"28" or "last") at `hour`
 * o'clock in `timeZone`. Deleting the connection deletes its schedules.
 */
export const schedules = sqliteTable(
  "schedules",
  {
    id: idColumn(),
    workspaceId: text("workspace_id")
      .notNull()
      .references(() => workspaces.id, { onDelete: "cascade" }),
    connectionId: text("connection_id")
      .notNull()
      .references(() => connections.id, { onDelete: "cascade" }),
    /** JSON, as runs.scope. */
    scope: text("scope").notNull(),
    /** JSON, as runs.actions. */
    actions: text("actions").notNull(),
    smtpProbe: integer("smtp_probe", { mode: "boolean" }).notNull().default(false),
    /** "1" to "28", or "last": days 29-31 do not exist in every month. */
    dayOfMonth: text("day_of_month").notNull(),
    hour: integer("hour").notNull(),
    /** IANA name, e.g. Europe/Berlin. */
    timeZone: text("time_zone").notNull(),
    autoApply: integer("auto_apply", { mode: "boolean" }).notNull().default(false),
    holdThreshold: real("hold_threshold").notNull().default(0.3),
    /** The user confirmed, when saving, that this schedule's runs may delete contacts. */
    deleteConfirmed: integer("delete_confirmed", { mode: "boolean" }).notNull().default(false),
    paused: integer("paused", { mode: "boolean" }).notNull().default(false),
    /** Why the last scheduled run failed (or could not start); cleared when one completes. */
    lastError: text("last_error"),
    /** What kind of failure `lastError` describes: the failed run's `statusCode`, or the AppError code that kept a run from starting. */
    lastErrorCode: text("last_error_code"),
    /**
     * Occurrences at or before this instant never run: set at creation, on resume and when the
     * day, hour or time zone change, so an edit never reaches back to "missed" occurrences.
     */
    activeFrom: timestamp("active_from").notNull(),
    createdAt: createdAt(),
    updatedAt: timestamp("updated_at").notNull(),
  },
  (t) => [index("schedules_workspace_idx").on(t.workspaceId), index("schedules_connection_idx").on(t.connectionId)],
);

export const OCCURRENCE_STATES = ["started", "waiting", "skipped"] as const;
export type OccurrenceState = (typeof OCCURRENCE_STATES)[number];

/**
 * The fate of one occurrence of a schedule. The unique keys make "one run per occurrence"
 * (and at most one occurrence per schedule and month) hold across processes: a scheduler
 * inserts the row, or ignores the conflict, in the transaction that creates the run.
 */
export const scheduleOccurrences = sqliteTable(
  "schedule_occurrences",
  {
    id: idColumn(),
    scheduleId: text("schedule_id")
      .notNull()
      .references(() => schedules.id, { onDelete: "cascade" }),
    workspaceId: text("workspace_id")
      .notNull()
      .references(() => workspaces.id, { onDelete: "cascade" }),
    occurrenceAt: timestamp("occurrence_at").notNull(),
    /** "2026-11", the month of the occurrence in the schedule's time zone. */
    period: text("period").notNull(),
    state: text("state", { enum: OCCURRENCE_STATES }).notNull(),
    /** Why it waits or was skipped, or that it ran late, in words for the user. */
    reason: text("reason"),
    runId: text("run_id").references(() => runs.id, { onDelete: "set null" }),
    /** When the end of its run was reflected in the schedule's lastError. */
    settledAt: timestamp("settled_at"),
    createdAt: createdAt(),
    updatedAt: timestamp("updated_at").notNull(),
  },
  (t) => [
    uniqueIndex("schedule_occurrences_at_unique").on(t.scheduleId, t.occurrenceAt),
    uniqueIndex("schedule_occurrences_period_unique").on(t.scheduleId, t.period),
    index("schedule_occurrences_state_idx").on(t.state),
  ],
);
