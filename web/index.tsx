import { Hono, type Context, type MiddlewareHandler } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { Child } from "hono/jsx";
import type { Deps, Principal } from "../server/deps.ts";
import type { AppEnv } from "../server/env.ts";
import { AppError, notFound } from "../server/errors.ts";
import { clearSessionCookie, clientIp, csrfProtection, csrfTokenFor, identify, principal, setSessionCookie } from "../server/middleware/auth.ts";
import { login, logout, signup } from "../server/services/accounts.ts";
import { createConnection, deleteConnection, getConnection, listConnectionLists, listConnectionTags, listConnections } from "../server/services/connections.ts";
import { balanceOf, getCredits } from "../server/services/credits.ts";
import { ACTIVE_STATUSES, approveRun, cancelRun, createRun, getRun, listRuns, type RunView } from "../server/services/runs.ts";
import { actionsSchema, scopeSchema, type RunScope } from "../worker/runs/options.ts";
import { VERIFICATION_STATUSES } from "../worker/verify/taxonomy.ts";
import { assets, isAssetName } from "./assets.ts";
import { Layout, type LayoutProps } from "./components.tsx";
import { cleanForm, connectionForm, errorsFromAppError, formValues, loginForm, parseForm, safeNext, signupForm, type FieldErrors } from "./forms.ts";
import { LoginPage, SignupPage } from "./pages/auth.tsx";
import { ConnectPage } from "./pages/connect.tsx";
import { ConnectionPage, DEFAULT_CLEAN_VALUES, DeleteConnectionPage, type AcData, type CleanValues } from "./pages/connection.tsx";
import { CreditsPage } from "./pages/credits.tsx";
import { ErrorPage } from "./pages/error.tsx";
import { HomePage } from "./pages/home.tsx";
import { LIVE_STATUSES, RunPage } from "./pages/run.tsx";
import { RunsPage } from "./pages/runs.tsx";

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

/** Short confirmations after a redirect, chosen by key so no text comes from the URL. */
const NOTICES: Record<string, string> = {
  "signed-out": "You are signed out.",
  welcome: "Your account is ready. Start by connecting ActiveCampaign.",
  connected: "Connected. Choose what to check below.",
  "connection-deleted": "Connection deleted. Its past runs stay in your history.",
  approved: "Approved. The changes are being applied in ActiveCampaign.",
};

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

/** A page for signed-in users: anyone else is sent to sign in, and back here afterwards. */
const requirePage: MiddlewareHandler<AppEnv> = async (c, next) => {
  if (c.var.principal) return next();
  return redirectToLogin(c);
};

function redirectToLogin(c: Context<AppEnv>) {
  const url = new URL(c.req.url);
  const next = c.req.method === "GET" && url.pathname !== "/" ? `?next=${encodeURIComponent(url.pathname + url.search)}` : "";
  return c.redirect(`/login${next}`, 303);
}

function csrfToken(c: Context<AppEnv>): string {
  const p = c.var.principal;
  return p?.sessionHash ? csrfTokenFor(c.var.deps, p.sessionHash) : "";
}

type PageOptions = Omit<LayoutProps, "principal" | "csrfToken" | "notice">;

function render(c: Context<AppEnv>, options: PageOptions, body: Child, status = 200) {
  const notice = NOTICES[c.req.query("notice") ?? ""];
  return c.html(
    <Layout {...options} principal={c.var.principal} csrfToken={csrfToken(c)} notice={notice}>
      {body}
    </Layout>,
    status as ContentfulStatusCode,
  );
}

async function formBody(c: Context<AppEnv>, arrays: string[] = []) {
  return formValues(await c.req.parseBody({ all: true }), arrays);
}

const str = (v: string | string[] | undefined) => (typeof v === "string" ? v : "");

/** Lists and tags from AC; a refused key or an unreachable AC becomes a message on the page. */
async function loadAc(deps: Deps, ctx: Principal, id: string): Promise<AcData> {
  try {
    const [lists, tags] = await Promise.all([listConnectionLists(deps, { ctx, id }), listConnectionTags(deps, { ctx, id })]);
    return { ok: true, lists, tags };
  } catch (err) {
    if (err instanceof AppError && err.code !== "not_found") return { ok: false, code: err.code, message: err.message };
    throw err;
  }
}

/** List names for a run page, when AC answers quickly; the page shows list ids otherwise. */
async function listNamesFor(deps: Deps, ctx: Principal, run: RunView): Promise<Map<string, string> | null> {
  const wanted = run.scope.kind === "lists" || (run.plan?.sample.some((s) => s.lists.length > 0) ?? false);
  // While a run talks to AC, its requests have the account's rate limit to themselves.
  if (!wanted || !run.connectionId || LIVE_STATUSES.includes(run.status)) return null;
  const lists = listConnectionLists(deps, { ctx, id: run.connectionId }).catch(() => null);
  const timeout = new Promise<null>((resolve) => setTimeout(() => resolve(null), 3_000).unref());
  const result = await Promise.race([lists, timeout]);
  return result ? new Map(result.map((l) => [l.id, l.name])) : null;
}

function cleanValues(v: Record<string, string | string[]>): CleanValues {
  const values: CleanValues = { ...DEFAULT_CLEAN_VALUES };
  const scope = str(v.scope);
  if (scope === "lists" || scope === "tag" || scope === "all") values.scope = scope;
  values.listIds = Array.isArray(v.listIds) ? v.listIds : [];
  values.tagId = str(v.tagId);
  values.smtpProbe = str(v.smtpProbe) === "on";
  for (const s of VERIFICATION_STATUSES) {
    const a = str(v[s]);
    if (a === "keep" || a === "unsubscribe" || a === "delete") values[s] = a;
  }
  return values;
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

  web.use("*", onPages(identify), onPages(csrfProtection), onPages(pageHeaders));

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
      const signedIn = await signup(deps, parsed.data);
      setSessionCookie(c, signedIn.sessionToken, signedIn.expiresAt);
      return c.redirect("/?notice=welcome", 303);
    } catch (err) {
      return again(errorsFromAppError(err), err instanceof AppError ? err.status : 400);
    }
  });

  web.get("/login", (c) => {
    if (c.var.principal) return c.redirect(safeNext(c.req.query("next")), 303);
    return render(c, { title: "Sign in" }, <LoginPage values={{}} errors={{}} next={safeNext(c.req.query("next"))} />);
  });

  web.post("/login", async (c) => {
    const values = await formBody(c);
    const next = safeNext(c.req.query("next"));
    const again = (errors: FieldErrors, status: number) =>
      render(c, { title: "Sign in" }, <LoginPage values={{ email: str(values.email) }} errors={errors} next={next} />, status);
    const parsed = parseForm(loginForm, values);
    if (!parsed.ok) return again(parsed.errors, 400);
    try {
      const signedIn = await login(deps, { ...parsed.data, ip: clientIp(c) });
      setSessionCookie(c, signedIn.sessionToken, signedIn.expiresAt);
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
    return render(c, { title: "Home", nav: "home" }, <HomePage connections={connections} balance={balanceOf(deps.db, ctx.workspaceId)} runs={runs} />);
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

  async function connectionPage(c: Context<AppEnv>, values: CleanValues, errors: FieldErrors, status = 200) {
    const ctx = principal(c);
    const id = c.req.param("id") ?? "";
    const connection = getConnection(deps, { ctx, id });
    const runs = listRuns(deps, { ctx, connectionId: id, limit: 20 });
    return render(
      c,
      { title: connection.name },
      <ConnectionPage
        connection={connection}
        ac={await loadAc(deps, ctx, id)}
        balance={balanceOf(deps.db, ctx.workspaceId)}
        values={values}
        errors={errors}
        smtpAllowed={deps.config.SMTP_PROBE}
        activeRun={runs.find((r) => ACTIVE_STATUSES.includes(r.status))}
        lastRun={runs.find((r) => r.status === "completed")}
        csrfToken={csrfToken(c)}
      />,
      status,
    );
  }

  web.get("/connections/:id", requirePage, (c) => connectionPage(c, DEFAULT_CLEAN_VALUES, {}));

  web.post("/connections/:id/runs", requirePage, async (c) => {
    const raw = await formBody(c, ["listIds"]);
    const values = cleanValues(raw);
    const parsed = parseForm(cleanForm, raw);
    if (!parsed.ok) return connectionPage(c, values, parsed.errors, 400);
    const d = parsed.data;
    const scope = scopeSchema.safeParse(d.scope === "lists" ? { kind: "lists", listIds: d.listIds } : d.scope === "tag" ? { kind: "tag", tagId: d.tagId } : { kind: "all" });
    if (!scope.success) return connectionPage(c, values, { [d.scope === "tag" ? "tagId" : "listIds"]: "Choose from the ones shown" }, 400);
    const actions = actionsSchema.parse({ deliverable: d.deliverable, risky: d.risky, undeliverable: d.undeliverable, unknown: d.unknown, overrides: [] });
    try {
      const run = createRun(deps, {
        ctx: principal(c),
        input: { connectionId: c.req.param("id"), scope: scope.data as RunScope, actions, smtpProbe: d.smtpProbe === "on" },
      });
      return c.redirect(`/runs/${run.id}`, 303);
    } catch (err) {
      const errors = errorsFromAppError(err);
      if (err instanceof AppError && err.code === "not_found") throw err;
      return connectionPage(c, values, errors, err instanceof AppError ? err.status : 400);
    }
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
    const activeRuns = listRuns(deps, { ctx, connectionId: connection.id }).filter((r) => ACTIVE_STATUSES.includes(r.status));
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
    const live = LIVE_STATUSES.includes(run.status);
    return render(
      c,
      { title: `Run on ${run.connectionName}`, scripts: ["run.js"], ...(live ? { refreshWithoutScript: 5 } : {}) },
      <RunPage run={run} listNames={await listNamesFor(deps, ctx, run)} errors={errors} csrfToken={csrfToken(c)} />,
      status,
    );
  }

  web.get("/runs/:id", requirePage, (c) => runPage(c, {}));

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

  // Anything else outside the API is a page that does not exist.
  web.all("*", (c) => {
    if (c.req.path.startsWith("/api/")) return c.notFound();
    throw notFound("Page");
  });

  return web;
}
