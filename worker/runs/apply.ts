import { setMaxListeners } from "node:events";
import { fmt, plural } from "../../core/lib/words.ts";
import { AcError, isWeather, type AcClient, type AcContactRecord } from "../../core/ac/index.ts";
import type { BackupRecord } from "../../core/runs/backups.ts";
import type { ActionKey, ActionOutcome, ActionRow } from "../../core/runs/attempt.ts";
import { LeaseLost } from "../../core/runs/store.ts";
import { Waker, type RunContext } from "./context.ts";

export type ApplyOutcome =
  | { kind: "completed"; done: number; failed: number }
  /** Every action left waits for ActiveCampaign weather to pass, the first at `nextAt`. */
  | { kind: "waiting"; pending: number; nextAt: number };

const ACTIVE = 1;
const BATCH = 200;
export const CONTACT_GONE = "No longer in ActiveCampaign";

/**
 * Applies every planned action under the account's rate limiter, each recorded before
 * (`sending`) and after it is sent. Weather (429, 5xx, timeouts, resets) puts an action back
 * to pending with a growing wait; only ActiveCampaign refusing the request itself fails it,
 * with AC's words. A contact that is gone from AC is done: that is what the user wanted.
 */
export async function applyRun(parent: RunContext): Promise<ApplyOutcome> {
  // Aborted when the stage fails, so requests in flight stop instead of being waited for.
  const stop = new AbortController();
  const ctx: RunContext = { ...parent, signal: AbortSignal.any([parent.signal, stop.signal]) };
  setMaxListeners(0, ctx.signal);
  const { store, settings, signal, clock } = ctx;
  const names = accountNames(ctx.client, ctx.signal);
  /** Actions being sent, or sent with their outcome not stored yet: never handed out twice. */
  const holding = new Set<string>();
  let running = 0;
  const tasks = new Set<Promise<void>>();
  const settled = new Waker();
  // Set from the tasks' callbacks; typed so the checks below are not narrowed away.
  let failure = null as { error: unknown } | null;
  // Outcomes of one turn of the event loop are stored together.
  let outcomes: ActionOutcome[] = [];
  let flushQueued = false;
  const flush = () => {
    const batch = outcomes;
    outcomes = [];
    store.saveActionOutcomes(batch);
    for (const o of batch) {
      holding.delete(o.id);
      ctx.emit({ type: "action_done", runId: ctx.runId, actionId: o.id, state: o.state });
    }
  };
  const record = (outcome: ActionOutcome) => {
    outcomes.push(outcome);
    if (flushQueued) return;
    flushQueued = true;
    setImmediate(() => {
      flushQueued = false;
      if (signal.aborted || failure) return;
      try {
        flush();
      } catch (error) {
        failure ??= { error };
        stop.abort(error);
        settled.notify();
      }
    });
  };
  /**
   * Up to `room` due actions not already in hand, walking the actions in order from where the
   * last walk stopped and starting over once at the end (an action back from weather may be
   * behind it). It reads at most `room` rows plus those in hand.
   */
  let cursor: ActionKey | null = null;
  const takeDue = (room: number): ActionRow[] => {
    const taken: ActionRow[] = [];
    const seen = new Set<string>();
    let wrapped = cursor === null;
    while (taken.length < room) {
      const want = room - taken.length;
      const rows = store.dueActions(cursor, want);
      for (const row of rows) {
        if (holding.has(row.id) || seen.has(row.id)) continue;
        seen.add(row.id);
        taken.push(row);
      }
      const last = rows.at(-1);
      if (last) cursor = { contactId: last.contactId, kind: last.kind, listId: last.listId };
      if (rows.length < want) {
        cursor = null;
        if (wrapped) break;
        wrapped = true;
      }
    }
    return taken;
  };
  try {
    for (;;) {
      // Stryker disable next-line ConditionalExpression: failure is only set with stop.abort(the same error), so throwIfAborted throws it anyway
      if (failure) throw failure.error;
      signal.throwIfAborted();
      const room = settings.applyConcurrency - running;
      // Stryker disable next-line ConditionalExpression,EqualityOperator: room is never below 0, and with none takeDue(0) takes nothing
      if (room > 0) {
        const due = takeDue(Math.min(room, BATCH));
        // Recorded as `sending` before any of them leaves, so a crash from here on is visible.
        store.markSending(due.map((a) => ({ id: a.id, attempts: a.attempts + 1 })));
        for (const action of due) {
          holding.add(action.id);
          running += 1;
          const task = applyOne(ctx, action, names)
            .then(record)
            .catch((error: unknown) => {
              if (signal.aborted) return;
              failure ??= { error };
              stop.abort(error);
            })
            .finally(() => {
              running -= 1;
              tasks.delete(task);
              settled.notify();
            });
          tasks.add(task);
        }
        if (due.length > 0) continue;
      }
      if (running > 0) {
        await settled.wait(60_000, signal);
        continue;
      }
      if (outcomes.length > 0) {
        flush();
        continue;
      }
      const counts = store.actionCounts();
      if (counts.pending === 0 && counts.sending === 0) {
        store.move("completed", {
          statusReason: finalWords(counts, store.labelCounts()),
          finishedAt: new Date(clock.now()),
        });
        ctx.emit({ type: "finished", runId: ctx.runId, status: "completed" });
        return { kind: "completed", done: counts.done, failed: counts.failed };
      }
      const nextAt = store.nextActionAt() ?? clock.now();
      const wait = nextAt - clock.now();
      if (wait > settings.holdMs) return { kind: "waiting", pending: counts.pending, nextAt };
      await settled.wait(wait, signal);
    }
  } catch (error) {
    stop.abort(error);
    throw error;
  } finally {
    await Promise.allSettled([...tasks]);
    // Outcomes already known are stored unless the attempt lost the run.
    if (outcomes.length > 0 && !parent.signal.aborted && !(failure?.error instanceof LeaseLost)) {
      try {
        flush();
      } catch (err) {
        if (!(err instanceof LeaseLost)) throw err;
      }
    }
  }
}

/** The run's last sentence: what was done, each count named (issue 14), and (issue 17) the contacts labelled. */
function finalWords(
  counts: { done: number; failed: number; doneByKind: { unsubscribe: number; delete: number } },
  l: { planned: number; done: number; skipped: number; failed: number },
): string {
  const done = [
    counts.doneByKind.unsubscribe > 0 ? `unsubscribed from ${plural(counts.doneByKind.unsubscribe, "list membership")}` : null,
    counts.doneByKind.delete > 0 ? `deleted ${plural(counts.doneByKind.delete, "contact")}` : null,
  ].filter(Boolean);
  const changes = `Done in ActiveCampaign: ${done.join(", ") || "nothing changed"}${counts.failed ? `; ${plural(counts.failed, "change")} failed (see the report for ActiveCampaign's message)` : ""}`;
  if (l.planned === 0) return changes;
  const rest = [l.skipped ? `${fmt(l.skipped)} left out (changed or gone since the check)` : null, l.failed ? `${fmt(l.failed)} failed` : null].filter(Boolean);
  const labels = `abelled ${plural(l.done, "contact")}${rest.length ? ` (${rest.join(", ")})` : ""}`;
  return counts.done === 0 && counts.failed === 0 ? `L${labels} in ActiveCampaign` : `${changes}; l${labels}`;
}

/** What sending one change needs: the account's client and the signal that stops it. */
export interface ChangeIo {
  client: AcClient;
  signal: AbortSignal;
}

/** One destructive change: an unsubscribe from one list, or a delete (listId 0). */
export interface Change {
  kind: "unsubscribe" | "delete";
  contactId: number | string;
  listId: number;
}

/** How sending a change ended: done (`gone`: the contact is no longer in AC), weather (send again later), or refused by AC (final, with AC's words). */
export type ChangeResult = { kind: "done"; gone: boolean; updated: string | null } | { kind: "weather"; error: AcError } | { kind: "refused"; error: AcError };

/**
 * A change sent before (left in `sending` by a crash, or back to pending after weather) may
 * or may not have reached AC: look before sending it again, so no change is applied twice.
 */
async function alreadyApplied(io: ChangeIo, change: Change): Promise<false | { updated: string | null }> {
  try {
    if (change.kind === "delete") {
      await io.client.request("GET", `/api/3/contacts/${change.contactId}`, { signal: io.signal });
      return false;
    }
    const lists = await io.client.getContactLists(String(change.contactId), { signal: io.signal });
    const m = lists.find((l) => Number(l.listId) === change.listId && l.status !== ACTIVE);
    return m ? { updated: m.updated ?? null } : false;
  } catch (err) {
    if (err instanceof AcError && err.kind === "not_found") return { updated: null };
    throw err;
  }
}

/** Keeps what a delete destroys before it is sent: "gone" when the contact is gone already (then nothing is sent). */
export type BeforeDelete = () => Promise<"kept" | "gone">;

/**
 * Sends one change through the account's client (its limiter, its refusal to send status 1),
 * after checking AC when it may have landed already (`sentBefore`). Runs (applyOne below) and
 * monitoring (worker/monitor) both send their changes here; a run keeps a backup of the
 * contact first (`beforeDelete`): no backup, no delete. A refused key and an abort are
 * thrown; every other AC answer is a result. `updated`: the membership's date AC gave the
 * unsubscribe, which an undo later compares with.
 */
export async function sendChange(io: ChangeIo, change: Change, sentBefore: boolean, beforeDelete?: BeforeDelete): Promise<ChangeResult> {
  try {
    if (sentBefore) {
      const landed = await alreadyApplied(io, change);
      if (landed) return { kind: "done", gone: false, updated: landed.updated };
    }
    if (change.kind === "delete") {
      if (beforeDelete && (await beforeDelete()) === "gone") return { kind: "done", gone: true, updated: null };
      return { kind: "done", gone: (await io.client.deleteContact(String(change.contactId), { signal: io.signal })).alreadyGone, updated: null };
    }
    const sent = await io.client.unsubscribe(String(change.contactId), String(change.listId), { signal: io.signal });
    return { kind: "done", gone: sent.contactGone, updated: sent.updated ?? null };
  } catch (err) {
    if (io.signal.aborted || !(err instanceof AcError) || err.kind === "auth") throw err;
    return isWeather(err) ? { kind: "weather", error: err } : { kind: "refused", error: err };
  }
}

/** The wait before an action (or an undo's membership) held by weather is sent again. */
export function backoffMs(ctx: RunContext, attempts: number): number {
  return retryWait(ctx.settings.actionRetryBaseMs, ctx.settings.actionRetryMaxMs, attempts);
}

/** Growing, jittered waits after weather: base, doubled per attempt, up to max. */
export function retryWait(base: number, max: number, attempts: number): number {
  const full = Math.min(max, base * 2 ** Math.max(0, attempts - 1));
  return Math.round(full / 2 + (Math.random() * full) / 2);
}

/** Names of the account's lists, tags and custom fields: read once per stage, on the first delete (again after a failed read). */
type AccountNames = () => Promise<{ lists: Map<string, string>; tags: Map<string, string>; fields: Map<string, string> }>;

function accountNames(client: AcClient, signal: AbortSignal): AccountNames {
  let loading: ReturnType<AccountNames> | null = null;
  return () => {
    loading ??= (async () => {
      const [lists, tags, fields] = [await client.listLists({ signal }), await client.listTags({ signal }), await client.listFields({ signal })];
      return {
        lists: new Map(lists.map((l) => [l.id, l.name])),
        tags: new Map(tags.map((t) => [t.id, t.name])),
        fields: new Map(fields.map((f) => [f.id, f.title])),
      };
    })();
    loading.catch(() => {
      loading = null;
    });
    return loading;
  };
}

/**
 * The contact's whole record, with the names AC has for its lists, tags and fields, for the
 * backup kept before it is deleted. Null when the contact is gone already.
 */
async function backupOf(ctx: RunContext, contactId: number, names: AccountNames): Promise<BackupRecord | null> {
  const c: AcContactRecord | null = await ctx.client.readContactRecord(String(contactId), { signal: ctx.signal });
  if (!c) return null;
  const n = await names();
  return {
    contactId: c.id,
    email: c.email,
    firstName: c.firstName,
    lastName: c.lastName,
    phone: c.phone,
    acCreated: c.cdate,
    acUpdated: c.udate,
    lists: c.lists.map((l) => ({ id: l.listId, name: n.lists.get(l.listId) ?? null, status: l.status })),
    fields: c.fieldValues.map((v) => ({ id: v.fieldId, title: n.fields.get(v.fieldId) ?? null, value: v.value })),
    tags: c.tagIds.map((id) => ({ id, name: n.tags.get(id) ?? null })),
  };
}

/** Sends one action (after checking it if it may have landed already) and says how it ended. */
async function applyOne(ctx: RunContext, action: ActionRow, names: AccountNames): Promise<ActionOutcome> {
  const attempts = action.attempts + 1;
  // Sent before (a crash in `sending`, or weather after the request left): it may have landed.
  const result = await sendChange(ctx, { kind: action.kind, contactId: action.contactId, listId: action.listId }, action.state === "sending" || action.attempts > 0, async () => {
    // The whole record is kept before the delete leaves (issue 14): no backup, no delete.
    const record = await backupOf(ctx, action.contactId, names);
    if (!record) return "gone";
    ctx.store.saveBackup(record);
    // Stryker disable next-line StringLiteral: sendChange tells only "gone" apart; any other answer sends the delete
    return "kept";
  });
  if (result.kind === "done") return { id: action.id, state: "done", resultCode: result.gone ? "contact_gone" : null, error: result.gone ? CONTACT_GONE : null, acUpdated: result.updated };
  const err = result.error;
  if (result.kind === "weather") {
    return { id: action.id, state: "pending", resultCode: err.kind, error: err.message, nextAttemptAt: ctx.clock.now() + backoffMs(ctx, attempts) };
  }
  return { id: action.id, state: "failed", resultCode: err.kind, error: err.message };
}
