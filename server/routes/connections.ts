import { Hono } from "hono";
import { connectionInputSchema, connectionUpdateSchema } from "../../core/domain/connection.ts";
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

const createBody = connectionInputSchema.strict();
const updateBody = connectionUpdateSchema.strict();

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
