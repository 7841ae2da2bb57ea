import { and, asc, eq, inArray, isNull, lt, lte, or, sql } from "drizzle-orm";
import { randomBytes } from "node:crypto";
import { setMaxListeners } from "node:events";
import { schema, transaction } from "../../db/index.ts";
import type { RunStatus } from "../../db/schema/index.ts";
import { AcError } from "../../core/ac/index.ts";
import type { Deps } from "../../core/deps.ts";
import { clientForConnection } from "../../core/services/connections.ts";
import { balanceOf } from "../../core/services/credits.ts";
import type { RunVerifiers } from "../../core/verification.ts";
import { fail, LeaseLost, processRun, type RunEvent, type RunRow } from "./pipeline.ts";

/** Statuses a worker may pick up; awaiting_review waits for a person. */
const CLAIMABLE: RunStatus[] = ["queued", "running", "paused_credits", "applying"];

export interface WorkerOptions {
  /** Identifies this process in leases; random by default. */
  id?: string;
  /** Runs processed at once by this process. */
  concurrency?: number;
  /** A run whose lease is not renewed for this long is taken over by another worker. */
  leaseMs?: number;
  /** How often to look for claimable runs when idle. */
  pollMs?: number;
  /** Shared across runs, for their caches. */
  verifiers: RunVerifiers;
  verifyBatchSize?: number;
  /** Keyset shards fetched at once per run; the per-account limiter still caps the rate. */
  fetchConcurrency?: number;
  applyConcurrency?: number;
  creditsPollMs?: number;
  /** Consecutive AC failures (after the client's own retries) before a run fails. */
  maxTransientFailures?: number;
  onEvent?: (event: RunEvent) => void;
}

export interface Worker {
  readonly id: string;
  start(): void;
  /** Stops claiming, lets in-flight runs reach a safe point, releases their leases. */
  stop(deadlineMs?: number): Promise<void>;
  /** Aborts every run at once and keeps its lease, as a crash would. For tests. */
  kill(): Promise<void>;
  /** Processes claimable runs until none is left to pick now. */
  drain(): Promise<void>;
}

export function createWorker(deps: Deps, opts: WorkerOptions): Worker {
  const id = opts.id ?? `wrk_${randomBytes(6).toString("hex")}`;
  const concurrency = opts.concurrency ?? 2;
  const leaseMs = opts.leaseMs ?? 60_000;
  const pollMs = opts.pollMs ?? 1_000;
  const maxTransient = opts.maxTransientFailures ?? 5;
  const active = new Map<string, { controller: AbortController; done: Promise<void> }>();
  let timer: NodeJS.Timeout | undefined;
  let heartbeat: NodeJS.Timeout | undefined;
  let running = false;
  const log = deps.logger.child({ worker: id });

  function claim(): RunRow | undefined {
    const now = deps.clock.now();
    return transaction(deps.db, (tx) => {
      const candidate = tx
        .select()
        .from(schema.runs)
        .where(
          and(
            inArray(schema.runs.status, CLAIMABLE),
            or(isNull(schema.runs.leaseExpiresAt), lt(schema.runs.leaseExpiresAt, new Date(now))),
            or(isNull(schema.runs.notBefore), lte(schema.runs.notBefore, new Date(now))),
            active.size ? sql`${schema.runs.id} not in (${sql.join([...active.keys()].map((k) => sql`${k}`), sql`, `)})` : undefined,
          ),
        )
        .orderBy(asc(schema.runs.createdAt))
        .limit(20)
        .all()
        .find((run) => run.status !== "paused_credits" || balanceOf(tx, run.workspaceId) >= (run.creditsNeeded ?? 1));
      if (!candidate) {
        tx.update(schema.runs)
          .set({ notBefore: new Date(now + pollMs) })
          .where(and(eq(schema.runs.status, "paused_credits"), or(isNull(schema.runs.notBefore), lte(schema.runs.notBefore, new Date(now)))))
          .run();
        return undefined;
      }
      tx.update(schema.runs)
        .set({ leaseOwner: id, leaseExpiresAt: new Date(now + leaseMs) })
        .where(eq(schema.runs.id, candidate.id))
        .run();
      return { ...candidate, leaseOwner: id };
    });
  }

  function renewLeases() {
    const now = deps.clock.now();
    for (const runId of active.keys()) {
      deps.db
        .update(schema.runs)
        .set({ leaseExpiresAt: new Date(now + leaseMs) })
        .where(and(eq(schema.runs.id, runId), eq(schema.runs.leaseOwner, id)))
        .run();
    }
  }

  function release(runId: string, notBefore?: number) {
    deps.db
      .update(schema.runs)
      .set({ leaseOwner: null, leaseExpiresAt: null, ...(notBefore ? { notBefore: new Date(notBefore) } : {}) })
      .where(and(eq(schema.runs.id, runId), eq(schema.runs.leaseOwner, id)))
      .run();
  }

  function recordFailure(runId: string): number {
    const row = deps.db
      .update(schema.runs)
      .set({ transientFailures: sql`${schema.runs.transientFailures} + 1` })
      .where(eq(schema.runs.id, runId))
      .returning({ n: schema.runs.transientFailures })
      .get();
    return row?.n ?? 1;
  }

  async function execute(run: RunRow, controller: AbortController): Promise<void> {
    const runLog = log.child({ runId: run.id });
    const ctx = {
      deps,
      runId: run.id,
      owner: id,
      signal: controller.signal,
      emit: (e: RunEvent) => opts.onEvent?.(e),
      verifyBatchSize: opts.verifyBatchSize ?? 200,
      fetchConcurrency: opts.fetchConcurrency ?? Math.min(8, Math.max(2, Math.ceil(deps.acLimiters.requestsPerSecond / 2))),
      applyConcurrency: opts.applyConcurrency ?? 4,
      creditsPollMs: opts.creditsPollMs ?? 5_000,
    };
    try {
      const connection = run.connectionId
        ? deps.db.select().from(schema.connections).where(eq(schema.connections.id, run.connectionId)).get()
        : undefined;
      if (!connection) {
        fail(ctx, "The ActiveCampaign connection of this run was deleted");
        return;
      }
      await processRun({ ...ctx, client: clientForConnection(deps, connection), verifiers: opts.verifiers });
      release(run.id);
      const after = deps.db.select({ status: schema.runs.status }).from(schema.runs).where(eq(schema.runs.id, run.id)).get();
      runLog.info({ status: after?.status }, "run step finished");
    } catch (err) {
      if (controller.signal.aborted) return;
      if (err instanceof LeaseLost) {
        runLog.info("run left by this worker (cancelled or taken over)");
        return;
      }
      if (err instanceof AcError) {
        const failures = recordFailure(run.id);
        if (failures >= maxTransient) {
          fail(ctx, `ActiveCampaign kept failing (${err.message}); stopped after ${failures} attempts. Start a new run to try again`);
          return;
        }
        runLog.warn({ err: err.message, failures }, "AC failure; the run will be retried");
        release(run.id, deps.clock.now() + Math.min(60_000, 1_000 * 2 ** failures));
        return;
      }
      runLog.error({ err }, "run crashed");
      fail(ctx, "The run stopped on an internal error; it has been logged");
    }
  }

  function fill(): number {
    let started = 0;
    while (running || draining) {
      if (active.size >= concurrency) break;
      const run = claim();
      if (!run) break;
      const controller = new AbortController();
      // Every SMTP session and AC request of the run listens to this one signal.
      setMaxListeners(0, controller.signal);
      const done = execute(run, controller).finally(() => {
        active.delete(run.id);
        if (running) schedule(0);
      });
      active.set(run.id, { controller, done });
      started += 1;
    }
    return started;
  }

  let draining = false;
  function schedule(delay: number) {
    if (!running) return;
    clearTimeout(timer);
    timer = setTimeout(() => {
      fill();
      schedule(pollMs);
    }, delay);
  }

  return {
    id,
    start() {
      if (running) return;
      running = true;
      heartbeat = setInterval(renewLeases, Math.max(50, Math.floor(leaseMs / 3)));
      schedule(0);
      log.info("worker started");
    },
    async stop(deadlineMs = 10_000) {
      running = false;
      clearTimeout(timer);
      const inFlight = [...active.entries()];
      // Every step is stored before the next starts, so stopping between steps loses nothing.
      for (const [, a] of inFlight) a.controller.abort(new Error("worker stopping"));
      const deadline = new Promise<void>((resolve) => setTimeout(resolve, deadlineMs).unref());
      await Promise.race([Promise.allSettled(inFlight.map(([, a]) => a.done)), deadline]);
      for (const [runId] of inFlight) release(runId);
      clearInterval(heartbeat);
      log.info("worker stopped");
    },
    async kill() {
      running = false;
      clearTimeout(timer);
      clearInterval(heartbeat);
      const inFlight = [...active.values()];
      for (const a of inFlight) a.controller.abort(new Error("worker killed"));
      await Promise.allSettled(inFlight.map((a) => a.done));
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
