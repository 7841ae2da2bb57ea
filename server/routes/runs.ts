import { Hono } from "hono";
import { z } from "zod";
import { actionsSchema, scopeSchema } from "../../core/domain/scope-actions.ts";
import type { AppEnv } from "../env.ts";
import { principal } from "../middleware/auth.ts";
import { validate } from "../middleware/validate.ts";
import { reportCsv, reportSummary } from "../../core/services/reports.ts";
import { approveRun, cancelRun, createRun, getRun, listRuns, retryRunActions } from "../../core/services/runs.ts";

const createBody = z.object({
  connectionId: z.string({ error: "is required" }).min(1, "is required"),
  scope: scopeSchema,
  actions: actionsSchema,
  smtpProbe: z.boolean({ error: "must be true or false" }).optional(),
}).strict();

const approveBody = z.object({ confirmDelete: z.boolean({ error: "must be true or false" }).default(false) }).strict().default({ confirmDelete: false });

const listQuery = z.object({
  connectionId: z.string().optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});

export const runRoutes = new Hono<AppEnv>()
  .post("/", validate("json", createBody), (c) => c.json(createRun(c.var.deps, { ctx: principal(c), input: c.req.valid("json") }), 202))
  .get("/", validate("query", listQuery), (c) => {
    const q = c.req.valid("query");
    return c.json({ runs: listRuns(c.var.deps, { ctx: principal(c), connectionId: q.connectionId, limit: q.limit }) });
  })
  .get("/:id", (c) => c.json(getRun(c.var.deps, { ctx: principal(c), id: c.req.param("id") })))
  .post("/:id/approve", validate("json", approveBody), (c) =>
    c.json(approveRun(c.var.deps, { ctx: principal(c), id: c.req.param("id"), confirmDelete: c.req.valid("json").confirmDelete })),
  )
  .post("/:id/cancel", (c) => c.json(cancelRun(c.var.deps, { ctx: principal(c), id: c.req.param("id") })))
  .post("/:id/retry", (c) => c.json(retryRunActions(c.var.deps, { ctx: principal(c), id: c.req.param("id") })))
  .get("/:id/report.csv", (c) => {
    const id = c.req.param("id");
    const body = reportCsv(c.var.deps, { ctx: principal(c), id });
    return c.body(body, 200, {
      "content-type": "text/csv; charset=utf-8",
      "content-disposition": `attachment; filename="listwarden-${id}.csv"`,
      "cache-control": "no-store",
    });
  })
  .get("/:id/summary.json", (c) => {
    const id = c.req.param("id");
    return c.json(reportSummary(c.var.deps, { ctx: principal(c), id }), 200, {
      "content-disposition": `attachment; filename="listwarden-${id}-summary.json"`,
    });
  });
