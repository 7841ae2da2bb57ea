import { and, asc, eq, gt, inArray, isNull, sql } from "drizzle-orm";
import type { SQLiteUpdateSetSource } from "drizzle-orm/sqlite-core";
import PQueue from "p-queue";
import { schema, transaction, type Db } from "../../db/index.ts";
import { newId } from "../../db/ids.ts";
import type { Action, RunStatus } from "../../db/schema/index.ts";
import { AcError, type AcClient, type AcContact, type AcScope } from "../../core/ac/index.ts";
import type { Deps } from "../../core/deps.ts";
import { chargeCredits, refundCredits } from "../../core/services/credits.ts";
import { applyAcSignals, type VerificationResult } from "../../verify/taxonomy.ts";
import { actionFor, type RunActions, type RunScope } from "../../core/domain/scope-actions.ts";
import type { BatchVerifier, RunVerifiers } from "../../core/verification.ts";

export type RunRow = typeof schema.runs.$inferSelect;

export type RunEvent =
  | { type: "page_stored"; runId: string; contacts: number }
  | { type: "batch_verified"; runId: string; contacts: number }
  | { type: "planned"; runId: string; status: RunStatus }
  | { type: "action_done"; runId: string; actionId: string; state: "done" | "failed" }
  | { type: "finished"; runId: string; status: RunStatus };

export interface RunContext {
  deps: Deps;
  runId: string;
  owner: string;
  client: AcClient;
  verifiers: RunVerifiers;
  signal: AbortSignal;
  emit(event: RunEvent): void;
  /** Contacts verified per batch. */
  verifyBatchSize: number;
  /** Keyset shards of a scope fetched at once. */
  fetchConcurrency: number;
  /** Requests to AC in flight at once while applying (the per-account limiter still caps the rate). */
  applyConcurrency: number;
  /** Seconds between checks of a balance that could not cover the next page. */
  creditsPollMs: number;
}

/** Thrown inside a transaction when this process no longer holds the run's lease. */
export class LeaseLost extends Error {
  override name = "LeaseLost";
}

/** A run that must stop here and be picked up again later (paused, or waiting for review). */
class Stop extends Error {
  override name = "Stop";
}

const PAGE_SIZE = 100;
const FAILED_RUN_HINT: Partial<Record<AcError["kind"], string>> = {
  auth: "Update the connection's API key and start a new run.",
};

function parts(scope: RunScope): AcScope[] {
  if (scope.kind === "lists") return scope.listIds.map((listId) => ({ kind: "list", listId }));
  if (scope.kind === "tag") return [{ kind: "tag", tagId: scope.tagId }];
  return [{ kind: "all" }];
}

/** Where fetching stands: the scope part, and each shard's keyset position within it. */
interface Cursor {
  part: number;
  shards: Shard[] | null;
}

interface Shard {
  afterId: string | null;
  belowId: string | null;
  done: boolean;
}

function ownedRun(tx: Db, ctx: RunContext): RunRow {
  const run = tx.select().from(schema.runs).where(eq(schema.runs.id, ctx.runId)).get();
  if (!run || run.leaseOwner !== ctx.owner) throw new LeaseLost(`lease on ${ctx.runId} lost`);
  return run;
}

/** Stores how many AC requests were sent since the last call, on the run row. */
function requestCounter(client: AcClient) {
  let counted = client.stats.requests;
  return (tx: Db, runId: string) => {
    const delta = client.stats.requests - counted;
    counted = client.stats.requests;
    if (delta > 0) tx.update(schema.runs).set({ acRequests: sql`${schema.runs.acRequests} + ${delta}` }).where(eq(schema.runs.id, runId)).run();
  };
}

/**
 * Drives one claimed run as far as it can go: fetch and verify (overlapping), plan, then
 * stop for review, or apply. Every step is stored before the next begins, so a fresh
 * process resumes where this one stopped.
 */
export async function processRun(ctx: RunContext): Promise<void> {
  const { deps } = ctx;
  const run = ownedRun(deps.db, ctx);
  const countRequests = requestCounter(ctx.client);
  try {
    if (run.status === "queued" || run.status === "running" || run.status === "paused_credits") {
      setStatus(ctx, { status: "running", statusReason: null, creditsNeeded: null, notBefore: null, startedAt: run.startedAt ?? new Date(deps.clock.now()) });
      const fetchDone = await fetchAndVerify(ctx, countRequests);
      if (!fetchDone) return;
      await plan(ctx);
    }
    const current = ownedRun(deps.db, ctx);
    if (current.status === "applying") await apply(ctx, countRequests);
  } catch (err) {
    if (err instanceof Stop) return;
    if (err instanceof AcError && err.kind === "auth") {
      fail(ctx, `${err.message}. ${FAILED_RUN_HINT.auth}`);
      return;
    }
    throw err;
  } finally {
    transaction(deps.db, (tx) => countRequests(tx, ctx.runId));
  }
}

function setStatus(ctx: RunContext, values: Partial<typeof schema.runs.$inferInsert>) {
  transaction(ctx.deps.db, (tx) => {
    ownedRun(tx, ctx);
    tx.update(schema.runs).set(values).where(eq(schema.runs.id, ctx.runId)).run();
  });
}

export function fail(ctx: Pick<RunContext, "deps" | "runId" | "owner" | "emit">, reason: string) {
  transaction(ctx.deps.db, (tx) => {
    const run = ownedRun(tx, ctx as RunContext);
    const unverified = tx
      .select({ n: sql<number>`count(*)` })
      .from(schema.runContacts)
      .where(and(eq(schema.runContacts.runId, ctx.runId), isNull(schema.runContacts.verifiedAt)))
      .get();
    refundCredits(tx, ctx.deps.clock, {
      workspaceId: run.workspaceId,
      amount: Number(unverified?.n ?? 0),
      reason: "Refund: the run failed before these contacts were verified",
      runId: ctx.runId,
      idempotencyKey: `run:${ctx.runId}:failed`,
    });
    tx.update(schema.runs)
      .set({ status: "failed", statusReason: reason, finishedAt: new Date(ctx.deps.clock.now()), leaseOwner: null, leaseExpiresAt: null })
      .where(eq(schema.runs.id, ctx.runId))
      .run();
  });
  ctx.deps.logger.warn({ runId: ctx.runId, reason }, "run failed");
  ctx.emit({ type: "finished", runId: ctx.runId, status: "failed" });
}

/** Resolves true once every page is stored and verified; false when paused for credits. */
async function fetchAndVerify(ctx: RunContext, countRequests: (tx: Db, runId: string) => void): Promise<boolean> {
  let wake: (() => void) | undefined;
  const fetch: { state: "running" | "done" | "paused" | "error" } = { state: "running" };
  const notify = () => {
    wake?.();
    wake = undefined;
  };

  const fetching = fetchPages(ctx, countRequests, notify).then(
    (state) => {
      fetch.state = state;
      notify();
    },
    (err: unknown) => {
      fetch.state = "error";
      notify();
      throw err;
    },
  );

  let chosen: Promise<BatchVerifier> | undefined;
  const pick = (emails: string[]) => (chosen ??= chooseVerifier(ctx, emails));
  const verifying = (async () => {
    for (;;) {
      ctx.signal.throwIfAborted();
      const verified = await verifyNextBatch(ctx, pick);
      if (verified > 0) continue;
      if (fetch.state !== "running") return;
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
    }
  })();

  const [fetchResult, verifyResult] = await Promise.allSettled([fetching, verifying]);
  if (fetchResult.status === "rejected") throw fetchResult.reason;
  if (verifyResult.status === "rejected") throw verifyResult.reason;
  if (fetch.state === "paused") return false;
  setStatus(ctx, { verifiedAt: new Date(ctx.deps.clock.now()) });
  return true;
}

/** Splits a part's id range (0, maxId] into `count` shards walked in parallel; the last is open-ended. */
function shardsFor(maxId: string, count: number): Shard[] {
  const top = BigInt(maxId) + 1n;
  const cuts = Array.from({ length: count + 1 }, (_, i) => (top * BigInt(i)) / BigInt(count));
  return cuts.slice(0, -1).map((lo, i) => ({
    afterId: lo === 0n ? null : String(lo),
    belowId: i === count - 1 ? null : String(cuts[i + 1]! + 1n),
    done: false,
  }));
}

/**
 * Pages every part of the scope (each chosen list, the tag, or all contacts) by keyset, with
 * the part's id range split into shards fetched in parallel, so the run is paced by the
 * account's rate limit rather than by one request's latency. Each page, its charge and the
 * shard's new position are stored in one transaction.
 */
async function fetchPages(ctx: RunContext, countRequests: (tx: Db, runId: string) => void, stored: () => void): Promise<"done" | "paused"> {
  const { deps } = ctx;
  const start = ownedRun(deps.db, ctx);
  if (start.fetchDone) return "done";
  const scopeParts = parts(JSON.parse(start.scope) as RunScope);
  let cursor: Cursor = start.fetchCursor ? (JSON.parse(start.fetchCursor) as Cursor) : { part: 0, shards: null };
  const save = (tx: Db, next: Cursor, extra: SQLiteUpdateSetSource<typeof schema.runs> = {}) => {
    const done = next.part >= scopeParts.length;
    tx.update(schema.runs)
      .set({ fetchCursor: JSON.stringify(next), fetchDone: done, ...(done ? { fetchedAt: new Date(deps.clock.now()) } : {}), ...extra })
      .where(eq(schema.runs.id, ctx.runId))
      .run();
    countRequests(tx, ctx.runId);
  };

  while (cursor.part < scopeParts.length) {
    ctx.signal.throwIfAborted();
    const scope = scopeParts[cursor.part]!;
    if (!cursor.shards) {
      const range = await ctx.client.contactIdRange({ scope, signal: ctx.signal });
      const count = Math.max(1, Math.min(ctx.fetchConcurrency, Math.ceil(range.total / (PAGE_SIZE * 2))));
      const next: Cursor = range.maxId ? { part: cursor.part, shards: shardsFor(range.maxId, count) } : { part: cursor.part + 1, shards: null };
      transaction(deps.db, (tx) => {
        ownedRun(tx, ctx);
        save(tx, next, { total: sql`coalesce(${schema.runs.total}, 0) + ${range.total}` });
      });
      cursor = next;
      continue;
    }
    const part = cursor.part;
    let paused = false;
    await Promise.all(
      cursor.shards.map(async (initial, index) => {
        let shard = initial;
        while (!shard.done && !paused) {
          ctx.signal.throwIfAborted();
          const page = await ctx.client.pageContacts({ scope, afterId: shard.afterId, belowId: shard.belowId, limit: PAGE_SIZE, includeLists: true, signal: ctx.signal });
          ctx.signal.throwIfAborted();
          const moved: Shard = page.contacts.length < PAGE_SIZE || !page.lastId ? { ...shard, done: true } : { ...shard, afterId: page.lastId };
          const outcome = transaction(deps.db, (tx): { inserted: number } | { paused: number } => {
            const run = ownedRun(tx, ctx);
            const fresh = newContacts(tx, ctx.runId, page.contacts);
            const charge = chargeCredits(tx, deps.clock, {
              workspaceId: run.workspaceId,
              amount: fresh.length,
              reason: `Run ${ctx.runId}: ${fresh.length} contact(s) to verify`,
              runId: ctx.runId,
              idempotencyKey: `run:${ctx.runId}:page:${part}:${index}:${shard.afterId ?? "start"}`,
            });
            if (charge === "insufficient") return { paused: fresh.length };
            insertContacts(tx, ctx.runId, fresh);
            const stored = JSON.parse(run.fetchCursor ?? "null") as Cursor | null;
            const shards = (stored?.shards ?? []).map((s, i) => (i === index ? moved : s));
            save(tx, shards.every((s) => s.done) ? { part: part + 1, shards: null } : { part, shards }, { transientFailures: 0 });
            return { inserted: fresh.length };
          });
          if ("paused" in outcome) {
            if (!paused) pauseForCredits(ctx, outcome.paused);
            paused = true;
            return;
          }
          shard = moved;
          ctx.emit({ type: "page_stored", runId: ctx.runId, contacts: outcome.inserted });
          stored();
        }
      }),
    );
    if (paused) return "paused";
    cursor = JSON.parse(ownedRun(deps.db, ctx).fetchCursor ?? "null") as Cursor;
  }
  return "done";
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
  if (contacts.length === 0) return;
  tx.insert(schema.runContacts)
    .values(
      contacts.map((c) => ({
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

function pauseForCredits(ctx: RunContext, needed: number): void {
  const { deps } = ctx;
  transaction(deps.db, (tx) => {
    const run = ownedRun(tx, ctx);
    const balance = Number(
      tx
        .select({ b: sql<number>`coalesce(sum(${schema.creditLedger.amount}), 0)` })
        .from(schema.creditLedger)
        .where(eq(schema.creditLedger.workspaceId, run.workspaceId))
        .get()?.b ?? 0,
    );
    tx.update(schema.runs)
      .set({
        status: "paused_credits",
        creditsNeeded: needed,
        statusReason: `Paused: the next page needs ${needed} credit(s) and the balance is ${balance}. Add credits and the run resumes on its own.`,
        notBefore: new Date(deps.clock.now() + ctx.creditsPollMs),
      })
      .where(eq(schema.runs.id, ctx.runId))
      .run();
  });
  deps.logger.info({ runId: ctx.runId, needed }, "run paused for credits");
}

function addNote(ctx: RunContext, note: string): void {
  transaction(ctx.deps.db, (tx) => {
    const run = ownedRun(tx, ctx);
    const notes = run.notes ? (JSON.parse(run.notes) as string[]) : [];
    if (!notes.includes(note)) tx.update(schema.runs).set({ notes: JSON.stringify([...notes, note]) }).where(eq(schema.runs.id, ctx.runId)).run();
  });
}

/**
 * SMTP probing only when the run asked for it, the server allows it, and a preflight to the
 * most common domain of the first batch shows outbound SMTP works; otherwise the run says
 * so and uses DNS checks, instead of marking thousands of addresses unknown.
 */
async function chooseVerifier(ctx: RunContext, emails: string[]): Promise<BatchVerifier> {
  const run = ownedRun(ctx.deps.db, ctx);
  if (!run.smtpProbe) return ctx.verifiers.plain;
  const smtp = ctx.verifiers.smtp;
  if (!smtp) {
    addNote(ctx, "SMTP probing was asked for, but it is turned off on this server (SMTP_PROBE=off); results come from DNS and list checks");
    return ctx.verifiers.plain;
  }
  const domains = new Map<string, number>();
  for (const e of emails) {
    const domain = e.slice(e.lastIndexOf("@") + 1).trim().toLowerCase();
    if (domain) domains.set(domain, (domains.get(domain) ?? 0) + 1);
  }
  const target = [...domains.entries()].sort((a, b) => b[1] - a[1])[0]?.[0];
  if (!target) return smtp;
  const check = await smtp.preflight(target);
  if (check.ok) return smtp;
  addNote(ctx, `SMTP probing was asked for, but outbound SMTP does not work from this server (${check.reason}: ${check.detail}); results come from DNS and list checks`);
  return ctx.verifiers.plain;
}

/** One prepared statement per batch: a result is written once, never over an earlier one. */
function storeResult(tx: Db) {
  const p = (name: string) => sql`${sql.placeholder(name)}`;
  return tx
    .update(schema.runContacts)
    .set({ status: p("status"), reason: p("reason"), flags: p("flags"), suggestion: p("suggestion"), normalized: p("normalized"), verifiedAt: p("verifiedAt") })
    .where(and(eq(schema.runContacts.runId, p("runId")), eq(schema.runContacts.contactId, p("contactId")), isNull(schema.runContacts.verifiedAt)))
    .prepare();
}

/** Verifies the next batch of stored, unverified contacts; returns how many. */
async function verifyNextBatch(ctx: RunContext, pick: (emails: string[]) => Promise<BatchVerifier>): Promise<number> {
  const { deps } = ctx;
  const batch = deps.db
    .select({ contactId: schema.runContacts.contactId, email: schema.runContacts.email, bouncedHard: schema.runContacts.bouncedHard })
    .from(schema.runContacts)
    .where(and(eq(schema.runContacts.runId, ctx.runId), isNull(schema.runContacts.verifiedAt)))
    .orderBy(asc(schema.runContacts.contactId))
    .limit(ctx.verifyBatchSize)
    .all();
  if (batch.length === 0) return 0;
  const verifier = await pick(batch.map((c) => c.email));
  const results = await verifier.verifyBatch(
    batch.map((c) => c.email),
    { signal: ctx.signal },
  );
  ctx.signal.throwIfAborted();
  const now = new Date(deps.clock.now());
  transaction(deps.db, (tx) => {
    const run = ownedRun(tx, ctx);
    let unknown = 0;
    const store = storeResult(tx);
    batch.forEach((c, i) => {
      const result = applyAcSignals(results[i]!, { bouncedHard: c.bouncedHard });
      if (result.status === "unknown") unknown += 1;
      store.run({
        runId: ctx.runId,
        contactId: c.contactId,
        status: result.status,
        reason: result.reason,
        flags: JSON.stringify(result.flags),
        suggestion: result.suggestion,
        normalized: result.normalized,
        verifiedAt: now.getTime(),
      });
    });
    refundCredits(tx, deps.clock, {
      workspaceId: run.workspaceId,
      amount: unknown,
      reason: `Refund: ${unknown} address(es) could not be verified (unknown)`,
      runId: ctx.runId,
      idempotencyKey: `run:${ctx.runId}:refund:${batch[0]!.contactId}`,
    });
  });
  ctx.emit({ type: "batch_verified", runId: ctx.runId, contacts: batch.length });
  return batch.length;
}

interface Membership {
  listId: number;
  status: number;
}

const ACTIVE = 1;

/**
 * Decides every contact's action and records the AC requests it needs. Unsubscribe only
 * from lists where the contact is active, and for a list scope only from the chosen lists;
 * a delete needs no unsubscribe first; keep costs no request.
 */
const PLAN_CHUNK = 2_000;

async function plan(ctx: RunContext): Promise<void> {
  const { deps } = ctx;
  const now = deps.clock.now();
  const start = ownedRun(deps.db, ctx);
  let status: RunStatus = start.status;
  if (!start.planReady) {
    // In chunks, each its own transaction, so a large run does not hold the event loop (and
    // the dashboard) for seconds. Planning again after a crash gives the same rows.
    const scope = JSON.parse(start.scope) as RunScope;
    const actions = JSON.parse(start.actions) as RunActions;
    const chosen = scope.kind === "lists" ? new Set(scope.listIds.map(Number)) : null;
    let after = -1;
    let contactsSeen = 0;
    let destructive = 0;
    for (;;) {
      const chunk = transaction(deps.db, (tx) => {
        ownedRun(tx, ctx);
        const contacts = tx
          .select({ contactId: schema.runContacts.contactId, status: schema.runContacts.status, reason: schema.runContacts.reason, lists: schema.runContacts.lists })
          .from(schema.runContacts)
          .where(and(eq(schema.runContacts.runId, ctx.runId), gt(schema.runContacts.contactId, after)))
          .orderBy(asc(schema.runContacts.contactId))
          .limit(PLAN_CHUNK)
          .all();
        if (contacts.length === 0) return null;
        let changing = 0;
        const rows: (typeof schema.runActions.$inferInsert)[] = [];
        const byAction = new Map<Action, number[]>();
        for (const c of contacts) {
          const action = actionFor(actions, c.status as never, c.reason as never);
          const ids = byAction.get(action);
          if (ids) ids.push(c.contactId);
          else byAction.set(action, [c.contactId]);
          if (action === "delete") {
            rows.push({ id: newId("act", now), runId: ctx.runId, contactId: c.contactId, kind: "delete", listId: 0 });
            changing += 1;
          } else if (action === "unsubscribe") {
            const lists = (JSON.parse(c.lists) as Membership[]).filter((l) => l.status === ACTIVE && (!chosen || chosen.has(l.listId)));
            for (const l of lists) rows.push({ id: newId("act", now), runId: ctx.runId, contactId: c.contactId, kind: "unsubscribe", listId: l.listId });
            if (lists.length > 0) changing += 1;
          }
        }
        for (const [action, ids] of byAction) {
          for (let i = 0; i < ids.length; i += 500) {
            tx.update(schema.runContacts)
              .set({ action })
              .where(and(eq(schema.runContacts.runId, ctx.runId), inArray(schema.runContacts.contactId, ids.slice(i, i + 500))))
              .run();
          }
        }
        for (let i = 0; i < rows.length; i += 500) tx.insert(schema.runActions).values(rows.slice(i, i + 500)).onConflictDoNothing().run();
        return { last: contacts.at(-1)!.contactId, count: contacts.length, changing };
      });
      if (!chunk) break;
      after = chunk.last;
      contactsSeen += chunk.count;
      destructive += chunk.changing;
      ctx.signal.throwIfAborted();
      await new Promise((resolve) => setImmediate(resolve));
    }
    status = transaction(deps.db, (tx): RunStatus => {
      const run = ownedRun(tx, ctx);
      const share = contactsSeen ? destructive / contactsSeen : 0;
      const limit = run.holdThreshold ?? 0.3;
      let next: RunStatus;
      let reason: string | null;
      if (destructive === 0) {
        next = "completed";
        reason = "Nothing to change in ActiveCampaign: every contact is kept";
      } else if (run.autoApply && share <= limit) {
        next = "applying";
        reason = null;
      } else {
        next = "awaiting_review";
        reason = run.autoApply
          ? `Held for review: ${(share * 100).toFixed(1)}% of contacts would be unsubscribed or deleted, above this schedule's ${Math.round(limit * 100)}% limit`
          : `Review the plan: ${destructive} contact(s) would be unsubscribed or deleted`;
      }
      tx.update(schema.runs)
        .set({
          planReady: true,
          status: next,
          statusReason: reason,
          ...(next === "awaiting_review" ? { reviewAt: new Date(now), leaseOwner: null, leaseExpiresAt: null } : {}),
          ...(next === "completed" ? { finishedAt: new Date(now), leaseOwner: null, leaseExpiresAt: null } : {}),
        })
        .where(eq(schema.runs.id, ctx.runId))
        .run();
      return next;
    });
  }
  ctx.emit({ type: "planned", runId: ctx.runId, status });
  if (status === "completed") ctx.emit({ type: "finished", runId: ctx.runId, status });
  if (status === "awaiting_review" || status === "completed") throw new Stop();
}

type ActionRow = typeof schema.runActions.$inferSelect;

/** Applies every pending action under the account's rate limiter, each recorded before and after. */
async function apply(ctx: RunContext, countRequests: (tx: Db, runId: string) => void): Promise<void> {
  const { deps } = ctx;
  const pending = deps.db
    .select()
    .from(schema.runActions)
    .where(and(eq(schema.runActions.runId, ctx.runId), inArray(schema.runActions.state, ["pending", "sending"])))
    .orderBy(asc(schema.runActions.contactId), asc(schema.runActions.listId))
    .all();
  const queue = new PQueue({ concurrency: ctx.applyConcurrency });
  let fatal: unknown;
  for (const action of pending) {
    queue
      .add(async () => {
        if (fatal || ctx.signal.aborted) return;
        await applyOne(ctx, action, countRequests);
      })
      .catch((err: unknown) => {
        fatal ??= err;
        queue.clear();
      });
  }
  await queue.onIdle();
  if (fatal) throw fatal;
  ctx.signal.throwIfAborted();

  const now = new Date(deps.clock.now());
  const counts = Object.fromEntries(
    deps.db
      .select({ state: schema.runActions.state, n: sql<number>`count(*)` })
      .from(schema.runActions)
      .where(eq(schema.runActions.runId, ctx.runId))
      .groupBy(schema.runActions.state)
      .all()
      .map((r) => [r.state, Number(r.n)]),
  );
  setStatus(ctx, {
    status: "completed",
    statusReason: counts.failed
      ? `Applied ${counts.done ?? 0} change(s); ${counts.failed} failed (see the report for ActiveCampaign's message)`
      : `Applied ${counts.done ?? 0} change(s) in ActiveCampaign`,
    finishedAt: now,
    leaseOwner: null,
    leaseExpiresAt: null,
  });
  ctx.emit({ type: "finished", runId: ctx.runId, status: "completed" });
}

function markAction(ctx: RunContext, id: string, values: Partial<ActionRow>, countRequests?: (tx: Db, runId: string) => void) {
  transaction(ctx.deps.db, (tx) => {
    ownedRun(tx, ctx);
    tx.update(schema.runActions)
      .set({ ...values, updatedAt: new Date(ctx.deps.clock.now()) })
      .where(eq(schema.runActions.id, id))
      .run();
    if (values.state === "done") tx.update(schema.runs).set({ transientFailures: 0 }).where(eq(schema.runs.id, ctx.runId)).run();
    countRequests?.(tx, ctx.runId);
  });
}

/**
 * An action left in `sending` by a crash may or may not have reached AC: look before sending
 * it again, so no action is applied twice.
 */
async function alreadyApplied(ctx: RunContext, action: ActionRow): Promise<boolean> {
  if (action.kind === "delete") {
    try {
      await ctx.client.request("GET", `/api/3/contacts/${action.contactId}`, { signal: ctx.signal });
      return false;
    } catch (err) {
      if (err instanceof AcError && err.kind === "not_found") return true;
      throw err;
    }
  }
  try {
    const lists = await ctx.client.getContactLists(String(action.contactId), { signal: ctx.signal });
    return lists.some((l) => Number(l.listId) === action.listId && l.status !== ACTIVE);
  } catch (err) {
    if (err instanceof AcError && err.kind === "not_found") return true;
    throw err;
  }
}

async function applyOne(ctx: RunContext, action: ActionRow, countRequests: (tx: Db, runId: string) => void): Promise<void> {
  if (action.state === "sending" && (await alreadyApplied(ctx, action))) {
    markAction(ctx, action.id, { state: "done", error: null }, countRequests);
    ctx.emit({ type: "action_done", runId: ctx.runId, actionId: action.id, state: "done" });
    return;
  }
  markAction(ctx, action.id, { state: "sending", attempts: action.attempts + 1 });
  let state: "done" | "failed" = "done";
  let error: string | null = null;
  try {
    if (action.kind === "delete") {
      const { alreadyGone } = await ctx.client.deleteContact(String(action.contactId), { signal: ctx.signal });
      if (alreadyGone) error = "Already deleted in ActiveCampaign";
    } else {
      await ctx.client.unsubscribe(String(action.contactId), String(action.listId), { signal: ctx.signal });
    }
  } catch (err) {
    if (ctx.signal.aborted || !(err instanceof AcError) || err.kind === "auth") throw err;
    state = "failed";
    error = err.message;
  }
  markAction(ctx, action.id, { state, error }, countRequests);
  ctx.emit({ type: "action_done", runId: ctx.runId, actionId: action.id, state });
}
