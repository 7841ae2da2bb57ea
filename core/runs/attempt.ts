import { and, asc, eq, gt, inArray, isNull, lte, notInArray, or, sql, min } from "drizzle-orm";
import { schema, transaction, type Db } from "../../db/index.ts";
import { newId } from "../../db/ids.ts";
import type { Action } from "../../db/schema/index.ts";
import type { AcContact } from "../ac/index.ts";
import type { RunStatus } from "../domain/run-status.ts";
import type { Clock } from "../lib/clock.ts";
import { balanceOf, chargeCredits, refundCredits } from "../services/credits.ts";
import type { VerificationResult } from "../../verify/index.ts";
import { addNote, failRun, leasedRun, moveRun, updateLeasedRun, type FailureCode, type Lease, type RunRow, type RunValues } from "./store.ts";

/**
 * What the stages of one attempt at a run (fetch, verify, plan, apply) may read and write,
 * all of it checked against the attempt's lease: a write from an attempt that lost its
 * claim (cancelled, or taken over after a stall) throws LeaseLost and changes nothing. It is
 * the seam between the stages and the database: the stages decide, this stores.
 */
export interface AttemptStore {
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
  /** Stores a page's new contacts with their charge and the moved cursor, in one transaction. */
  storePage(page: StorePage): { stored: number } | { needed: number };
  pauseForCredits(needed: number, retryAt: number): void;

  // verify
  /** Unverified contacts due now (never parked into the future), oldest id first, minus those in flight. */
  dueContacts(limit: number, inFlight: ReadonlySet<number>): DueContact[];
  /** Stores results (refunding unknowns) and parks the addresses that must wait, in one transaction. */
  saveVerification(results: ContactResult[], parked: ParkedContact[]): void;
  /** Addresses waiting for their mail server, and when the first is due. */
  waiting(): { count: number; nextAt: number | null };

  // plan
  contactsToPlan(afterContactId: number, limit: number): PlanContact[];
  savePlan(actions: { contactId: number; action: Action }[], requests: PlannedRequest[]): void;

  // apply
  /** Actions to send now: pending and due, or left `sending` by a crash. */
  dueActions(limit: number, inFlight: ReadonlySet<string>): ActionRow[];
  markAction(id: string, values: ActionUpdate): void;
  actionCounts(): Record<"pending" | "sending" | "done" | "failed", number>;
  /** When the next pending action is due, if every one left waits for weather. */
  nextActionAt(): number | null;
}

export interface StorePage {
  /** Makes the charge idempotent: the same page stored again is not charged again. */
  key: string;
  contacts: AcContact[];
  /** The cursor after this page, computed from the stored one inside the transaction. */
  cursor: (stored: unknown) => { cursor: unknown; done: boolean };
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

export interface PlanContact {
  contactId: number;
  status: string | null;
  reason: string | null;
  lists: string;
}

export interface PlannedRequest {
  contactId: number;
  kind: "unsubscribe" | "delete";
  listId: number;
}

export type ActionRow = typeof schema.runActions.$inferSelect;
export type ActionUpdate = Partial<Pick<ActionRow, "state" | "error" | "resultCode" | "attempts" | "nextAttemptAt">>;

const CHUNK = 500;

/**
 * The SQLite attempt store. `requests` reads how many AC requests the attempt's client has
 * sent; each write adds what was sent since the last one to the run's count.
 */
export function sqliteAttemptStore(db: Db, clock: Clock, lease: Lease, requests: () => number = () => 0): AttemptStore {
  const runId = lease.runId;
  let counted = requests();
  const now = () => clock.now();

  /** A transaction on a run this attempt still holds; it also stores the request count. */
  function leased<T>(fn: (tx: Db, run: RunRow) => T): T {
    return transaction(db, (tx) => {
      const run = leasedRun(tx, lease);
      const result = fn(tx, run);
      const delta = requests() - counted;
      if (delta > 0) {
        counted += delta;
        tx.update(schema.runs).set({ acRequests: sql`${schema.runs.acRequests} + ${delta}` }).where(eq(schema.runs.id, runId)).run();
      }
      return result;
    });
  }

  const storeResult = (tx: Db) => {
    const p = (name: string) => sql`${sql.placeholder(name)}`;
    return tx
      .update(schema.runContacts)
      .set({
        status: p("status"),
        reason: p("reason"),
        flags: p("flags"),
        suggestion: p("suggestion"),
        normalized: p("normalized"),
        provider: p("provider"),
        verifiedAt: p("verifiedAt"),
        retryAt: null,
        retryWhy: null,
      })
      .where(and(eq(schema.runContacts.runId, runId), eq(schema.runContacts.contactId, p("contactId")), isNull(schema.runContacts.verifiedAt)))
      .prepare();
  };

  return {
    runId,
    lease,
    run: () => leased((_tx, run) => run),
    move: (to, values) => leased((tx, run) => moveRun(tx, run, to, values)),
    update: (values) => leased((tx) => updateLeasedRun(tx, lease, values)),
    note: (text) => leased((tx) => addNote(tx, lease, text)),
    fail: (reason, code) => failRun(db, clock, lease, reason, code),

    startPart(cursor, total, done) {
      leased((tx) =>
        tx
          .update(schema.runs)
          .set({
            fetchCursor: JSON.stringify(cursor),
            total: sql`coalesce(${schema.runs.total}, 0) + ${total}`,
            fetchDone: done,
            ...(done ? { fetchedAt: new Date(now()) } : {}),
          })
          .where(eq(schema.runs.id, runId))
          .run(),
      );
    },

    storePage(page) {
      return leased((tx, run) => {
        const fresh = newContacts(tx, runId, page.contacts);
        const charge = chargeCredits(tx, clock, {
          workspaceId: run.workspaceId,
          amount: fresh.length,
          reason: `Run ${runId}: ${fresh.length} contact(s) to verify`,
          runId,
          idempotencyKey: `run:${runId}:page:${page.key}`,
        });
        if (charge === "insufficient") return { needed: fresh.length };
        insertContacts(tx, runId, fresh);
        const next = page.cursor(run.fetchCursor ? JSON.parse(run.fetchCursor) : null);
        tx.update(schema.runs)
          .set({
            fetchCursor: JSON.stringify(next.cursor),
            fetchDone: next.done,
            transientFailures: 0,
            ...(next.done ? { fetchedAt: new Date(now()) } : {}),
          })
          .where(eq(schema.runs.id, runId))
          .run();
        return { stored: fresh.length };
      });
    },

    pauseForCredits(needed, retryAt) {
      leased((tx, run) => {
        const balance = balanceOf(tx, run.workspaceId);
        moveRun(tx, run, "paused_credits", {
          creditsNeeded: needed,
          statusReason: `Paused: the next page needs ${needed} credit(s) and the balance is ${balance}. Add credits and the run resumes on its own.`,
          notBefore: new Date(retryAt),
        });
      });
    },

    dueContacts(limit, inFlight) {
      return db
        .select({
          contactId: schema.runContacts.contactId,
          email: schema.runContacts.email,
          bouncedHard: schema.runContacts.bouncedHard,
          verifyAttempts: schema.runContacts.verifyAttempts,
        })
        .from(schema.runContacts)
        .where(
          and(
            eq(schema.runContacts.runId, runId),
            isNull(schema.runContacts.verifiedAt),
            or(isNull(schema.runContacts.retryAt), lte(schema.runContacts.retryAt, new Date(now()))),
            inFlight.size ? notInArray(schema.runContacts.contactId, [...inFlight]) : undefined,
          ),
        )
        .orderBy(asc(schema.runContacts.contactId))
        .limit(limit)
        .all();
    },

    saveVerification(results, parked) {
      if (results.length === 0 && parked.length === 0) return;
      leased((tx, run) => {
        const store = storeResult(tx);
        const at = now();
        let unknown = 0;
        let firstStored: number | null = null;
        for (const { contactId, result } of results) {
          const written = store.run({
            contactId,
            status: result.status,
            reason: result.reason,
            flags: JSON.stringify(result.flags),
            suggestion: result.suggestion,
            normalized: result.normalized,
            provider: result.provider,
            verifiedAt: at,
          });
          if (written.changes === 0) continue;
          firstStored = firstStored === null ? contactId : Math.min(firstStored, contactId);
          if (result.status === "unknown") unknown += 1;
        }
        // A contact's result is stored once, so the smallest id stored names this refund uniquely.
        if (firstStored !== null) {
          refundCredits(tx, clock, {
            workspaceId: run.workspaceId,
            amount: unknown,
            reason: `Refund: ${unknown} address(es) could not be verified (unknown)`,
            runId,
            idempotencyKey: `run:${runId}:refund:${firstStored}`,
          });
        }
        for (const p of parked) {
          tx.update(schema.runContacts)
            .set({ retryAt: new Date(p.retryAt), verifyAttempts: p.verifyAttempts, retryWhy: p.why ?? null })
            .where(and(eq(schema.runContacts.runId, runId), eq(schema.runContacts.contactId, p.contactId), isNull(schema.runContacts.verifiedAt)))
            .run();
        }
      });
    },

    waiting() {
      const row = db
        .select({ n: sql<number>`count(*)`, next: min(schema.runContacts.retryAt) })
        .from(schema.runContacts)
        .where(and(eq(schema.runContacts.runId, runId), isNull(schema.runContacts.verifiedAt), gt(schema.runContacts.retryAt, new Date(now()))))
        .get();
      const next = row?.next as Date | number | null | undefined;
      return { count: Number(row?.n ?? 0), nextAt: next === null || next === undefined ? null : new Date(next).getTime() };
    },

    contactsToPlan(after, limit) {
      return db
        .select({ contactId: schema.runContacts.contactId, status: schema.runContacts.status, reason: schema.runContacts.reason, lists: schema.runContacts.lists })
        .from(schema.runContacts)
        .where(and(eq(schema.runContacts.runId, runId), gt(schema.runContacts.contactId, after)))
        .orderBy(asc(schema.runContacts.contactId))
        .limit(limit)
        .all();
    },

    savePlan(actions, requests) {
      leased((tx) => {
        const byAction = new Map<Action, number[]>();
        for (const { contactId, action } of actions) {
          const ids = byAction.get(action);
          if (ids) ids.push(contactId);
          else byAction.set(action, [contactId]);
        }
        for (const [action, ids] of byAction) {
          for (let i = 0; i < ids.length; i += CHUNK) {
            tx.update(schema.runContacts)
              .set({ action })
              .where(and(eq(schema.runContacts.runId, runId), inArray(schema.runContacts.contactId, ids.slice(i, i + CHUNK))))
              .run();
          }
        }
        const at = now();
        const rows = requests.map((r) => ({ id: newId("act", at), runId, ...r, updatedAt: new Date(at) }));
        for (let i = 0; i < rows.length; i += CHUNK) tx.insert(schema.runActions).values(rows.slice(i, i + CHUNK)).onConflictDoNothing().run();
      });
    },

    dueActions(limit, inFlight) {
      return db
        .select()
        .from(schema.runActions)
        .where(
          and(
            eq(schema.runActions.runId, runId),
            or(
              eq(schema.runActions.state, "sending"),
              and(eq(schema.runActions.state, "pending"), or(isNull(schema.runActions.nextAttemptAt), lte(schema.runActions.nextAttemptAt, new Date(now())))),
            ),
            inFlight.size ? notInArray(schema.runActions.id, [...inFlight]) : undefined,
          ),
        )
        .orderBy(asc(schema.runActions.contactId), asc(schema.runActions.listId))
        .limit(limit)
        .all();
    },

    markAction(id, values) {
      leased((tx) => {
        tx.update(schema.runActions)
          .set({ ...values, updatedAt: new Date(now()) })
          .where(and(eq(schema.runActions.id, id), eq(schema.runActions.runId, runId)))
          .run();
        if (values.state === "done") tx.update(schema.runs).set({ transientFailures: 0 }).where(eq(schema.runs.id, runId)).run();
      });
    },

    actionCounts() {
      const counts = { pending: 0, sending: 0, done: 0, failed: 0 };
      for (const r of db
        .select({ state: schema.runActions.state, n: sql<number>`count(*)` })
        .from(schema.runActions)
        .where(eq(schema.runActions.runId, runId))
        .groupBy(schema.runActions.state)
        .all()) {
        counts[r.state] = Number(r.n);
      }
      return counts;
    },

    nextActionAt() {
      const row = db
        .select({ next: min(schema.runActions.nextAttemptAt) })
        .from(schema.runActions)
        .where(and(eq(schema.runActions.runId, runId), eq(schema.runActions.state, "pending")))
        .get();
      const next = row?.next as Date | number | null | undefined;
      return next === null || next === undefined ? null : new Date(next).getTime();
    },
  };
}

/** Contacts of the page this run has not stored yet (a contact in two chosen lists counts once). */
function newContacts(tx: Db, runId: string, contacts: AcContact[]): AcContact[] {
  if (contacts.length === 0) return [];
  const ids = contacts.map((c) => Number(c.id));
  const seen = new Set(
    tx
      .select({ id: schema.runContacts.contactId })
      .from(schema.runContacts)
      .where(and(eq(schema.runContacts.runId, runId), inArray(schema.runContacts.contactId, ids)))
      .all()
      .map((r) => r.id),
  );
  const unique = new Map<number, AcContact>();
  for (const c of contacts) if (!seen.has(Number(c.id))) unique.set(Number(c.id), c);
  return [...unique.values()];
}

function insertContacts(tx: Db, runId: string, contacts: AcContact[]): void {
  for (let i = 0; i < contacts.length; i += CHUNK) {
    tx.insert(schema.runContacts)
      .values(
        contacts.slice(i, i + CHUNK).map((c) => ({
          runId,
          contactId: Number(c.id),
          email: c.email ?? "",
          firstName: c.firstName ?? "",
          lastName: c.lastName ?? "",
          bouncedHard: c.bouncedHard,
          lists: JSON.stringify(c.lists.map((l) => ({ listId: Number(l.listId), status: l.status }))),
        })),
      )
      .onConflictDoNothing()
      .run();
  }
}
