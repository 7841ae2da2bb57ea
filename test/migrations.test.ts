import Database from "better-sqlite3";
import { drizzle } from "drizzle-orm/better-sqlite3";
import { migrate } from "drizzle-orm/better-sqlite3/migrator";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const MIGRATIONS = fileURLToPath(new URL("../db/migrations", import.meta.url));

/** A copy of the migrations folder holding only the first `count` of them. */
function firstMigrations(count: number): string {
  const dir = mkdtempSync(path.join(tmpdir(), "lw-migrations-"));
  mkdirSync(path.join(dir, "meta"));
  const journal = JSON.parse(readFileSync(path.join(MIGRATIONS, "meta/_journal.json"), "utf8")) as { entries: { idx: number; tag: string }[] };
  journal.entries = journal.entries.slice(0, count);
  writeFileSync(path.join(dir, "meta/_journal.json"), JSON.stringify(journal));
  for (const e of journal.entries) cpSync(path.join(MIGRATIONS, `${e.tag}.sql`), path.join(dir, `${e.tag}.sql`));
  return dir;
}

describe("migrations", () => {
  it("0003 moves a run's stored data to the new shape: memberships out of JSON, flags as words, counters and balances from the rows", () => {
    const sqlite = new Database(":memory:");
    sqlite.pragma("foreign_keys = ON");
    const db = drizzle(sqlite);
    migrate(db, { migrationsFolder: firstMigrations(3) });
    const t = 1_700_000_000_000;
    sqlite.exec(`
      INSERT INTO workspaces (id, name, created_at) VALUES ('ws_1', 'a', ${t});
      INSERT INTO credit_ledger (id, workspace_id, kind, amount, reason, run_id, created_at) VALUES
        ('l1', 'ws_1', 'grant', 100, 'x', NULL, ${t}), ('l2', 'ws_1', 'charge', -3, 'x', 'run_1', ${t}), ('l3', 'ws_1', 'refund', 1, 'x', 'run_1', ${t});
      INSERT INTO runs (id, workspace_id, connection_name, scope, actions, status, created_at) VALUES ('run_1', 'ws_1', 'c', '{"kind":"all"}', '{}', 'awaiting_review', ${t});
      INSERT INTO run_contacts (run_id, contact_id, email, lists, status, reason, flags, verified_at, action) VALUES
        ('run_1', 1, 'a@x.test', '[{"listId":7,"status":1},{"listId":8,"status":2}]', 'undeliverable', 'null_mx', '["free","role"]', ${t}, 'unsubscribe'),
        ('run_1', 2, 'b@x.test', '[]', 'unknown', 'dns_error', '[]', ${t}, 'keep'),
        ('run_1', 3, 'c@x.test', '[{"listId":7,"status":1}]', NULL, NULL, NULL, NULL, NULL);
      INSERT INTO run_actions (id, run_id, contact_id, kind, list_id, state) VALUES ('act_1', 'run_1', 1, 'unsubscribe', 7, 'done');
    `);
    migrate(db, { migrationsFolder: MIGRATIONS });

    expect(sqlite.prepare("SELECT contact_id, list_id, status FROM run_memberships ORDER BY contact_id, list_id").all()).toEqual([
      { contact_id: 1, list_id: 7, status: 1 },
      { contact_id: 1, list_id: 8, status: 2 },
      { contact_id: 3, list_id: 7, status: 1 },
    ]);
    expect(sqlite.prepare("SELECT contact_id, flags FROM run_contacts ORDER BY contact_id").all()).toEqual([
      { contact_id: 1, flags: "free role" },
      { contact_id: 2, flags: "" },
      { contact_id: 3, flags: null },
    ]);
    expect(sqlite.prepare("SELECT balance FROM workspaces").get()).toEqual({ balance: 98 });
    expect(
      sqlite
        .prepare("SELECT contacts_fetched, contacts_verified, credits_charged, credits_refunded, actions_planned, actions_done, actions_failed FROM runs")
        .get(),
    ).toEqual({ contacts_fetched: 3, contacts_verified: 2, credits_charged: 3, credits_refunded: 1, actions_planned: 1, actions_done: 1, actions_failed: 0 });
    const counts = sqlite.prepare("SELECT kind, key, n FROM run_counts ORDER BY kind, key").all();
    expect(counts).toEqual([
      { kind: "action", key: "keep", n: 1 },
      { kind: "action", key: "unsubscribe", n: 1 },
      { kind: "plan", key: "unsubscribe_contacts", n: 1 },
      { kind: "plan", key: "unsubscribe_requests", n: 1 },
      { kind: "reason", key: "dns_error", n: 1 },
      { kind: "reason", key: "null_mx", n: 1 },
      { kind: "status", key: "undeliverable", n: 1 },
      { kind: "status", key: "unknown", n: 1 },
    ]);
  });
});
