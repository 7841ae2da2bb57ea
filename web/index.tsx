import { Hono, type Context, type MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { HTTPException } from "hono/http-exception";
import type { Deps, Principal } from "../core/deps.ts";
import type { AppEnv } from "../server/env.ts";
import { AppError, notFound } from "../core/errors.ts";
import { clearSessionCookie, clientIp, csrfProtection, deviceCookie, identify, principal, setSignInCookies, siteOrigin } from "../server/middleware/auth.ts";
import { login, logout, signup } from "../core/services/accounts.ts";
import { createConnection, deleteConnection, getConnection, listConnectionLists, listConnections, updateConnection } from "../core/services/connections.ts";
import { balanceOf, getCredits } from "../core/services/credits.ts";
import { isActive, isLive } from "../core/domain/run-status.ts";
import { approveRun, cancelRun, createRun, getRun, listRuns, retryRunActions, type RunView } from "../core/services/runs.ts";
import { listSchedules, schedulesByConnection } from "../core/services/schedules.ts";
import { assets, isAssetName } from "./assets.ts";
import { cleanForm, connectionForm, connectionSettingsForm, errorsFromAppError, loginForm, parseForm, safeNext, signupForm, type FieldErrors } from "./forms.ts";
import { isKeyRefused } from "./labels.ts";
import { loadAc } from "./loaders.ts";
import { LoginPage, SignupPage } from "./pages/auth.tsx";
import { ConnectPage } from "./pages/connect.tsx";
import { ConnectionPage, DEFAULT_CLEAN_VALUES, DeleteConnectionPage, type CleanValues } from "./pages/connection.tsx";
import { CreditsPage } from "./pages/credits.tsx";
import { ErrorPage } from "./pages/error.tsx";
import { HomePage } from "./pages/home.tsx";
import { liveView, RunPage } from "./pages/run.tsx";
import { RunsPage } from "./pages/runs.tsx";
import { csrfToken, formBody, redirectToLogin, render, requirePage, rethrowNotFound, statusOf, str } from "./render.tsx";
import { runOptionValues } from "./run-options.tsx";
import { schedulePages } from "./routes/schedules.tsx";
import { tokenPages } from "./routes/tokens.tsx";

/** Scripts and styles from this origin only; no inline code, no framing, forms post here only. */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join("; ");

/** The dashboard's forms are small; README ("Security") states the limit. */
export const FORM_BODY_LIMIT = 256 * 1024;
const formSizeLimit = bodyLimit({
  maxSize: FORM_BODY_LIMIT,
  onError: () => {
    throw new AppError("payload_too_large", "The form is larger than 256 kB; send less at once");
  },
});

/** Page requests only: the JSON API has its own middleware and answers. */
const onPages =
  (mw: MiddlewareHandler<AppEnv>): MiddlewareHandler<AppEnv> =>
  (c, next) =>
    c.req.path.startsWith("/api/") || c.req.path.startsWith("/static/") ? next() : mw(c, next);

const pageHeaders: MiddlewareHandler<AppEnv> = async (c, next) => {
  await next();
  c.header("Content-Security-Policy", CONTENT_SECURITY_POLICY);
  c.header("Cache-Control", "no-store");
};

/** List names for a run page, when AC answers quickly; the page shows list ids otherwise. */
async function listNamesFor(deps: Deps, ctx: Principal, run: RunView): Promise<Map<string, string> | null> {
  const wanted = run.scope.kind === "lists" || (run.plan?.sample.some((s) => s.lists.length > 0) ?? false);
  // While a run talks to AC, its requests have the account's rate limit to themselves.
  if (!wanted || !run.connectionId || isLive(run.status)) return null;
  const lists = listConnectionLists(deps, { ctx, id: run.connectionId }).catch(() => null);
  const timeout = new Promise<null>((resolve) => setTimeout(() => resolve(null), 3_000).unref());
  const result = await Promise.race([lists, timeout]);
  return result ? new Map(result.map((l) => [l.id, l.name])) : null;
}

export function webRoutes(deps: Deps): Hono<AppEnv> {
  const web = new Hono<AppEnv>();

  web.onError((err, c) => {
    if (err instanceof AppError) {
      if (err.code === "unauthenticated") return redirectToLogin(c);
      const titles: Partial<Record<AppError["code"], string>> = {
        not_found: "Not found",
        csrf_failed: "This form has expired",
        forbidden: "Not allowed",
        rate_limited: "Too many attempts",
        invalid_input: "Bad request",
        payload_too_large: "Too large",
      };
      const message =
        err.code === "csrf_failed"
          ? "For your safety this form can no longer be sent (it may be from before you last signed in). Go back, reload the page and try again."
          : err.code === "not_found"
            ? `${err.message}. It may have been deleted, or it belongs to another account.`
            : err.message;
      return render(c, { title: titles[err.code] ?? "Something is not right" }, <ErrorPage title={titles[err.code] ?? "Something is not right"} message={message} signedIn={Boolean(c.var.principal)} />, err.status);
    }
    if (err instanceof HTTPException && err.status < 500) {
      (c.var.log ?? deps.logger).warn({ status: err.status, reason: err.message.slice(0, 200) }, "page request refused");
      return render(c, { title: "Bad request" }, <ErrorPage title="Bad request" message="The browser sent something we could not read. Go back and try again." signedIn={Boolean(c.var.principal)} />, err.status);
    }
    (c.var.log ?? deps.logger).error({ err }, "unhandled error in a page");
    return render(
      c,
      { title: "Something went wrong" },
      <ErrorPage title="Something went wrong" message="Something went wrong on our side; it has been logged. Try again in a moment." requestId={c.var.requestId} signedIn={Boolean(c.var.principal)} />,
      500,
    );
  });

  web.use("*", onPages(formSizeLimit), onPages(identify), onPages(csrfProtection), onPages(pageHeaders));

  web.get("/static/:name", (c) => {
    const name = c.req.param("name");
    if (!isAssetName(name)) return c.notFound();
    const asset = assets[name];
    const cache = c.req.query("v") === asset.hash ? "public, max-age=31536000, immutable" : "no-cache";
    return c.body(asset.body, 200, { "content-type": asset.type, "cache-control": cache });
  });

  // ---- accounts ---------------------------------------------------------------------------

  web.get("/signup", (c) => {
    if (c.var.principal) return c.redirect("/", 303);
    return render(c, { title: "Create account" }, <SignupPage values={{}} errors={{}} signupCredits={deps.config.SIGNUP_CREDITS} />);
  });

  web.post("/signup", async (c) => {
    const values = await formBody(c);
    const parsed = parseForm(signupForm, values);
    const again = (errors: FieldErrors, status: number) =>
      render(c, { title: "Create account" }, <SignupPage values={{ email: str(values.email) }} errors={errors} signupCredits={deps.config.SIGNUP_CREDITS} />, status);
    if (!parsed.ok) return again(parsed.errors, 400);
    try {
      const created = await signup(deps, { ...parsed.data, ip: clientIp(c) });
      setSignInCookies(c, created);
      return c.redirect(created.creditsGranted > 0 || deps.config.SIGNUP_CREDITS === 0 ? "/?notice=welcome" : "/?notice=welcome-no-credits", 303);
    } catch (err) {
      if (err instanceof AppError) for (const [k, v] of Object.entries(err.headers ?? {})) c.header(k, v);
      return again(errorsFromAppError(err), err instanceof AppError ? err.status : 400);
    }
  });

  web.get("/login", (c) => {
    if (c.var.principal) return c.redirect(safeNext(c.req.query("next"), siteOrigin(c)), 303);
    return render(c, { title: "Sign in" }, <LoginPage values={{}} errors={{}} next={safeNext(c.req.query("next"), siteOrigin(c))} />);
  });

  web.post("/login", async (c) => {
    const values = await formBody(c);
    const next = safeNext(c.req.query("next"), siteOrigin(c));
    const again = (errors: FieldErrors, status: number) =>
      render(c, { title: "Sign in" }, <LoginPage values={{ email: str(values.email) }} errors={errors} next={next} />, status);
    const parsed = parseForm(loginForm, values);
    if (!parsed.ok) return again(parsed.errors, 400);
    try {
      const signedIn = await login(deps, { ...parsed.data, ip: clientIp(c), deviceToken: deviceCookie(c) });
      setSignInCookies(c, signedIn);
      return c.redirect(next, 303);
    } catch (err) {
      if (!(err instanceof AppError)) throw err;
      if (err.code === "rate_limited") {
        for (const [k, v] of Object.entries(err.headers ?? {})) c.header(k, v);
        return again({ _form: `${err.message}.` }, 429);
      }
      if (err.code !== "unauthenticated") throw err;
      return again({ password: "The e-mail address or the password is wrong." }, 401);
    }
  });

  web.post("/logout", (c) => {
    const p = c.var.principal;
    if (p?.sessionHash) logout(deps, p.sessionHash);
    clearSessionCookie(c);
    return c.redirect("/login?notice=signed-out", 303);
  });

  // ---- home and credits ---------------------------------------------------------------------

  web.get("/", requirePage, (c) => {
    const ctx = principal(c);
    const connections = listConnections(deps, { ctx });
    const runs = listRuns(deps, { ctx, limit: 10 });
    const schedules = schedulesByConnection(deps, { ctx, connectionIds: connections.map((k) => k.id) });
    return render(c, { title: "Home", nav: "home" }, <HomePage connections={connections} balance={balanceOf(deps.db, ctx.workspaceId)} runs={runs} schedules={schedules} />);
  });

  web.get("/credits", requirePage, (c) => {
    const ctx = principal(c);
    const { balance, entries } = getCredits(deps, { ctx });
    return render(c, { title: "Credits", nav: "credits" }, <CreditsPage balance={balance} entries={entries} email={ctx.email} />);
  });

  // ---- connections --------------------------------------------------------------------------

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

  interface ConnectionPageState {
    values?: CleanValues;
    errors?: FieldErrors;
    settings?: { name: string; errors: FieldErrors };
  }

  async function connectionPage(c: Context<AppEnv>, state: ConnectionPageState, status = 200) {
    const ctx = principal(c);
    const id = c.req.param("id") ?? "";
    const ac = await loadAc(deps, ctx, id);
    // Read after AC answered: the check records (or clears) the connection's last error.
    const connection = getConnection(deps, { ctx, id });
    const runs = listRuns(deps, { ctx, connectionId: id, limit: 20 });
    return render(
      c,
      { title: connection.name },
      <ConnectionPage
        connection={connection}
        ac={ac}
        balance={balanceOf(deps.db, ctx.workspaceId)}
        values={state.values ?? DEFAULT_CLEAN_VALUES}
        errors={state.errors ?? {}}
        settings={state.settings ?? { name: connection.name, errors: {} }}
        smtpAllowed={deps.config.SMTP_PROBE}
        activeRun={runs.find((r) => isActive(r.status))}
        lastRun={runs.find((r) => r.status === "completed")}
        schedules={listSchedules(deps, { ctx, connectionId: id })}
        csrfToken={csrfToken(c)}
      />,
      status,
    );
  }

  web.get("/connections/:id", requirePage, (c) => connectionPage(c, {}));

  web.post("/connections/:id/runs", requirePage, async (c) => {
    const raw = await formBody(c, ["listIds"]);
    const values = runOptionValues(raw);
    const parsed = parseForm(cleanForm, raw);
    if (!parsed.ok) return connectionPage(c, { values, errors: parsed.errors }, 400);
    try {
      const run = createRun(deps, { ctx: principal(c), input: { connectionId: c.req.param("id"), ...parsed.data } });
      return c.redirect(`/runs/${run.id}`, 303);
    } catch (err) {
      rethrowNotFound(err);
      return connectionPage(c, { values, errors: errorsFromAppError(err) }, statusOf(err));
    }
  });

  /** Rename, or replace a key AC refused: the new key is checked with AC before it is saved. */
  web.post("/connections/:id/settings", requirePage, async (c) => {
    const ctx = principal(c);
    const id = c.req.param("id");
    const current = getConnection(deps, { ctx, id });
    const raw = await formBody(c);
    // The key is never sent back to the browser; the name is kept as typed.
    const again = (errors: FieldErrors, status: number) => connectionPage(c, { settings: { name: str(raw.name), errors } }, status);
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

  web.get("/connections/:id/runs", requirePage, (c) => {
    const ctx = principal(c);
    const connection = getConnection(deps, { ctx, id: c.req.param("id") });
    const runs = listRuns(deps, { ctx, connectionId: connection.id, limit: 50 });
    return render(c, { title: `Run history: ${connection.name}` }, <RunsPage connection={connection} runs={runs} />);
  });

  web.get("/connections/:id/delete", requirePage, (c) => {
    const ctx = principal(c);
    const connection = getConnection(deps, { ctx, id: c.req.param("id") });
    const activeRuns = listRuns(deps, { ctx, connectionId: connection.id }).filter((r) => isActive(r.status));
    return render(c, { title: `Delete ${connection.name}` }, <DeleteConnectionPage connection={connection} activeRuns={activeRuns} csrfToken={csrfToken(c)} />);
  });

  web.post("/connections/:id/delete", requirePage, (c) => {
    deleteConnection(deps, { ctx: principal(c), id: c.req.param("id") });
    return c.redirect("/?notice=connection-deleted", 303);
  });

  // ---- runs ---------------------------------------------------------------------------------

  async function runPage(c: Context<AppEnv>, errors: FieldErrors, status = 200) {
    const ctx = principal(c);
    const run = getRun(deps, { ctx, id: c.req.param("id") ?? "" });
    const live = isLive(run.status);
    return render(
      c,
      { title: `Run on ${run.connectionName}`, scripts: ["run.js"], ...(live ? { refreshWithoutScript: 5 } : {}) },
      <RunPage run={run} listNames={await listNamesFor(deps, ctx, run)} errors={errors} csrfToken={csrfToken(c)} />,
      status,
    );
  }

  web.get("/runs/:id", requirePage, (c) => runPage(c, {}));

  // What web/static/run.js updates in place while a run moves.
  web.get("/runs/:id/live", requirePage, (c) => c.json(liveView(getRun(deps, { ctx: principal(c), id: c.req.param("id") }))));

  web.post("/runs/:id/approve", requirePage, async (c) => {
    const body = await formBody(c);
    try {
      approveRun(deps, { ctx: principal(c), id: c.req.param("id"), confirmDelete: str(body.confirmDelete) === "on" });
    } catch (err) {
      if (err instanceof AppError && err.code === "not_found") throw err;
      const errors = errorsFromAppError(err);
      if (errors.confirmDelete) errors.confirmDelete = "Tick the box to confirm the deletes, or cancel the run.";
      return runPage(c, errors, err instanceof AppError ? err.status : 400);
    }
    return c.redirect(`/runs/${c.req.param("id")}?notice=approved`, 303);
  });

  web.post("/runs/:id/cancel", requirePage, (c) => {
    try {
      cancelRun(deps, { ctx: principal(c), id: c.req.param("id") });
    } catch (err) {
      if (err instanceof AppError && err.code === "not_found") throw err;
      return runPage(c, errorsFromAppError(err), err instanceof AppError ? err.status : 400);
    }
    // The run's own status says it was cancelled and that nothing changed.
    return c.redirect(`/runs/${c.req.param("id")}`, 303);
  });

  web.post("/runs/:id/retry", requirePage, (c) => {
    try {
      retryRunActions(deps, { ctx: principal(c), id: c.req.param("id") });
    } catch (err) {
      if (err instanceof AppError && err.code === "not_found") throw err;
      return runPage(c, errorsFromAppError(err), err instanceof AppError ? err.status : 400);
    }
    return c.redirect(`/runs/${c.req.param("id")}`, 303);
  });

  schedulePages(web, deps);
  tokenPages(web, deps);

  // Anything else outside the API is a page that does not exist.
  web.all("*", (c) => {
    if (c.req.path.startsWith("/api/")) return c.notFound();
    throw notFound("Page");
  });

  return web;
}
