import { integer, sqliteTable, text } from "drizzle-orm/sqlite-core";
import { createdAt, idColumn } from "./columns.ts";

export const workspaces = sqliteTable("workspaces", {
  id: idColumn(),
  name: text("name").notNull(),
  /** SUM(credit_ledger.amount), kept in the transaction that appends each entry. */
  balance: integer("balance").notNull().default(0),
  createdAt: createdAt(),
});
