import { forgetMonitorWebhook } from "../../core/services/monitors.ts";
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
import { estimateScope } from "../../core/services/estimate.ts";
import { scopeSchema } from "../../core/domain/scope-actions.ts";
import { AppError } from "../../core/errors.ts";
import { createRouter, type AppRouteHandler } from "../openapi.ts";
import * as routes from "./connections.routes.ts";

const create: AppRouteHandler<typeof routes.create> = async (c) =>
  c.json(await createConnection(c.var.deps, { ctx: principal(c), input: c.req.valid("json") }), 201);

const list: AppRouteHandler<typeof routes.list> = (c) => c.json({ connections: listConnections(c.var.deps, { ctx: principal(c) }) }, 200);

const get: AppRouteHandler<typeof routes.get> = (c) => c.json(getConnection(c.var.deps, { ctx: principal(c), id: c.req.valid("param").id }), 200);

const update: AppRouteHandler<typeof routes.update> = async (c) =>
  c.json(await updateConnection(c.var.deps, { ctx: principal(c), id: c.req.valid("param").id, input: c.req.valid("json") }), 200);

const remove: AppRouteHandler<typeof routes.remove> = async (c) => {
  // Its monitoring's webhook is removed from AC first (best effort; a leftover one is answered 410).
  await forgetMonitorWebhook(c.var.deps, { ctx: principal(c), connectionId: c.req.valid("param").id });
  deleteConnection(c.var.deps, { ctx: principal(c), id: c.req.valid("param").id });
  return c.body(null, 204);
};

const lists: AppRouteHandler<typeof routes.listLists> = async (c) =>
  c.json({ lists: await listConnectionLists(c.var.deps, { ctx: principal(c), id: c.req.valid("param").id }) }, 200);

const tags: AppRouteHandler<typeof routes.listTags> = async (c) =>
  c.json({ tags: await listConnectionTags(c.var.deps, { ctx: principal(c), id: c.req.valid("param").id }) }, 200);

const estimate: AppRouteHandler<typeof routes.estimate> = async (c) => {
  const ctx = principal(c);
  const { id } = c.req.valid("param");
  const q = c.req.valid("query");
  const input = q.kind === "lists" ? { kind: "lists", listIds: (q.listIds ?? "").split(",").filter(Boolean) } : q.kind === "tag" ? { kind: "tag", tagId: q.tagId ?? "" } : { kind: "all" };
  const parsed = scopeSchema.safeParse(input);
  if (!parsed.success) throw new AppError("invalid_input", parsed.error.issues[0]?.message ?? "is not a scope", q.kind === "tag" ? "tagId" : "listIds");
  const found = await estimateScope(c.var.deps, { ctx, id, scope: parsed.data, waitMs: 60_000, throwOnError: true });
  if (!found) throw new AppError("ac_unreachable", "ActiveCampaign did not answer in time; try again in a moment");
  return c.json(found, 200);
};

export const connectionRoutes = createRouter()
  .openapi(routes.estimate, estimate)
  .openapi(routes.create, create)
  .openapi(routes.list, list)
  .openapi(routes.get, get)
  .openapi(routes.update, update)
  .openapi(routes.remove, remove)
  .openapi(routes.listLists, lists)
  .openapi(routes.listTags, tags);
