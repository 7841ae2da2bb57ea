import { Hono } from "hono";
import { z } from "zod";
import { cleanName } from "../../core/domain/names.ts";
import type { AppEnv } from "../env.ts";
import { principal } from "../middleware/auth.ts";
import { validate } from "../middleware/validate.ts";
import {
  createConnection,
  deleteConnection,
  getConnection,
  listConnectionLists,
  listConnectionTags,
  listConnections,
  updateConnection,
} from "../../core/services/connections.ts";

const name = z.string().max(1000, "must be at most 100 characters").transform(cleanName).pipe(z.string().max(100, "must be at most 100 characters"));
const apiKey = z
  .string({ error: "is required: copy it from Settings → Developer in ActiveCampaign" })
  .trim()
  .min(20, "looks too short: copy the whole key from Settings → Developer in ActiveCampaign")
  .max(200, "is too long")
  .regex(/^[\x21-\x7e]+$/, "must be the key exactly as ActiveCampaign shows it, without spaces");

const createBody = z.object({
  name: name.optional(),
  apiUrl: z
    .string({ error: "is required: copy it from Settings → Developer in ActiveCampaign" })
    .trim()
    .min(1, "is required: copy it from Settings → Developer in ActiveCampaign")
    .max(300, "is too long"),
  apiKey,
}).strict();

const updateBody = z.object({ name: name.optional(), apiKey: apiKey.optional() }).strict();

export const connectionRoutes = new Hono<AppEnv>()
  .post("/", validate("json", createBody), async (c) =>
    c.json(await createConnection(c.var.deps, { ctx: principal(c), input: c.req.valid("json") }), 201),
  )
  .get("/", (c) => c.json({ connections: listConnections(c.var.deps, { ctx: principal(c) }) }))
  .get("/:id", (c) => c.json(getConnection(c.var.deps, { ctx: principal(c), id: c.req.param("id") })))
  .patch("/:id", validate("json", updateBody), async (c) =>
    c.json(await updateConnection(c.var.deps, { ctx: principal(c), id: c.req.param("id"), input: c.req.valid("json") })),
  )
  .delete("/:id", (c) => {
    deleteConnection(c.var.deps, { ctx: principal(c), id: c.req.param("id") });
    return c.body(null, 204);
  })
  .get("/:id/lists", async (c) =>
    c.json({ lists: await listConnectionLists(c.var.deps, { ctx: principal(c), id: c.req.param("id") }) }),
  )
  .get("/:id/tags", async (c) =>
    c.json({ tags: await listConnectionTags(c.var.deps, { ctx: principal(c), id: c.req.param("id") }) }),
  );
