import type { Action } from "../../db/schema/index.ts";
import { actionFor, type RunActions, type RunScope } from "../../core/domain/scope-actions.ts";
import type { PlannedRequest } from "../../core/runs/attempt.ts";
import type { VerificationReason, VerificationStatus } from "../../verify/index.ts";
import type { RunContext } from "./context.ts";

export type PlanOutcome = "awaiting_review" | "applying" | "completed";

interface Membership {
  listId: number;
  status: number;
}

const ACTIVE = 1;
const CHUNK = 2_000;
/** A scheduled run that would unsubscribe or delete more than this share holds for review. */
export const DEFAULT_HOLD_THRESHOLD = 0.3;

/**
 * Decides every contact's action and records the AC requests it needs. Unsubscribe only
 * from lists where the contact is active, and for a list scope only from the chosen lists;
 * a delete needs no unsubscribe first; keep costs no request. Then the run stops for review,
 * applies by itself (a scheduled run under its hold threshold), or completes (nothing to do).
 */
export async function planRun(ctx: RunContext): Promise<PlanOutcome> {
  const { store } = ctx;
  const start = store.run();
  if (start.planReady) return start.status as PlanOutcome;
  const scope = JSON.parse(start.scope) as RunScope;
  const actions = JSON.parse(start.actions) as RunActions;
  const chosen = scope.kind === "lists" ? new Set(scope.listIds.map(Number)) : null;

  // In chunks, each its own transaction, so a large run does not hold the event loop (and the
  // dashboard) for seconds. Planning again after a crash gives the same rows.
  let after = -1;
  let contacts = 0;
  let destructive = 0;
  for (;;) {
    ctx.signal.throwIfAborted();
    const chunk = store.contactsToPlan(after, CHUNK);
    if (chunk.length === 0) break;
    const decided: { contactId: number; action: Action }[] = [];
    const requests: PlannedRequest[] = [];
    for (const c of chunk) {
      const action = actionFor(actions, c.status as VerificationStatus, c.reason as VerificationReason);
      decided.push({ contactId: c.contactId, action });
      if (action === "delete") {
        requests.push({ contactId: c.contactId, kind: "delete", listId: 0 });
        destructive += 1;
      } else if (action === "unsubscribe") {
        const lists = (JSON.parse(c.lists) as Membership[]).filter((l) => l.status === ACTIVE && (!chosen || chosen.has(l.listId)));
        for (const l of lists) requests.push({ contactId: c.contactId, kind: "unsubscribe", listId: l.listId });
        if (lists.length > 0) destructive += 1;
      }
    }
    store.savePlan(decided, requests);
    after = chunk.at(-1)!.contactId;
    contacts += chunk.length;
    await new Promise((resolve) => setImmediate(resolve));
  }

  const run = store.run();
  const share = contacts ? destructive / contacts : 0;
  const limit = run.holdThreshold ?? DEFAULT_HOLD_THRESHOLD;
  const now = new Date(ctx.clock.now());
  let next: PlanOutcome;
  if (destructive === 0) {
    next = "completed";
    store.move("completed", { planReady: true, statusReason: "Nothing to change in ActiveCampaign: every contact is kept", finishedAt: now });
  } else if (run.autoApply && share <= limit) {
    next = "applying";
    store.move("applying", { planReady: true, statusReason: null });
  } else {
    next = "awaiting_review";
    store.move("awaiting_review", {
      planReady: true,
      reviewAt: now,
      statusReason: run.autoApply
        ? `Held for review: ${(share * 100).toFixed(1)}% of contacts would be unsubscribed or deleted, above this schedule's ${Math.round(limit * 100)}% limit`
        : `Review the plan: ${destructive} contact(s) would be unsubscribed or deleted`,
    });
  }
  ctx.emit({ type: "planned", runId: ctx.runId, status: next });
  return next;
}
