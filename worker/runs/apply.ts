import { setMaxListeners } from "node:events";
import { AcError, isWeather } from "../../core/ac/index.ts";
import type { ActionRow } from "../../core/runs/attempt.ts";
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
  const inFlight = new Set<string>();
  const tasks = new Set<Promise<void>>();
  const settled = new Waker();
  // Set from the tasks' callbacks; typed so the checks below are not narrowed away.
  let failure = null as { error: unknown } | null;
  try {
    for (;;) {
      if (failure) throw failure.error;
      signal.throwIfAborted();
      const room = settings.applyConcurrency - inFlight.size;
      if (room > 0) {
        const due = store.dueActions(Math.min(room, BATCH), inFlight);
        for (const action of due) {
          inFlight.add(action.id);
          const task = applyOne(ctx, action)
            .catch((error: unknown) => {
              if (signal.aborted) return;
              failure ??= { error };
              stop.abort(error);
            })
            .finally(() => {
              inFlight.delete(action.id);
              tasks.delete(task);
              settled.notify();
            });
          tasks.add(task);
        }
        if (due.length > 0) continue;
      }
      if (inFlight.size > 0) {
        await settled.wait(60_000, signal);
        continue;
      }
      const counts = store.actionCounts();
      if (counts.pending === 0 && counts.sending === 0) {
        store.move("completed", {
          statusReason: counts.failed
            ? `Applied ${counts.done} change(s); ${counts.failed} failed (see the report for ActiveCampaign's message)`
            : `Applied ${counts.done} change(s) in ActiveCampaign`,
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
  }
}

/**
 * An action sent before (left in `sending` by a crash, or back to pending after weather) may
 * or may not have reached AC: look before sending it again, so no action is applied twice.
 */
async function alreadyApplied(ctx: RunContext, action: ActionRow): Promise<boolean> {
  try {
    if (action.kind === "delete") {
      await ctx.client.request("GET", `/api/3/contacts/${action.contactId}`, { signal: ctx.signal });
      return false;
    }
    const lists = await ctx.client.getContactLists(String(action.contactId), { signal: ctx.signal });
    return lists.some((l) => Number(l.listId) === action.listId && l.status !== ACTIVE);
  } catch (err) {
    if (err instanceof AcError && err.kind === "not_found") return true;
    throw err;
  }
}

function backoffMs(ctx: RunContext, attempts: number): number {
  const { actionRetryBaseMs: base, actionRetryMaxMs: max } = ctx.settings;
  const full = Math.min(max, base * 2 ** Math.max(0, attempts - 1));
  return Math.round(full / 2 + (Math.random() * full) / 2);
}

async function applyOne(ctx: RunContext, action: ActionRow): Promise<void> {
  const { store } = ctx;
  const done = (resultCode: string | null, error: string | null) => {
    store.markAction(action.id, { state: "done", resultCode, error, nextAttemptAt: null });
    ctx.emit({ type: "action_done", runId: ctx.runId, actionId: action.id, state: "done" });
  };
  const attempts = action.attempts + 1;
  try {
    // Sent before (a crash in `sending`, or weather after the request left): it may have landed.
    if ((action.state === "sending" || action.attempts > 0) && (await alreadyApplied(ctx, action))) return done(null, null);
    store.markAction(action.id, { state: "sending", attempts });
    if (action.kind === "delete") {
      const { alreadyGone } = await ctx.client.deleteContact(String(action.contactId), { signal: ctx.signal });
      return done(alreadyGone ? "contact_gone" : null, alreadyGone ? CONTACT_GONE : null);
    }
    const { contactGone } = await ctx.client.unsubscribe(String(action.contactId), String(action.listId), { signal: ctx.signal });
    return done(contactGone ? "contact_gone" : null, contactGone ? CONTACT_GONE : null);
  } catch (err) {
    if (ctx.signal.aborted || !(err instanceof AcError) || err.kind === "auth") throw err;
    if (isWeather(err)) {
      store.markAction(action.id, {
        state: "pending",
        attempts,
        error: err.message,
        resultCode: err.kind,
        nextAttemptAt: new Date(ctx.clock.now() + backoffMs(ctx, attempts)),
      });
      ctx.emit({ type: "action_done", runId: ctx.runId, actionId: action.id, state: "pending" });
      return;
    }
    store.markAction(action.id, { state: "failed", attempts, error: err.message, resultCode: err.kind, nextAttemptAt: null });
    ctx.emit({ type: "action_done", runId: ctx.runId, actionId: action.id, state: "failed" });
  }
}
