import { index, integer, primaryKey, sqliteTable, text } from "drizzle-orm/sqlite-core";
import { timestamp } from "./columns.ts";
import { runs } from "./runs.ts";

export const ACTIONS = ["keep", "unsubscribe", "delete"] as const;
export type Action = (typeof ACTIONS)[number];

/** A contact as fetched for one run, with its verification result and planned action. */
export const runContacts = sqliteTable(
  "run_contacts",
  {
    runId: text("run_id")
      .notNull()
      .references(() => runs.id, { onDelete: "cascade" }),
    /** AC's contact id (a string of digits in AC's API), kept as an integer for keyset order. */
    contactId: integer("contact_id").notNull(),
    email: text("email").notNull(),
    firstName: text("first_name").notNull().default(""),
    lastName: text("last_name").notNull().default(""),
    bouncedHard: integer("bounced_hard", { mode: "boolean" }).notNull().default(false),
    status: text("status"),
    reason: text("reason"),
    /** Space-separated flags ("free role"); "" when none. */
    flags: text("flags"),
    suggestion: text("suggestion"),
    normalized: text("normalized"),
    /** The mail provider whose rules read the probe (verify/providers.ts), null for others. */
    provider: text("provider"),
    verifiedAt: timestamp("verified_at"),
    /** A mail server asked us to come back later (greylisting, busy): not tried again before this. */
    retryAt: timestamp("retry_at"),
    /** Why it waits: "greylisted" or "busy" (its mail server), "budget" (the probe budget). */
    retryWhy: text("retry_why"),
    /** Greylisting retries already spent on this address. */
    verifyAttempts: integer("verify_attempts").notNull().default(0),
    action: text("action", { enum: ACTIONS }),
    /** Taken out of the plan by hand at review: kept, not labelled, whatever its result (issue 14). */
    excluded: integer("excluded", { mode: "boolean" }).notNull().default(false),
  },
  (t) => [
    primaryKey({ columns: [t.runId, t.contactId] }),
    index("run_contacts_unverified_idx").on(t.runId, t.verifiedAt, t.contactId),
    // The review's sample and filters by planned action.
    index("run_contacts_action_idx").on(t.runId, t.action, t.contactId),
  ],
);

/** Every list membership AC returned for a run's contact (status 0-3), as fetched. */
export const runMemberships = sqliteTable(
  "run_memberships",
  {
    runId: text("run_id")
      .notNull()
      .references(() => runs.id, { onDelete: "cascade" }),
    contactId: integer("contact_id").notNull(),
    listId: integer("list_id").notNull(),
    status: integer("status").notNull(),
  },
  (t) => [primaryKey({ columns: [t.runId, t.contactId, t.listId] })],
);

/**
 * "plan" holds the plan's totals: unsubscribe_requests, unsubscribe_contacts, delete_contacts,
 * excluded; "label" the contacts to label per value, "label_done" those labelled (written or
 * already current); "done" and "failed" the changes sent per kind (unsubscribe, delete);
 * "list" the results and changes per list, keyed `<listId>:<what>` (core/runs/planning.ts).
 */
export const COUNT_KINDS = ["status", "reason", "action", "plan", "label", "label_done", "done", "failed", "list"] as const;

/**
 * Counts of a run's contacts per status, reason and planned action, and the plan's totals,
 * kept up to date in the transactions that store results and plans, so a progress poll reads a few rows instead of
 * counting a million.
 */
export const runCounts = sqliteTable(
  "run_counts",
  {
    runId: text("run_id")
      .notNull()
      .references(() => runs.id, { onDelete: "cascade" }),
    kind: text("kind", { enum: COUNT_KINDS }).notNull(),
    key: text("key").notNull(),
    n: integer("n").notNull().default(0),
  },
  (t) => [primaryKey({ columns: [t.runId, t.kind, t.key] })],
);
