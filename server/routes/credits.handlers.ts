import { getCreditHistory, getCredits } from "../../core/services/credits.ts";
import { creditHistoryCsv } from "../../core/services/credits-csv.ts";
import { listOwnCreditRequests, requestCredits, startCheckout } from "../../core/services/topups.ts";
import { principal } from "../middleware/auth.ts";
import { createRouter, type AppRouteHandler } from "../openapi.ts";
import * as routes from "./credits.routes.ts";

const get: AppRouteHandler<typeof routes.get> = (c) => c.json(getCredits(c.var.deps, { ctx: principal(c) }), 200);

const history: AppRouteHandler<typeof routes.history> = (c) => c.json(getCreditHistory(c.var.deps, { ctx: principal(c), page: c.req.valid("query").page }), 200);

const historyCsv: AppRouteHandler<typeof routes.historyCsv> = (c) =>
  c.body(creditHistoryCsv(c.var.deps, { ctx: principal(c) }), 200, {
    "content-type": "text/csv; charset=utf-8",
    "content-disposition": 'attachment; filename="listwarden-credits.csv"',
  });

const checkout: AppRouteHandler<typeof routes.checkout> = async (c) => c.json(await startCheckout(c.var.deps, { ctx: principal(c), pack: c.req.valid("json").pack }), 201);

const createRequest: AppRouteHandler<typeof routes.createRequest> = (c) => c.json(requestCredits(c.var.deps, { ctx: principal(c), ...c.req.valid("json") }), 201);

const listRequests: AppRouteHandler<typeof routes.listRequests> = (c) => c.json({ requests: listOwnCreditRequests(c.var.deps, { ctx: principal(c) }) }, 200);

export const creditRoutes = createRouter()
  .openapi(routes.get, get)
  .openapi(routes.history, history)
  .openapi(routes.historyCsv, historyCsv)
  .openapi(routes.checkout, checkout)
  .openapi(routes.createRequest, createRequest)
  .openapi(routes.listRequests, listRequests);
