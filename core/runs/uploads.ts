import type Database from "better-sqlite3";
import { balanceOf, chargeCredits } from "../services/credits.ts";
import type { Clock } from "../lib/clock.ts";
import type { Db } from "../../db/index.ts";
import { plural } from "../lib/words.ts";

/**
 * The upload source of a run (issue 19), in the attempt's lease-checked transactions: where an
 * AC run stores a fetched page of contacts, an upload run copies the next page of its upload's
 * unique addresses (by keyset on the address id, the first row it is on) into run_contacts,
 * charged in the same transaction, and moves its cursor. Verification then reads run_contacts
 * as for any run.
 */
export interface UploadSourceStore {
  /**
   * Stores the next addresses of the run's upload (at most `limit`, at most what the balance
   * covers) with their charge; `done` once every address is stored; `needed` when the balance
   * covers none of them.
   */
  storeUploadPage(limit: number): { stored: number; last: number | null; done: boolean } | { needed: number };
}

interface Parts {
  db: Db;
  clock: Clock;
  runId: string;
  workspaceId: string;
  sql: (source: string) => Database.Statement;
  leased: <T>(fn: () => T) => T;
  now: () => number;
}

/** What an upload run's fetch stage asks when it is short of credits: a page's worth, as an AC run would. */
const NEED_AT_LEAST = 100;

export function uploadSourceMethods({ db, clock, runId, workspaceId, sql, leased, now }: Parts): UploadSourceStore {
  return {
    storeUploadPage(limit) {
      return leased(() => {
        const run = sql("SELECT upload_id, fetch_cursor, contacts_fetched, total FROM runs WHERE id = ?").get(runId) as {
          upload_id: string;
          fetch_cursor: string | null;
          contacts_fetched: number;
          total: number | null;
        };
        const after = run.fetch_cursor ? (JSON.parse(run.fetch_cursor) as number) : 0;
        const balance = balanceOf(db, workspaceId);
        const left = Math.max(0, (run.total ?? 0) - run.contacts_fetched);
        const take = Math.min(limit, balance);
        if (take === 0 && left > 0) return { needed: Math.min(NEED_AT_LEAST, left) };
        const page = sql(
          "SELECT a.address_id, r.email FROM upload_addresses a JOIN upload_rows r ON r.upload_id = a.upload_id AND r.row_no = a.address_id WHERE a.upload_id = ? AND a.address_id > ? ORDER BY a.address_id LIMIT ?",
        ).all(run.upload_id, after, Math.max(1, take)) as { address_id: number; email: string }[];
        const insert = sql("INSERT INTO run_contacts (run_id, contact_id, email) VALUES (?, ?, ?) ON CONFLICT DO NOTHING");
        let fresh = 0;
        let firstFresh: number | null = null;
        for (const a of page) {
          if (insert.run(runId, a.address_id, a.email).changes === 0) continue;
          fresh += 1;
          firstFresh ??= a.address_id;
        }
        if (fresh > 0) {
          // Each address is stored once, so its id names the charge for it uniquely (as for AC contacts).
          const charge = chargeCredits(db, clock, {
            workspaceId,
            amount: fresh,
            reason: `${plural(fresh, "address", "addresses")} of the file to verify`,
            runId,
            idempotencyKey: `run:${runId}:contacts:${firstFresh}`,
          });
          // The balance was read in this transaction: it covers the page.
          if (charge === "insufficient") throw new Error("the balance read in this transaction no longer covers the page");
        }
        const last = page.at(-1)?.address_id ?? null;
        const done = page.length < Math.max(1, take) || (last !== null && left - fresh <= 0);
        sql(
          "UPDATE runs SET fetch_cursor = ?, fetch_done = ?, contacts_fetched = contacts_fetched + ?, fetched_at = CASE WHEN ? THEN ? ELSE fetched_at END WHERE id = ?",
        ).run(JSON.stringify(last ?? after), done ? 1 : 0, fresh, done ? 1 : 0, now(), runId);
        return { stored: fresh, last, done };
      });
    },
  };
}
