import type { Context, Hono } from "hono";
import type { Deps } from "../../core/deps.ts";
import type { AppEnv } from "../../server/env.ts";
import { AcError } from "../../core/ac/index.ts";
import { principal } from "../../server/middleware/auth.ts";
import { acErrorToAppError, getConnection } from "../../core/services/connections.ts";
import { balanceOf } from "../../core/services/credits.ts";
import { getMonitor, reregisterWebhook, saveMonitor, type MonitorView } from "../../core/services/monitors.ts";
import { errorsFromAppError, monitorForm, parseForm, type FieldErrors } from "../forms.ts";
import { loadAc } from "../loaders.ts";
import { MonitoringPage, type MonitorValues } from "../pages/monitoring.tsx";
import { csrfToken, formBody, render, requirePage, rethrowNotFound, statusOf, str } from "../render.tsx";
import { runOptionValues, runOptionValuesOf } from "../run-options.tsx";

function valuesOf(m: MonitorView): MonitorValues {
  const scope = m.scope.kind === "all" ? ({ kind: "all" } as const) : ({ kind: "lists", listIds: m.scope.listIds } as const);
  return { ...runOptionValuesOf(scope, m.actions, m.smtpProbe), enabled: m.enabled, digest: m.digest, confirmDelete: m.deleteConfirmed };
}

function postedValues(raw: Record<string, string | string[]>): MonitorValues {
  return { ...runOptionValues(raw), enabled: str(raw.enabled) === "on", digest: str(raw.digest) === "on", confirmDelete: str(raw.confirmDelete) === "on" };
}

function formErrors(err: unknown): FieldErrors {
  const errors = errorsFromAppError(err instanceof AcError ? acErrorToAppError(err) : err);
  if (errors.confirmDelete) errors.confirmDelete = "Tick the box to confirm that monitoring may delete new contacts, or choose Unsubscribe or Keep instead.";
  return errors;
}

/** A connection's monitoring (issue 18): its panel (webhook health, counts, recent contacts) and its settings. */
export function monitoringPages(web: Hono<AppEnv>, deps: Deps): void {
  async function page(c: Context<AppEnv>, o: { values?: MonitorValues; errors?: FieldErrors } = {}, status = 200) {
    const ctx = principal(c);
    const id = c.req.param("id") ?? "";
    const ac = await loadAc(deps, ctx, id);
    const connection = getConnection(deps, { ctx, id });
    const monitor = getMonitor(deps, { ctx, connectionId: id, recent: 25 });
    return render(
      c,
      { title: `Check new contacts: ${connection.name}` },
      <MonitoringPage
        connection={connection}
        monitor={monitor}
        ac={ac}
        values={o.values ?? valuesOf(monitor)}
        errors={o.errors ?? {}}
        smtpAllowed={deps.config.SMTP_PROBE}
        balance={balanceOf(deps.db, ctx.workspaceId)}
        csrfToken={csrfToken(c)}
      />,
      status,
    );
  }

  web.get("/connections/:id/monitoring", requirePage, (c) => page(c));

  web.post("/connections/:id/monitoring", requirePage, async (c) => {
    const raw = await formBody(c, ["listIds"]);
    const values = postedValues(raw);
    const parsed = parseForm(monitorForm, raw);
    if (!parsed.ok) return page(c, { values, errors: parsed.errors }, 400);
    try {
      const m = await saveMonitor(deps, { ctx: principal(c), connectionId: c.req.param("id"), input: parsed.data });
      const notice = m.enabled ? "monitor-on" : parsed.data.enabled ? "monitor-saved" : "monitor-off";
      return c.redirect(`/connections/${c.req.param("id")}/monitoring?notice=${notice}`, 303);
    } catch (err) {
      rethrowNotFound(err);
      return page(c, { values, errors: formErrors(err) }, statusOf(err instanceof AcError ? acErrorToAppError(err) : err));
    }
  });

  web.post("/connections/:id/monitoring/webhook", requirePage, async (c) => {
    try {
      await reregisterWebhook(deps, { ctx: principal(c), connectionId: c.req.param("id") });
    } catch (err) {
      rethrowNotFound(err);
      return page(c, { errors: formErrors(err) }, statusOf(err instanceof AcError ? acErrorToAppError(err) : err));
    }
    return c.redirect(`/connections/${c.req.param("id")}/monitoring?notice=webhook-registered`, 303);
  });
}
