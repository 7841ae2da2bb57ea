import type { RunActions, RunScope } from "../../core/domain/scope-actions.ts";
import { DEFAULT_HOLD_THRESHOLD, isAnomalous, labelRule, planRule, reviewReason } from "../../core/runs/planning.ts";
import type { RunContext } from "./context.ts";

export type PlanOutcome = "awaiting_review" | "applying" | "completed";

const CHUNK = 20_000;

/**
 * Decides every contact's action and records the AC requests it needs (core/runs/planning.ts),
 * in chunks, each its own transaction, so a large run does not hold the event loop (and the
 * dashboard) for long; planning again after a crash gives the same rows. Then the run stops
 * for review, applies by itself (a scheduled run under its hold threshold), or completes
 * (nothing to do).
 */
export async function planRun(ctx: RunContext): Promise<PlanOutcome> {
  const { store } = ctx;
  const start = store.run();
  if (start.planReady) return start.status as PlanOutcome;
  const actions = JSON.parse(start.actions) as RunActions;
  const scope = JSON.parse(start.scope) as RunScope;
  const rule = planRule(actions, scope);

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

  const totals = store.planSummary(rule.chosenLists);
  const run = store.run();
  const limit = run.holdThreshold ?? DEFAULT_HOLD_THRESHOLD;
  const now = new Date(ctx.clock.now());
  let next: PlanOutcome;
  if (totals.destructive === 0 && totals.labelled === 0) {
    next = "completed";
    store.move("completed", { planReady: true, statusReason: "Nothing to change in ActiveCampaign: every contact is kept", finishedAt: now });
  } else if (run.autoApply && !isAnomalous(totals, limit)) {
    // Labels destroy nothing: they never count towards the hold threshold.
    next = "applying";
    // The schedule's auto-apply is the user's standing approval.
    store.move("applying", { planReady: true, statusReason: null, approvedAt: now, rateFromAt: now, rateFromCount: 0 });
  } else {
    next = "awaiting_review";
    const share = totals.contacts ? totals.destructive / totals.contacts : 0;
    store.move("awaiting_review", {
      planReady: true,
      reviewAt: now,
      statusReason: run.autoApply
        ? `Held for review: ${(share * 100).toFixed(1)}% of contacts would be unsubscribed or deleted, above this schedule's ${Math.round(limit * 100)}% limit`
        : reviewReason(totals),
    });
  }
  ctx.emit({ type: "planned", runId: ctx.runId, status: next });
  return next;
}
