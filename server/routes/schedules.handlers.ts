import { createSchedule, deleteSchedule, getSchedule, listSchedules, updateSchedule } from "../../core/services/schedules.ts";
import { principal } from "../middleware/auth.ts";
import { createRouter, type AppRouteHandler } from "../openapi.ts";
import * as routes from "./schedules.routes.ts";

const create: AppRouteHandler<typeof routes.create> = (c) =>
  c.json(createSchedule(c.var.deps, { ctx: principal(c), input: c.req.valid("json") }), 201);

const list: AppRouteHandler<typeof routes.list> = (c) =>
  c.json({ schedules: listSchedules(c.var.deps, { ctx: principal(c), connectionId: c.req.valid("query").connectionId }) }, 200);

const get: AppRouteHandler<typeof routes.get> = (c) => c.json(getSchedule(c.var.deps, { ctx: principal(c), id: c.req.valid("param").id }), 200);

const update: AppRouteHandler<typeof routes.update> = (c) =>
  c.json(updateSchedule(c.var.deps, { ctx: principal(c), id: c.req.valid("param").id, input: c.req.valid("json") }), 200);

const remove: AppRouteHandler<typeof routes.remove> = (c) => {
  deleteSchedule(c.var.deps, { ctx: principal(c), id: c.req.valid("param").id });
  return c.body(null, 204);
};

export const scheduleRoutes = createRouter()
  .openapi(routes.create, create)
  .openapi(routes.list, list)
  .openapi(routes.get, get)
  .openapi(routes.update, update)
  .openapi(routes.remove, remove);
