import { z } from "@hono/zod-openapi";
import { LEDGER_KINDS } from "../../db/schema/index.ts";
import type { getCredits, LedgerPage } from "../../core/services/credits.ts";
import type { CreditRequestView } from "../../core/services/topups.ts";
import { checkoutSchema, creditRequestSchema } from "../../core/domain/credits.ts";
import { CHANGE, errors, json, jsonRequest, READ, route, SIGNED_IN, SIGNED_IN_CHANGE } from "../openapi.ts";
import { expectSameShape, Timestamp, type SameShape } from "../schemas.ts";

export const Credits = z
  .object({
    balance: z.number().int(),
    entries: z.array(
      z.object({
        id: z.string(),
        kind: z.enum(LEDGER_KINDS),
        amount: z.number().int().openapi({ description: "Positive for grants and refunds, negative for charges" }),
        reason: z.string(),
        runId: z.string().nullable(),
        createdAt: Timestamp,
      }),
    ),
  })
  .openapi("Credits");
expectSameShape<SameShape<z.infer<typeof Credits>, ReturnType<typeof getCredits>>>();

export const get = route({
  method: "get",
  path: "/",
  tags: ["credits"],
  summary: "Balance and recent ledger entries",
  description: "A run charges 1 credit per contact it verifies, once; unknown results are refunded.",
  security: SIGNED_IN,
  responses: { 200: json(Credits, "The balance and the 50 latest entries, newest first"), ...errors(...READ, 401) },
});

const Entry = z.object({
  id: z.string(),
  kind: z.enum(LEDGER_KINDS),
  amount: z.number().int(),
  reason: z.string(),
  runId: z.string().nullable(),
  createdAt: Timestamp,
});

export const History = z
  .object({
    balance: z.number().int(),
    lines: z.array(
      z.object({
        id: z.string().openapi({ description: "The run's id, or the entry's for a grant" }),
        kind: z.enum(["run", "monitor", ...LEDGER_KINDS]).openapi({ description: "run: a run's entries; monitor: a monitored connection's new contacts of one UTC day; else one entry" }),
        runId: z.string().nullable(),
        amount: z.number().int().openapi({ description: "Net movement of the line (a run: its refunds less its charges)" }),
        charged: z.number().int(),
        refunded: z.number().int(),
        connectionName: z.string().nullable(),
        runStatus: z.string().nullable(),
        reason: z.string(),
        firstAt: Timestamp,
        lastAt: Timestamp,
        entries: z.array(Entry).openapi({ description: "A run's ledger entries, oldest first" }),
      }),
    ),
    page: z.number().int(),
    pages: z.number().int(),
    totalLines: z.number().int(),
  })
  .openapi("CreditHistory");
expectSameShape<SameShape<z.infer<typeof History>, LedgerPage>>();

export const history = route({
  method: "get",
  path: "/history",
  tags: ["credits"],
  summary: "The credit history, one line per run",
  description: "A run's charges and refunds make one line (its entries listed in it), as do a monitored connection's new contacts of one UTC day; grants are lines of their own. Newest first, 25 lines a page, through all history.",
  security: SIGNED_IN,
  request: { query: z.object({ page: z.coerce.number().int().min(1).default(1).openapi({ description: "From 1" }) }) },
  responses: { 200: json(History, "One page of the history"), ...errors(...READ, 400, 401) },
});

export const historyCsv = route({
  method: "get",
  path: "/history.csv",
  tags: ["credits"],
  summary: "The whole credit history as CSV",
  description: "One row per ledger entry, oldest first: date, kind, amount, balance after, reason, run, connection. Cells a spreadsheet would run as formulas are escaped.",
  security: SIGNED_IN,
  responses: {
    200: { description: "The history (UTF-8 with a BOM), as an attachment", content: { "text/csv": { schema: z.string() } }, headers: z.object({ "Content-Disposition": z.string() }) },
    ...errors(...READ, 401),
  },
});

export const checkout = route({
  method: "post",
  path: "/checkout",
  tags: ["credits"],
  summary: "Buy a pack of credits",
  description:
    "When the server is set up with Stripe: starts a Stripe Checkout for one of the packs (CREDIT_PACKS) and answers its URL. The credits are added when Stripe's signed webhook says it is paid. Otherwise 409: request credits instead.",
  security: SIGNED_IN_CHANGE,
  request: { body: jsonRequest(checkoutSchema.strict()) },
  responses: { 201: json(z.object({ purchaseId: z.string(), url: z.string() }), "Send the browser to `url`"), ...errors(...CHANGE, 401, 409, 415) },
});

export const CreditRequest = z
  .object({
    id: z.string(),
    workspaceId: z.string(),
    email: z.string(),
    credits: z.number().int(),
    note: z.string(),
    status: z.enum(["pending", "approved", "declined"]),
    granted: z.number().int().nullable(),
    createdAt: Timestamp,
    decidedAt: Timestamp.nullable(),
    balance: z.number().int(),
  })
  .openapi("CreditRequest");
expectSameShape<SameShape<z.infer<typeof CreditRequest>, CreditRequestView>>();

export const createRequest = route({
  method: "post",
  path: "/requests",
  tags: ["credits"],
  summary: "Ask the operator for credits",
  description: "The operators (users with the admin role) are e-mailed and approve it on their operator page. At most 3 requests wait at once.",
  security: SIGNED_IN_CHANGE,
  request: { body: jsonRequest(creditRequestSchema.strict()) },
  responses: { 201: json(CreditRequest, "Asked"), ...errors(...CHANGE, 401, 409, 415) },
});

export const listRequests = route({
  method: "get",
  path: "/requests",
  tags: ["credits"],
  summary: "Your requests for credits",
  security: SIGNED_IN,
  responses: { 200: json(z.object({ requests: z.array(CreditRequest) }), "The 10 latest, newest first"), ...errors(...READ, 401) },
});
