import { and, asc, desc, eq, inArray, isNull, max } from "drizzle-orm";
import { randomBytes } from "node:crypto";
import { schema, transaction, type Db } from "../../db/index.ts";
import { newId } from "../../db/ids.ts";
import type { RunStatus } from "../../db/schema/index.ts";
import type { Deps } from "../../core/deps.ts";
import { AppError } from "../../core/errors.ts";
import { ACTIVE, FINISHED } from "../../core/domain/run-status.ts";
import { createRun } from "../../core/services/runs.ts";
import { deleteExpiredUploads } from "../../core/services/uploads.ts";
import { purgeExpiredBackups } from "../../core/services/backups.ts";
import { formatInZone, occurrencesBetween, periodOf, timingOf, type OccurrenceRow, type ScheduleRow } from "../../core/services/schedules.ts";
import type { RunActions, RunScope } from "../../core/domain/scope-actions.ts";

const DAY_MS = 86_400_000;
/** An occurrence started this long after its time says it ran late (the process was down). */
const LATE_MS = 15 * 60_000;

export interface SchedulerOptions {
  /** Identifies this process in logs; random by default. */
  id?: string;
  /** How long after its time an occurrence may still start (missed while down, or waiting). */
  graceMs?: number;
  /** How often start() looks for due work. */
  tickMs?: number;
  onEvent?: (event: ScheduleEvent) => void;
}

export type ScheduleEvent =
  | { type: "started"; scheduleId: string; occurrenceAt: string; runId: string }
  | { type: "waiting"; scheduleId: string; occurrenceAt: string; reason: string }
  | { type: "skipped"; scheduleId: string; occurrenceAt: string; reason: string }
  | { type: "settled"; scheduleId: string; runId: string; status: RunStatus };

export interface Scheduler {
  readonly id: string;
  /**
   * Does everything due at the clock's now: settles finished runs, starts, waits or skips
   * occurrences, deletes uploads past their retention (UPLOAD_RETENTION_DAYS) and removes
   * expired backups of deleted contacts (BACKUP_RETENTION_DAYS).
   */
  tick(): Promise<ScheduleEvent[]>;
  /** Ticks now (catching up after a restart) and then every tickMs. */
  start(): void;
  /** Stops ticking and waits for a tick in progress. */
  stop(): Promise<void>;
}

type Outcome = { state: "started"; runId: string } | { state: "waiting" | "skipped"; reason: string };

/**
 * Turns schedules into runs. Every occurrence is decided in one immediate transaction that
 * inserts its row (or finds it already there: the unique key on (schedule, occurrence) and
 * (schedule, month)) and creates its run, so any number of schedulers on one database, and
 * restarts, create each run once. It holds no state of its own between ticks.
 */
export function createScheduler(deps: Deps, opts: SchedulerOptions = {}): Scheduler {
  const id = opts.id ?? `sch_${randomBytes(6).toString("hex")}`;
  const graceMs = opts.graceMs ?? deps.config.SCHEDULE_GRACE_DAYS * DAY_MS;
  const tickMs = opts.tickMs ?? 30_000;
  const log = deps.logger.child({ scheduler: id });
  const graceWords = `${+(graceMs / DAY_MS).toFixed(2)} day(s)`;
  let timer: NodeJS.Timeout | undefined;
  let running = false;
  let inFlight: Promise<ScheduleEvent[]> | undefined;

  const label = (s: Pick<ScheduleRow, "timeZone">, at: Date) => formatInZone(at, s.timeZone).label;

  /** The run of this connection that is still active, if any (never two at once). */
  function activeRun(tx: Db, connectionId: string) {
    return tx
      .select({ id: schema.runs.id, status: schema.runs.status })
      .from(schema.runs)
      .where(and(eq(schema.runs.connectionId, connectionId), inArray(schema.runs.status, [...ACTIVE])))
      .orderBy(asc(schema.runs.createdAt))
      .get();
  }

  /** Starts the occurrence's run, or says why it waits or is skipped. Call inside a transaction. */
  function decide(tx: Db, s: ScheduleRow, occ: OccurrenceRow, now: number): Outcome {
    if (s.paused) return { state: "skipped", reason: "Skipped: the schedule was paused before this occurrence could start" };
    // An edit of the timing (or a resume) starts the schedule afresh: nothing before it runs.
    if (occ.occurrenceAt.getTime() <= s.activeFrom.getTime()) {
      return { state: "skipped", reason: "Skipped: the schedule was changed or resumed after this occurrence; it runs from the next one" };
    }
    const blocker = activeRun(tx, s.connectionId);
    const late = now - occ.occurrenceAt.getTime() > graceMs;
    if (late && !blocker) {
      // Its blocker ended while Listwarden was down: too late now, whatever happened meanwhile.
      return { state: "skipped", reason: `Skipped: it could not start within ${graceWords} of its time (an earlier run of this connection had not ended, and Listwarden was not running when it did)` };
    }
    if (blocker) {
      const words = blocker.status.replace("_", " ");
      if (late) {
        return { state: "skipped", reason: `Skipped: run ${blocker.id} of this connection was still ${words} ${graceWords} after this occurrence` };
      }
      return {
        state: "waiting",
        reason: `Waiting: run ${blocker.id} of this connection is ${words}; this run starts when it ends, or is skipped after ${label(s, new Date(occ.occurrenceAt.getTime() + graceMs))}`,
      };
    }
    const smtpProbe = s.smtpProbe && deps.config.SMTP_PROBE;
    const run = createRun(
      { ...deps, db: tx },
      {
        ctx: { workspaceId: s.workspaceId },
        input: { connectionId: s.connectionId, scope: JSON.parse(s.scope) as RunScope, actions: JSON.parse(s.actions) as RunActions, smtpProbe },
        schedule: {
          id: s.id,
          autoApply: s.autoApply,
          holdThreshold: s.holdThreshold,
          deleteConfirmed: s.deleteConfirmed,
          notes: s.smtpProbe && !smtpProbe ? ["SMTP probing was asked for, but it is turned off on this server (SMTP_PROBE=off); results come from DNS and list checks"] : [],
        },
      },
    );
    return { state: "started", runId: run.id };
  }

  /** Records an outcome on the occurrence row. */
  function record(tx: Db, s: ScheduleRow, occ: OccurrenceRow, outcome: Outcome, now: number, startedNote: string | null): ScheduleEvent {
    const occurrenceAt = occ.occurrenceAt.toISOString();
    const values =
      outcome.state === "started"
        ? { state: outcome.state, runId: outcome.runId, reason: startedNote }
        : { state: outcome.state, reason: outcome.reason };
    tx.update(schema.scheduleOccurrences)
      .set({ ...values, updatedAt: new Date(now) })
      .where(eq(schema.scheduleOccurrences.id, occ.id))
      .run();
    return outcome.state === "started"
      ? { type: "started", scheduleId: s.id, occurrenceAt, runId: outcome.runId }
      : { type: outcome.state, scheduleId: s.id, occurrenceAt, reason: outcome.reason };
  }

  function scheduleRow(tx: Db, scheduleId: string): ScheduleRow | undefined {
    return tx.select().from(schema.schedules).where(eq(schema.schedules.id, scheduleId)).get();
  }

  /** Inserts the occurrence unless another scheduler (or an earlier tick) already did, then decides it. */
  function openOccurrence(s: ScheduleRow, at: Date, now: number, skipReason: string | null): ScheduleEvent | null {
    return transaction(deps.db, (tx) => {
      const fresh = scheduleRow(tx, s.id);
      // Deleted or edited since it was read: the next tick works from the new settings.
      if (!fresh || fresh.updatedAt.getTime() !== s.updatedAt.getTime()) return null;
      const row: OccurrenceRow = {
        id: newId("occ", now),
        scheduleId: s.id,
        workspaceId: s.workspaceId,
        occurrenceAt: at,
        period: periodOf(at, fresh.timeZone),
        state: skipReason ? "skipped" : "waiting",
        reason: skipReason,
        runId: null,
        settledAt: null,
        createdAt: new Date(now),
        updatedAt: new Date(now),
      };
      const inserted = tx.insert(schema.scheduleOccurrences).values(row).onConflictDoNothing().run();
      if (inserted.changes === 0) return null;
      if (skipReason) return { type: "skipped", scheduleId: s.id, occurrenceAt: at.toISOString(), reason: skipReason };
      const late = now - at.getTime() > LATE_MS;
      const note = late ? `Started late, at ${label(fresh, new Date(now))}: Listwarden was not running at the scheduled time` : null;
      return record(tx, fresh, row, tryDecide(tx, fresh, row, now), now, note);
    });
  }

  /** A run the service refuses to create skips the occurrence, and the schedule shows why. */
  function tryDecide(tx: Db, s: ScheduleRow, occ: OccurrenceRow, now: number): Outcome {
    try {
      return decide(tx, s, occ, now);
    } catch (err) {
      if (!(err instanceof AppError)) throw err;
      const reason = `Skipped: the run could not start: ${err.message}`;
      tx.update(schema.schedules).set({ lastError: reason, lastErrorCode: err.code }).where(eq(schema.schedules.id, s.id)).run();
      return { state: "skipped", reason };
    }
  }

  /** Occurrences due since the last one recorded: the latest within the grace window runs, the rest are skipped. */
  function openDue(s: ScheduleRow, now: number): ScheduleEvent[] {
    const last = deps.db
      .select({ at: max(schema.scheduleOccurrences.occurrenceAt) })
      .from(schema.scheduleOccurrences)
      .where(eq(schema.scheduleOccurrences.scheduleId, s.id))
      .get()?.at;
    const from = Math.max(s.activeFrom.getTime(), last ? new Date(last).getTime() : 0);
    const due = occurrencesBetween(timingOf(s), from, now);
    const events: ScheduleEvent[] = [];
    due.forEach((at, i) => {
      const latest = i === due.length - 1;
      const missed = `Missed: Listwarden was not running at ${label(s, at)}`;
      const skipReason = !latest
        ? `${missed}; only the latest missed occurrence runs`
        : now - at.getTime() > graceMs
          ? `${missed}, and that was more than ${graceWords} ago`
          : null;
      const event = openOccurrence(s, at, now, skipReason);
      if (event) events.push(event);
    });
    return events;
  }

  /** Occurrences waiting for a run of their connection to end: start, wait on, or skip after the grace window. */
  function resolveWaiting(now: number): ScheduleEvent[] {
    const waiting = deps.db
      .select({ id: schema.scheduleOccurrences.id })
      .from(schema.scheduleOccurrences)
      .where(eq(schema.scheduleOccurrences.state, "waiting"))
      .orderBy(asc(schema.scheduleOccurrences.occurrenceAt))
      .all();
    const events: ScheduleEvent[] = [];
    for (const { id: occId } of waiting) {
      const event = transaction(deps.db, (tx) => {
        const occ = tx
          .select()
          .from(schema.scheduleOccurrences)
          .where(and(eq(schema.scheduleOccurrences.id, occId), eq(schema.scheduleOccurrences.state, "waiting")))
          .get();
        const s = occ && scheduleRow(tx, occ.scheduleId);
        if (!occ || !s) return null;
        const outcome = tryDecide(tx, s, occ, now);
        if (outcome.state === "waiting" && outcome.reason === occ.reason) return null;
        return record(tx, s, occ, outcome, now, `Started at ${label(s, new Date(now))}, once the connection's earlier run had ended`);
      });
      if (event) events.push(event);
    }
    return events;
  }

  /** Reflects each finished scheduled run on its schedule: a failure sets lastError, a completion clears it. */
  function settle(now: number): ScheduleEvent[] {
    const finished = deps.db
      .select({ occ: schema.scheduleOccurrences, status: schema.runs.status, statusReason: schema.runs.statusReason, statusCode: schema.runs.statusCode })
      .from(schema.scheduleOccurrences)
      .innerJoin(schema.runs, eq(schema.runs.id, schema.scheduleOccurrences.runId))
      .where(and(eq(schema.scheduleOccurrences.state, "started"), isNull(schema.scheduleOccurrences.settledAt), inArray(schema.runs.status, [...FINISHED])))
      .orderBy(asc(schema.scheduleOccurrences.occurrenceAt))
      .all();
    const events: ScheduleEvent[] = [];
    for (const { occ, status, statusReason, statusCode } of finished) {
      const settled = transaction(deps.db, (tx) => {
        const marked = tx
          .update(schema.scheduleOccurrences)
          .set({ settledAt: new Date(now), updatedAt: new Date(now) })
          .where(and(eq(schema.scheduleOccurrences.id, occ.id), isNull(schema.scheduleOccurrences.settledAt)))
          .run();
        if (marked.changes === 0) return false;
        const s = scheduleRow(tx, occ.scheduleId);
        if (!s || status === "cancelled") return true;
        // Only the newest settled occurrence speaks for the schedule.
        const newer = tx
          .select({ id: schema.scheduleOccurrences.id })
          .from(schema.scheduleOccurrences)
          .innerJoin(schema.runs, eq(schema.runs.id, schema.scheduleOccurrences.runId))
          .where(and(eq(schema.scheduleOccurrences.scheduleId, s.id), inArray(schema.runs.status, ["completed", "failed"])))
          .orderBy(desc(schema.scheduleOccurrences.occurrenceAt))
          .get();
        if (newer && newer.id !== occ.id) return true;
        const failed = status === "failed";
        const lastError = failed ? `The run of ${label(s, occ.occurrenceAt)} failed: ${statusReason ?? "no reason was recorded"}` : null;
        tx.update(schema.schedules).set({ lastError, lastErrorCode: failed ? (statusCode ?? "internal") : null }).where(eq(schema.schedules.id, s.id)).run();
        return true;
      });
      if (settled && occ.runId) events.push({ type: "settled", scheduleId: occ.scheduleId, runId: occ.runId, status });
    }
    return events;
  }

  async function doTick(): Promise<ScheduleEvent[]> {
    const now = deps.clock.now();
    const events = [...settle(now), ...resolveWaiting(now)];
    // Backups of deleted contacts are personal data: kept BACKUP_RETENTION_DAYS, then removed.
    try {
      const purged = purgeExpiredBackups(deps.db, now);
      if (purged > 0) log.info({ purged }, "backups of deleted contacts removed after their retention");
    } catch (err) {
      log.error({ err }, "backups could not be purged");
    }
    const active = deps.db.select().from(schema.schedules).where(eq(schema.schedules.paused, false)).orderBy(asc(schema.schedules.createdAt)).all();
    for (const s of active) {
      // Let other work (and other schedulers in this process) in between schedules.
      await new Promise<void>((resolve) => setImmediate(resolve));
      try {
        events.push(...openDue(s, now));
      } catch (err) {
        log.error({ err, scheduleId: s.id }, "schedule could not be processed");
      }
    }
    // Housekeeping on the same clock: uploads past their retention lose their file and results.
    try {
      while ((await deleteExpiredUploads(deps, { limit: 20 })) === 20) await new Promise<void>((resolve) => setImmediate(resolve));
    } catch (err) {
      log.error({ err }, "expired uploads could not be deleted");
    }
    for (const e of events) {
      log.info(e, `occurrence ${e.type}`);
      opts.onEvent?.(e);
    }
    return events;
  }

  function tick(): Promise<ScheduleEvent[]> {
    inFlight ??= doTick().finally(() => {
      inFlight = undefined;
    });
    return inFlight;
  }

  function loop(delay: number) {
    if (!running) return;
    timer = setTimeout(() => {
      tick()
        .catch((err: unknown) => log.error({ err }, "scheduler tick failed"))
        .finally(() => loop(tickMs));
    }, delay);
  }

  return {
    id,
    tick,
    start() {
      if (running) return;
      running = true;
      loop(0);
      log.info({ graceMs, tickMs }, "scheduler started");
    },
    async stop() {
      running = false;
      clearTimeout(timer);
      await inFlight?.catch(() => undefined);
      log.info("scheduler stopped");
    },
  };
}
