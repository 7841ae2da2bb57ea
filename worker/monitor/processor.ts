import { randomBytes } from "node:crypto";
import { setMaxListeners } from "node:events";
import { AcError, isWeather } from "../../core/ac/index.ts";
import type { Deps } from "../../core/deps.ts";
import {
  claimMonitorContacts,
  monitorRow,
  MonitorLeaseLost,
  releaseMonitorContact,
  renewMonitorLeases,
  wakeWaitingForCredits,
  type MonitorContactRow,
  type MonitorLease,
} from "../../core/monitors/store.ts";
import { clientForConnection, connectionRow } from "../../core/services/connections.ts";
import type { RunVerifiers } from "../../core/verification.ts";
import { checkContact, type CheckOutcome, type CheckSettings, type ResolverHold } from "./check.ts";

export interface MonitorProcessorOptions extends Partial<CheckSettings> {
  /** Identifies this process in leases; random by default. */
  id?: string;
  /** Contacts checked at once (MONITOR_CONCURRENCY). */
  concurrency?: number;
  /** Of one monitor at once: a flood on one account leaves room for the others. */
  perMonitor?: number;
  /** A contact whose lease is not renewed for this long is taken over by another process. */
  leaseMs?: number;
  heartbeatMs?: number;
  /** How often to look for due contacts when nothing woke it. */
  pollMs?: number;
  /** Shared with runs: the same engine and caches. */
  verifiers: RunVerifiers;
  /** Wait after an unexpected error or ActiveCampaign refusing the key before the contact is tried again. */
  errorRetryMs?: number;
  onEvent?: (e: MonitorEvent) => void;
}

const RESOLVER_OK_CACHE_MS = 60_000;
const RESOLVER_FAIL_CACHE_MS = 5_000;

export type MonitorEvent = { type: "checked"; monitorId: string; contactId: string; outcome: CheckOutcome | "error" | "stopped" };

export interface MonitorProcessor {
  readonly id: string;
  start(): void;
  /** Something became due now (a delivery, credits): look at once. */
  wake(): void;
  /** Stops claiming, stops the contacts in hand at a safe point and lets go of them. */
  stop(deadlineMs?: number): Promise<void>;
  /** Aborts everything and keeps the leases, as a crash would. For tests. */
  kill(): Promise<void>;
  /** Checks due contacts until none is left to take now. For tests and the benchmark. */
  drain(): Promise<void>;
}

/**
 * Checks the contacts monitoring was told about (worker/monitor/check.ts), several at once,
 * each under a lease renewed by a heartbeat: a contact whose lease is lost is aborted at once.
 * Every contact's promise is awaited or caught; a failure lets go of that contact alone, to be
 * tried again later. Its AC requests go through the account's limiter, shared with runs.
 */
export function createMonitorProcessor(deps: Deps, opts: MonitorProcessorOptions): MonitorProcessor {
  const id = opts.id ?? `mwk_${randomBytes(6).toString("hex")}`;
  const concurrency = opts.concurrency ?? deps.config.MONITOR_CONCURRENCY;
  const perMonitor = opts.perMonitor ?? 4;
  const leaseMs = opts.leaseMs ?? 120_000;
  const heartbeatMs = opts.heartbeatMs ?? Math.max(20, Math.min(5_000, Math.floor(leaseMs / 3)));
  const pollMs = opts.pollMs ?? 2_000;
  const errorRetryMs = opts.errorRetryMs ?? 10 * 60_000;
  const settings: CheckSettings = {
    creditsPollMs: opts.creditsPollMs ?? 60_000,
    retryBaseMs: opts.retryBaseMs ?? 5_000,
    retryMaxMs: opts.retryMaxMs ?? 5 * 60_000,
    brake: opts.brake ?? { percent: deps.config.ANOMALY_PERCENT, window: 50, min: 10 },
  };
  const log = deps.logger.child({ monitorWorker: id });
  const active = new Map<string, { lease: MonitorLease; controller: AbortController; done: Promise<void> }>();
  let running = false;
  let draining = false;
  let timer: NodeJS.Timeout | undefined;
  let heartbeat: NodeJS.Timeout | undefined;
  // Issue 14's resolver check, shared by the contacts in hand: a passing answer is kept a minute,
  // a failing one a few seconds (contacts wait DNS_HEALTH_RETRY_MS anyway), one lookup at a time.
  let health: { at: number; hold: ResolverHold | null } | undefined;
  let healthInFlight: Promise<ResolverHold | null> | undefined;
  let toldUnhealthy = false;
  // Shared by the contacts waiting on it, so not tied to one contact's signal (its lookups have their own timeouts).
  const resolverHold = async (): Promise<ResolverHold | null> => {
    const resolver = opts.verifiers.resolver;
    if (!resolver) return null;
    const now = deps.clock.now();
    if (health && now - health.at < (health.hold ? RESOLVER_FAIL_CACHE_MS : RESOLVER_OK_CACHE_MS)) return health.hold;
    healthInFlight ??= (async () => {
      try {
        // A check that throws (it should not) counts as failing: doubt holds, it never lets through.
        const h = await resolver.check().catch((err: unknown) => {
          log.error({ err }, "the resolver check threw");
          return { ok: false, domains: [{ domain: "(check)", ok: false, detail: "the check itself failed" }] };
        });
        const failed = h.domains.filter((d) => !d.ok);
        const hold = h.ok
          ? null
          : {
              retryMs: resolver.retryMs,
              reason:
                `Waiting: this server cannot look up domain names right now (${failed.map((d) => `${d.domain}: ${d.detail}`).join(", ")}). ` +
                "Nothing is checked, charged or changed until lookups work. For the operator: check DNS_SERVERS, or DNS_HEALTH_DOMAINS.",
            };
        if (hold && !toldUnhealthy) log.warn({ domains: h.domains }, "resolver check failed; monitoring holds its checks");
        if (!hold && toldUnhealthy) log.info("resolver check passes again; monitoring goes on");
        toldUnhealthy = hold !== null;
        health = { at: deps.clock.now(), hold };
        return hold;
      } finally {
        healthInFlight = undefined;
      }
    })();
    return healthInFlight;
  };

  const emit = (e: MonitorEvent) => {
    try {
      opts.onEvent?.(e);
    } catch (err) {
      log.error({ err }, "monitor event listener threw");
    }
  };

  async function check(row: MonitorContactRow, lease: MonitorLease, controller: AbortController): Promise<void> {
    const cLog = log.child({ monitorId: row.monitorId, contactId: row.contactId });
    let outcome: CheckOutcome | "error" | "stopped" = "error";
    try {
      const monitor = monitorRow(deps.db, row.monitorId);
      const connection = monitor && connectionRow(deps.db, monitor.connectionId);
      if (!monitor || !connection) return; // deleted meanwhile: its rows went with it
      outcome = await checkContact({
        db: deps.db,
        clock: deps.clock,
        logger: cLog,
        lease,
        row,
        monitor,
        connectionName: connection.name,
        client: clientForConnection(deps, connection),
        verifiers: opts.verifiers,
        signal: controller.signal,
        settings,
        resolverHold,
      });
    } catch (err) {
      if (err instanceof MonitorLeaseLost || controller.signal.reason instanceof MonitorLeaseLost) {
        outcome = "stopped";
        cLog.info("monitored contact left by this process (taken over)");
        return;
      }
      if (controller.signal.aborted) {
        outcome = "stopped";
        return;
      }
      const weather = err instanceof AcError && isWeather(err);
      const wait = weather ? settings.retryBaseMs * 4 : errorRetryMs;
      const words =
        err instanceof AcError && err.kind === "auth"
          ? "ActiveCampaign refused this connection's API key: replace it on the connection page"
          : err instanceof AcError
            ? `ActiveCampaign: ${err.message}`
            : "An internal error; it has been logged";
      if (err instanceof AcError) cLog.warn({ kind: err.kind, status: err.status, weather }, "monitored contact will be tried again");
      else cLog.error({ err }, "checking a monitored contact failed");
      try {
        releaseMonitorContact(deps.db, lease, { dueAt: deps.clock.now() + wait, outcome: weather ? "ActiveCampaign is busy: tried again shortly" : words, outcomeCode: "retrying", error: weather ? null : words });
      } catch (releaseErr) {
        cLog.error({ err: releaseErr }, "could not let go of a monitored contact");
      }
    } finally {
      emit({ type: "checked", monitorId: row.monitorId, contactId: row.contactId, outcome });
    }
  }

  function fill(): void {
    if (!running && !draining) return;
    const room = concurrency - active.size;
    if (room <= 0) return;
    let claimed: ReturnType<typeof claimMonitorContacts>;
    try {
      wakeWaitingForCredits(deps.db, deps.clock.now());
      const busy = new Map<string, number>();
      for (const a of active.values()) busy.set(a.lease.monitorId, (busy.get(a.lease.monitorId) ?? 0) + 1);
      claimed = claimMonitorContacts(deps.db, deps.clock.now(), { owner: id, leaseMs, limit: room, perMonitor, busy });
    } catch (err) {
      log.error({ err }, "could not claim monitored contacts");
      return;
    }
    for (const { row, lease } of claimed) {
      const controller = new AbortController();
      setMaxListeners(0, controller.signal);
      const done = check(row, lease, controller)
        .catch((err: unknown) => log.error({ err }, "a monitored contact's check ended with an error nobody caught"))
        .finally(() => {
          active.delete(lease.id);
          if (running) schedule(0);
        });
      active.set(lease.id, { lease, controller, done });
    }
  }

  function schedule(delay: number): void {
    if (!running) return;
    clearTimeout(timer);
    timer = setTimeout(() => {
      fill();
      schedule(pollMs);
    }, delay);
  }

  function beat(): void {
    const held = [...active.values()];
    try {
      const lost = new Set(renewMonitorLeases(deps.db, deps.clock.now(), held.map((a) => a.lease), leaseMs));
      for (const a of held) if (lost.has(a.lease.id)) a.controller.abort(new MonitorLeaseLost(a.lease.id));
    } catch (err) {
      log.error({ err }, "monitor lease renewal failed");
    }
  }

  async function abortAll(reason: string) {
    running = false;
    clearTimeout(timer);
    clearInterval(heartbeat);
    const inFlight = [...active.values()];
    for (const a of inFlight) a.controller.abort(new Error(reason));
    return inFlight;
  }

  return {
    id,
    start() {
      if (running) return;
      running = true;
      heartbeat = setInterval(beat, heartbeatMs);
      schedule(0);
      log.info({ concurrency }, "monitor processor started");
    },
    wake() {
      if (running) schedule(0);
    },
    async stop(deadlineMs = 10_000) {
      const inFlight = await abortAll("monitor processor stopping");
      const deadline = new Promise<void>((resolve) => setTimeout(resolve, deadlineMs).unref());
      await Promise.race([Promise.allSettled(inFlight.map((a) => a.done)), deadline]);
      // Every step was stored before the next began: the next process picks up where these stopped.
      for (const a of inFlight) {
        try {
          releaseMonitorContact(deps.db, a.lease);
        } catch (err) {
          log.error({ err }, "could not let go of a monitored contact");
        }
      }
      log.info("monitor processor stopped");
    },
    async kill() {
      const inFlight = await abortAll("monitor processor killed");
      await Promise.allSettled(inFlight.map((a) => a.done));
    },
    async drain() {
      draining = true;
      const beating = running ? undefined : setInterval(beat, heartbeatMs);
      try {
        for (;;) {
          fill();
          if (active.size === 0) return;
          await Promise.race([...active.values()].map((a) => a.done));
        }
      } finally {
        draining = false;
        clearInterval(beating);
      }
    },
  };
}
