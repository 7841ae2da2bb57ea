import { index, integer, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";
import { idColumn, timestamp } from "./columns.ts";
import { runs } from "./runs.ts";

export const ACTION_STATES = ["pending", "sending", "done", "failed"] as const;
export type ActionState = (typeof ACTION_STATES)[number];

/**
 * One request to AC that changes the account: an unsubscribe from one list, or a delete.
 * `sending` is written before the request and `done`/`failed` after it, so a crash between
 * the two is visible and the action is checked against AC before it is ever sent again.
 * Transient errors put it back to `pending` with a later `nextAttemptAt`; only AC refusing the
 * request itself makes it `failed`.
 */
export const runActions = sqliteTable(
  "run_actions",
  {
    id: idColumn(),
    runId: text("run_id")
      .notNull()
      .references(() => runs.id, { onDelete: "cascade" }),
    contactId: integer("contact_id").notNull(),
    kind: text("kind", { enum: ["unsubscribe", "delete"] }).notNull(),
    /** The list for an unsubscribe; 0 for a delete. */
    listId: integer("list_id").notNull().default(0),
    state: text("state", { enum: ACTION_STATES }).notNull().default("pending"),
    /** AC's words when it refused the request, or the last transient error while it is retried. */
    error: text("error"),
    /** What kind of outcome: "contact_gone" (done: no longer in AC), or the AcError kind of a failure. */
    resultCode: text("result_code"),
    /** A pending action that met transient weather (429, 5xx, timeout) is not sent again before this. */
    nextAttemptAt: timestamp("next_attempt_at"),
    attempts: integer("attempts").notNull().default(0),
    updatedAt: timestamp("updated_at"),
  },
  (t) => [
    uniqueIndex("run_actions_unique").on(t.runId, t.contactId, t.kind, t.listId),
    index("run_actions_state_idx").on(t.runId, t.state),
  ],
);
