import { index, integer, sqliteTable, text } from "drizzle-orm/sqlite-core";
import { createdAt, idColumn, timestamp } from "./columns.ts";
import { workspaces } from "./workspaces.ts";

export const NOTIFICATION_EVENTS = [
  "run_needs_review",
  "run_paused_credits",
  "run_failed",
  "run_completed",
  "scheduled_run_applied",
  "scheduled_run_held",
  "connection_key_refused",
  "monitor_waiting_credits",
  "monitor_webhook_lost",
  "monitor_digest",
] as const;
export type NotificationEvent = (typeof NOTIFICATION_EVENTS)[number];

export const DELIVERY_STATES = ["pending", "sending", "sent", "failed", "skipped"] as const;
export type DeliveryState = (typeof DELIVERY_STATES)[number];

/**
 * An outbox: one row per event worth telling a workspace about, written in the transaction
 * that makes the event happen (a run's move, a refused key), so each event is recorded
 * exactly once; the dispatcher then sends it by e-mail and webhook and records each outcome.
 * `key` makes a repeated event (a second pause with nothing charged between) a no-op.
 */
export const notifications = sqliteTable(
  "notifications",
  {
    id: idColumn(),
    workspaceId: text("workspace_id")
      .notNull()
      .references(() => workspaces.id, { onDelete: "cascade" }),
    event: text("event", { enum: NOTIFICATION_EVENTS }).notNull(),
    key: text("key").notNull().unique(),
    runId: text("run_id"),
    connectionId: text("connection_id"),
    /** JSON: what the message says (names and counts, never a secret). */
    data: text("data").notNull(),
    emailState: text("email_state", { enum: DELIVERY_STATES }).notNull().default("pending"),
    webhookState: text("webhook_state", { enum: DELIVERY_STATES }).notNull().default("pending"),
    attempts: integer("attempts").notNull().default(0),
    nextAttemptAt: timestamp("next_attempt_at"),
    /** A dispatcher's claim: another process leaves the row alone until it expires. */
    leaseExpiresAt: timestamp("lease_expires_at"),
    lastError: text("last_error"),
    createdAt: createdAt(),
    sentAt: timestamp("sent_at"),
  },
  (t) => [index("notifications_due_idx").on(t.sentAt, t.nextAttemptAt), index("notifications_workspace_idx").on(t.workspaceId, t.createdAt)],
);
