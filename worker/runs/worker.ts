import { randomBytes } from "node:crypto";
import { setMaxListeners } from "node:events";
import { AcError, AUTH_MESSAGE, isWeather } from "../../core/ac/index.ts";
import type { Deps } from "../../core/deps.ts";
import { sqliteAttemptStore } from "../../core/runs/attempt.ts";
import { claimRun, failRun, LeaseLost, readRun, releaseForWeather, releaseLease, renewLease, type FailureCode, type Lease, type RunRow } from "../../core/runs/store.ts";
import { connectionRow, clientForConnection } from "../../core/services/connections.ts";
import type { RunVerifiers } from "../../core/verification.ts";
import type { RunEvent, RunSettings } from "./context.ts";
import { runAttempt } from "./conductor.ts";
import { LoopShare } from "./loop-share.ts";
import { noAcClient } from "./upload.ts";

export interface WorkerOptions extends Partial<RunSettings> {
  /** Identifies this process in leases; random by default. */
  id?: string;
  /** Runs processed at once by this process. */
  concurrency?: number;
  /** A run whose lease is not renewed for this long is taken over by another worker. */
  leaseMs?: number;
  /** How often a running attempt renews its lease and checks it still holds it. */
  heartbeatMs?: number;
  /** How often to look for claimable runs when idle. */
  pollMs?: number;
  /** Shared across runs, for their caches. */
  verifiers: RunVerifiers;
  /** Longest wait after ActiveCampaign weather before a run is tried again. */
  weatherMaxMs?: number;
  /** Who gets a full event loop (fetching, before verifying); tests replay a loop's busyness. */
  loopShare?: LoopShare;
  onEvent?: (event: RunEvent) => void;
}

export interface Worker {
  readonly id: string;
  start(): void;
  /** Stops claiming, stops in-flight attempts at a safe point, releases their leases. */
  stop(deadlineMs?: number): Promise<void>;
  /** Aborts every attempt at once and keeps its lease, as a crash would. For tests. */
  kill(): Promise<void>;
  /** Processes claimable runs until none is left to pick now. */
  drain(): Promise<void>;
  /** Looks for claimable runs now instead of at the next poll (a run was just queued or approved). */
  wake(): void;
}

const DEFAULT_SETTINGS: RunSettings = {
  fetchConcurrency: 4,
  verifyWindow: 256,
  applyConcurrency: 4,
  creditsPollMs: 5_000,
  holdMs: 60_000,
  actionRetryBaseMs: 5_000,
  actionRetryMaxMs: 5 * 60_000,
  labelPollMs: 2_000,
  labelPollMaxMs: 30_000,
};

/**
 * Claims runs from the database and drives each through one attempt at a time. Every attempt
 * owns an AbortController, aborted when the run is cancelled or its lease is lost (the
 * heartbeat finds it gone) and when the worker stops; the attempt waits for all its work to
 * settle before it returns. Nothing here can end in an unhandled rejection: every attempt's
 * promise is awaited or caught, and every failure path tolerates a lease already gone.
 */
export function createWorker(deps: Deps, opts: WorkerOptions): Worker {
  const id = opts.id ?? `wrk_${randomBytes(6).toString("hex")}`;
  const concurrency = opts.concurrency ?? 2;
  const leaseMs = opts.leaseMs ?? 60_000;
  const heartbeatMs = opts.heartbeatMs ?? Math.max(20, Math.min(1_000, Math.floor(leaseMs / 3)));
  const pollMs = opts.pollMs ?? 1_000;
  const weatherMaxMs = opts.weatherMaxMs ?? 10 * 60_000;
  const settings: RunSettings = {
    ...DEFAULT_SETTINGS,
    // Shards fetched at once: enough to keep the account's allowance busy while pages wait in a
    // busy event loop (at a raised 200 req/s, 16 reach 0.66-0.72 of it where 8 reached
    // 0.42-0.53, the loop busy 83% against 55%; 24 did no better); 3 at AC's real 5 req/s.
    fetchConcurrency: Math.min(16, Math.max(2, Math.ceil(deps.acLimiters.requestsPerSecond / 2))),
    ...Object.fromEntries(Object.entries(opts).filter(([k, v]) => k in DEFAULT_SETTINGS && v !== undefined)),
  };
  const active = new Map<string, { controller: AbortController; done: Promise<void> }>();
  const loopShare = opts.loopShare ?? new LoopShare();
  const log = deps.logger.child({ worker: id });
  let timer: NodeJS.Timeout | undefined;
  let running = false;
  let draining = false;

  const emit = (event: RunEvent) => {
    try {
      opts.onEvent?.(event);
    } catch (err) {
      log.error({ err }, "run event listener threw");
    }
  };

  /** Fails the run unless the attempt no longer holds it (then whoever does decides). */
  function failQuietly(lease: Lease, reason: string, code: FailureCode): void {
    try {
      failRun(deps.db, deps.clock, lease, reason, code);
      emit({ type: "finished", runId: lease.runId, status: "failed" });
      log.warn({ runId: lease.runId, reason }, "run failed");
    } catch (err) {
      if (!(err instanceof LeaseLost)) throw err;
      log.info({ runId: lease.runId }, "run left by this worker before it could be marked failed (cancelled or taken over)");
    }
  }

  function weatherWait(failures: number): number {
    const full = Math.min(weatherMaxMs, 2_000 * 2 ** (failures - 1));
    return Math.round(full / 2 + (Math.random() * full) / 2);
  }

  async function execute(run: RunRow, lease: Lease, controller: AbortController): Promise<void> {
    const runLog = log.child({ runId: run.id });
    const heartbeat = setInterval(() => {
      try {
        if (!renewLease(deps.db, deps.clock, lease, leaseMs)) controller.abort(new LeaseLost(run.id));
      } catch (err) {
        runLog.error({ err }, "lease renewal failed");
      }
    }, heartbeatMs);
    try {
      const connection = run.connectionId ? connectionRow(deps.db, run.connectionId) : undefined;
      if (!connection && run.source !== "upload") {
        failQuietly(lease, "The ActiveCampaign connection of this run was deleted", "connection_deleted");
        return;
      }
      // An upload's run (issue 19) reads its addresses from the database, not from an AC account.
      const client = connection ? clientForConnection(deps, connection) : noAcClient(run.id);
      const store = sqliteAttemptStore(deps.db, deps.clock, lease, { box: deps.backupBox, retentionMs: deps.config.BACKUP_RETENTION_DAYS * 86_400_000 }, () => client.stats.requests);
      const outcome = await runAttempt({ runId: run.id, store, client, verifiers: opts.verifiers, signal: controller.signal, clock: deps.clock, logger: runLog, settings, loopShare, emit });
      if (outcome.kind === "waiting") releaseLease(deps.db, lease, { notBefore: outcome.until, statusReason: outcome.reason });
      else releaseLease(deps.db, lease);
      runLog.info({ outcome: outcome.kind }, "run attempt finished");
    } catch (err) {
      // Only this run's lost lease: another run's never explains this attempt's end.
      if ((err instanceof LeaseLost && err.runId === run.id) || controller.signal.reason instanceof LeaseLost) {
        runLog.info("run left by this worker (cancelled or taken over)");
      } else if (controller.signal.aborted) {
        runLog.info("run attempt stopped");
      } else if (err instanceof AcError && isWeather(err)) {
        const failures = releaseForWeather(deps.db, lease, (n) => {
          const wait = weatherWait(n);
          return {
            at: deps.clock.now() + wait,
            reason: `ActiveCampaign is not answering as it should (${err.message}); trying again in ${Math.max(1, Math.round(wait / 1000))} s (attempt ${n + 1})`,
          };
        });
        runLog.warn({ err: err.message, kind: err.kind, failures }, "ActiveCampaign weather; the run will be tried again");
      } else if (err instanceof AcError) {
        if (err.kind === "auth") failQuietly(lease, `${AUTH_MESSAGE}. Update the connection's API key, then retry the run's changes or start a new run`, "ac_key_refused");
        else failQuietly(lease, err.message, `ac_${err.kind}`);
      } else {
        runLog.error({ err }, "run attempt crashed");
        failQuietly(lease, "The run stopped on an internal error; it has been logged", "internal");
      }
    } finally {
      clearInterval(heartbeat);
    }
  }

  function fill(): void {
    while (running || draining) {
      if (active.size >= concurrency) return;
      let claimed: ReturnType<typeof claimRun>;
      try {
        claimed = claimRun(deps.db, deps.clock, { owner: id, leaseMs, exclude: [...active.keys()], pollMs: settings.creditsPollMs });
      } catch (err) {
        log.error({ err }, "could not claim a run");
        return;
      }
      if (!claimed) return;
      const { run, lease } = claimed;
      const controller = new AbortController();
      // Every SMTP session and AC request of the run listens to this one signal.
      setMaxListeners(0, controller.signal);
      const done = execute(run, lease, controller)
        .catch((err: unknown) => log.error({ err, runId: run.id }, "run attempt ended with an error nobody caught"))
        .finally(() => {
          active.delete(run.id);
          if (running) schedule(0);
        });
      active.set(run.id, { controller, done });
    }
  }

  function schedule(delay: number) {
    if (!running) return;
    clearTimeout(timer);
    timer = setTimeout(() => {
      fill();
      schedule(pollMs);
    }, delay);
  }

  async function abortAll(reason: string): Promise<[string, { controller: AbortController; done: Promise<void> }][]> {
    running = false;
    clearTimeout(timer);
    const inFlight = [...active.entries()];
    for (const [, a] of inFlight) a.controller.abort(new Error(reason));
    return inFlight;
  }

  return {
    id,
    start() {
      if (running) return;
      running = true;
      schedule(0);
      log.info("worker started");
    },
    async stop(deadlineMs = 10_000) {
      const inFlight = await abortAll("worker stopping");
      // Every step is stored before the next starts, so stopping between steps loses nothing.
      const deadline = new Promise<void>((resolve) => setTimeout(resolve, deadlineMs).unref());
      await Promise.race([Promise.allSettled(inFlight.map(([, a]) => a.done)), deadline]);
      for (const [runId] of inFlight) {
        const row = readRun(deps.db, runId);
        if (row?.leaseOwner === id && row.leaseToken) releaseLease(deps.db, { runId, owner: id, token: row.leaseToken });
      }
      log.info("worker stopped");
    },
    async kill() {
      const inFlight = await abortAll("worker killed");
      await Promise.allSettled(inFlight.map(([, a]) => a.done));
    },
    wake() {
      schedule(0);
    },
    async drain() {
      draining = true;
      try {
        for (;;) {
          fill();
          if (active.size === 0) return;
          await Promise.race([...active.values()].map((a) => a.done));
        }
      } finally {
        draining = false;
      }
    },
  };
}
