import type { AcClient } from "../../core/ac/index.ts";
import type { RunStatus } from "../../core/domain/run-status.ts";
import type { Clock } from "../../core/lib/clock.ts";
import type { Logger } from "../../core/logger.ts";
import type { AttemptStore } from "../../core/runs/attempt.ts";
import type { RunVerifiers } from "../../core/verification.ts";
import type { LoopShare } from "./loop-share.ts";

/** What happened, for tests and for anyone who wants to watch a run move. */
export type RunEvent =
  /** `part`, `shard` and `afterId` say which page it was: the scope part, the id range, the position in it. */
  | { type: "page_stored"; runId: string; contacts: number; part: number; shard: number; afterId: string | null }
  | { type: "results_stored"; runId: string; contacts: number; parked: number }
  | { type: "planned"; runId: string; status: RunStatus }
  | { type: "action_done"; runId: string; actionId: string; state: "done" | "failed" | "pending" }
  /** A label batch moved: prepared and about to be sent, taken by AC, finished, or failed (sent again, split, given up). */
  | { type: "label_batch"; runId: string; batchId: string; state: "sending" | "queued" | "done" | "retry" | "split" | "failed" | "refused" }
  | { type: "finished"; runId: string; status: RunStatus };

export interface RunSettings {
  /** Keyset shards of a scope fetched at once (the per-account limiter still caps the rate). */
  fetchConcurrency: number;
  /** Addresses being verified at once, across every mail server. */
  verifyWindow: number;
  /** Requests to AC in flight at once while applying. */
  applyConcurrency: number;
  /** How long a run paused for credits waits before its balance is looked at again. */
  creditsPollMs: number;
  /**
   * Waits shorter than this (for a parked address or an action held by weather) are waited out
   * in the attempt; longer ones let go of the run until then, freeing the worker for others.
   */
  holdMs: number;
  /** Backoff of an action after AC weather: base, doubled per attempt up to max. */
  actionRetryBaseMs: number;
  actionRetryMaxMs: number;
  /** First look at a bulk import's status this long after it was queued; then twice as long each time, up to the max. */
  labelPollMs: number;
  labelPollMaxMs: number;
}

/** One attempt at one run: its store (bound to the attempt's lease), its AC client, its signal. */
export interface RunContext {
  runId: string;
  store: AttemptStore;
  client: AcClient;
  verifiers: RunVerifiers;
  /** Aborted when the attempt must stop: cancelled, lease lost, worker stopping. */
  signal: AbortSignal;
  clock: Clock;
  logger: Logger;
  settings: RunSettings;
  /** The worker's one: while the event loop is full, fetching comes before verifying. */
  loopShare?: LoopShare;
  emit(event: RunEvent): void;
}

/** A promise that the next `notify()` resolves: lets a stage sleep until there is news. */
export class Waker {
  #resolve: (() => void) | null = null;
  #pending = false;

  notify(): void {
    if (this.#resolve) {
      this.#resolve();
      this.#resolve = null;
    } else {
      this.#pending = true;
    }
  }

  /** Resolves at the next notify (at once if one came since the last wait), or after `ms`, or on abort. */
  wait(ms: number, signal: AbortSignal): Promise<void> {
    if (this.#pending || signal.aborted) {
      this.#pending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        this.#resolve = null;
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, ms));
      signal.addEventListener("abort", done, { once: true });
      this.#resolve = done;
    });
  }
}

/** A real sleep that ends early (without error) when `signal` aborts. */
export function sleepUnlessAborted(ms: number, signal: AbortSignal): Promise<void> {
  return new Waker().wait(ms, signal);
}
