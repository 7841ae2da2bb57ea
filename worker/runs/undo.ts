import { AcError, isContactGone, isWeather } from "../../core/ac/index.ts";
import type { UndoOutcome, UndoRow } from "../../core/runs/attempt.ts";
import { fmt, plural } from "../../core/lib/words.ts";
import { backoffMs } from "./apply.ts";
import { Waker, type RunContext } from "./context.ts";

export type UndoStageOutcome = { kind: "completed"; restored: number; skipped: number; failed: number } | { kind: "waiting"; pending: number; nextAt: number };

const ACTIVE = 1;
const UNSUBSCRIBED = 2;
const BATCH = 50;

/**
 * Undoes a run's unsubscribes (issue 14): each membership the run unsubscribed is re-read
 * from AC and re-subscribed only while AC still shows it as the run left it (status 2 with
 * the `udate` AC gave the run's unsubscribe); anything else (re-subscribed, unsubscribed again
 * by the contact, bounced, removed, gone) is skipped and said so. One membership at a time
 * under the account's rate limiter; `sending` is recorded before the request, and a membership
 * sent before (a crash, or weather after the request left) that AC shows active is done, not
 * sent again. Weather puts it back to pending with a growing wait, never a final failure.
 */
export async function undoRun(ctx: RunContext): Promise<UndoStageOutcome> {
  const { store, signal, clock, settings } = ctx;
  const waker = new Waker();
  for (;;) {
    signal.throwIfAborted();
    const due = store.dueUndos(BATCH);
    for (const row of due) {
      signal.throwIfAborted();
      store.markUndoSending(row.id, row.attempts + 1);
      store.saveUndoOutcome(await undoOne(ctx, row));
    }
    if (due.length > 0) continue;
    const counts = store.undoCounts();
    // Stryker disable next-line ConditionalExpression: dueUndos hands out every row in `sending`, so when none is due none is sending
    if (counts.pending === 0 && counts.sending === 0) {
      store.finishUndo(undoWords(counts));
      ctx.emit({ type: "finished", runId: ctx.runId, status: "completed" });
      return { kind: "completed", restored: counts.done, skipped: counts.skipped, failed: counts.failed };
    }
    const nextAt = store.nextUndoAt() ?? clock.now();
    const wait = nextAt - clock.now();
    if (wait > settings.holdMs) return { kind: "waiting", pending: counts.pending, nextAt };
    await waker.wait(Math.max(0, wait), signal);
  }
}

export function undoWords(c: { done: number; skipped: number; failed: number }): string {
  const parts = [
    `Undone: re-subscribed ${plural(c.done, "list membership")}`,
    c.skipped ? `${fmt(c.skipped)} left as ${c.skipped === 1 ? "it is" : "they are"} (changed since the run, or gone)` : null,
    c.failed ? `${fmt(c.failed)} refused by ActiveCampaign` : null,
  ].filter(Boolean);
  return parts.join("; ");
}

async function undoOne(ctx: RunContext, row: UndoRow): Promise<UndoOutcome> {
  const skip = (reason: "changed_since" | "contact_gone" | "not_recorded"): UndoOutcome => ({ id: row.id, state: "skipped", reason });
  // Without the date AC gave the run's own unsubscribe, "still as the run left it" cannot be told: refuse on doubt.
  if (!row.acUpdated) return skip("not_recorded");
  try {
    const lists = await ctx.client.getContactLists(String(row.contactId), { signal: ctx.signal });
    const m = lists.find((l) => Number(l.listId) === row.listId);
    // Sent before and AC shows it active: our re-subscribe landed (its answer was lost).
    if (row.attempts > 0 && m?.status === ACTIVE) return { id: row.id, state: "done" };
    if (!m || m.status !== UNSUBSCRIBED || m.updated !== row.acUpdated) return skip("changed_since");
    await ctx.client.restoreSubscription(String(row.contactId), String(row.listId), { signal: ctx.signal });
    return { id: row.id, state: "done" };
  } catch (err) {
    if (ctx.signal.aborted || !(err instanceof AcError) || err.kind === "auth") throw err;
    if (err.kind === "not_found" || isContactGone(err)) return skip("contact_gone");
    if (isWeather(err)) return { id: row.id, state: "pending", reason: err.kind, error: err.message, nextAttemptAt: ctx.clock.now() + backoffMs(ctx, row.attempts + 1) };
    return { id: row.id, state: "failed", reason: err.kind, error: err.message };
  }
}
