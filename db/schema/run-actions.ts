import { index, integer, primaryKey, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";
import { createdAt, idColumn, timestamp } from "./columns.ts";
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
    /**
     * For a done unsubscribe: AC's `udate` of the membership as this run left it. An undo
     * restores the membership only while AC still has it unsubscribed with this very udate.
     */
    acUdate: text("ac_udate"),
    updatedAt: timestamp("updated_at"),
  },
  (t) => [
    uniqueIndex("run_actions_unique").on(t.runId, t.contactId, t.kind, t.listId),
    index("run_actions_state_idx").on(t.runId, t.state),
  ],
);

export const UNDO_STATES = ["pending", "sending", "restored", "left", "failed"] as const;
export type UndoState = (typeof UNDO_STATES)[number];

/**
 * One membership an undo of the run re-subscribes: only a list this run unsubscribed the
 * contact from. `sending` is written before the request; `left` means it was not touched
 * because it changed since the run (re-subscribed, unsubscribed again by other means, gone),
 * with the reason in `resultCode`.
 */
export const runUndos = sqliteTable(
  "run_undos",
  {
    runId: text("run_id")
      .notNull()
      .references(() => runs.id, { onDelete: "cascade" }),
    contactId: integer("contact_id").notNull(),
    listId: integer("list_id").notNull(),
    /** The udate this run left the membership with (run_actions.ac_udate). */
    acUdate: text("ac_udate"),
    state: text("state", { enum: UNDO_STATES }).notNull().default("pending"),
    /** "changed_since", "contact_gone", "not_on_list", "unknown_udate", or the AcError kind of a failure. */
    resultCode: text("result_code"),
    error: text("error"),
    attempts: integer("attempts").notNull().default(0),
    nextAttemptAt: timestamp("next_attempt_at"),
    updatedAt: timestamp("updated_at"),
  },
  (t) => [primaryKey({ columns: [t.runId, t.contactId, t.listId] }), index("run_undos_state_idx").on(t.runId, t.state, t.contactId)],
);

/**
 * A contact's whole ActiveCampaign record (fields, list memberships, tags) as read right
 * before the run deleted it: what the backup download is made of.
 */
export const runBackups = sqliteTable(
  "run_backups",
  {
    runId: text("run_id")
      .notNull()
      .references(() => runs.id, { onDelete: "cascade" }),
    contactId: integer("contact_id").notNull(),
    /** JSON, core/runs/backups.ts ContactRecord. */
    record: text("record").notNull(),
    createdAt: createdAt(),
  },
  (t) => [primaryKey({ columns: [t.runId, t.contactId] })],
);
