import { setMaxListeners } from "node:events";
import { isChecking } from "../../core/domain/run-status.ts";
import { plural } from "../../core/lib/words.ts";
import type { RunRow } from "../../core/runs/store.ts";
import { applyRun } from "./apply.ts";
import type { RunContext } from "./context.ts";
import { fetchContacts, type FetchOutcome } from "./fetch.ts";
import { labelRun } from "./label.ts";
import { undoRun } from "./undo.ts";
import { planRun } from "./plan.ts";
import { completeUpload, fetchUpload } from "./upload.ts";
import { VerifyStage, type FetchState, type VerifyOutcome } from "./verify.ts";

/** Where one attempt left the run. */
export type AttemptOutcome =
  | { kind: "awaiting_review" }
  | { kind: "completed" }
  | { kind: "paused_credits" }
  /** The resolver check failed: nothing is checked until it passes (the run says why). */
  | { kind: "paused_dns" }
  /** Nothing to do before `until` (parked addresses, actions held by weather): let go until then. */
  | { kind: "waiting"; until: number; reason: string };

/**
 * One attempt at a claimed run, told as the run's story: check the contacts (fetch and verify,
 * overlapping), plan, then stop for review or apply. Each stage stores its progress before
 * the next begins and says what happened; a later attempt (after a pause, a crash or a wait)
 * picks up where this one stopped. AC errors and a lost lease are thrown to the worker.
 */
export async function runAttempt(ctx: RunContext): Promise<AttemptOutcome> {
  const { store, clock } = ctx;
  const run = store.run();
  if (isChecking(run.status)) {
    store.move("running", {
      statusReason: null,
      creditsNeeded: null,
      notBefore: null,
      startedAt: run.startedAt ?? new Date(clock.now()),
      // The rate shown is measured over this stretch of work, not across a pause.
      rateFromAt: new Date(clock.now()),
      rateFromCount: run.contactsVerified,
    });
    const resolver = await resolverProblem(ctx, run);
    if (resolver) {
      store.move("paused_dns", { statusReason: resolver.reason, notBefore: new Date(clock.now() + resolver.retryMs) });
      return { kind: "paused_dns" };
    }
    // An upload (issue 19) is another source of addresses for the same verification stream.
    const checked = await checkContacts(ctx, run.source === "upload" ? fetchUpload : fetchContacts);
    if (checked.kind === "paused") {
      store.pauseForCredits(checked.needed, clock.now() + ctx.settings.creditsPollMs);
      return { kind: "paused_credits" };
    }
    if (checked.kind === "waiting") {
      return { kind: "waiting", until: checked.nextAt, reason: waitingReason(checked.count, checked.nextAt) };
    }
    store.update({ verifiedAt: new Date(clock.now()) });
    // Nothing to plan or apply for an upload: its results are the point.
    if (run.source === "upload") return completeUpload(ctx);
    const planned = await planRun(ctx);
    if (planned === "completed") ctx.emit({ type: "finished", runId: ctx.runId, status: "completed" });
    if (planned !== "applying") return { kind: planned };
  }
  // An undo asked for (issue 14) is the whole of this stretch of work: nothing else is sent.
  if (run.undoRequestedAt && !run.undoFinishedAt) {
    const undone = await undoRun(ctx);
    if (undone.kind === "waiting") {
      const minutes = Math.max(1, Math.round((undone.nextAt - clock.now()) / 60_000));
      return { kind: "waiting", until: undone.nextAt, reason: `ActiveCampaign is busy; ${plural(undone.pending, "list membership")} will be re-subscribed in about ${plural(minutes, "minute")}` };
    }
    return { kind: "completed" };
  }
  // Labels first (issue 17): a contact to delete is labelled while it is still there.
  const labelled = await labelRun(ctx);
  if (labelled.kind === "waiting") {
    const minutes = Math.max(1, Math.round((labelled.nextAt - clock.now()) / 60_000));
    return { kind: "waiting", until: labelled.nextAt, reason: `ActiveCampaign's import failed; ${labelled.pending} label(s) will be sent again in about ${minutes} minute(s)` };
  }
  const applied = await applyRun(ctx);
  if (applied.kind === "waiting") {
    const minutes = Math.max(1, Math.round((applied.nextAt - clock.now()) / 60_000));
    return { kind: "waiting", until: applied.nextAt, reason: `ActiveCampaign is busy; ${plural(applied.pending, "change")} will be sent again in about ${plural(minutes, "minute")}` };
  }
  return { kind: "completed" };
}

/**
 * Before a run relies on DNS (contacts left to check), the resolver must see a handful of
 * well-known domains: a resolver that cannot (a fresh install's, an offline one's) would make
 * every address "Domain does not exist", and the plan would unsubscribe them all. Null when
 * the check passes, is off, or is not needed.
 */
async function resolverProblem(ctx: RunContext, run: RunRow): Promise<{ reason: string; retryMs: number } | null> {
  const resolver = ctx.verifiers.resolver;
  if (!resolver || (run.fetchDone && run.contactsVerified >= run.contactsFetched)) return null;
  const health = await resolver.check(ctx.signal);
  if (health.ok) return null;
  const failed = health.domains.filter((d) => !d.ok);
  ctx.logger.warn({ domains: health.domains }, "resolver check failed; run paused");
  const minutes = Math.max(1, Math.round(resolver.retryMs / 60_000));
  return {
    retryMs: resolver.retryMs,
    reason:
      `Paused: this server cannot look up domain names right now (${failed.map((d) => `${d.domain}: ${d.detail}`).join(", ")}). ` +
      `Checking now would call good addresses "Domain does not exist", so nothing is checked or charged until lookups work; ` +
      `the run tries again every ${plural(minutes, "minute")}. For the operator: check DNS_SERVERS, or set DNS_HEALTH_DOMAINS to domains an offline resolver knows.`,
  };
}

type Checked = { kind: "done" } | Extract<FetchOutcome, { kind: "paused" }> | Extract<VerifyOutcome, { kind: "waiting" }>;

/** Fetching and verifying overlap: results are stored as pages arrive. */
async function checkContacts(ctx: RunContext, fetchStage: typeof fetchContacts): Promise<Checked> {
  const stop = new AbortController();
  const phase: RunContext = { ...ctx, signal: AbortSignal.any([ctx.signal, stop.signal]) };
  setMaxListeners(0, phase.signal);
  const verify = new VerifyStage(phase);
  let fetchState: FetchState = "running";
  const fetchEnded = ctx.loopShare?.fetchStarted();
  const fetching = fetchStage(phase, () => verify.wake()).then(
    (outcome) => {
      fetchEnded?.();
      fetchState = outcome.kind === "done" ? "done" : "paused";
      verify.wake();
      return outcome;
    },
    (err: unknown) => {
      fetchEnded?.();
      // Fetching failed: stop verifying too, then report the fetch's error.
      stop.abort(err);
      throw err;
    },
  );
  const verifying = verify.run(() => fetchState).catch((err: unknown) => {
    stop.abort(err);
    throw err;
  });
  const [fetched, verified] = await Promise.allSettled([fetching, verifying]);
  if (fetched.status === "rejected") throw fetched.reason;
  if (verified.status === "rejected") throw verified.reason;
  if (fetched.value.kind === "paused") return fetched.value;
  return verified.value;
}

function waitingReason(count: number, nextAt: number): string {
  const at = new Date(nextAt).toISOString().slice(11, 16);
  return `${count} address(es) wait: their mail server asked us to try again later (greylisting, a busy server) or the probe budget is spent; the next try is at ${at} UTC`;
}
