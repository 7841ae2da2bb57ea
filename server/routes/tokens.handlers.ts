import { createApiToken, deleteApiToken, listApiTokens } from "../../core/services/tokens.ts";
import { principal } from "../middleware/auth.ts";
import { createRouter, type AppRouteHandler } from "../openapi.ts";
import * as routes from "./tokens.routes.ts";

const create: AppRouteHandler<typeof routes.create> = (c) =>
  c.json(createApiToken(c.var.deps, { ctx: principal(c), input: c.req.valid("json") }), 201);

const list: AppRouteHandler<typeof routes.list> = (c) => c.json({ tokens: listApiTokens(c.var.deps, { ctx: principal(c) }) }, 200);

const remove: AppRouteHandler<typeof routes.remove> = (c) => {
  deleteApiToken(c.var.deps, { ctx: principal(c), id: c.req.valid("param").id });
  return c.body(null, 204);
};

export const tokenRoutes = createRouter().openapi(routes.create, create).openapi(routes.list, list).openapi(routes.remove, remove);
