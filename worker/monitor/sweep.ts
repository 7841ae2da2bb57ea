import { randomBytes } from "node:crypto";
import { and, eq, gte, lt, sql } from "drizzle-orm";
import { AcError, type AcClient } from "../../core/ac/index.ts";
import type { Deps } from "../../core/deps.ts";
import { sha256 } from "../../core/lib/crypto.ts";
import { monitoredLists, pruneEvents, queueSwept, recordSweep, type MonitorRow } from "../../core/monitors/store.ts";
import { clientForConnection, connectionRow } from "../../core/services/connections.ts";
import { HOOK_PATH } from "../../core/services/monitors.ts";
import { recordMonitorNotice } from "../../core/services/notifications.ts";
import { schema, transaction } from "../../db/index.ts";

export interface SweeperOptions {
  /** How often start() looks for monitors due a sweep. */
  tickMs?: number;
  /** Between two sweeps of one monitor (MONITOR_SWEEP_MINUTES). */
  intervalMs?: number;
  /** Each sweep reads from this long before the last one began: AC's filter may be coarser than ours. */
  overlapMs?: number;
  onEvent?: (e: SweepEvent) => void;
}

export type SweepEvent =
  | { type: "swept"; monitorId: string; queued: number; unannounced: number }
  | { type: "sweep_failed"; monitorId: string; error: string }
  | { type: "webhook_lost"; monitorId: string }
  | { type: "digest"; monitorId: string; day: string; checked: number };

export interface Sweeper {
  /** Sweeps every monitor due now (or, with `force`, every monitor that is on), sends due digests, prunes old events. */
  tick(opts?: { force?: boolean }): Promise<SweepEvent[]>;
  start(): void;
  stop(): Promise<void>;
}

const DAY_MS = 86_400_000;
const EVENTS_KEPT_MS = 30 * DAY_MS;
/** A registration left `registering` this long was cut short (a crash): look in AC for its webhook. */
const REGISTERING_STALE_MS = 5 * 60_000;
const DIGEST_LINES = 20;

/**
 * The catch-up sweep (issue 18). AC never retries a delivery and imports fire no webhooks, so
 * every MONITOR_SWEEP_MINUTES each monitor that is on pages the contacts created or changed since
 * its last sweep (keyset paging, AC's `filters[updated_after]`, per watched list) and queues those
 * not seen yet: new ones (created since monitoring began) and known ones whose address changed.
 * It also looks at the webhook (gone from AC: the user is told and can register it again),
 * records the daily digests, and prunes events the dedupe no longer needs.
 */
export function createSweeper(deps: Deps, opts: SweeperOptions = {}): Sweeper {
  const id = `swp_${randomBytes(6).toString("hex")}`;
  const tickMs = opts.tickMs ?? 60_000;
  const intervalMs = opts.intervalMs ?? deps.config.MONITOR_SWEEP_MINUTES * 60_000;
  const overlapMs = opts.overlapMs ?? 10 * 60_000;
  const log = deps.logger.child({ sweeper: id });
  let timer: NodeJS.Timeout | undefined;
  let running = false;
  let inFlight: Promise<SweepEvent[]> | undefined;

  async function sweepOne(m: MonitorRow, client: AcClient): Promise<SweepEvent[]> {
    const events: SweepEvent[] = [];
    const started = deps.clock.now();
    const since = (m.sweptFrom ?? m.activeFrom ?? new Date(started)).getTime() - overlapMs;
    // AC's cdate is to the second: a contact created in the very second monitoring began may read as
    // older and is left to its webhook, rather than risk taking contacts from before as new.
    const activeFrom = (m.activeFrom ?? new Date(started)).getTime();
    const watched = monitoredLists(m);
    let queued = 0;
    let unannounced = 0;
    try {
      events.push(...(await checkWebhook(m, client)));
      for (const scope of watched ? watched.map((listId) => ({ kind: "list" as const, listId })) : [{ kind: "all" as const }]) {
        for await (const page of client.contactPages({ scope, updatedAfter: acTime(since), includeLists: true })) {
          for (const c of page.contacts) {
            const created = Date.parse(c.createdAt ?? "");
            const lists = c.lists.filter((l) => (watched ? watched.includes(l.listId) : l.status === 1)).map((l) => l.listId);
            const r = queueSwept(deps.db, deps.clock, m, { contactId: c.id, email: c.email, lists, isNew: Number.isFinite(created) && created >= activeFrom });
            if (r.queued) queued += 1;
            if (r.unannounced) unannounced += 1;
          }
        }
      }
      recordSweep(deps.db, m.id, { from: started, at: deps.clock.now(), found: unannounced, error: null });
      if (queued > 0) deps.onMonitorWork?.();
      events.push({ type: "swept", monitorId: m.id, queued, unannounced });
    } catch (err) {
      if (!(err instanceof AcError)) throw err;
      // The next sweep starts from the same point: nothing is skipped.
      recordSweep(deps.db, m.id, { from: null, at: deps.clock.now(), found: unannounced, error: `The sweep could not read ActiveCampaign: ${err.message}` });
      events.push({ type: "sweep_failed", monitorId: m.id, error: err.message });
      log.warn({ monitorId: m.id, kind: err.kind }, "monitor sweep failed; the next one starts from the same point");
    }
    return events;
  }

  /** Is the webhook still in AC? A registration cut short by a crash is found (its URL's secret hashes to ours) and kept. */
  async function checkWebhook(m: MonitorRow, client: AcClient): Promise<SweepEvent[]> {
    const now = deps.clock.now();
    if (m.webhookState === "registering" && now - (m.updatedAt?.getTime() ?? 0) > REGISTERING_STALE_MS) {
      const ours = (await client.listWebhooks()).find((w) => {
        const secret = w.url.split(`${HOOK_PATH}/${m.id}/`)[1];
        return secret !== undefined && sha256(secret) === m.secretHash;
      });
      deps.db
        .update(schema.monitors)
        .set(
          ours
            ? { acWebhookId: ours.id, previousSecretHash: null, webhookState: "registered", webhookCheckedAt: new Date(now) }
            : m.previousSecretHash
              ? // A rotation cut short: the webhook in use keeps its secret.
                { secretHash: m.previousSecretHash, previousSecretHash: null, webhookState: "registered", webhookError: "The secret was not rotated (the registration was interrupted); the current webhook stays in use" }
              : { webhookState: "failed", webhookError: "The registration was interrupted; register the webhook again" },
        )
        .where(eq(schema.monitors.id, m.id))
        .run();
      return [];
    }
    if (m.webhookState !== "registered" || !m.acWebhookId) return [];
    const hook = await client.getWebhook(m.acWebhookId);
    if (hook) {
      deps.db.update(schema.monitors).set({ webhookCheckedAt: new Date(now) }).where(eq(schema.monitors.id, m.id)).run();
      return [];
    }
    const connection = connectionRow(deps.db, m.connectionId);
    transaction(deps.db, (tx) => {
      tx.update(schema.monitors)
        .set({ webhookState: "missing", webhookCheckedAt: new Date(now), webhookError: "ActiveCampaign no longer has the webhook (deleted, or deactivated)" })
        .where(eq(schema.monitors.id, m.id))
        .run();
      recordMonitorNotice(tx, {
        workspaceId: m.workspaceId,
        event: "monitor_webhook_lost",
        key: `monitor:${m.id}:lost:${m.acWebhookId}`,
        data: { connectionName: connection?.name ?? "", connectionId: m.connectionId },
        now,
      });
    });
    return [{ type: "webhook_lost", monitorId: m.id }];
  }

  /** Yesterday's digest (UTC), once per monitor and day, when it asked for one and something was checked. */
  function digests(now: number): SweepEvent[] {
    const today = new Date(now).toISOString().slice(0, 10);
    const dayStart = Date.parse(`${today}T00:00:00Z`) - DAY_MS;
    const day = new Date(dayStart).toISOString().slice(0, 10);
    const due = deps.db
      .select()
      .from(schema.monitors)
      .where(and(eq(schema.monitors.digest, true), sql`coalesce(${schema.monitors.lastDigestDay}, '') < ${day}`))
      .all();
    const events: SweepEvent[] = [];
    for (const m of due) {
      const rows = deps.db
        .select()
        .from(schema.monitorContacts)
        .where(and(eq(schema.monitorContacts.monitorId, m.id), gte(schema.monitorContacts.checkedAt, new Date(dayStart)), lt(schema.monitorContacts.checkedAt, new Date(dayStart + DAY_MS))))
        .orderBy(schema.monitorContacts.checkedAt)
        .all();
      const counts: Record<string, number> = { checked: rows.length };
      for (const r of rows) {
        if (r.status) counts[r.status] = (counts[r.status] ?? 0) + 1;
        const code = r.outcomeCode === "unsubscribed" ? "unsubscribed" : r.outcomeCode === "deleted" ? "deleted" : r.outcomeCode === "labelled" ? "labelled" : null;
        if (code) counts[code] = (counts[code] ?? 0) + 1;
      }
      const lines = rows.slice(0, DIGEST_LINES).map((r) => `${r.checkedEmail ?? r.email}: ${r.status} (${r.reason}); ${r.outcome ?? "in progress"}`);
      const connection = connectionRow(deps.db, m.connectionId);
      transaction(deps.db, (tx) => {
        tx.update(schema.monitors).set({ lastDigestDay: day }).where(eq(schema.monitors.id, m.id)).run();
        if (rows.length === 0) return;
        recordMonitorNotice(tx, { workspaceId: m.workspaceId, event: "monitor_digest", key: `monitor:${m.id}:digest:${day}`, data: { connectionName: connection?.name ?? "", connectionId: m.connectionId, day, counts, lines }, now });
      });
      if (rows.length > 0) events.push({ type: "digest", monitorId: m.id, day, checked: rows.length });
    }
    return events;
  }

  async function doTick(force: boolean): Promise<SweepEvent[]> {
    const now = deps.clock.now();
    const events: SweepEvent[] = [];
    const on = deps.db.select().from(schema.monitors).where(eq(schema.monitors.enabled, true)).all();
    for (const m of on) {
      if (!force && m.lastSweepAt && now - m.lastSweepAt.getTime() < intervalMs) continue;
      const connection = connectionRow(deps.db, m.connectionId);
      if (!connection) continue;
      try {
        events.push(...(await sweepOne(m, clientForConnection(deps, connection))));
      } catch (err) {
        log.error({ err, monitorId: m.id }, "monitor sweep crashed");
      }
    }
    events.push(...digests(now));
    pruneEvents(deps.db, now - EVENTS_KEPT_MS);
    for (const e of events) {
      log.info(e, `monitor ${e.type}`);
      opts.onEvent?.(e);
    }
    return events;
  }

  function tick(o: { force?: boolean } = {}): Promise<SweepEvent[]> {
    inFlight ??= doTick(o.force ?? false).finally(() => {
      inFlight = undefined;
    });
    return inFlight;
  }

  function loop(delay: number, force = false) {
    if (!running) return;
    timer = setTimeout(() => {
      tick({ force })
        .catch((err: unknown) => log.error({ err }, "sweeper tick failed"))
        .finally(() => loop(tickMs));
    }, delay);
  }

  return {
    tick,
    start() {
      if (running) return;
      running = true;
      // A restart sweeps at once: whatever arrived while the process was down is found now.
      loop(0, true);
      log.info({ intervalMs }, "monitor sweeper started");
    },
    async stop() {
      running = false;
      clearTimeout(timer);
      await inFlight?.catch(() => undefined);
    },
  };
}

/** AC's dates carry an offset ("2026-11-02T09:00:00-05:00"); sent in UTC, to the second. */
function acTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, "+00:00");
}
