import { Hono, type ErrorHandler, type MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { HTTPException } from "hono/http-exception";
import type { Deps } from "../core/deps.ts";
import type { AppEnv } from "../server/env.ts";
import { AppError, notFound } from "../core/errors.ts";
import { csrfProtection, identify } from "../server/middleware/auth.ts";
import { exceptFileUploads } from "../server/middleware/body.ts";
import { assets, isAssetName } from "./assets.ts";
import { ErrorPage } from "./pages/error.tsx";
import { redirectToLogin, render } from "./render.tsx";
import { authPages } from "./routes/auth.tsx";
import { connectionPages } from "./routes/connections.tsx";
import { creditPages } from "./routes/credits.tsx";
import { homePages } from "./routes/home.tsx";
import { runPages } from "./routes/runs.tsx";
import { schedulePages } from "./routes/schedules.tsx";
import { monitoringPages } from "./routes/monitoring.tsx";
import { tokenPages } from "./routes/tokens.tsx";
import { uploadPages } from "./routes/uploads.tsx";
import { settingsPages } from "./routes/settings.tsx";
import { operatorPages } from "./routes/operator.tsx";

/**
 * The dashboard: server-rendered pages for people, beside the JSON API under /api.
 *
 *   web/routes/     one file per resource, with its URLs and handlers: auth (sign-up, sign-in,
 *                   sign-out), home, credits, connections, runs, schedules, tokens
 *   web/pages/      the pages those handlers render
 *   web/components/ what the pages share: the layout, form fields, tables, the run history
 *   web/forms.ts    the forms: the core's rules, the forms' words
 *   web/static/     the stylesheet and the two page scripts (app.js, run.js)
 *
 * This file only composes them: page middleware, the error page, static assets, the catch-all.
 */

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

/** Any error in a page request as a page: sign-in for the signed-out, the error's words otherwise, nothing internal. */
function errorPage(deps: Deps): ErrorHandler<AppEnv> {
  return (err, c) => {
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
  };
}

export function webRoutes(deps: Deps): Hono<AppEnv> {
  const web = new Hono<AppEnv>();

  web.onError(errorPage(deps));

  web.use("*", onPages(exceptFileUploads(formSizeLimit)), onPages(identify), onPages(csrfProtection), onPages(pageHeaders));

  web.get("/static/:name", (c) => {
    const name = c.req.param("name");
    if (!isAssetName(name)) return c.notFound();
    const asset = assets[name];
    const cache = c.req.query("v") === asset.hash ? "public, max-age=31536000, immutable" : "no-cache";
    return c.body(asset.body, 200, { "content-type": asset.type, "cache-control": cache });
  });

  authPages(web, deps);
  homePages(web, deps);
  creditPages(web, deps);
  connectionPages(web, deps);
  runPages(web, deps);
  schedulePages(web, deps);
  monitoringPages(web, deps);
  tokenPages(web, deps);
  uploadPages(web, deps);
  settingsPages(web, deps);
  operatorPages(web, deps);

  // Anything else outside the API is a page that does not exist.
  web.all("*", (c) => {
    if (c.req.path.startsWith("/api/")) return c.notFound();
    throw notFound("Page");
  });

  return web;
}
