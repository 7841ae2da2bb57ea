import { index, integer, sqliteTable, text } from "drizzle-orm/sqlite-core";
import { createdAt, idColumn, timestamp } from "./columns.ts";
import { users } from "./users.ts";
import { workspaces } from "./workspaces.ts";

export const PURCHASE_STATES = ["open", "paid", "expired"] as const;

/** A credit pack bought through the payment provider's checkout; credited once, when the provider says it is paid. */
export const creditPurchases = sqliteTable(
  "credit_purchases",
  {
    id: idColumn(),
    workspaceId: text("workspace_id")
      .notNull()
      .references(() => workspaces.id, { onDelete: "cascade" }),
    userId: text("user_id").references(() => users.id, { onDelete: "set null" }),
    credits: integer("credits").notNull(),
    /** In the currency's smallest unit (cents). */
    amount: integer("amount").notNull(),
    currency: text("currency").notNull(),
    provider: text("provider").notNull(),
    /** The provider's id of the checkout (Stripe: the Checkout Session id). */
    providerRef: text("provider_ref").unique(),
    status: text("status", { enum: PURCHASE_STATES }).notNull().default("open"),
    createdAt: createdAt(),
    paidAt: timestamp("paid_at"),
  },
  (t) => [index("credit_purchases_workspace_idx").on(t.workspaceId, t.createdAt)],
);

/** Provider events already handled (Stripe event ids): a replayed event changes nothing. */
export const providerEvents = sqliteTable("provider_events", {
  id: text("id").primaryKey(),
  type: text("type").notNull(),
  receivedAt: timestamp("received_at").notNull(),
});

export const REQUEST_STATES = ["pending", "approved", "declined"] as const;

/** A workspace asks the operator for credits (when no payment provider is configured). */
export const creditRequests = sqliteTable(
  "credit_requests",
  {
    id: idColumn(),
    workspaceId: text("workspace_id")
      .notNull()
      .references(() => workspaces.id, { onDelete: "cascade" }),
    userId: text("user_id").references(() => users.id, { onDelete: "set null" }),
    email: text("email").notNull(),
    credits: integer("credits").notNull(),
    note: text("note").notNull().default(""),
    status: text("status", { enum: REQUEST_STATES }).notNull().default("pending"),
    /** What the operator granted (may differ from what was asked). */
    granted: integer("granted"),
    decidedBy: text("decided_by"),
    decidedAt: timestamp("decided_at"),
    createdAt: createdAt(),
  },
  (t) => [index("credit_requests_status_idx").on(t.status, t.createdAt), index("credit_requests_workspace_idx").on(t.workspaceId, t.createdAt)],
);
