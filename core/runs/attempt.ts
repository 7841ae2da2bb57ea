import { schema, sqliteOf, statement, transaction, type Db } from "../../db/index.ts";
import type { AcContact } from "../ac/index.ts";
import type { RunStatus } from "../domain/run-status.ts";
import type { Clock } from "../lib/clock.ts";
import { balanceOf, chargeCredits, refundCredits } from "../services/credits.ts";
import type { VerificationResult } from "../../verify/index.ts";
import { uploadSourceMethods, type UploadSourceStore } from "./uploads.ts";
import { labelMethods, type LabelStore } from "./labels.ts";
import { sealBackup, type BackupKeeping, type BackupRecord } from "./backups.ts";
import { newId } from "../../db/ids.ts";
import { plural } from "../lib/words.ts";
import { chunkEnd, countPlan, listKey, planLabelRange, planRange, type LabelRule, type PlanRule, type PlanTotals } from "./planning.ts";
import { addNote, failRun, LeaseLost, moveRun, readRun, updateLeasedRun, type FailureCode, type Lease, type RunRow, type RunValues } from "./store.ts";

/**
 * What the stages of one attempt at a run (fetch, verify, plan, apply) may read and write,
 * all of it checked against the attempt's lease: a write from an attempt that lost its
 * claim (cancelled, or taken over after a stall) throws LeaseLost and changes nothing. It is
 * the seam between the stages and the database: the stages decide, this stores.
 *
 * The hot paths (a page of contacts, a turn's results, an action's outcome) are plain SQL in
 * statements prepared once per connection, each batch in one transaction that also keeps the
 * run's counters (contacts, results per status and reason, credits, actions): a progress poll
 * reads those instead of counting rows. The SQL is portable (no SQLite-only functions).
 */
export interface AttemptStore extends UploadSourceStore, LabelStore {
  readonly runId: string;
  readonly lease: Lease;
  /** The run as stored now (LeaseLost if the claim is gone). */
  run(): RunRow;
  move(to: RunStatus, values?: RunValues): RunRow;
  update(values: RunValues): RunRow;
  note(text: string): void;
  fail(reason: string, code: FailureCode): RunRow;

  // fetch
  /** Adds AC's count of a scope part to the run's total and stores the new cursor (`done`: nothing left to fetch). */
  startPart(cursor: unknown, total: number, done: boolean): void;
  /**
   * Stores a page's new contacts with their charge and the moved cursor, in one transaction.
   * When the balance covers only some of them, stores those (`short`), the cursor stopping
   * after the last one paid for; `needed` when it covers none. `verified`: of the contacts
   * stored, those stored with their result (`StorePage.verify`).
   */
  storePage(page: StorePage): { stored: number; verified: number; short?: true } | { needed: number };
  pauseForCredits(needed: number, retryAt: number): void;

  // verify
  /** Unverified contacts due now (not parked into the future), by id after `afterId`. */
  dueContacts(afterId: number, limit: number): DueContact[];
  /** Stores results (refunding unknowns) and parks the addresses that must wait, in one transaction. */
  saveVerification(results: ContactResult[], parked: ParkedContact[]): void;
  /** Addresses waiting for their mail server, and when the first is due. */
  waiting(): { count: number; nextAt: number | null };

  // plan (core/runs/planning.ts)
  /** Plans the contacts after `afterId` (at most `limit`): their action, and the AC requests it takes. */
  planChunk(afterId: number, limit: number, rule: PlanRule): { last: number | null };
  /** Decides, for contacts after `afterId` (at most `limit`), who gets a label. Idempotent. */
  planLabelChunk(afterId: number, limit: number, rule: LabelRule): { last: number | null };
  /** Counts the plan (and each list's results) over the whole run and stores the counts. */
  planSummary(chosenLists: number[] | null): PlanTotals;

  // apply
  /** Actions to send now (pending and due, or left `sending` by a crash), in (contact, list) order after `after`. */
  dueActions(after: ActionKey | null, limit: number): ActionRow[];
  /**
   * Keeps the contact's whole record (sealed) before it is deleted: one backup per contact and
   * run, a later read (an attempt after a crash or weather) replacing the earlier one.
   */
  saveBackup(record: BackupRecord): void;
  // undo (issue 14)
  /** Memberships of the run's undo to handle now (pending and due, or left `sending` by a crash). */
  dueUndos(limit: number): UndoRow[];
  /** Records that this membership's re-subscribe is about to be sent (with its new attempt count). */
  markUndoSending(id: string, attempts: number): void;
  saveUndoOutcome(outcome: UndoOutcome): void;
  undoCounts(): Record<"pending" | "sending" | "done" | "skipped" | "failed", number>;
  /** When the next pending membership is due, if every one left waits for weather. */
  nextUndoAt(): number | null;
  /** Records that every membership of the undo was handled and moves the run back to completed, its words followed by `statusReason`. */
  finishUndo(statusReason: string): void;
  /** Records that these actions are about to be sent (each with its new attempt count). */
  markSending(actions: { id: string; attempts: number }[]): void;
  /** Stores the outcomes of sent actions, in one transaction. */
  saveActionOutcomes(outcomes: ActionOutcome[]): void;
  /** Actions per state, and those done per kind (list memberships unsubscribed, contacts deleted). */
  actionCounts(): Record<"pending" | "sending" | "done" | "failed", number> & { doneByKind: { unsubscribe: number; delete: number } };
  /** When the next pending action is due, if every one left waits for weather. */
  nextActionAt(): number | null;
}

export interface UndoRow {
  id: string;
  contactId: number;
  listId: number;
  acUpdated: string | null;
  state: "pending" | "sending";
  attempts: number;
}

export type UndoOutcome =
  | { id: string; state: "done" }
  | { id: string; state: "skipped"; reason: "changed_since" | "contact_gone" | "not_recorded" }
  | { id: string; state: "failed"; reason: string; error: string }
  | { id: string; state: "pending"; reason: string; error: string; nextAttemptAt: number };

export interface StorePage {
  contacts: AcContact[];
  /**
   * A contact's result when it is known without waiting (core/verification.ts, `peek`): stored
   * with the contact, counted and refunded (unknowns) in the page's transaction. Null: the
   * contact waits for the verify stage.
   */
  verify?: (contact: AcContact) => VerificationResult | null;
  /**
   * The cursor after this page, computed from the stored one inside the transaction;
   * `upTo` is the last contact stored when the balance cut the page short (null: all of it).
   */
  cursor: (stored: unknown, upTo: string | null) => { cursor: unknown; done: boolean };
}

export interface DueContact {
  contactId: number;
  email: string;
  bouncedHard: boolean;
  verifyAttempts: number;
}

export interface ContactResult {
  contactId: number;
  result: VerificationResult;
}

export interface ParkedContact {
  contactId: number;
  retryAt: number;
  verifyAttempts: number;
  /** Why it waits: its mail server said "later" (greylisted, busy), or the probe budget is spent. */
  why?: "greylisted" | "busy" | "budget";
}

export type ActionRow = typeof schema.runActions.$inferSelect;
/** A position in a run's actions, in the order they are sent. */
export type ActionKey = { contactId: number; listId: number; kind: "unsubscribe" | "delete" };

export type ActionOutcome =
  /** `acUpdated`: an unsubscribe's membership `udate` as AC gave it (what an undo checks against). */
  | { id: string; state: "done"; resultCode: string | null; error: string | null; acUpdated?: string | null }
  | { id: string; state: "failed"; resultCode: string; error: string }
  /** Weather: back to pending, not sent again before `nextAttemptAt`. */
  | { id: string; state: "pending"; resultCode: string; error: string; nextAttemptAt: number };

/** What a batch of stored results adds to the run's counters. */
interface Tally {
  stored: number;
  firstStored: number;
  byStatus: Map<string, number>;
  byReason: Map<string, number>;
}

const newTally = (): Tally => ({ stored: 0, firstStored: Number.MAX_SAFE_INTEGER, byStatus: new Map(), byReason: new Map() });

function count(tally: Tally, contactId: number, result: VerificationResult): void {
  tally.stored += 1;
  tally.firstStored = Math.min(tally.firstStored, contactId);
  tally.byStatus.set(result.status, (tally.byStatus.get(result.status) ?? 0) + 1);
  tally.byReason.set(result.reason, (tally.byReason.get(result.reason) ?? 0) + 1);
}

/**
 * The credits a paused run still needs to check the rest of its scope: its estimate (or AC's
 * count) less the contacts already paid for; `atLeast` when no count is known yet.
 */
export function creditsStillNeeded(run: Pick<RunRow, "estimatedTotal" | "total" | "contactsFetched" | "scope">): { credits: number; atLeast: boolean; upTo: boolean } {
  const estimate = run.estimatedTotal ?? run.total;
  if (estimate === null) return { credits: 1, atLeast: true, upTo: false };
  // Several lists are counted list by list: a contact on two of them is paid for once.
  const scope = JSON.parse(run.scope) as { kind: string; listIds?: unknown[] };
  // Stryker disable next-line OptionalChaining: read only for a list scope, which always names its lists
  return { credits: Math.max(1, estimate - run.contactsFetched), atLeast: false, upTo: scope.kind === "lists" && (scope.listIds?.length ?? 0) > 1 };
}

/** Thrown inside a page's transaction to roll it back when the balance falls short. */
class ShortOfCredits extends Error {
  constructor(readonly needed: number) {
    // Stryker disable next-line StringLiteral: caught inside storePage and answered as `{ needed }`: its message is never read
    super("short of credits");
  }
}

interface ActionSqlRow {
  id: string;
  run_id: string;
  contact_id: number;
  kind: "unsubscribe" | "delete";
  list_id: number;
  state: ActionRow["state"];
  error: string | null;
  result_code: string | null;
  ac_updated: string | null;
  attempts: number;
  next_attempt_at: number | null;
  updated_at: number | null;
}

/**
 * The SQLite attempt store. `requests` reads how many AC requests the attempt's client has
 * sent; each write adds what was sent since the last one to the run's count.
 */
// Stryker disable next-line ArrowFunction: without a counter, `() => undefined` makes each delta NaN, which is no more above 0 than 0 is: nothing is counted either way
export function sqliteAttemptStore(db: Db, clock: Clock, lease: Lease, backups: BackupKeeping, requests: () => number = () => 0): AttemptStore {
  const runId = lease.runId;
  const client = sqliteOf(db);
  const sql = (source: string) => statement(db, source);
  let counted = requests();
  const now = () => clock.now();
  // Stryker disable next-line StringLiteral: only a run that is gone has no workspace, and its store throws LeaseLost before any use of it
  const workspaceId = readRun(db, runId)?.workspaceId ?? "";

  /** Throws LeaseLost unless this attempt still holds the run. The cheap check of every write. */
  const checkLease = () => {
    const row = sql("SELECT lease_token FROM runs WHERE id = ?").get(runId) as { lease_token: string | null } | undefined;
    if (!row || row.lease_token !== lease.token) throw new LeaseLost(runId);
  };

  /** A transaction on a run this attempt still holds; it also adds the AC requests sent since the last one. */
  function leased<T>(fn: () => T): T {
    return client
      .transaction(() => {
        checkLease();
        const result = fn();
        const delta = requests() - counted;
        if (delta > 0) {
          counted += delta;
          sql("UPDATE runs SET ac_requests = ac_requests + ? WHERE id = ?").run(delta, runId);
        }
        return result;
      })
      .immediate();
  }

  /** A transaction on the whole run row, through the run store (status moves, notes). */
  const leasedRow = <T>(fn: (tx: Db, run: RunRow) => T): T =>
    transaction(db, (tx) => {
      const run = readRun(tx, runId);
      if (!run || run.leaseToken !== lease.token) throw new LeaseLost(runId);
      return fn(tx, run);
    });

  const bump = (kind: "status" | "reason" | "action", key: string, n: number) =>
    sql("INSERT INTO run_counts (run_id, kind, key, n) VALUES (?, ?, ?, ?) ON CONFLICT (run_id, kind, key) DO UPDATE SET n = n + excluded.n").run(runId, kind, key, n);

  /** Keeps the counters of results just stored, and refunds the unknown ones (inside the caller's transaction). */
  const keepResults = (tally: Tally) => {
    if (tally.stored === 0) return;
    for (const [key, n] of tally.byStatus) bump("status", key, n);
    for (const [key, n] of tally.byReason) bump("reason", key, n);
    sql("UPDATE runs SET contacts_verified = contacts_verified + ? WHERE id = ?").run(tally.stored, runId);
    // A contact's result is stored once, so the smallest id stored names this refund uniquely.
    const unknown = tally.byStatus.get("unknown") ?? 0;
    if (unknown > 0) {
      refundCredits(db, clock, {
        workspaceId,
        amount: unknown,
        reason: `Refund: ${unknown} address(es) could not be verified (unknown)`,
        runId,
        idempotencyKey: `run:${runId}:refund:${tally.firstStored}`,
      });
    }
  };

  return {
    // The upload source (issue 19): core/runs/uploads.ts, in the same lease-checked transactions.
    ...uploadSourceMethods({ db, clock, runId, workspaceId, sql, leased, now }),
    // Labels in ActiveCampaign (issue 17): core/runs/labels.ts, in the same lease-checked transactions.
    ...labelMethods({ runId, client, sql, leased, now }),
    runId,
    lease,
    run: () => leasedRow((_tx, run) => run),
    move: (to, values) => leasedRow((tx, run) => moveRun(tx, run, to, values)),
    update: (values) => leasedRow((tx) => updateLeasedRun(tx, lease, values)),
    note: (text) => leasedRow((tx) => addNote(tx, lease, text)),
    fail: (reason, code) => failRun(db, clock, lease, reason, code),

    startPart(cursor, total, done) {
      leased(() =>
        sql("UPDATE runs SET fetch_cursor = ?, total = coalesce(total, 0) + ?, fetch_done = ?, fetched_at = CASE WHEN ? THEN ? ELSE fetched_at END WHERE id = ?").run(
          JSON.stringify(cursor),
          total,
          done ? 1 : 0,
          done ? 1 : 0,
          now(),
          runId,
        ),
      );
    },

    storePage(page) {
      try {
        return leased(() => {
          const insertContact = sql(
            "INSERT INTO run_contacts (run_id, contact_id, email, first_name, last_name, bounced_hard, status, reason, flags, suggestion, normalized, provider, verified_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
          );
          const insertMembership = sql("INSERT INTO run_memberships (run_id, contact_id, list_id, status) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING");
          const known = sql("SELECT 1 FROM run_contacts WHERE run_id = ? AND contact_id = ?");
          // The balance pays for as many new contacts as it covers, down to one: the page is
          // stored up to the last contact paid for, and the rest waits for credits.
          const budget = balanceOf(db, workspaceId);
          const at = now();
          const tally = newTally();
          let fresh = 0;
          let firstFresh: string | null = null;
          let upTo: string | null = null;
          let cut = false;
          for (const c of page.contacts) {
            if (fresh >= budget) {
              // A contact already stored (on two chosen lists) costs nothing: it never stops the page.
              if (known.get(runId, c.id)) {
                upTo = c.id;
                continue;
              }
              cut = true;
              break;
            }
            upTo = c.id;
            // A contact already stored (a page fetched again after a crash, a contact on two
            // chosen lists) is not verified again.
            const r = page.verify && !known.get(runId, c.id) ? page.verify(c) : null;
            // Without a result, its columns stay NULL until the verify stage stores one.
            const result = r ? [r.status, r.reason, r.flags.join(" "), r.suggestion, r.normalized, r.provider ?? null, at] : [null, null, null, null, null, null, null];
            const inserted = insertContact.run(runId, c.id, c.email ?? "", c.firstName ?? "", c.lastName ?? "", c.bouncedHard ? 1 : 0, ...result);
            // A contact in two chosen lists arrives twice: only its first arrival is stored and charged.
            if (inserted.changes === 0) continue;
            if (r) count(tally, Number(c.id), r);
            fresh += 1;
            firstFresh ??= c.id;
            for (const l of c.lists) insertMembership.run(runId, c.id, l.listId, l.status);
          }
          if (cut && upTo === null) throw new ShortOfCredits(1);
          if (fresh > 0) {
            // Each contact is inserted once, so its id names the charge for it uniquely.
            const charge = chargeCredits(db, clock, {
              workspaceId,
              amount: fresh,
              reason: `${plural(fresh, "contact")} to verify`,
              runId,
              idempotencyKey: `run:${runId}:contacts:${firstFresh}`,
            });
            // Stryker disable next-line StringLiteral: the balance read in this transaction covers `fresh` (the page was cut to it), so the charge is never "insufficient"
            if (charge === "insufficient") throw new ShortOfCredits(fresh);
          }
          // After the charge: an unknown among them is refunded, as the verify stage does.
          keepResults(tally);
          const stored = sql("SELECT fetch_cursor FROM runs WHERE id = ?").get(runId) as { fetch_cursor: string | null };
          const next = page.cursor(stored.fetch_cursor ? JSON.parse(stored.fetch_cursor) : null, cut ? upTo : null);
          sql(
            "UPDATE runs SET fetch_cursor = ?, fetch_done = ?, transient_failures = 0, contacts_fetched = contacts_fetched + ?, fetched_at = CASE WHEN ? THEN ? ELSE fetched_at END WHERE id = ?",
          ).run(JSON.stringify(next.cursor), next.done ? 1 : 0, fresh, next.done ? 1 : 0, at, runId);
          return cut ? { stored: fresh, verified: tally.stored, short: true } : { stored: fresh, verified: tally.stored };
        });
      } catch (err) {
        if (err instanceof ShortOfCredits) return { needed: err.needed };
        throw err;
      }
    },

    pauseForCredits(needed, retryAt) {
      leasedRow((tx, run) => {
        const still = creditsStillNeeded(run);
        moveRun(tx, run, "paused_credits", {
          creditsNeeded: needed,
          statusReason:
            run.source === "upload"
              ? `Paused: out of credits. ${plural(still.credits, "more credit")} ${still.credits === 1 ? "is" : "are"} needed to check the rest of the file's addresses. Add credits and verification resumes on its own.`
              : `Paused: out of credits. ${still.atLeast ? "At least" : still.upTo ? "Up to" : "About"} ${plural(still.credits, "more credit")} ${still.credits === 1 ? "is" : "are"} needed to check the rest of the contacts. Add credits and the run resumes on its own.`,
          notBefore: new Date(retryAt),
        });
      });
    },

    dueContacts(afterId, limit) {
      const rows = sql(
        "SELECT contact_id, email, bounced_hard, verify_attempts FROM run_contacts WHERE run_id = ? AND verified_at IS NULL AND contact_id > ? AND (retry_at IS NULL OR retry_at <= ?) ORDER BY contact_id LIMIT ?",
      ).all(runId, afterId, now(), limit) as { contact_id: number; email: string; bounced_hard: number; verify_attempts: number }[];
      return rows.map((r) => ({ contactId: r.contact_id, email: r.email, bouncedHard: r.bounced_hard === 1, verifyAttempts: r.verify_attempts }));
    },

    saveVerification(results, parked) {
      if (results.length === 0 && parked.length === 0) return;
      leased(() => {
        const store = sql(
          "UPDATE run_contacts SET status = ?, reason = ?, flags = ?, suggestion = ?, normalized = ?, provider = ?, verified_at = ?, retry_at = NULL, retry_why = NULL WHERE run_id = ? AND contact_id = ? AND verified_at IS NULL",
        );
        const at = now();
        const tally = newTally();
        for (const { contactId, result } of results) {
          if (store.run(result.status, result.reason, result.flags.join(" "), result.suggestion, result.normalized, result.provider ?? null, at, runId, contactId).changes === 0) continue;
          count(tally, contactId, result);
        }
        keepResults(tally);
        const park = sql("UPDATE run_contacts SET retry_at = ?, verify_attempts = ?, retry_why = ? WHERE run_id = ? AND contact_id = ? AND verified_at IS NULL");
        for (const p of parked) park.run(p.retryAt, p.verifyAttempts, p.why ?? null, runId, p.contactId);
      });
    },

    waiting() {
      const row = sql("SELECT count(*) AS n, min(retry_at) AS next FROM run_contacts WHERE run_id = ? AND verified_at IS NULL AND retry_at > ?").get(runId, now()) as {
        n: number;
        next: number | null;
      };
      return { count: Number(row.n), nextAt: row.next === null ? null : Number(row.next) };
    },

    planChunk(afterId, limit, rule) {
      return leased(() => {
        const last = chunkEnd(db, runId, afterId, limit);
        if (last !== null) planRange(db, runId, afterId, last, rule, now());
        return { last };
      });
    },

    planLabelChunk(afterId, limit, rule) {
      return leased(() => {
        const last = chunkEnd(db, runId, afterId, limit);
        if (last !== null) planLabelRange(db, runId, afterId, last, rule, now());
        return { last };
      });
    },

    planSummary(chosenLists) {
      return leased(() => countPlan(db, runId, { chosenLists, withResults: true }));
    },

    dueActions(after, limit) {
      // A keyset walk along the unique index (run, contact, kind, list): done actions behind the
      // cursor are never read again.
      const from = after ?? {
        contactId: -1,
        // Stryker disable next-line StringLiteral: contact ids are never negative, so the walk's start is decided by the contact id alone: its kind is never compared
        kind: "",
        // Stryker disable next-line UnaryOperator: as above, its list is never compared
        listId: -1,
      };
      const rows = sql(
        "SELECT * FROM run_actions WHERE run_id = ? AND (contact_id, kind, list_id) > (?, ?, ?) AND (state = 'sending' OR (state = 'pending' AND (next_attempt_at IS NULL OR next_attempt_at <= ?))) ORDER BY contact_id, kind, list_id LIMIT ?",
      ).all(runId, from.contactId, from.kind, from.listId, now(), limit) as ActionSqlRow[];
      return rows.map((r) => ({
          id: r.id,
          runId: r.run_id,
          contactId: r.contact_id,
          kind: r.kind,
          listId: r.list_id,
          state: r.state,
          error: r.error,
          acUpdated: r.ac_updated,
          resultCode: r.result_code,
          attempts: r.attempts,
          nextAttemptAt: r.next_attempt_at === null ? null : new Date(r.next_attempt_at),
          updatedAt: r.updated_at === null ? null : new Date(r.updated_at),
        }));
    },

    saveBackup(record) {
      const sealed = sealBackup(backups.box, runId, record);
      leased(() => {
        const at = now();
        // Stryker disable next-line StringLiteral: the id's "bak" prefix is for people reading the table; nothing decides on it
        const id = newId("bak", at);
        sql(
          "INSERT INTO run_backups (id, run_id, workspace_id, contact_id, sealed, taken_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (run_id, contact_id) DO UPDATE SET sealed = excluded.sealed, taken_at = excluded.taken_at, expires_at = excluded.expires_at",
        ).run(id, runId, workspaceId, Number(record.contactId), sealed, at, at + backups.retentionMs);
      });
    },

    dueUndos(limit) {
      const rows = sql(
        "SELECT id, contact_id, list_id, ac_updated, state, attempts FROM run_undos WHERE run_id = ? AND (state = 'sending' OR (state = 'pending' AND (next_attempt_at IS NULL OR next_attempt_at <= ?))) ORDER BY contact_id, list_id LIMIT ?",
      ).all(runId, now(), limit) as { id: string; contact_id: number; list_id: number; ac_updated: string | null; state: "pending" | "sending"; attempts: number }[];
      return rows.map((r) => ({ id: r.id, contactId: r.contact_id, listId: r.list_id, acUpdated: r.ac_updated, state: r.state, attempts: r.attempts }));
    },

    markUndoSending(id, attempts) {
      leased(() => {
        sql("UPDATE run_undos SET state = 'sending', attempts = ?, updated_at = ? WHERE id = ? AND run_id = ? AND state IN ('pending', 'sending')").run(attempts, now(), id, runId);
      });
    },

    saveUndoOutcome(o) {
      leased(() => {
        sql("UPDATE run_undos SET state = ?, reason = ?, error = ?, next_attempt_at = ?, updated_at = ? WHERE id = ? AND run_id = ? AND state IN ('pending', 'sending')").run(
          o.state,
          o.state === "done" ? null : o.reason,
          o.state === "failed" || o.state === "pending" ? o.error : null,
          o.state === "pending" ? o.nextAttemptAt : null,
          now(),
          o.id,
          runId,
        );
      });
    },

    undoCounts() {
      const counts = { pending: 0, sending: 0, done: 0, skipped: 0, failed: 0 };
      for (const r of sql("SELECT state, count(*) AS n FROM run_undos WHERE run_id = ? GROUP BY state").all(runId) as { state: keyof typeof counts; n: number }[]) counts[r.state] = Number(r.n);
      return counts;
    },

    nextUndoAt() {
      const row = sql("SELECT min(next_attempt_at) AS next FROM run_undos WHERE run_id = ? AND state = 'pending'").get(runId) as { next: number | null };
      return row.next === null ? null : Number(row.next);
    },

    finishUndo(statusReason) {
      // What the run did stays said; what the undo did follows it.
      leasedRow((tx, run) => moveRun(tx, run, "completed", { statusReason: run.statusReason ? `${run.statusReason}. ${statusReason}` : statusReason, notBefore: null, undoFinishedAt: new Date(now()) }));
    },

    markSending(actions) {
      if (actions.length === 0) return;
      leased(() => {
        const mark = sql("UPDATE run_actions SET state = 'sending', attempts = ?, updated_at = ? WHERE id = ? AND run_id = ?");
        const at = now();
        for (const a of actions) mark.run(a.attempts, at, a.id, runId);
      });
    },

    saveActionOutcomes(outcomes) {
      if (outcomes.length === 0) return;
      leased(() => {
        const save = sql(
          "UPDATE run_actions SET state = ?, result_code = ?, error = ?, next_attempt_at = ?, updated_at = ?, ac_updated = coalesce(?, ac_updated) WHERE id = ? AND run_id = ? AND state <> 'done' RETURNING contact_id, kind, list_id",
        );
        const bump = sql("INSERT INTO run_counts (run_id, kind, key, n) VALUES (?, ?, ?, 1) ON CONFLICT (run_id, kind, key) DO UPDATE SET n = n + 1");
        // Per list, only the lists the plan counts (those with a `members` count).
        const bumpList = sql(
          "INSERT INTO run_counts (run_id, kind, key, n) SELECT ?, 'list', ?, 1 WHERE EXISTS (SELECT 1 FROM run_counts WHERE run_id = ? AND kind = 'list' AND key = ?) ON CONFLICT (run_id, kind, key) DO UPDATE SET n = n + 1",
        );
        const listsOf = sql("SELECT list_id FROM run_memberships WHERE run_id = ? AND contact_id = ?");
        const onList = (listId: number, what: string) => bumpList.run(runId, listKey(listId, what), runId, listKey(listId, "members"));
        const at = now();
        let done = 0;
        let failed = 0;
        for (const o of outcomes) {
          const row = save.get(o.state, o.resultCode, o.error, o.state === "pending" ? o.nextAttemptAt : null, at, o.state === "done" ? (o.acUpdated ?? null) : null, o.id, runId) as
            | { contact_id: number; kind: "unsubscribe" | "delete"; list_id: number }
            | undefined;
          if (!row || o.state === "pending") continue;
          // Counted per kind and per list with the row, so the finished run tells what was done where.
          bump.run(runId, o.state, row.kind);
          if (o.state === "done") done += 1;
          else failed += 1;
          const what = o.state === "failed" ? "failed" : row.kind === "unsubscribe" ? "unsubscribed" : "deleted";
          if (row.kind === "unsubscribe") onList(row.list_id, what);
          else for (const m of listsOf.all(runId, row.contact_id) as { list_id: number }[]) onList(m.list_id, what);
        }
        if (done || failed) {
          sql("UPDATE runs SET actions_done = actions_done + ?, actions_failed = actions_failed + ?, transient_failures = CASE WHEN ? > 0 THEN 0 ELSE transient_failures END WHERE id = ?").run(
            done,
            failed,
            done,
            runId,
          );
        }
      });
    },

    actionCounts() {
      const counts = { pending: 0, sending: 0, done: 0, failed: 0 };
      const doneByKind = { unsubscribe: 0, delete: 0 };
      for (const r of sql("SELECT state, kind, count(*) AS n FROM run_actions WHERE run_id = ? GROUP BY state, kind").all(runId) as {
        state: keyof typeof counts;
        kind: keyof typeof doneByKind;
        n: number;
      }[]) {
        counts[r.state] += Number(r.n);
        if (r.state === "done") doneByKind[r.kind] += Number(r.n);
      }
      return { ...counts, doneByKind };
    },

    nextActionAt() {
      const row = sql("SELECT min(next_attempt_at) AS next FROM run_actions WHERE run_id = ? AND state = 'pending'").get(runId) as { next: number | null };
      return row.next === null ? null : Number(row.next);
    },
  };
}
