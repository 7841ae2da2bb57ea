import { z } from "@hono/zod-openapi";
import { OCCURRENCE_STATES } from "../../db/schema/index.ts";
import { createScheduleSchema, updateScheduleSchema, type ScheduleView } from "../../core/services/schedules.ts";
import { CHANGE, errors, idParams, json, jsonRequest, NO_CONTENT, READ, route, SIGNED_IN, SIGNED_IN_CHANGE } from "../openapi.ts";
import { ActionsView, expectSameShape, RunStatus, ScopeView, Timestamp, type SameShape } from "../schemas.ts";

const tags = ["schedules"];
const params = idParams("schedule");

const ZonedTime = z
  .object({
    at: Timestamp,
    local: z.string().openapi({ description: "Wall-clock time in the schedule's zone, with its offset", example: "2026-12-01T09:00:00+01:00" }),
    label: z.string().openapi({ example: "Tue, 1 Dec 2026, 09:00 CET" }),
    timeZone: z.string(),
  })
  .openapi("ZonedTime");

export const Schedule = z
  .object({
    id: z.string(),
    connectionId: z.string(),
    connectionName: z.string(),
    scope: ScopeView,
    actions: ActionsView,
    smtpProbe: z.boolean(),
    dayOfMonth: z.union([z.number().int(), z.literal("last")]).openapi({ description: 'A day from 1 to 28, or "last"' }),
    hour: z.number().int(),
    timeZone: z.string().openapi({ example: "Europe/Berlin" }),
    description: z.string().openapi({ example: "Monthly on the 1st at 09:00 (Europe/Berlin)" }),
    autoApply: z.boolean(),
    holdThreshold: z.number(),
    deleteConfirmed: z.boolean(),
    paused: z.boolean(),
    nextRun: ZonedTime.nullable().openapi({ description: "Null while paused" }),
    lastError: z.string().nullable().openapi({ description: "Why the last scheduled run failed or could not start; null after one completes" }),
    lastErrorCode: z.string().nullable(),
    recentOccurrences: z
      .array(
        z.object({
          occurrence: ZonedTime,
          state: z.enum(OCCURRENCE_STATES),
          reason: z.string().nullable().openapi({ description: "Why it waits or was skipped, or that it ran late after a restart" }),
          run: z.object({ id: z.string(), status: RunStatus, statusReason: z.string().nullable() }).nullable(),
        }),
      )
      .openapi({ description: "Newest first; a waiting occurrence (and why it waits) is the first" }),
    createdAt: Timestamp,
    updatedAt: Timestamp,
  })
  .openapi("Schedule");
expectSameShape<SameShape<z.infer<typeof Schedule>, ScheduleView>>();

const ListQuery = z.object({ connectionId: z.string().optional().openapi({ description: "Only this connection's schedules" }) });

export const create = route({
  method: "post",
  path: "/",
  tags,
  summary: "Schedule monthly runs of a connection",
  description:
    "On a day (1-28 or the last) at a whole hour in an IANA time zone. Actions that delete need `confirmDelete: true`. With `autoApply` a run applies without " +
    "review unless more than `holdThreshold` (default 0.3) of its contacts would be unsubscribed or deleted.",
  security: SIGNED_IN_CHANGE,
  // Strict, like PATCH: an unknown field is refused, not silently dropped.
  request: { body: jsonRequest(createScheduleSchema.strict()) },
  responses: { 201: json(Schedule, "Scheduled"), ...errors(...CHANGE, 401, 404, 415) },
});

export const list = route({
  method: "get",
  path: "/",
  tags,
  summary: "List schedules",
  security: SIGNED_IN,
  request: { query: ListQuery },
  responses: { 200: json(z.object({ schedules: z.array(Schedule) }), "Schedules, newest first"), ...errors(...READ, 400, 401) },
});

export const get = route({
  method: "get",
  path: "/{id}",
  tags,
  summary: "Get a schedule",
  security: SIGNED_IN,
  request: { params },
  responses: { 200: json(Schedule, "The schedule, its next run and recent occurrences"), ...errors(...READ, 401, 404) },
});

export const update = route({
  method: "patch",
  path: "/{id}",
  tags,
  summary: "Change, pause or resume a schedule",
  description: "Name only what changes; `{\"paused\": true}` pauses. New actions that delete need `confirmDelete: true`.",
  security: SIGNED_IN_CHANGE,
  request: { params, body: jsonRequest(updateScheduleSchema) },
  responses: { 200: json(Schedule, "The schedule as it is now"), ...errors(...CHANGE, 401, 404, 415) },
});

export const remove = route({
  method: "delete",
  path: "/{id}",
  tags,
  summary: "Delete a schedule",
  description: "Deletes the schedule and its occurrence history; runs it started stay.",
  security: SIGNED_IN_CHANGE,
  request: { params },
  responses: { 204: NO_CONTENT, ...errors(...CHANGE, 401, 404) },
});
