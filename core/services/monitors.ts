import { and, desc, eq, gte, inArray, sql } from "drizzle-orm";
import { z } from "zod";
import { schema, statement, transaction, type Db } from "../../db/index.ts";
import { newId } from "../../db/ids.ts";
import type { MonitorContactState, WebhookState } from "../../db/schema/index.ts";
import { AcError, isWeather, type AcClient } from "../ac/index.ts";
import { MONITOR_EVENTS, type AcWebhookEvent } from "../domain/ac-webhook.ts";
import { actionsSchema, listsScopeSchema, DEFAULT_ACTIONS, usesDelete, type RunActions } from "../domain/scope-actions.ts";
import type { Deps, Principal } from "../deps.ts";
import { AppError } from "../errors.ts";
import { randomToken, safeEqual, sha256 } from "../lib/crypto.ts";
import { monitoredLists, recordDelivery, stopMonitorWork, type DeliveryOutcome, type MonitorRow } from "../monitors/store.ts";
import { clientForConnection, getConnectionRow } from "./connections.ts";

/**
 * Monitoring (issue 18): a connection's "check new contacts as they arrive". This module holds
 * its settings, the webhook in ActiveCampaign (registered, rotated, removed), the receiver's
 * check of a delivery, and the panel's view. The work itself (checking, charging, acting, the
 * sweep) is the worker's: worker/monitor/. See docs/monitoring.md.
 */

// ---- input --------------------------------------------------------------------------------------

const bool = (what: string) => z.boolean({ error: `must be true or false: ${what}` });

/** Lists, or the whole account. A tag has no "subscribe" event, so monitoring never watches one. */
export const monitorScopeSchema = z.discriminatedUnion(
  "kind",
  [
    z.object({ kind: z.literal("all") }),
    listsScopeSchema("at most 100 lists"),
  ],
  { error: 'must be {"kind":"all"} or {"kind":"lists","listIds":[...]}' },
);
export type MonitorScope = z.infer<typeof monitorScopeSchema>;

export const monitorInputSchema = z
  .object({
    enabled: bool("check new contacts as they arrive"),
    scope: monitorScopeSchema,
    actions: actionsSchema,
    smtpProbe: bool("probe mailboxes over SMTP").optional(),
    digest: bool("a daily digest of what was done").optional(),
    confirmDelete: bool("these actions delete contacts from ActiveCampaign").optional(),
  })
  .strict();
export type MonitorInput = Omit<z.infer<typeof monitorInputSchema>, "actions"> & { actions: z.input<typeof actionsSchema> };

/** The actions monitoring starts with: undeliverable → unsubscribe from the list joined, the rest kept. */
export const DEFAULT_MONITOR_ACTIONS: RunActions = { ...DEFAULT_ACTIONS, overrides: [] };

// ---- the webhook ------------------------------------------------------------------------------

export const WEBHOOK_NAME = "Listwarden: check new contacts";
/** Every source: a form (public), a user (admin), another integration (api), an automation (system). */
export const WEBHOOK_SOURCES = ["public", "admin", "api", "system"] as const;
/** The receiver's path; the secret is its last segment. */
export const HOOK_PATH = "/api/hooks/activecampaign";
const MONITOR_ID = /^mon_[0-9a-z]{26}$/;
const SECRET = /^[A-Za-z0-9_-]{43}$/;

/**
 * The base URL AC can call: PUBLIC_URL, or (for local testing, with AC_ALLOW_PRIVATE_HOSTS=on,
 * as the sandbox and the demo run) this server's own address. Null: monitoring cannot be on.
 */
export function webhookBase(deps: Pick<Deps, "config" | "publicUrl">): string | null {
  if (deps.config.PUBLIC_URL) return deps.config.PUBLIC_URL.replace(/\/+$/, "");
  return deps.config.AC_ALLOW_PRIVATE_HOSTS ? deps.publicUrl : null;
}

/** AC calls https endpoints on port 443 only (developers.activecampaign.com/reference/webhooks): say so before it silently never calls. */
export function webhookBaseWarning(base: string | null): string | null {
  if (!base) return null;
  const url = new URL(base);
  if (url.protocol === "https:" && (url.port === "" || url.port === "443")) return null;
  return url.protocol === "https:"
    ? `ActiveCampaign calls https webhooks on port 443 only; ${url.host} uses another port, so its deliveries will not arrive (the sweep still finds new contacts)`
    : `${url.origin} is not https: ActiveCampaign's real accounts may refuse or never call it (fine for the sandbox); set PUBLIC_URL to an https address`;
}

/** A path as the request log shows it: a webhook's secret replaced, so the log can never give it away. */
export function loggablePath(path: string): string {
  return path.startsWith(`${HOOK_PATH}/`) ? path.replace(/^(\/api\/hooks\/activecampaign\/[^/]*)\/.*$/, "$1/[secret]") : path;
}

const hookUrl = (base: string, monitorId: string, secret: string) => `${base}${HOOK_PATH}/${monitorId}/${secret}`;
const ownHook = (url: string, monitorId: string) => url.includes(`${HOOK_PATH}/${monitorId}/`);

/** A stand-in hash compared when the monitor does not exist, so every refusal takes the same time. */
const DUMMY_HASH = sha256("listwarden-no-such-monitor");

/**
 * The monitor a delivery's URL names, if its secret is the current one (compared in constant
 * time, as hashes) and it is on. Anything else, an unknown id, an old or wrong secret, a monitor
 * turned off or a deleted connection, is the same null: the receiver answers them alike.
 */
export function authenticateHook(db: Db, monitorId: string, secret: string): { id: string } | null {
  // Stryker disable next-line ConditionalExpression,LogicalOperator: the shapes only spare a lookup; every stored id has one, and no other text hashes to a stored secret's hash
  const shaped = MONITOR_ID.test(monitorId) && SECRET.test(secret);
  const m = shaped
    ? (statement(db, "SELECT id, enabled, secret_hash AS secretHash, previous_secret_hash AS previousSecretHash FROM monitors WHERE id = ?").get(monitorId) as
        | { id: string; enabled: number; secretHash: string | null; previousSecretHash: string | null }
        | undefined)
    : undefined;
  // Both compared, always: the current secret, and during a rotation the one it replaces.
  const hash = sha256(secret);
  const current = safeEqual(hash, m?.secretHash ?? DUMMY_HASH);
  const previous = safeEqual(hash, m?.previousSecretHash ?? DUMMY_HASH);
  return (current || previous) && m?.enabled ? { id: m.id } : null;
}

/** Records an authenticated delivery; null when the monitor was turned off meanwhile. */
export function receiveDelivery(deps: Pick<Deps, "db" | "clock">, m: { id: string }, event: AcWebhookEvent): DeliveryOutcome | null {
  return recordDelivery(deps.db, deps.clock, m.id, event);
}

/**
 * Registers a new webhook (with a new secret) and removes the monitor's others: on turning
 * monitoring on, on "rotate the secret" and on "register again". The secret's hash is stored
 * before AC hears of the URL (when rotating, the working webhook's secret stays valid beside it
 * until AC accepts the new one, and is restored alone if AC refuses), so a delivery that races the answer, or one after a crash, is
 * accepted; an answer that may have been lost is looked up by listing AC's webhooks, never sent
 * twice. AC refusing is recorded on the monitor (`failed`, with its words), not thrown: the
 * sweep keeps finding new contacts meanwhile.
 */
export async function registerWebhook(deps: Deps, m: MonitorRow, client: AcClient): Promise<void> {
  const base = webhookBase(deps);
  if (!base) throw publicUrlMissing();
  const secret = randomToken();
  const url = hookUrl(base, m.id, secret);
  const log = deps.logger.child({ monitorId: m.id, connectionId: m.connectionId });
  // Rotating: the working webhook's secret stays valid until AC has accepted the new one.
  const rotating = m.webhookState === "registered" && m.secretHash !== null ? m.secretHash : null;
  setWebhook(deps, m.id, { secretHash: sha256(secret), previousSecretHash: rotating, webhookState: "registering", webhookError: null });
  let hook;
  try {
    hook = await client.createWebhook({ name: WEBHOOK_NAME, url, events: [...MONITOR_EVENTS], sources: [...WEBHOOK_SOURCES] });
  } catch (err) {
    if (!(err instanceof AcError)) throw err;
    // The answer may have been lost after AC created it: look before calling it a failure.
    hook = isWeather(err) ? await client.listWebhooks().then((all) => all.find((w) => w.url === url), () => undefined) : undefined;
    if (!hook) {
      if (rotating) {
        // The webhook in use goes on working with its secret; the new one was never registered.
        setWebhook(deps, m.id, { secretHash: rotating, previousSecretHash: null, webhookState: "registered", webhookError: `The secret was not rotated (the current webhook stays in use): ActiveCampaign did not register the new webhook: ${err.message}` });
        log.warn({ kind: err.kind, status: err.status }, "webhook rotation failed; the current webhook stays in use");
        return;
      }
      setWebhook(deps, m.id, { webhookState: "failed", webhookError: `ActiveCampaign did not register the webhook: ${err.message}` });
      log.warn({ kind: err.kind, status: err.status }, "webhook registration failed");
      return;
    }
  }
  setWebhook(deps, m.id, { acWebhookId: hook.id, previousSecretHash: null, webhookState: "registered", webhookError: null, webhookCheckedAt: new Date(deps.clock.now()) });
  log.info({ webhookId: hook.id }, "webhook registered");
  await removeOtherHooks(deps, client, m.id, hook.id);
}

/** Deletes the monitor's webhooks in AC other than `keep` (earlier secrets, a registration whose answer was lost). Best effort. */
async function removeOtherHooks(deps: Deps, client: AcClient, monitorId: string, keep: string | null): Promise<void> {
  try {
    for (const w of await client.listWebhooks()) if (w.id !== keep && ownHook(w.url, monitorId)) await client.deleteWebhook(w.id);
  } catch (err) {
    // Left over: each delivery to it meets a secret that is no longer valid, answered 410, which makes AC deactivate it.
    deps.logger.warn({ monitorId, err: err instanceof AcError ? err.message : err }, "could not remove an old webhook; AC deactivates it on its first delivery");
  }
}

function setWebhook(deps: Pick<Deps, "db" | "clock">, id: string, patch: Partial<Pick<MonitorRow, "secretHash" | "previousSecretHash" | "acWebhookId" | "webhookState" | "webhookError" | "webhookCheckedAt">>): void {
  deps.db
    .update(schema.monitors)
    .set({ ...patch, updatedAt: new Date(deps.clock.now()) })
    .where(eq(schema.monitors.id, id))
    .run();
}

const publicUrlMissing = () =>
  new AppError(
    "conflict",
    "Monitoring needs the address ActiveCampaign can call this server at: set PUBLIC_URL (e.g. https://lw.example.com) and restart Listwarden",
    "enabled",
  );

// ---- settings ----------------------------------------------------------------------------------

function monitorOf(db: Db, connectionId: string): MonitorRow | undefined {
  return db.select().from(schema.monitors).where(eq(schema.monitors.connectionId, connectionId)).get();
}

/**
 * Saves a connection's monitoring and, when it is turned on, registers the webhook in AC (off:
 * removes it). Actions that delete need `confirmDelete: true`, as a schedule's do; turning it off
 * lets go of contacts not charged yet (those charged are finished).
 */
export async function saveMonitor(deps: Deps, { ctx, connectionId, input }: { ctx: Pick<Principal, "workspaceId">; connectionId: string; input: MonitorInput }): Promise<MonitorView> {
  const connection = getConnectionRow(deps, { workspaceId: ctx.workspaceId, id: connectionId });
  const actions = actionsSchema.parse(input.actions);
  const scope = monitorScopeSchema.parse(input.scope);
  const smtpProbe = input.smtpProbe ?? false;
  if (smtpProbe && !deps.config.SMTP_PROBE) throw new AppError("invalid_input", "SMTP probing is turned off on this server (SMTP_PROBE=off)", "smtpProbe");
  if (usesDelete(actions) && input.confirmDelete !== true) {
    throw new AppError("invalid_input", 'These actions delete new contacts from ActiveCampaign without a review; send {"confirmDelete": true} to save them', "confirmDelete");
  }
  if (input.enabled && !webhookBase(deps)) throw publicUrlMissing();
  const now = new Date(deps.clock.now());
  let before: MonitorRow | undefined;
  const settings = {
    enabled: input.enabled,
    scope: JSON.stringify(scope),
    actions: JSON.stringify(actions),
    smtpProbe,
    digest: input.digest ?? false,
    deleteConfirmed: usesDelete(actions),
    updatedAt: now,
  };
  const m = transaction(deps.db, (tx) => {
    // Read in the (immediate) transaction that writes: two first saves at once, from two
    // processes, cannot both insert (the second would hit the unique index, a 500).
    before = monitorOf(tx, connectionId);
    if (!before) {
      const row: MonitorRow = {
        id: newId("mon", now.getTime()),
        workspaceId: ctx.workspaceId,
        connectionId,
        ...settings,
        secretHash: null,
        previousSecretHash: null,
        acWebhookId: null,
        webhookState: "none",
        webhookError: null,
        webhookCheckedAt: null,
        activeFrom: input.enabled ? now : null,
        lastEventAt: null,
        sweptFrom: input.enabled ? now : null,
        lastSweepAt: null,
        lastSweepError: null,
        sweepFound: 0,
        labelSetup: null,
        charged: 0,
        lastDigestDay: null,
        heldReason: null,
        heldAt: null,
        brakeFrom: null,
        createdAt: now,
      };
      tx.insert(schema.monitors).values(row).run();
      return row;
    }
    // Turned on again: contacts created while it was off are not "new"; the sweep starts from now.
    const turnedOn = input.enabled && !before.enabled;
    const was = before;
    // Saving is also how the user releases the brake: counting starts afresh from now.
    const released = before.heldReason ? { heldReason: null, heldAt: null, brakeFrom: now } : {};
    const patch = { ...settings, ...released, ...(turnedOn ? { activeFrom: now, sweptFrom: now, sweepFound: 0 } : {}) };
    tx.update(schema.monitors).set(patch).where(eq(schema.monitors.id, before.id)).run();
    if (!input.enabled && was.enabled) stopMonitorWork(tx, deps.clock, was.id, connection.name);
    return { ...was, ...patch };
  });
  deps.logger.info({ monitorId: m.id, connectionId, workspaceId: ctx.workspaceId, enabled: m.enabled }, "monitoring saved");
  const client = clientForConnection(deps, connection, { interactive: true });
  // Turned on, or on with no working webhook yet (a registration that failed is tried again on save).
  if (m.enabled && (!before?.enabled || m.webhookState === "none" || m.webhookState === "failed")) await registerWebhook(deps, m, client);
  if (!m.enabled && before?.enabled) await unregister(deps, m, client);
  return getMonitor(deps, { ctx, connectionId });
}

/** Removes the webhook (best effort) and forgets the secret, so its URL is dead at once. */
async function unregister(deps: Deps, m: MonitorRow, client: AcClient): Promise<void> {
  setWebhook(deps, m.id, { secretHash: null, previousSecretHash: null, acWebhookId: null, webhookState: "none", webhookError: null });
  await removeOtherHooks(deps, client, m.id, null);
}

/** "Rotate the secret" and "register again" (after AC deactivated or lost the webhook): a new URL, the old one dead. */
export async function reregisterWebhook(deps: Deps, { ctx, connectionId }: { ctx: Pick<Principal, "workspaceId">; connectionId: string }): Promise<MonitorView> {
  const connection = getConnectionRow(deps, { workspaceId: ctx.workspaceId, id: connectionId });
  const m = monitorOf(deps.db, connectionId);
  if (!m?.enabled) throw new AppError("conflict", "Monitoring is off for this connection: turn it on first", "enabled");
  await registerWebhook(deps, m, clientForConnection(deps, connection, { interactive: true }));
  return getMonitor(deps, { ctx, connectionId });
}

/**
 * Before a connection is deleted: its webhook is removed from AC, quickly and best effort. If AC
 * cannot be reached, the webhook's next delivery finds no monitor and is answered 410, which
 * makes AC deactivate it.
 */
export async function forgetMonitorWebhook(deps: Deps, { ctx, connectionId }: { ctx: Pick<Principal, "workspaceId">; connectionId: string }): Promise<void> {
  const m = monitorOf(deps.db, connectionId);
  if (!m) return;
  const connection = getConnectionRow(deps, { workspaceId: ctx.workspaceId, id: connectionId });
  // Nothing planned is sent from here on, and what was charged but not checked is refunded.
  transaction(deps.db, (tx) => {
    tx.update(schema.monitors).set({ enabled: false, updatedAt: new Date(deps.clock.now()) }).where(eq(schema.monitors.id, m.id)).run();
    stopMonitorWork(tx, deps.clock, m.id, connection.name);
  });
  if (m.webhookState === "none") return;
  setWebhook(deps, m.id, { secretHash: null, previousSecretHash: null, webhookState: "none" });
  await removeOtherHooks(deps, clientForConnection(deps, connection, { interactive: true }), m.id, null);
}

// ---- the view ------------------------------------------------------------------------------------

export interface MonitorCounts {
  checked: number;
  unsubscribed: number;
  deleted: number;
  labelled: number;
}

export interface MonitoredContactView {
  contactId: string;
  email: string;
  state: MonitorContactState;
  status: string | null;
  reason: string | null;
  /** What was done, in words. */
  outcome: string | null;
  outcomeCode: string | null;
  /** The lists this contact was unsubscribed from (any check). */
  unsubscribedFrom: string[];
  source: "webhook" | "sweep";
  checkedAt: string | null;
  updatedAt: string;
}

export interface MonitorView {
  connectionId: string;
  enabled: boolean;
  scope: MonitorScope;
  actions: RunActions;
  smtpProbe: boolean;
  digest: boolean;
  deleteConfirmed: boolean;
  webhook: {
    state: WebhookState;
    error: string | null;
    /** When AC last delivered anything to the receiver. */
    lastDeliveryAt: string | null;
    checkedAt: string | null;
    /** Set when the address AC would call cannot work (no PUBLIC_URL, not https on 443). */
    problem: string | null;
    /** Monitoring can be turned on on this server (PUBLIC_URL is set). */
    available: boolean;
  };
  sweep: { lastAt: string | null; error: string | null; everyMinutes: number; foundUnannounced: number };
  /** The brake: why nothing is worked on until the settings are saved again; null when not held. */
  held: { reason: string; at: string } | null;
  /** UTC day and month. */
  today: MonitorCounts;
  month: MonitorCounts;
  /** `dns`: of the pending, those held because this server cannot look up domain names (issue 14's check). */
  waiting: { pending: number; credits: number; dns: number };
  /** Newest first. */
  recent: MonitoredContactView[];
}

const iso = (d: Date | null) => d?.toISOString() ?? null;

function countsSince(db: Db, monitorId: string, since: Date): MonitorCounts {
  const checked = db
    .select({ n: sql<number>`count(*)` })
    .from(schema.monitorContacts)
    .where(and(eq(schema.monitorContacts.monitorId, monitorId), gte(schema.monitorContacts.checkedAt, since)))
    .get()!.n;
  const done = db
    .select({ kind: schema.monitorActions.kind, n: sql<number>`count(DISTINCT ${schema.monitorActions.monitorContactId})` })
    .from(schema.monitorActions)
    .innerJoin(schema.monitorContacts, eq(schema.monitorContacts.id, schema.monitorActions.monitorContactId))
    .where(and(eq(schema.monitorContacts.monitorId, monitorId), eq(schema.monitorActions.state, "done"), gte(schema.monitorActions.updatedAt, since)))
    .groupBy(schema.monitorActions.kind)
    .all();
  const of = (k: string) => Number(done.find((d) => d.kind === k)?.n ?? 0);
  return { checked: Number(checked), unsubscribed: of("unsubscribe"), deleted: of("delete"), labelled: of("label") };
}

export function recentMonitored(db: Db, monitorId: string, limit: number): MonitoredContactView[] {
  const rows = db
    .select()
    .from(schema.monitorContacts)
    .where(eq(schema.monitorContacts.monitorId, monitorId))
    .orderBy(desc(schema.monitorContacts.updatedAt), desc(schema.monitorContacts.id))
    .limit(limit)
    .all();
  const unsubscribed = new Map<string, string[]>();
  if (rows.length > 0) {
    const done = db
      .select({ id: schema.monitorActions.monitorContactId, listId: schema.monitorActions.listId })
      .from(schema.monitorActions)
      .where(and(inArray(schema.monitorActions.monitorContactId, rows.map((r) => r.id)), eq(schema.monitorActions.kind, "unsubscribe"), eq(schema.monitorActions.state, "done")))
      .all();
    for (const d of done) unsubscribed.set(d.id, [...new Set([...(unsubscribed.get(d.id) ?? []), String(d.listId)])]);
  }
  return rows.map((c) => ({
      contactId: c.contactId,
      email: c.checkedEmail ?? c.email,
      state: c.state,
      status: c.status,
      reason: c.reason,
      outcome: c.outcome,
      outcomeCode: c.outcomeCode,
      unsubscribedFrom: unsubscribed.get(c.id) ?? [],
      source: c.source === "sweep" ? ("sweep" as const) : ("webhook" as const),
      checkedAt: iso(c.checkedAt),
      updatedAt: c.updatedAt.toISOString(),
    }));
}

/** The connection's monitoring as the panel and the API show it (the defaults while it was never set up). */
export function getMonitor(deps: Pick<Deps, "db" | "clock" | "config" | "publicUrl">, { ctx, connectionId, recent = 20 }: { ctx: Pick<Principal, "workspaceId">; connectionId: string; recent?: number }): MonitorView {
  getConnectionRow(deps as Deps, { workspaceId: ctx.workspaceId, id: connectionId });
  const m = monitorOf(deps.db, connectionId);
  const base = webhookBase(deps);
  const now = new Date(deps.clock.now());
  const day = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
  const month = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
  const zero: MonitorCounts = { checked: 0, unsubscribed: 0, deleted: 0, labelled: 0 };
  const waiting = m
    ? deps.db
        .select({ state: schema.monitorContacts.state, dns: sql<number>`(${schema.monitorContacts.outcomeCode} IS 'waiting_dns')`, n: sql<number>`count(*)` })
        .from(schema.monitorContacts)
        .where(and(eq(schema.monitorContacts.monitorId, m.id), inArray(schema.monitorContacts.state, ["pending", "waiting_credits"])))
        .groupBy(schema.monitorContacts.state, sql`2`)
        .all()
    : [];
  return {
    connectionId,
    enabled: m?.enabled ?? false,
    scope: m ? (JSON.parse(m.scope) as MonitorScope) : { kind: "all" },
    actions: m ? (JSON.parse(m.actions) as RunActions) : DEFAULT_MONITOR_ACTIONS,
    smtpProbe: m?.smtpProbe ?? false,
    digest: m?.digest ?? false,
    deleteConfirmed: m?.deleteConfirmed ?? false,
    webhook: {
      state: m?.webhookState ?? "none",
      error: m?.webhookError ?? null,
      lastDeliveryAt: iso(m?.lastEventAt ?? null),
      checkedAt: iso(m?.webhookCheckedAt ?? null),
      problem: base ? webhookBaseWarning(base) : "Set PUBLIC_URL (the https address ActiveCampaign can reach this server at) to check new contacts as they arrive",
      available: base !== null,
    },
    held: m?.heldReason ? { reason: m.heldReason, at: iso(m.heldAt)! } : null,
    sweep: { lastAt: iso(m?.lastSweepAt ?? null), error: m?.lastSweepError ?? null, everyMinutes: deps.config.MONITOR_SWEEP_MINUTES, foundUnannounced: m?.sweepFound ?? 0 },
    today: m ? countsSince(deps.db, m.id, day) : zero,
    month: m ? countsSince(deps.db, m.id, month) : zero,
    waiting: {
      pending: Number(waiting.filter((w) => w.state === "pending").reduce((n, w) => n + Number(w.n), 0)),
      credits: Number(waiting.find((w) => w.state === "waiting_credits")?.n ?? 0),
      dns: Number(waiting.find((w) => w.state === "pending" && w.dns)?.n ?? 0),
    },
    recent: m ? recentMonitored(deps.db, m.id, recent) : [],
  };
}

/** The monitors of some connections that are on, for the connection list. */
export function monitoredConnections(db: Db, workspaceId: string): Set<string> {
  return new Set(
    db
      .select({ id: schema.monitors.connectionId })
      .from(schema.monitors)
      .where(and(eq(schema.monitors.workspaceId, workspaceId), eq(schema.monitors.enabled, true)))
      .all()
      .map((r) => r.id),
  );
}

export { monitoredLists };
