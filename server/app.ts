import { type ErrorHandler, type MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { HTTPException } from "hono/http-exception";
import { randomUUID } from "node:crypto";
import type { Deps } from "../core/deps.ts";
import { AppError, ERROR_STATUS, type ErrorCode } from "../core/errors.ts";
import type { AppEnv } from "./env.ts";
import { csrfProtection, identify, requireAuth } from "./middleware/auth.ts";
import { exceptFileUploads } from "./middleware/body.ts";
import { createRouter, openApiDocument } from "./openapi.ts";
import { referenceRoutes } from "./reference.ts";
import { authRoutes } from "./routes/auth.handlers.ts";
import { connectionRoutes } from "./routes/connections.handlers.ts";
import { creditRoutes } from "./routes/credits.handlers.ts";
import { openApiJson } from "./routes/docs.routes.ts";
import { runRoutes } from "./routes/runs.handlers.ts";
import { scheduleRoutes } from "./routes/schedules.handlers.ts";
import { tokenRoutes } from "./routes/tokens.handlers.ts";
import { uploadRoutes } from "./routes/uploads.handlers.ts";
import { billingRoutes } from "./routes/billing.handlers.ts";
import { notificationRoutes } from "./routes/notifications.handlers.ts";
import { hookRoutes } from "./routes/hooks.handlers.ts";
import { monitorRoutes } from "./routes/monitors.handlers.ts";
import { loggablePath } from "../core/services/monitors.ts";

export function errorBody(code: ErrorCode, message: string, requestId: string, field?: string) {
  return { error: { code, message, requestId, ...(field ? { field } : {}) } };
}

/** Gives every request an id and a logger carrying it, and logs one line when it is answered. */
export function requestContext(deps: Deps): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const requestId = c.req.header("x-request-id")?.slice(0, 64) || randomUUID();
    const log = deps.logger.child({ requestId });
    c.set("deps", deps);
    c.set("requestId", requestId);
    c.set("log", log);
    c.set("principal", null);
    const started = performance.now();
    await next();
    c.header("x-request-id", requestId);
    log.info(
      // A webhook's URL holds its secret: the log shows the path without it.
      { method: c.req.method, path: loggablePath(new URL(c.req.url).pathname), status: c.res.status, ms: Math.round(performance.now() - started) },
      "request",
    );
  };
}

/** The JSON error answer: AppError codes map to statuses; anything else is a 500 that says nothing of internals. */
export function jsonErrors(deps: Deps): ErrorHandler<AppEnv> {
  return (err, c) => {
    const requestId = c.var.requestId ?? "unknown";
    if (err instanceof AppError) {
      for (const [k, v] of Object.entries(err.headers ?? {})) c.header(k, v);
      return c.json(errorBody(err.code, err.message, requestId, err.field), err.status as 400);
    }
    if (err instanceof HTTPException && err.status < 500) {
      (c.var.log ?? deps.logger).warn({ status: err.status, reason: err.message.slice(0, 200) }, "request refused");
      const code: ErrorCode =
        err.status === 413 ? "payload_too_large" : err.status === 401 ? "unauthenticated" : err.status === 415 ? "unsupported_media_type" : "invalid_input";
      const message = /json/i.test(err.message) ? "Request body is not valid JSON" : err.message || "Bad request";
      return c.json(errorBody(code, message, requestId), ERROR_STATUS[code]);
    }
    (c.var.log ?? deps.logger).error({ err }, "unhandled error");
    return c.json(errorBody("internal", "Something went wrong on our side; it has been logged", requestId), 500);
  };
}

/**
 * The JSON API, mounted at /api by the boot code. It expects requestContext to run first.
 * Tests build the whole app with their own deps (in-memory db, fake clock). Every route is
 * defined in server/routes/<resource>.routes.ts; the chain below keeps their types, so
 * `ApiType` gives the typed client (hono/client `hc`) each route's input and answers.
 */
export function createApi(deps: Deps) {
  const api = createRouter();
  const signedIn = createRouter()
    .use("*", requireAuth)
    .route("/tokens", tokenRoutes)
    .route("/credits", creditRoutes)
    .route("/connections", connectionRoutes)
    .route("/connections", monitorRoutes)
    .route("/runs", runRoutes)
    .route("/schedules", scheduleRoutes)
    .route("/uploads", uploadRoutes)
    .route("/notifications", notificationRoutes);
  // `routes` is `api` itself, typed with every route it has; the document is built from `api`.
  const routes = api
    // The description of the API and its reference page: public (before identify and
    // requireAuth), and before the no-store below so the page's files can be cached.
    .openapi(openApiJson, (c) => c.json(openApiDocument(api, c), 200, { "Cache-Control": "no-cache" }))
    .route("/reference", referenceRoutes)
    .use(
      "*",
      exceptFileUploads(
        bodyLimit({
          maxSize: 1024 * 1024,
          onError: () => {
            throw new AppError("payload_too_large", "Request body is larger than 1 MB");
          },
        }),
      ),
    )
    // Answers carry session-bound data (the CSRF token, a new API token): never cached.
    .use("*", async (c, next) => {
      await next();
      c.header("Cache-Control", "no-store");
    })
    // The payment provider's webhook: no session and no CSRF token, its signature is its proof.
    .route("/billing", billingRoutes)
    // ActiveCampaign's webhooks (monitoring): the secret in the URL is their proof.
    .route("/hooks", hookRoutes)
    .use("*", identify, csrfProtection)
    .route("/auth", authRoutes)
    .route("/", signedIn);

  routes.onError(jsonErrors(deps));
  return routes;
}

/** The API's routes with their types, for the typed client: `hc<ApiType>(".../api")`. */
export type ApiType = ReturnType<typeof createApi>;
