import {
  createConnection,
  deleteConnection,
  getConnection,
  listConnectionLists,
  listConnectionTags,
  listConnections,
  updateConnection,
} from "../../core/services/connections.ts";
import { principal } from "../middleware/auth.ts";
import { createRouter, type AppRouteHandler } from "../openapi.ts";
import * as routes from "./connections.routes.ts";

const create: AppRouteHandler<typeof routes.create> = async (c) =>
  c.json(await createConnection(c.var.deps, { ctx: principal(c), input: c.req.valid("json") }), 201);

const list: AppRouteHandler<typeof routes.list> = (c) => c.json({ connections: listConnections(c.var.deps, { ctx: principal(c) }) }, 200);

const get: AppRouteHandler<typeof routes.get> = (c) => c.json(getConnection(c.var.deps, { ctx: principal(c), id: c.req.valid("param").id }), 200);

const update: AppRouteHandler<typeof routes.update> = async (c) =>
  c.json(await updateConnection(c.var.deps, { ctx: principal(c), id: c.req.valid("param").id, input: c.req.valid("json") }), 200);

const remove: AppRouteHandler<typeof routes.remove> = (c) => {
  deleteConnection(c.var.deps, { ctx: principal(c), id: c.req.valid("param").id });
  return c.body(null, 204);
};

const lists: AppRouteHandler<typeof routes.listLists> = async (c) =>
  c.json({ lists: await listConnectionLists(c.var.deps, { ctx: principal(c), id: c.req.valid("param").id }) }, 200);

const tags: AppRouteHandler<typeof routes.listTags> = async (c) =>
  c.json({ tags: await listConnectionTags(c.var.deps, { ctx: principal(c), id: c.req.valid("param").id }) }, 200);

export const connectionRoutes = createRouter()
  .openapi(routes.create, create)
  .openapi(routes.list, list)
  .openapi(routes.get, get)
  .openapi(routes.update, update)
  .openapi(routes.remove, remove)
  .openapi(routes.listLists, lists)
  .openapi(routes.listTags, tags);
