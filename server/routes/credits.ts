import { Hono } from "hono";
import type { AppEnv } from "../env.ts";
import { principal } from "../middleware/auth.ts";
import { getCredits } from "../../core/services/credits.ts";

export const creditRoutes = new Hono<AppEnv>().get("/", (c) => c.json(getCredits(c.var.deps, { ctx: principal(c) })));
