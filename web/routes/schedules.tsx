import type { Context, Hono } from "hono";
import type { Deps } from "../../core/deps.ts";
import type { AppEnv } from "../../server/env.ts";
import { notFound } from "../../core/errors.ts";
import { principal } from "../../server/middleware/auth.ts";
import { getConnection } from "../../core/services/connections.ts";
import { createSchedule, deleteSchedule, getSchedule, updateSchedule, type ScheduleView } from "../../core/services/schedules.ts";
import { errorsFromAppError, parseForm, scheduleForm, type FieldErrors } from "../forms.ts";
import { loadAc } from "../loaders.ts";
import { ScheduleFormPage, type ScheduleValues } from "../pages/schedules.tsx";
import { csrfToken, formBody, render, requirePage, rethrowNotFound, statusOf, str } from "../render.tsx";
import { DEFAULT_RUN_OPTIONS, runOptionValues, runOptionValuesOf } from "../run-options.tsx";

/** A new schedule: the 1st at 06:00, UTC until the page script picks the browser's zone. */
const NEW_SCHEDULE: ScheduleValues = {
  ...DEFAULT_RUN_OPTIONS,
  dayOfMonth: "1",
  hour: "6",
  timeZone: "UTC",
  autoApply: false,
  holdThreshold: "30",
  confirmDelete: false,
};

function valuesOf(s: ScheduleView): ScheduleValues {
  return {
    ...runOptionValuesOf(s.scope, s.actions, s.smtpProbe),
    dayOfMonth: String(s.dayOfMonth),
    hour: String(s.hour),
    timeZone: s.timeZone,
    autoApply: s.autoApply,
    holdThreshold: String(Math.round(s.holdThreshold * 100)),
    confirmDelete: s.deleteConfirmed,
  };
}

function postedValues(raw: Record<string, string | string[]>): ScheduleValues {
  return {
    ...runOptionValues(raw),
    dayOfMonth: str(raw.dayOfMonth),
    hour: str(raw.hour),
    timeZone: str(raw.timeZone),
    autoApply: str(raw.autoApply) === "on",
    holdThreshold: str(raw.holdThreshold),
    confirmDelete: str(raw.confirmDelete) === "on",
  };
}

function formErrors(err: unknown): FieldErrors {
  const errors = errorsFromAppError(err);
  if (errors.confirmDelete) errors.confirmDelete = "Tick the box to confirm that this schedule may delete contacts, or choose Unsubscribe or Keep instead.";
  return errors;
}

/** The schedule pages of a connection: a form to create and edit, and pause, resume, delete. */
export function schedulePages(web: Hono<AppEnv>, deps: Deps): void {
  /** The schedule in the URL, if it belongs to the connection in the URL. */
  function scheduleOf(c: Context<AppEnv>): ScheduleView {
    const schedule = getSchedule(deps, { ctx: principal(c), id: c.req.param("sid") ?? "" });
    if (schedule.connectionId !== c.req.param("id")) throw notFound("Schedule");
    return schedule;
  }

  async function formPage(c: Context<AppEnv>, opts: { schedule?: ScheduleView; values: ScheduleValues; errors: FieldErrors; fresh?: boolean }, status = 200) {
    const ctx = principal(c);
    const id = c.req.param("id") ?? "";
    const ac = await loadAc(deps, ctx, id);
    const connection = getConnection(deps, { ctx, id });
    return render(
      c,
      { title: opts.schedule ? `Edit schedule: ${connection.name}` : `New schedule: ${connection.name}` },
      <ScheduleFormPage
        connection={connection}
        schedule={opts.schedule}
        ac={ac}
        values={opts.values}
        errors={opts.errors}
        smtpAllowed={deps.config.SMTP_PROBE}
        fresh={opts.fresh ?? false}
        csrfToken={csrfToken(c)}
      />,
      status,
    );
  }

  /** The posted form as a schedule's fields, or the errors to show next to them. */
  async function readForm(c: Context<AppEnv>) {
    const raw = await formBody(c, ["listIds"]);
    const values = postedValues(raw);
    const parsed = parseForm(scheduleForm, raw);
    return parsed.ok ? { ok: true as const, values, input: parsed.data } : { ok: false as const, values, errors: parsed.errors };
  }

  const backTo = (c: Context<AppEnv>, notice: string, scheduleId?: string) =>
    c.redirect(`/connections/${c.req.param("id")}?notice=${notice}#${scheduleId ? `schedule-${scheduleId}` : "schedules"}`, 303);

  web.get("/connections/:id/schedules/new", requirePage, (c) => formPage(c, { values: NEW_SCHEDULE, errors: {}, fresh: true }));

  web.post("/connections/:id/schedules", requirePage, async (c) => {
    const form = await readForm(c);
    if (!form.ok) return formPage(c, { values: form.values, errors: form.errors }, 400);
    try {
      const schedule = createSchedule(deps, { ctx: principal(c), input: { connectionId: c.req.param("id"), ...form.input } });
      return backTo(c, "schedule-created", schedule.id);
    } catch (err) {
      rethrowNotFound(err);
      return formPage(c, { values: form.values, errors: formErrors(err) }, statusOf(err));
    }
  });

  web.get("/connections/:id/schedules/:sid", requirePage, (c) => {
    const schedule = scheduleOf(c);
    return formPage(c, { schedule, values: valuesOf(schedule), errors: {} });
  });

  web.post("/connections/:id/schedules/:sid", requirePage, async (c) => {
    const schedule = scheduleOf(c);
    const form = await readForm(c);
    if (!form.ok) return formPage(c, { schedule, values: form.values, errors: form.errors }, 400);
    try {
      updateSchedule(deps, { ctx: principal(c), id: schedule.id, input: form.input });
      return backTo(c, "schedule-saved", schedule.id);
    } catch (err) {
      rethrowNotFound(err);
      return formPage(c, { schedule, values: form.values, errors: formErrors(err) }, statusOf(err));
    }
  });

  web.post("/connections/:id/schedules/:sid/pause", requirePage, (c) => {
    const schedule = scheduleOf(c);
    updateSchedule(deps, { ctx: principal(c), id: schedule.id, input: { paused: true } });
    return backTo(c, "schedule-paused", schedule.id);
  });

  web.post("/connections/:id/schedules/:sid/resume", requirePage, (c) => {
    const schedule = scheduleOf(c);
    updateSchedule(deps, { ctx: principal(c), id: schedule.id, input: { paused: false } });
    return backTo(c, "schedule-resumed", schedule.id);
  });

  web.post("/connections/:id/schedules/:sid/delete", requirePage, (c) => {
    const schedule = scheduleOf(c);
    deleteSchedule(deps, { ctx: principal(c), id: schedule.id });
    return backTo(c, "schedule-deleted");
  });
}
