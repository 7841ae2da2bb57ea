import { index, integer, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";
import { idColumn, timestamp } from "./columns.ts";
import { runs } from "./runs.ts";
import { workspaces } from "./workspaces.ts";

/**
 * A contact's full ActiveCampaign record (fields with custom field values, list memberships,
 * tags), read right before the run deleted it (issue 14). It is personal data: `sealed` is
 * the record as JSON, encrypted with AES-256-GCM under a key derived from APP_SECRET for this
 * purpose only, the row's id as AAD; it is read only through its workspace and purged once
 * `expiresAt` (BACKUP_RETENTION_DAYS after it was taken) has passed.
 */
export const runBackups = sqliteTable(
  "run_backups",
  {
    id: idColumn(),
    runId: text("run_id")
      .notNull()
      .references(() => runs.id, { onDelete: "cascade" }),
    workspaceId: text("workspace_id")
      .notNull()
      .references(() => workspaces.id, { onDelete: "cascade" }),
    contactId: integer("contact_id").notNull(),
    sealed: text("sealed").notNull(),
    takenAt: timestamp("taken_at").notNull(),
    expiresAt: timestamp("expires_at").notNull(),
  },
  (t) => [uniqueIndex("run_backups_contact").on(t.runId, t.contactId), index("run_backups_expiry_idx").on(t.expiresAt)],
);
