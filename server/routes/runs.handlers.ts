import { reportCsv, reportSummary } from "../../core/services/reports.ts";
import { backupCsv, backupJson } from "../../core/services/backups.ts";
import { requestUndo } from "../../core/services/undo.ts";
import { approveRun, cancelRun, createRun, getRun, listRuns, retryRunActions } from "../../core/services/runs.ts";
import { contactFilter, editPlan, listRunContacts, type PlanEdit } from "../../core/services/plan.ts";
import { principal } from "../middleware/auth.ts";
import { createRouter, type AppRouteHandler } from "../openapi.ts";
import * as routes from "./runs.routes.ts";

const create: AppRouteHandler<typeof routes.create> = (c) => c.json(createRun(c.var.deps, { ctx: principal(c), input: c.req.valid("json") }), 202);

const list: AppRouteHandler<typeof routes.list> = (c) => {
  const q = c.req.valid("query");
  return c.json({ runs: listRuns(c.var.deps, { ctx: principal(c), connectionId: q.connectionId, limit: q.limit }) }, 200);
};

const get: AppRouteHandler<typeof routes.get> = (c) => c.json(getRun(c.var.deps, { ctx: principal(c), id: c.req.valid("param").id }), 200);

const approve: AppRouteHandler<typeof routes.approve> = (c) => {
  const { confirmDelete, confirmCount, planRevision } = c.req.valid("json");
  return c.json(approveRun(c.var.deps, { ctx: principal(c), id: c.req.valid("param").id, confirmDelete, confirmCount: confirmCount ?? null, planRevision: planRevision ?? null }), 200);
};

const cancel: AppRouteHandler<typeof routes.cancel> = (c) => c.json(cancelRun(c.var.deps, { ctx: principal(c), id: c.req.valid("param").id }), 200);

const retry: AppRouteHandler<typeof routes.retry> = (c) => c.json(retryRunActions(c.var.deps, { ctx: principal(c), id: c.req.valid("param").id }), 200);

const report: AppRouteHandler<typeof routes.reportCsv> = (c) => {
  const { id } = c.req.valid("param");
  const body = reportCsv(c.var.deps, { ctx: principal(c), id });
  return c.body(body, 200, {
    "content-type": "text/csv; charset=utf-8",
    "content-disposition": `attachment; filename="listwarden-${id}.csv"`,
    "cache-control": "no-store",
  });
};

const summary: AppRouteHandler<typeof routes.summary> = (c) => {
  const { id } = c.req.valid("param");
  return c.json(reportSummary(c.var.deps, { ctx: principal(c), id }), 200, {
    "content-disposition": `attachment; filename="listwarden-${id}-summary.json"`,
  });
};

const editPlanHandler: AppRouteHandler<typeof routes.editPlan> = (c) => {
  const body = c.req.valid("json");
  return c.json(editPlan(c.var.deps, { ctx: principal(c), id: c.req.valid("param").id, edit: body as PlanEdit }), 200);
};


const contacts: AppRouteHandler<typeof routes.contacts> = (c) => {
  const q = c.req.valid("query");
  return c.json(listRunContacts(c.var.deps, { ctx: principal(c), id: c.req.valid("param").id, filter: contactFilter(q), offset: q.offset, limit: q.limit }), 200);
};

const contactsCsv: AppRouteHandler<typeof routes.contactsCsv> = (c) => {
  const { id } = c.req.valid("param");
  const body = reportCsv(c.var.deps, { ctx: principal(c), id, filter: contactFilter(c.req.valid("query")) });
  return c.body(body, 200, {
    "content-type": "text/csv; charset=utf-8",
    "content-disposition": `attachment; filename="listwarden-${id}-contacts.csv"`,
    "cache-control": "no-store",
  });
};

const backupCsvHandler: AppRouteHandler<typeof routes.backupCsv> = (c) => {
  const { id } = c.req.valid("param");
  return c.body(backupCsv(c.var.deps, { ctx: principal(c), id }), 200, {
    "content-type": "text/csv; charset=utf-8",
    "content-disposition": `attachment; filename="listwarden-${id}-deleted-contacts.csv"`,
    "cache-control": "no-store",
  });
};

const backupJsonHandler: AppRouteHandler<typeof routes.backupJson> = (c) => {
  const { id } = c.req.valid("param");
  return c.body(backupJson(c.var.deps, { ctx: principal(c), id }), 200, {
    "content-type": "application/json; charset=utf-8",
    "content-disposition": `attachment; filename="listwarden-${id}-deleted-contacts.json"`,
    "cache-control": "no-store",
  }) as never;
};

const undo: AppRouteHandler<typeof routes.undo> = (c) => c.json(requestUndo(c.var.deps, { ctx: principal(c), id: c.req.valid("param").id }), 202);

export const runRoutes = createRouter()
  .openapi(routes.undo, undo)
  .openapi(routes.backupCsv, backupCsvHandler)
  .openapi(routes.backupJson, backupJsonHandler)
  .openapi(routes.editPlan, editPlanHandler)
  .openapi(routes.contacts, contacts)
  .openapi(routes.contactsCsv, contactsCsv)
  .openapi(routes.create, create)
  .openapi(routes.list, list)
  .openapi(routes.get, get)
  .openapi(routes.approve, approve)
  .openapi(routes.cancel, cancel)
  .openapi(routes.retry, retry)
  .openapi(routes.reportCsv, report)
  .openapi(routes.summary, summary);
