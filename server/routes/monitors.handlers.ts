import { getMonitor, reregisterWebhook, saveMonitor } from "../../core/services/monitors.ts";
import { principal } from "../middleware/auth.ts";
import { acErrorToAppError } from "../../core/services/connections.ts";
import { AcError } from "../../core/ac/index.ts";
import { createRouter, type AppRouteHandler } from "../openapi.ts";
import * as routes from "./monitors.routes.ts";

/** AC errors of the interactive calls (registering the webhook) as the API's. */
const mapAc = <T>(p: Promise<T>) =>
  p.catch((err: unknown) => {
    throw err instanceof AcError ? acErrorToAppError(err) : err;
  });

const get: AppRouteHandler<typeof routes.get> = (c) => c.json(getMonitor(c.var.deps, { ctx: principal(c), connectionId: c.req.valid("param").id }), 200);

const save: AppRouteHandler<typeof routes.save> = async (c) =>
  c.json(await mapAc(saveMonitor(c.var.deps, { ctx: principal(c), connectionId: c.req.valid("param").id, input: c.req.valid("json") })), 200);

const webhook: AppRouteHandler<typeof routes.webhook> = async (c) =>
  c.json(await mapAc(reregisterWebhook(c.var.deps, { ctx: principal(c), connectionId: c.req.valid("param").id })), 200);

export const monitorRoutes = createRouter().openapi(routes.get, get).openapi(routes.save, save).openapi(routes.webhook, webhook);
