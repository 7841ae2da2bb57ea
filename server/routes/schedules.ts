import { Hono } from "hono";
import { z } from "zod";
import type { AppEnv } from "../env.ts";
import { principal } from "../middleware/auth.ts";
import { validate } from "../middleware/validate.ts";
import {
  createSchedule,
  createScheduleSchema,
  deleteSchedule,
  getSchedule,
  listSchedules,
  updateSchedule,
  updateScheduleSchema,
} from "../../core/services/schedules.ts";

const listQuery = z.object({ connectionId: z.string().optional() });

export const scheduleRoutes = new Hono<AppEnv>()
  // Strict here, like PATCH: an unknown field is refused, not silently dropped.
  .post("/", validate("json", createScheduleSchema.strict()), (c) =>
    c.json(createSchedule(c.var.deps, { ctx: principal(c), input: c.req.valid("json") }), 201),
  )
  .get("/", validate("query", listQuery), (c) =>
    c.json({ schedules: listSchedules(c.var.deps, { ctx: principal(c), connectionId: c.req.valid("query").connectionId }) }),
  )
  .get("/:id", (c) => c.json(getSchedule(c.var.deps, { ctx: principal(c), id: c.req.param("id") })))
  .patch("/:id", validate("json", updateScheduleSchema), (c) =>
    c.json(updateSchedule(c.var.deps, { ctx: principal(c), id: c.req.param("id"), input: c.req.valid("json") })),
  )
  .delete("/:id", (c) => {
    deleteSchedule(c.var.deps, { ctx: principal(c), id: c.req.param("id") });
    return c.body(null, 204);
  });
