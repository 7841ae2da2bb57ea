import type { Context, Hono } from "hono";
import type { Deps } from "../../core/deps.ts";
import type { AppEnv } from "../../server/env.ts";
import { AppError } from "../../core/errors.ts";
import { principal } from "../../server/middleware/auth.ts";
import { isActive } from "../../core/domain/run-status.ts";
import { forgetMonitorWebhook, getMonitor } from "../../core/services/monitors.ts";
import { createConnection, deleteConnection, getConnection, updateConnection } from "../../core/services/connections.ts";
import { balanceOf } from "../../core/services/credits.ts";
import { listRuns } from "../../core/services/runs.ts";
import { listSchedules } from "../../core/services/schedules.ts";
import { connectionForm, connectionSettingsForm, errorsFromAppError, parseForm, type FieldErrors } from "../forms.ts";
import { isKeyRefused } from "../labels.ts";
import { loadAc } from "../loaders.ts";
import { ConnectPage } from "../pages/connect.tsx";
import { ConnectionPage, DEFAULT_CLEAN_VALUES, DeleteConnectionPage, estimateWords, type CleanValues } from "../pages/connection.tsx";
import { estimateFromSizes, estimateScope, scopeSizes, type RunEstimate } from "../../core/services/estimate.ts";
import type { RunScope } from "../../core/domain/scope-actions.ts";
import { runOptionValues } from "../run-options.tsx";
import { csrfToken, formBody, render, requirePage, rethrowNotFound, statusOf, str } from "../render.tsx";

export interface ConnectionPageState {
  /** The Clean form as sent, and its errors. */
  values?: CleanValues;
  errors?: FieldErrors;
  /** The rename / replace-key form: the name as typed and its errors. */
  settings?: { name: string; errors: FieldErrors };
  /** Starting was asked and the balance falls short of the estimate. */
  shortfall?: RunEstimate;
}

/** How long the page waits for AC's counts of the lists before it shows "counting…" (its script fills them in). */
const SIZES_WAIT_MS = 1_500;

/** The scope a form's values choose, or null when nothing is chosen yet. */
export function scopeOfValues(v: CleanValues): RunScope | null {
  if (v.scope === "all") return { kind: "all" };
  if (v.scope === "tag") return v.tagId ? { kind: "tag", tagId: v.tagId } : null;
  return v.listIds.length > 0 ? { kind: "lists", listIds: v.listIds } : null;
}

/**
 * The connection page (its Clean form, schedules and settings), with a form's values and errors
 * when one is shown again. Also the answer to a Clean form with problems (web/routes/runs.tsx).
 */
export async function connectionPage(c: Context<AppEnv>, deps: Deps, state: ConnectionPageState, status = 200) {
  const ctx = principal(c);
  const id = c.req.param("id") ?? "";
  const ac = await loadAc(deps, ctx, id);
  // Read after AC answered: the check records (or clears) the connection's last error.
  const connection = getConnection(deps, { ctx, id });
  const runs = listRuns(deps, { ctx, connectionId: id, limit: 20 });
  const values = state.values ?? DEFAULT_CLEAN_VALUES;
  const sizes = ac.ok ? await scopeSizes(deps, { ctx, id, lists: ac.lists, tags: ac.tags, waitMs: SIZES_WAIT_MS }).catch(() => null) : null;
  const scope = scopeOfValues(values);
  const estimate = sizes && scope ? estimateFromSizes(deps, ctx, sizes, scope) : null;
  return render(
    c,
    { title: connection.name, scripts: ["connection.js"] },
    <ConnectionPage
      connection={connection}
      ac={ac}
      balance={balanceOf(deps.db, ctx.workspaceId)}
      sizes={sizes}
      estimate={estimate}
      shortfall={state.shortfall ?? null}
      values={values}
      errors={state.errors ?? {}}
      settings={state.settings ?? { name: connection.name, errors: {} }}
      smtpAllowed={deps.config.SMTP_PROBE}
      activeRun={runs.find((r) => isActive(r.status))}
      lastRun={runs.find((r) => r.status === "completed")}
      schedules={listSchedules(deps, { ctx, connectionId: id })}
      monitor={getMonitor(deps, { ctx, connectionId: id, recent: 0 })}
      csrfToken={csrfToken(c)}
    />,
    status,
  );
}

/** Connecting an ActiveCampaign account, its page, renaming it or replacing its key, deleting it. */
export function connectionPages(web: Hono<AppEnv>, deps: Deps): void {
  web.get("/connections/new", requirePage, (c) =>
    render(c, { title: "Connect ActiveCampaign", nav: "connect" }, <ConnectPage values={{}} errors={{}} csrfToken={csrfToken(c)} />),
  );

  web.post("/connections", requirePage, async (c) => {
    const values = await formBody(c);
    // The key is never sent back to the browser: only the name and URL are kept on errors.
    const kept = { name: str(values.name), apiUrl: str(values.apiUrl) };
    const again = (errors: FieldErrors, status: number) =>
      render(c, { title: "Connect ActiveCampaign", nav: "connect" }, <ConnectPage values={kept} errors={errors} csrfToken={csrfToken(c)} />, status);
    const parsed = parseForm(connectionForm, values);
    if (!parsed.ok) return again(parsed.errors, 400);
    try {
      const connection = await createConnection(deps, { ctx: principal(c), input: parsed.data });
      return c.redirect(`/connections/${connection.id}?notice=connected`, 303);
    } catch (err) {
      return again(errorsFromAppError(err), err instanceof AppError ? err.status : 400);
    }
  });

  web.get("/connections/:id", requirePage, (c) => connectionPage(c, deps, {}));

  // The cost box's words for the scope the Clean form has chosen (web/static/connection.js asks as the choice changes).
  // The cost box's words for the scope the Clean form has chosen (web/static/connection.js asks as
  // the choice changes). Only the chosen parts are counted; `sizes=all` also fills in the sizes
  // of every list and tag that were still being counted when the page was shown.
  web.get("/connections/:id/estimate", requirePage, async (c) => {
    const ctx = principal(c);
    const id = c.req.param("id");
    const values = runOptionValues({ scope: c.req.query("scope") ?? "", listIds: c.req.queries("listIds") ?? [], tagId: c.req.query("tagId") ?? "" });
    const scope = scopeOfValues(values);
    const balance = balanceOf(deps.db, ctx.workspaceId);
    let sizes = null;
    if (c.req.query("sizes") === "all") {
      const ac = await loadAc(deps, ctx, id);
      sizes = ac.ok ? await scopeSizes(deps, { ctx, id, lists: ac.lists, tags: ac.tags, waitMs: 20_000 }).catch(() => null) : null;
    }
    const estimate = scope ? await estimateScope(deps, { ctx, id, scope, waitMs: 20_000 }).catch(() => null) : null;
    return c.json({ sizes, words: estimateWords(estimate, balance, scope !== null) });
  });

  /** Rename, or replace a key AC refused: the new key is checked with AC before it is saved. */
  web.post("/connections/:id/settings", requirePage, async (c) => {
    const ctx = principal(c);
    const id = c.req.param("id");
    const current = getConnection(deps, { ctx, id });
    const raw = await formBody(c);
    // The key is never sent back to the browser; the name is kept as typed.
    const again = (errors: FieldErrors, status: number) => connectionPage(c, deps, { settings: { name: str(raw.name), errors } }, status);
    const parsed = parseForm(connectionSettingsForm, raw);
    if (!parsed.ok) return again(parsed.errors, 400);
    const { name, apiKey } = parsed.data;
    if (!apiKey && name === current.name) return again({ apiKey: "Paste the new API key, or change the name" }, 400);
    try {
      await updateConnection(deps, { ctx, id, input: { ...(name !== current.name ? { name } : {}), ...(apiKey ? { apiKey } : {}) } });
    } catch (err) {
      rethrowNotFound(err);
      const errors = errorsFromAppError(err);
      if (err instanceof AppError && err.code === "ac_key_refused") {
        const too = isKeyRefused(current.lastErrorCode) ? " too" : "";
        errors.apiKey = `ActiveCampaign refused this API key${too}. Copy the key shown under Settings → Developer in ActiveCampaign, exactly as it is.`;
      }
      return again(errors, statusOf(err));
    }
    return c.redirect(`/connections/${id}?notice=${apiKey ? "key-replaced" : "connection-saved"}`, 303);
  });

  web.get("/connections/:id/delete", requirePage, (c) => {
    const ctx = principal(c);
    const connection = getConnection(deps, { ctx, id: c.req.param("id") });
    const activeRuns = listRuns(deps, { ctx, connectionId: connection.id }).filter((r) => isActive(r.status));
    return render(c, { title: `Delete ${connection.name}` }, <DeleteConnectionPage connection={connection} activeRuns={activeRuns} csrfToken={csrfToken(c)} />);
  });

  web.post("/connections/:id/delete", requirePage, async (c) => {
    await forgetMonitorWebhook(deps, { ctx: principal(c), connectionId: c.req.param("id") });
    deleteConnection(deps, { ctx: principal(c), id: c.req.param("id") });
    return c.redirect("/?notice=connection-deleted", 303);
  });
}
