import { index, integer, sqliteTable, text } from "drizzle-orm/sqlite-core";
import { createdAt, idColumn } from "./columns.ts";
import { workspaces } from "./workspaces.ts";

export const LEDGER_KINDS = ["grant", "charge", "refund"] as const;
export type LedgerKind = (typeof LEDGER_KINDS)[number];

/**
 * Append-only: rows are never updated or deleted. `amount` is signed (charges are negative),
 * so a balance is SUM(amount). `idempotencyKey` makes a charge or refund happen at most once.
 */
export const creditLedger = sqliteTable(
  "credit_ledger",
  {
    id: idColumn(),
    workspaceId: text("workspace_id")
      .notNull()
      .references(() => workspaces.id, { onDelete: "cascade" }),
    kind: text("kind", { enum: LEDGER_KINDS }).notNull(),
    amount: integer("amount").notNull(),
    reason: text("reason").notNull(),
    runId: text("run_id"),
    idempotencyKey: text("idempotency_key").unique(),
    /** Entries shown as one line of the history besides a run's: a monitor's charges and refunds of one UTC day ("monitor:<id>:2026-11-02"). */
    groupKey: text("group_key"),
    createdAt: createdAt(),
  },
  (t) => [index("credit_ledger_workspace_idx").on(t.workspaceId, t.createdAt)],
);
