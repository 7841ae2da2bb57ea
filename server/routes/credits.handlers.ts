import { getCredits } from "../../core/services/credits.ts";
import { principal } from "../middleware/auth.ts";
import { createRouter, type AppRouteHandler } from "../openapi.ts";
import * as routes from "./credits.routes.ts";

const get: AppRouteHandler<typeof routes.get> = (c) => c.json(getCredits(c.var.deps, { ctx: principal(c) }), 200);

export const creditRoutes = createRouter().openapi(routes.get, get);
