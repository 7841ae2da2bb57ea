import { index, integer, primaryKey, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";
import { createdAt, timestamp } from "./columns.ts";
import { runs } from "./runs.ts";

export const LABEL_STATES = ["pending", "done", "skipped", "failed"] as const;
export type LabelState = (typeof LABEL_STATES)[number];

/**
 * One contact to label in ActiveCampaign: the status word (and reason) to write, the batch
 * it is in, and how it ended. `skipped`: left out on purpose (its e-mail changed or it is gone
 * from AC since the fetch), never written. `resultCode` says which outcome it was.
 */
export const runLabels = sqliteTable(
  "run_labels",
  {
    runId: text("run_id")
      .notNull()
      .references(() => runs.id, { onDelete: "cascade" }),
    contactId: integer("contact_id").notNull(),
    /** The status word written to the field. */
    value: text("value").notNull(),
    /** The reason written to the reason field, or null when the run writes none. */
    reason: text("reason"),
    state: text("state", { enum: LABEL_STATES }).notNull().default("pending"),
    /** The batch (run_label_batches.id) that carries it now; null between batches. */
    batchId: text("batch_id"),
    /** "written", "already_current", "email_changed", "contact_gone", "import_refused", "import_failed"… */
    resultCode: text("result_code"),
    /** AC's words when it refused the contact. */
    error: text("error"),
    /** JSON: ids of AC contactTags of an earlier verdict, removed once the new label is written. */
    staleTags: text("stale_tags"),
    /** Names of the tags removed, for the report. */
    removedTags: text("removed_tags"),
    updatedAt: timestamp("updated_at"),
  },
  (t) => [primaryKey({ columns: [t.runId, t.contactId] }), index("run_labels_state_idx").on(t.runId, t.state, t.contactId), index("run_labels_batch_idx").on(t.runId, t.batchId)],
);

export const LABEL_BATCH_MODES = ["import", "direct"] as const;
export type LabelBatchMode = (typeof LABEL_BATCH_MODES)[number];
export const LABEL_BATCH_STATES = ["pending", "sending", "queued", "done", "failed", "split"] as const;
export type LabelBatchState = (typeof LABEL_BATCH_STATES)[number];

/**
 * A unit of labelling work: up to 250 contacts in one bulk import (or, for a handful of
 * writes, per-contact requests). Its id is its idempotency key, recorded before anything is
 * sent: `sending` before the request leaves, `queued` with AC's batchId once AC took it,
 * `done`/`failed` after the import status says so. A batch found `sending` after a crash is
 * re-read and sent once more; a `queued` one is only polled. A failed batch is retried, then
 * split in two (`split`), down to one contact, which is then reported as failed.
 */
export const runLabelBatches = sqliteTable(
  "run_label_batches",
  {
    id: text("id").primaryKey(),
    runId: text("run_id")
      .notNull()
      .references(() => runs.id, { onDelete: "cascade" }),
    seq: integer("seq").notNull(),
    /** The batch this one was split from. */
    parentId: text("parent_id"),
    mode: text("mode", { enum: LABEL_BATCH_MODES }).notNull().default("import"),
    state: text("state", { enum: LABEL_BATCH_STATES }).notNull().default("pending"),
    contacts: integer("contacts").notNull().default(0),
    /** AC's batchId from POST /import/bulk_import, polled at GET /import/info. */
    acBatchId: text("ac_batch_id"),
    /** Times it was sent (a crash or weather can send it once more). */
    sends: integer("sends").notNull().default(0),
    /** Times AC reported it failed; at 2 it is split. */
    failures: integer("failures").notNull().default(0),
    polls: integer("polls").notNull().default(0),
    /** When to poll it next (queued), or send it again (pending after a failure). */
    nextAt: timestamp("next_at"),
    sentAt: timestamp("sent_at"),
    error: text("error"),
    createdAt: createdAt(),
    updatedAt: timestamp("updated_at"),
  },
  (t) => [uniqueIndex("run_label_batches_seq").on(t.runId, t.seq), index("run_label_batches_state_idx").on(t.runId, t.state)],
);
