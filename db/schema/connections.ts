import { index, sqliteTable, text } from "drizzle-orm/sqlite-core";
import { createdAt, idColumn, timestamp } from "./columns.ts";
import { workspaces } from "./workspaces.ts";

/** An ActiveCampaign account. The API key is stored only as AES-256-GCM ciphertext. */
export const connections = sqliteTable(
  "connections",
  {
    id: idColumn(),
    workspaceId: text("workspace_id")
      .notNull()
      .references(() => workspaces.id, { onDelete: "cascade" }),
    name: text("name").notNull(),
    apiUrl: text("api_url").notNull(),
    apiKeyCiphertext: text("api_key_ciphertext").notNull(),
    keyHint: text("key_hint").notNull(),
    acAccountEmail: text("ac_account_email"),
    lastCheckedAt: timestamp("last_checked_at"),
    /** The last check's failure, in words for the user; `lastErrorCode` says what kind it was. */
    lastError: text("last_error"),
    /** An AppError code: "ac_key_refused", "ac_unreachable", "ac_error"… Pages decide by it, never by the words. */
    lastErrorCode: text("last_error_code"),
    createdAt: createdAt(),
  },
  (t) => [index("connections_workspace_idx").on(t.workspaceId)],
);
