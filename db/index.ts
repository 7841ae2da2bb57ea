import Database from "better-sqlite3";
import { drizzle, type BetterSQLite3Database } from "drizzle-orm/better-sqlite3";
import { migrate } from "drizzle-orm/better-sqlite3/migrator";
import { fileURLToPath } from "node:url";
import * as schema from "./schema/index.ts";

export { schema };
export type Db = BetterSQLite3Database<typeof schema> & { $client: Database.Database };

const MIGRATIONS = fileURLToPath(new URL("./migrations", import.meta.url));

/**
 * Opens (creating if needed) the SQLite database at `file` (":memory:" for tests),
 * sets WAL, foreign keys and a busy timeout, and applies every pending migration.
 */
export function openDb(file: string): Db {
  const sqlite = new Database(file);
  sqlite.pragma("journal_mode = WAL");
  sqlite.pragma("foreign_keys = ON");
  sqlite.pragma("busy_timeout = 5000");
  sqlite.pragma("synchronous = NORMAL");
  const db = drizzle(sqlite, { schema }) as Db;
  migrate(db, { migrationsFolder: MIGRATIONS });
  return db;
}

/** The better-sqlite3 connection under a database or a transaction handed out by `transaction`. */
export function sqliteOf(db: Db): Database.Database {
  return (db as unknown as { session: { client: Database.Database } }).session.client;
}

const statements = new WeakMap<Database.Database, Map<string, Database.Statement>>();

/**
 * A prepared statement for `source`, prepared once per connection and reused: for the hot
 * paths (a run's pages, results and actions), where building a query per row would cost more
 * than the work. Plain SQL that PostgreSQL also reads; parameters are always bound.
 */
export function statement(db: Db, source: string): Database.Statement {
  const client = sqliteOf(db);
  let cache = statements.get(client);
  if (!cache) statements.set(client, (cache = new Map()));
  let prepared = cache.get(source);
  if (!prepared) cache.set(source, (prepared = client.prepare(source)));
  return prepared;
}

/**
 * Runs `fn` in one synchronous transaction. better-sqlite3 transactions cannot span an
 * await, so `fn` must not be async: it is rejected at runtime if it returns a promise.
 */
export function transaction<T>(db: Db, fn: (tx: Db) => T): T {
  return db.transaction((tx) => {
    const result = fn(tx as unknown as Db);
    if (result instanceof Promise) throw new Error("transaction callbacks must be synchronous");
    return result;
  }, { behavior: "immediate" });
}
