import { index, integer, primaryKey, sqliteTable, text } from "drizzle-orm/sqlite-core";
import { createdAt, idColumn, timestamp } from "./columns.ts";
import { workspaces } from "./workspaces.ts";

/** How an uploaded file's bytes were read, so its result file is written back the same way. */
export const UPLOAD_ENCODINGS = ["utf-8", "utf-8-bom", "utf-16le", "utf-16be", "windows-1252"] as const;
export type UploadEncoding = (typeof UPLOAD_ENCODINGS)[number];

/**
 * A CSV file (or plain list) uploaded for verification. The file lives on disk under
 * DATA_DIR/uploads, as UTF-8; its rows are in upload_rows, its unique addresses in
 * upload_addresses. Once started, `runId` is the run that verifies them (a run whose source is
 * this upload). After `expiresAt` the file, its rows and the run's addresses are deleted and
 * `deletedAt` is set; the counts stay.
 */
export const uploads = sqliteTable(
  "uploads",
  {
    id: idColumn(),
    workspaceId: text("workspace_id")
      .notNull()
      .references(() => workspaces.id, { onDelete: "cascade" }),
    fileName: text("file_name").notNull(),
    /** Size of the file as uploaded, in bytes. */
    bytes: integer("bytes").notNull(),
    encoding: text("encoding", { enum: UPLOAD_ENCODINGS }).notNull(),
    /** "," ";" or "\t". */
    delimiter: text("delimiter").notNull(),
    hasHeader: integer("has_header", { mode: "boolean" }).notNull(),
    /** JSON: the column names (the header's, or "Column 1", "Column 2"...). */
    columns: text("columns").notNull(),
    /** JSON: per column, the share (0-1) of sampled rows whose cell looks like an e-mail address. */
    columnScores: text("column_scores").notNull(),
    /** JSON: the first rows as read, for the page to show. */
    preview: text("preview").notNull(),
    /** The column the addresses are read from (0-based): detected, then confirmed or changed by the user. */
    emailColumn: integer("email_column").notNull(),
    columnConfirmed: integer("column_confirmed", { mode: "boolean" }).notNull().default(false),
    /** Data rows read (the header and blank lines not counted). */
    rows: integer("rows").notNull().default(0),
    /** Rows whose e-mail cell is empty: not verified, not charged. */
    blankRows: integer("blank_rows").notNull().default(0),
    /** Distinct addresses, compared without regard to case: one credit each. */
    uniqueAddresses: integer("unique_addresses").notNull().default(0),
    /** JSON: rows that could not be read ([{ line, message }], the first 100). */
    problems: text("problems").notNull().default("[]"),
    problemCount: integer("problem_count").notNull().default(0),
    runId: text("run_id"),
    createdAt: createdAt(),
    expiresAt: timestamp("expires_at").notNull(),
    deletedAt: timestamp("deleted_at"),
  },
  (t) => [index("uploads_workspace_idx").on(t.workspaceId, t.createdAt), index("uploads_expires_idx").on(t.deletedAt, t.expiresAt)],
);

/** Every data row of an upload, in file order, with the address read from its e-mail column. */
export const uploadRows = sqliteTable(
  "upload_rows",
  {
    uploadId: text("upload_id")
      .notNull()
      .references(() => uploads.id, { onDelete: "cascade" }),
    /** 1 for the first data row. */
    rowNo: integer("row_no").notNull(),
    /** The e-mail cell, trimmed. */
    email: text("email").notNull(),
    /** The address as duplicates are compared (lower case); null when the cell is empty. */
    key: text("key"),
  },
  // No index on key: rows are appended in order (fast at a million); the distinct keys are found
  // once, by a sort, into upload_addresses, whose key index the results join through.
  (t) => [primaryKey({ columns: [t.uploadId, t.rowNo] })],
);

/**
 * The distinct addresses of an upload, each named by the first row it appears on: that number
 * is its contact id in the run that verifies it, so results join back to every row by `key`.
 */
export const uploadAddresses = sqliteTable(
  "upload_addresses",
  {
    uploadId: text("upload_id")
      .notNull()
      .references(() => uploads.id, { onDelete: "cascade" }),
    addressId: integer("address_id").notNull(),
    key: text("key").notNull(),
  },
  (t) => [primaryKey({ columns: [t.uploadId, t.addressId] }), index("upload_addresses_key_idx").on(t.uploadId, t.key)],
);
