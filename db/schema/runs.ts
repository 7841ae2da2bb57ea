import { index, integer, real, sqliteTable, text } from "drizzle-orm/sqlite-core";
import { createdAt, idColumn, timestamp } from "./columns.ts";
import { connections } from "./connections.ts";
import { workspaces } from "./workspaces.ts";

export const RUN_STATUSES = [
  "queued",
  "running",
  "paused_credits",
  "paused_dns",
  "awaiting_review",
  "applying",
  "completed",
  "failed",
  "cancelled",
] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

/** Where a run's addresses come from: an ActiveCampaign scope, or an uploaded file (issue 19). */
export const RUN_SOURCES = ["ac", "upload"] as const;
export type RunSource = (typeof RUN_SOURCES)[number];

/**
 * One hygiene run. Its progress counters are updated in the same transactions that write the
 * rows they count (contacts, results, ledger entries, actions), so they cannot drift from them.
 */
export const runs = sqliteTable(
  "runs",
  {
    id: idColumn(),
    workspaceId: text("workspace_id")
      .notNull()
      .references(() => workspaces.id, { onDelete: "cascade" }),
    connectionId: text("connection_id").references(() => connections.id, { onDelete: "set null" }),
    connectionName: text("connection_name").notNull(),
    source: text("source", { enum: RUN_SOURCES }).notNull().default("ac"),
    /** The upload a run of source "upload" verifies (no foreign key: the upload row names its run). */
    uploadId: text("upload_id"),
    /** JSON: { kind: "all" } | { kind: "lists", listIds } | { kind: "tag", tagId } */
    scope: text("scope").notNull(),
    /** JSON: the action per status and the per-reason overrides. */
    actions: text("actions").notNull(),
    smtpProbe: integer("smtp_probe", { mode: "boolean" }).notNull().default(false),
    /**
     * Whether mailboxes were really asked (the probe ran), as the verify stage decided: a run
     * that asked for the probe on a server without it, or whose preflight failed, checked
     * domains only. Null until verification starts.
     */
    mailboxChecked: integer("mailbox_checked", { mode: "boolean" }),
    /** JSON { lists: { id: name }, tags: { id: name } }: AC's names as they were when the run fetched. */
    names: text("names"),
    status: text("status", { enum: RUN_STATUSES }).notNull(),
    /** Why the run is where it is, in words for the user (paused, failed, held for review). */
    statusReason: text("status_reason"),
    /** Why it failed, as a code ("ac_key_refused", "connection_deleted", "ac_<kind>", "internal"), beside the words. */
    statusCode: text("status_code"),
    /** JSON { part, afterId }: the keyset position of the next page to fetch. */
    fetchCursor: text("fetch_cursor"),
    fetchDone: integer("fetch_done", { mode: "boolean" }).notNull().default(false),
    /** Contacts AC reported for the scope (for lists: the sum over lists, before de-duplication). */
    total: integer("total"),
    /**
     * Contacts in the scope as estimated before fetching (AC's count of each list, the tag or
     * the account; for several lists an upper bound: a contact on two lists counts once).
     */
    estimatedTotal: integer("estimated_total"),
    /** Where the current stretch of work began (a claim, an approval), and the count done then: the rate is measured from it. */
    rateFromAt: timestamp("rate_from_at"),
    rateFromCount: integer("rate_from_count").notNull().default(0),
    /** Credits the next contacts need; a run paused for credits resumes once the balance covers it. */
    creditsNeeded: integer("credits_needed"),
    planReady: integer("plan_ready", { mode: "boolean" }).notNull().default(false),
    /** Scheduled runs may apply without review; they still hold when the destructive share is abnormal. */
    autoApply: integer("auto_apply", { mode: "boolean" }).notNull().default(false),
    /** Share of contacts (0-1) above which a scheduled run holds for review, and approving any run needs the count typed (ANOMALY_PERCENT for manual runs). */
    holdThreshold: real("hold_threshold"),
    deleteConfirmed: integer("delete_confirmed", { mode: "boolean" }).notNull().default(false),
    /** The user typed the number of contacts a plan above the anomaly threshold unsubscribes or deletes. */
    anomalyConfirmed: integer("anomaly_confirmed", { mode: "boolean" }).notNull().default(false),
    acRequests: integer("ac_requests").notNull().default(0),
    // Progress counters, kept in the transactions that change what they count (core/runs).
    contactsFetched: integer("contacts_fetched").notNull().default(0),
    contactsVerified: integer("contacts_verified").notNull().default(0),
    creditsCharged: integer("credits_charged").notNull().default(0),
    creditsRefunded: integer("credits_refunded").notNull().default(0),
    actionsPlanned: integer("actions_planned").notNull().default(0),
    actionsDone: integer("actions_done").notNull().default(0),
    actionsFailed: integer("actions_failed").notNull().default(0),
    // Labels in ActiveCampaign (issue 17): contacts planned, written (or already current), left
    // out (e-mail changed, gone) and failed, kept in the transactions that move run_labels rows.
    labelsPlanned: integer("labels_planned").notNull().default(0),
    labelsDone: integer("labels_done").notNull().default(0),
    labelsSkipped: integer("labels_skipped").notNull().default(0),
    labelsFailed: integer("labels_failed").notNull().default(0),
    /** JSON: the AC field and tag ids the labels go to, found or created on first use. */
    labelSetup: text("label_setup"),
    /** AC failures in a row (after the client's own retries); progress resets it. They set the backoff, never fail the run. */
    transientFailures: integer("transient_failures").notNull().default(0),
    notes: text("notes"),
    leaseOwner: text("lease_owner"),
    /** A new random value on every claim: a write from an older attempt no longer matches it. */
    leaseToken: text("lease_token"),
    leaseExpiresAt: timestamp("lease_expires_at"),
    /** A paused run is not picked up again before this time. */
    notBefore: timestamp("not_before"),
    scheduleId: text("schedule_id"),
    createdAt: createdAt(),
    startedAt: timestamp("started_at"),
    fetchedAt: timestamp("fetched_at"),
    verifiedAt: timestamp("verified_at"),
    reviewAt: timestamp("review_at"),
    approvedAt: timestamp("approved_at"),
    finishedAt: timestamp("finished_at"),
    /** When the user asked to undo the run's unsubscribes (issue 14); set once, so an undo is asked for at most once. */
    undoRequestedAt: timestamp("undo_requested_at"),
    /** When every membership of the undo was restored or left alone. */
    undoFinishedAt: timestamp("undo_finished_at"),
  },
  (t) => [index("runs_workspace_idx").on(t.workspaceId, t.createdAt), index("runs_status_idx").on(t.status)],
);
