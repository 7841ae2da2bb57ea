import { getNotificationSettings, updateNotificationSettings } from "../../core/services/notifications.ts";
import { principal } from "../middleware/auth.ts";
import { createRouter, type AppRouteHandler } from "../openapi.ts";
import * as routes from "./notifications.routes.ts";

const get: AppRouteHandler<typeof routes.get> = (c) => c.json(getNotificationSettings(c.var.deps, { ctx: principal(c) }), 200);

const update: AppRouteHandler<typeof routes.update> = async (c) => c.json(await updateNotificationSettings(c.var.deps, { ctx: principal(c), input: c.req.valid("json") }), 200);

export const notificationRoutes = createRouter().openapi(routes.get, get).openapi(routes.update, update);
