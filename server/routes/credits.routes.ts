import { z } from "@hono/zod-openapi";
import { LEDGER_KINDS } from "../../db/schema/index.ts";
import type { getCredits } from "../../core/services/credits.ts";
import { errors, json, READ, route, SIGNED_IN } from "../openapi.ts";
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
