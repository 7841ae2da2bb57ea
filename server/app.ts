import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { HTTPException } from "hono/http-exception";
import { secureHeaders } from "hono/secure-headers";
import { randomUUID } from "node:crypto";
import type { Deps } from "./deps.ts";
import type { AppEnv } from "./env.ts";
import { AppError, ERROR_STATUS, type ErrorCode } from "./errors.ts";
import { csrfProtection, identify, requireAuth } from "./middleware/auth.ts";
import { authRoutes } from "./routes/auth.ts";
import { connectionRoutes } from "./routes/connections.ts";
import { creditRoutes } from "./routes/credits.ts";
import { runRoutes } from "./routes/runs.ts";
import { scheduleRoutes } from "./routes/schedules.ts";
import { tokenRoutes } from "./routes/tokens.ts";
import { webRoutes } from "../web/index.tsx";

function errorBody(code: ErrorCode, message: string, requestId: string, field?: string) {
  return { error: { code, message, requestId, ...(field ? { field } : {}) } };
}

/** The HTTP application. Tests build it with their own deps (in-memory db, fake clock). */
export function createApp(deps: Deps) {
  const app = new Hono<AppEnv>();

  app.use("*", async (c, next) => {
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
      { method: c.req.method, path: new URL(c.req.url).pathname, status: c.res.status, ms: Math.round(performance.now() - started) },
      "request",
    );
  });
  // same-origin, not no-referrer: with no-referrer browsers send "Origin: null" on form posts,
  // which the CSRF check must refuse.
  app.use("*", secureHeaders({ referrerPolicy: "same-origin" }));
  app.use(
    "/api/*",
    bodyLimit({
      maxSize: 1024 * 1024,
      onError: () => {
        throw new AppError("payload_too_large", "Request body is larger than 1 MB");
      },
    }),
  );
  app.use("/api/*", identify, csrfProtection);

  app.route("/api/auth", authRoutes);
  const api = new Hono<AppEnv>();
  api.use("*", requireAuth);
  api.route("/tokens", tokenRoutes);
  api.route("/credits", creditRoutes);
  api.route("/connections", connectionRoutes);
  api.route("/runs", runRoutes);
  api.route("/schedules", scheduleRoutes);
  app.route("/api", api);

  app.get("/healthz", (c) => c.json({ ok: true }));
  app.route("/", webRoutes(deps));

  app.notFound((c) => c.json(errorBody("not_found", `No route for ${c.req.method} ${new URL(c.req.url).pathname}`, c.var.requestId), 404));

  app.onError((err, c) => {
    const requestId = c.var.requestId ?? "unknown";
    if (err instanceof AppError) {
      for (const [k, v] of Object.entries(err.headers ?? {})) c.header(k, v);
      return c.json(errorBody(err.code, err.message, requestId, err.field), err.status as 400);
    }
    if (err instanceof HTTPException && err.status < 500) {
      const code: ErrorCode = err.status === 413 ? "payload_too_large" : err.status === 401 ? "unauthenticated" : "invalid_input";
      const message = /json/i.test(err.message) ? "Request body is not valid JSON" : err.message || "Bad request";
      return c.json(errorBody(code, message, requestId), ERROR_STATUS[code]);
    }
    (c.var.log ?? deps.logger).error({ err }, "unhandled error");
    return c.json(errorBody("internal", "Something went wrong on our side; it has been logged", requestId), 500);
  });

  return app;
}

export type App = ReturnType<typeof createApp>;
