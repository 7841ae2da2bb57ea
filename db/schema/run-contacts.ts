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
    /** JSON [{ listId, status }]: every list membership AC returned. */
    lists: text("lists").notNull(),
    status: text("status"),
    reason: text("reason"),
    /** JSON string[] */
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
  },
  (t) => [primaryKey({ columns: [t.runId, t.contactId] }), index("run_contacts_unverified_idx").on(t.runId, t.verifiedAt)],
);
