import { integer, text } from "drizzle-orm/sqlite-core";

/** Primary key: a prefixed, time-ordered random id (see db/ids.ts). */
export const idColumn = () => text("id").primaryKey();

/** Milliseconds since the epoch, read back as Date. */
export const timestamp = (name: string) => integer(name, { mode: "timestamp_ms" });

export const createdAt = () => timestamp("created_at").notNull();
