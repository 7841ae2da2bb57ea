import { sqliteTable, text } from "drizzle-orm/sqlite-core";
import { createdAt, idColumn } from "./columns.ts";
import { workspaces } from "./workspaces.ts";

export const USER_ROLES = ["member", "admin"] as const;
export type UserRole = (typeof USER_ROLES)[number];

export const users = sqliteTable("users", {
  id: idColumn(),
  workspaceId: text("workspace_id")
    .notNull()
    .references(() => workspaces.id, { onDelete: "cascade" }),
  email: text("email").notNull().unique(),
  passwordHash: text("password_hash").notNull(),
  /** "admin": the operator, who may approve credit requests and grant credits in the app. */
  role: text("role", { enum: USER_ROLES }).notNull().default("member"),
  createdAt: createdAt(),
});
