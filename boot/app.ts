import { Hono } from "hono";
import { secureHeaders } from "hono/secure-headers";
import type { Deps } from "../core/deps.ts";
import { createApi, errorBody, jsonErrors, requestContext } from "../server/app.ts";
import type { AppEnv } from "../server/env.ts";
import { webRoutes } from "../web/index.tsx";

/** The HTTP application of one process: the JSON API under /api and the dashboard beside it. */
export function createApp(deps: Deps) {
  const app = new Hono<AppEnv>();
  app.use("*", requestContext(deps));
  // same-origin, not no-referrer: with no-referrer browsers send "Origin: null" on form posts,
  // which the CSRF check must refuse.
  app.use("*", secureHeaders({ referrerPolicy: "same-origin" }));
  app.route("/api", createApi(deps));
  app.get("/healthz", (c) => c.json({ ok: true }));
  app.route("/", webRoutes(deps));
  app.notFound((c) => c.json(errorBody("not_found", `No route for ${c.req.method} ${new URL(c.req.url).pathname}`, c.var.requestId), 404));
  app.onError(jsonErrors(deps));
  return app;
}

export type App = ReturnType<typeof createApp>;
