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
    /**
     * An unsubscribe done: the membership's `udate` as AC answered it (or as re-read after a
     * lost answer). An undo re-subscribes only while AC still shows this date with status 2.
     */
    acUpdated: text("ac_updated"),
  },
  (t) => [
    uniqueIndex("run_actions_unique").on(t.runId, t.contactId, t.kind, t.listId),
    index("run_actions_state_idx").on(t.runId, t.state),
  ],
);

export const UNDO_STATES = ["pending", "sending", "done", "skipped", "failed"] as const;
export type UndoState = (typeof UNDO_STATES)[number];

/**
 * One list membership an undo re-subscribes (issue 14): made, when the user asks, from the
 * run's own unsubscribes that were done, and only from them. `pending → sending → done`, or
 * `skipped` (`reason`: changed since the run, gone, not recorded) or `failed` (AC's words);
 * `sending` is written before the request, so after a crash the membership is re-read first.
 */
export const runUndos = sqliteTable(
  "run_undos",
  {
    id: idColumn(),
    runId: text("run_id")
      .notNull()
      .references(() => runs.id, { onDelete: "cascade" }),
    contactId: integer("contact_id").notNull(),
    listId: integer("list_id").notNull(),
    /** The membership's `udate` right after the run unsubscribed it (run_actions.ac_updated). */
    acUpdated: text("ac_updated"),
    state: text("state", { enum: UNDO_STATES }).notNull().default("pending"),
    /** Why it was skipped ("changed_since", "contact_gone", "not_recorded"), or the AcError kind of a failure. */
    reason: text("reason"),
    error: text("error"),
    attempts: integer("attempts").notNull().default(0),
    nextAttemptAt: timestamp("next_attempt_at"),
    updatedAt: timestamp("updated_at"),
  },
  (t) => [uniqueIndex("run_undos_unique").on(t.runId, t.contactId, t.listId), index("run_undos_state_idx").on(t.runId, t.state)],
);
