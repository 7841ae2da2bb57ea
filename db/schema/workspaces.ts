import { sqliteTable, text } from "drizzle-orm/sqlite-core";
import { createdAt, idColumn } from "./columns.ts";

export const workspaces = sqliteTable("workspaces", {
  id: idColumn(),
  name: text("name").notNull(),
  createdAt: createdAt(),
});
