import { Hono } from "hono";
import { z } from "zod";
import { displayNameSchema } from "../../core/domain/connection.ts";
import type { AppEnv } from "../env.ts";
import { principal } from "../middleware/auth.ts";
import { validate } from "../middleware/validate.ts";
import { createApiToken, deleteApiToken, listApiTokens } from "../../core/services/tokens.ts";

const createBody = z.object({
  name: displayNameSchema.pipe(z.string().min(1, "is required")).default("API token"),
}).strict();

export const tokenRoutes = new Hono<AppEnv>()
  .post("/", validate("json", createBody), (c) =>
    c.json(createApiToken(c.var.deps, { ctx: principal(c), input: c.req.valid("json") }), 201),
  )
  .get("/", (c) => c.json({ tokens: listApiTokens(c.var.deps, { ctx: principal(c) }) }))
  .delete("/:id", (c) => {
    deleteApiToken(c.var.deps, { ctx: principal(c), id: c.req.param("id") });
    return c.body(null, 204);
  });
