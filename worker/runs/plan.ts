import type { Action } from "../../db/schema/index.ts";
import { VERIFICATION_STATUSES } from "../../verify/index.ts";
import { labelOf, type RunActions, type RunScope } from "../../core/domain/scope-actions.ts";
import type { PlanRule } from "../../core/runs/attempt.ts";
import type { LabelRule } from "../../core/runs/labels.ts";
import type { RunContext } from "./context.ts";

export type PlanOutcome = "awaiting_review" | "applying" | "completed";

const CHUNK = 20_000;
/** A scheduled run that would unsubscribe or delete more than this share holds for review. */
export const DEFAULT_HOLD_THRESHOLD = 0.3;

/** The user's choices as the store applies them: a per-reason override wins over the status. */
export function planRule(actions: RunActions, scope: RunScope): PlanRule {
  return {
    cases: [
      ...actions.overrides.flatMap((o) => (o.action ? [{ reason: o.reason, action: o.action as Action }] : [])),
      ...VERIFICATION_STATUSES.map((status) => ({ status, action: actions[status] })),
    ],
    otherwise: "keep",
    chosenLists: scope.kind === "lists" ? scope.listIds.map(Number) : null,
  };
}

/** Who is labelled in ActiveCampaign: a reason's override (when it says) before its status. */
export function labelRule(actions: RunActions): LabelRule {
  return {
    cases: [
      ...actions.overrides.flatMap((o) => (o.label === undefined ? [] : [{ reason: o.reason, label: o.label }])),
      ...VERIFICATION_STATUSES.map((status) => ({ status, label: labelOf(actions).statuses.includes(status) })),
    ],
    withReason: labelOf(actions).reasonFieldName !== null,
  };
}

/**
 * Decides every contact's action and records the AC requests it needs: unsubscribe only from
 * lists where the contact is active, and for a list scope only from the chosen lists; a
 * delete needs no unsubscribe first; keep costs no request. Then the run stops for review,
 * applies by itself (a scheduled run under its hold threshold), or completes (nothing to do).
 */
export async function planRun(ctx: RunContext): Promise<PlanOutcome> {
  const { store } = ctx;
  const start = store.run();
  if (start.planReady) return start.status as PlanOutcome;
  const actions = JSON.parse(start.actions) as RunActions;
  const rule = planRule(actions, JSON.parse(start.scope) as RunScope);

  // In chunks, each its own transaction, so a large run does not hold the event loop (and the
  // dashboard) for long. Planning again after a crash gives the same rows.
  for (let after = -1; ; ) {
    ctx.signal.throwIfAborted();
    const { last } = store.planChunk(after, CHUNK, rule);
    if (last === null) break;
    after = last;
    await new Promise((resolve) => setImmediate(resolve));
  }

  // Labels: who gets one, in the same chunks (a step of its own, so the action plan stays as it was).
  const labels = labelRule(actions);
  if (labels.cases.some((c) => c.label)) {
    for (let after = -1; ; ) {
      ctx.signal.throwIfAborted();
      const { last } = store.planLabelChunk(after, CHUNK, labels);
      if (last === null) break;
      after = last;
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
  const labelled = store.labelSummary().contacts;

  const { contacts, destructive } = store.planSummary();
  const run = store.run();
  const share = contacts ? destructive / contacts : 0;
  const limit = run.holdThreshold ?? DEFAULT_HOLD_THRESHOLD;
  const now = new Date(ctx.clock.now());
  let next: PlanOutcome;
  if (destructive === 0 && labelled === 0) {
    next = "completed";
    store.move("completed", { planReady: true, statusReason: "Nothing to change in ActiveCampaign: every contact is kept", finishedAt: now });
  } else if (run.autoApply && share <= limit) {
    // Labels destroy nothing: they never count towards the hold threshold.
    next = "applying";
    // The schedule's auto-apply is the user's standing approval.
    store.move("applying", { planReady: true, statusReason: null, approvedAt: now, rateFromAt: now, rateFromCount: 0 });
  } else {
    next = "awaiting_review";
    store.move("awaiting_review", {
      planReady: true,
      reviewAt: now,
      statusReason: run.autoApply
        ? `Held for review: ${(share * 100).toFixed(1)}% of contacts would be unsubscribed or deleted, above this schedule's ${Math.round(limit * 100)}% limit`
        : reviewReason(destructive, labelled),
    });
  }
  ctx.emit({ type: "planned", runId: ctx.runId, status: next });
  return next;
}

function reviewReason(destructive: number, labelled: number): string {
  const parts = [destructive > 0 ? `${destructive} contact(s) would be unsubscribed or deleted` : null, labelled > 0 ? `${labelled} labelled in ActiveCampaign` : null];
  return `Review the plan: ${parts.filter(Boolean).join(", ")}`;
}
