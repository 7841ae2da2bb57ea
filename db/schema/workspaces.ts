import { integer, sqliteTable, text } from "drizzle-orm/sqlite-core";
import { createdAt, idColumn } from "./columns.ts";

export const workspaces = sqliteTable("workspaces", {
  id: idColumn(),
  name: text("name").notNull(),
  /** SUM(credit_ledger.amount), kept in the transaction that appends each entry. */
  balance: integer("balance").notNull().default(0),
  /** Where the workspace's notifications go by e-mail (null: no e-mail). */
  notifyEmail: text("notify_email"),
  /** A URL that gets a JSON (Slack-compatible) message per event (null: none). Checked like AC URLs. */
  notifyWebhookUrl: text("notify_webhook_url"),
  /** JSON array of the events to notify (null: every event). */
  notifyEvents: text("notify_events"),
  createdAt: createdAt(),
});
