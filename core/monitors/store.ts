import { randomBytes } from "node:crypto";
import { and, asc, eq, inArray, isNull, lte, or, sql } from "drizzle-orm";
import { schema, statement, transaction, type Db } from "../../db/index.ts";
import { newId } from "../../db/ids.ts";
import type { MonitorActionKind, MonitorContactState } from "../../db/schema/index.ts";
import type { Clock } from "../lib/clock.ts";
import { sha256 } from "../lib/crypto.ts";
import { chargeCredits, refundCredits } from "../services/credits.ts";
import { recordMonitorNotice } from "../services/notifications.ts";
import type { AcWebhookEvent } from "../domain/ac-webhook.ts";
import type { LabelSetup } from "../runs/labels.ts";

/**
 * Every write monitoring makes to its work (issue 18): what the receiver records of a
 * delivery, what the sweep adds, and what the processor does with each contact, under a lease.
 * Each function is one transaction; those of the processor check the contact's lease token
 * inside it, so a processor that lost its claim (a stall, another process took over) changes
 * nothing. See docs/monitoring.md.
 */

export type MonitorRow = typeof schema.monitors.$inferSelect;
export type MonitorContactRow = typeof schema.monitorContacts.$inferSelect;
export type MonitorActionRow = typeof schema.monitorActions.$inferSelect;

/** The lists a monitor watches: null for every list. */
export function monitoredLists(m: Pick<MonitorRow, "scope">): string[] | null {
  const scope = JSON.parse(m.scope) as { kind: "all" } | { kind: "lists"; listIds: string[] };
  return scope.kind === "lists" ? scope.listIds : null;
}

export function monitorRow(db: Db, id: string): MonitorRow | undefined {
  return db.select().from(schema.monitors).where(eq(schema.monitors.id, id)).get();
}

// ---- the receiver ---------------------------------------------------------------------------

/** What became of a delivery: queued (a contact to look at), or why nothing was. */
export type DeliveryOutcome = "queued" | "duplicate" | "unchanged" | "other_list" | "unseen_update" | "ignored_type";

const lower = (s: string) => s.trim().toLowerCase();
const listsOf = (row: Pick<MonitorContactRow, "lists">) => JSON.parse(row.lists) as string[];

/**
 * Records one delivery of an enabled monitor in one transaction: the event (its key makes a
 * repeated delivery a no-op) and, when it is news, the contact marked to look at. A `subscribe`
 * to a watched list queues the contact (again, if it joined another list or its address is not
 * the one checked); an `update` queues a contact already known whose address changed. Returns
 * null when the monitor is no longer enabled (the receiver then answers as for any dead URL).
 *
 * The receiver's hot path: plain prepared statements (cached per connection), not the query
 * builder, which cost more than the writes themselves (`npm run bench`, monitoring).
 */
export function recordDelivery(db: Db, clock: Clock, monitorId: string, e: AcWebhookEvent): DeliveryOutcome | null {
  return transaction(db, (tx) => {
    const m = statement(tx, "SELECT id, workspace_id AS workspaceId, enabled, scope FROM monitors WHERE id = ?").get(monitorId) as
      | { id: string; workspaceId: string; enabled: number; scope: string }
      | undefined;
    if (!m?.enabled) return null;
    const now = clock.now();
    statement(tx, "UPDATE monitors SET last_event_at = ? WHERE id = ?").run(now, m.id);
    if (!e.contact || (e.type !== "subscribe" && e.type !== "update")) return "ignored_type";
    const key = sha256([e.type, e.contact.id, e.listId ?? "0", e.dateTime, lower(e.contact.email)].join("|")).slice(0, 32);
    // Stryker disable next-line StringLiteral: the id's "mev" prefix is for people reading the table; nothing decides on it
    const eventId = newId("mev", now);
    const inserted = statement(
      tx,
      "INSERT INTO monitor_events (id, monitor_id, key, type, contact_id, list_id, outcome, received_at) VALUES (?, ?, ?, ?, ?, ?, 'queued', ?) ON CONFLICT (monitor_id, key) DO NOTHING",
    ).run(eventId, m.id, key, e.type, e.contact.id, e.listId, now);
    if (inserted.changes === 0) return "duplicate";
    const outcome = queueFromEvent(tx, m, e as AcWebhookEvent & { contact: { id: string; email: string } }, now);
    // Stryker disable next-line ConditionalExpression,StringLiteral: the event was inserted as "queued": writing "queued" over it changes nothing (`false` is killed)
    if (outcome !== "queued") {
      statement(tx, "UPDATE monitor_events SET outcome = ? WHERE id = ?").run(outcome, eventId);
    }
    return outcome;
  });
}

type KnownContact = { id: string; email: string; checkedEmail: string | null; lists: string; state: MonitorContactState };

function queueFromEvent(tx: Db, m: { id: string; workspaceId: string; scope: string }, e: AcWebhookEvent & { contact: { id: string; email: string } }, now: number): DeliveryOutcome {
  const watched = monitoredLists(m);
  const row = statement(tx, "SELECT id, email, checked_email AS checkedEmail, lists, state FROM monitor_contacts WHERE monitor_id = ? AND contact_id = ?").get(m.id, e.contact.id) as
    | KnownContact
    | undefined;
  if (e.type === "subscribe") {
    if (watched && (!e.listId || !watched.includes(e.listId))) return "other_list";
    if (!row) {
      insertContact(tx, m, { contactId: e.contact.id, email: e.contact.email, lists: e.listId ? [e.listId] : [], source: "webhook" }, now);
      return "queued";
    }
    const lists = listsOf(row);
    const newList = e.listId !== null && !lists.includes(e.listId);
    const newAddress = lower(row.checkedEmail ?? row.email) !== lower(e.contact.email);
    if (!newList && !newAddress) return "unchanged";
    requeue(tx, row, { email: e.contact.email, lists: newList ? [...lists, e.listId!] : lists }, now);
    return "queued";
  }
  // update: only a contact monitoring knows, whose address is not the one it knows.
  if (!row) return "unseen_update";
  if (lower(row.checkedEmail ?? row.email) === lower(e.contact.email)) return "unchanged";
  requeue(tx, row, { email: e.contact.email, lists: listsOf(row) }, now);
  return "queued";
}

function insertContact(tx: Db, m: { id: string; workspaceId: string }, c: { contactId: string; email: string; lists: string[]; source: "webhook" | "sweep" }, now: number): void {
  // Stryker disable next-line StringLiteral: the id's "mct" prefix is for people reading the table; nothing decides on it
  const id = newId("mct", now);
  statement(
    tx,
    "INSERT INTO monitor_contacts (id, monitor_id, workspace_id, contact_id, email, state, lists, source, due_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?) ON CONFLICT (monitor_id, contact_id) DO NOTHING",
  ).run(id, m.id, m.workspaceId, c.contactId, c.email, JSON.stringify(c.lists), c.source, now, now, now);
}

/**
 * Marks a known contact to look at again. One being worked on keeps its lease, and its revision
 * is raised: that turn planned from what it claimed, so it ends with the contact pending again
 * (`settleContact`, `releaseMonitorContact`) and the next turn acts for the new lists too.
 */
function requeue(tx: Db, row: Pick<MonitorContactRow, "id" | "state">, c: { email: string; lists: string[] }, now: number): void {
  const settled = row.state === "done" || row.state === "gone" || row.state === "skipped";
  if (settled) statement(tx, "UPDATE monitor_contacts SET email = ?, lists = ?, updated_at = ?, state = 'pending', due_at = ?, revision = revision + 1 WHERE id = ?").run(c.email, JSON.stringify(c.lists), now, now, row.id);
  else statement(tx, "UPDATE monitor_contacts SET email = ?, lists = ?, updated_at = ?, revision = revision + 1 WHERE id = ?").run(c.email, JSON.stringify(c.lists), now, row.id);
}

// ---- turning monitoring off ----------------------------------------------------------------

export const MONITOR_OFF_ACTION = "Not sent: monitoring was turned off first";

/**
 * Monitoring was turned off (or its connection is being deleted), in the caller's transaction:
 * no planned change is sent any more (open ones are marked `skipped`; one found `sending` may have
 * landed, which AC shows), every contact still queued is settled as skipped, and an address
 * charged for but never checked is refunded. A contact in a check right now finds the monitor off
 * when it next charges or sends (both read it in their transaction).
 */
export function stopMonitorWork(tx: Db, clock: Clock, monitorId: string, connectionName: string): void {
  const now = clock.now();
  const open = tx
    .select()
    .from(schema.monitorContacts)
    .where(and(eq(schema.monitorContacts.monitorId, monitorId), inArray(schema.monitorContacts.state, ["pending", "waiting_credits"])))
    .all();
  for (const row of open) {
    // Stryker disable next-line StringLiteral: compared with an address AC holds (AC requires one, with an "@"), "" and any other non-address differ alike
    const unchecked = row.chargedEmail !== null && lower(row.chargedEmail) !== lower(row.checkedEmail ?? "");
    if (unchecked) {
      refundCredits(tx, clock, {
        workspaceId: row.workspaceId,
        amount: 1,
        reason: `Monitoring ${connectionName}: refund, monitoring was turned off before the contact was checked`,
        idempotencyKey: `${chargeKey(row.monitorId, row.contactId, row.chargedEmail!)}:refund`,
        groupKey: groupOf(row.monitorId, now),
      });
    }
    const checked = row.checkedEmail !== null && lower(row.checkedEmail) === lower(row.email);
    tx.update(schema.monitorContacts)
      .set({
        state: "skipped",
        outcome: checked ? "Checked; its changes were not sent: monitoring was turned off first" : "Not checked: monitoring was turned off first",
        outcomeCode: "skipped",
        updatedAt: new Date(now),
      })
      .where(eq(schema.monitorContacts.id, row.id))
      .run();
  }
  tx.update(schema.monitorActions)
    .set({ state: "skipped", resultCode: "monitor_off", error: MONITOR_OFF_ACTION, updatedAt: new Date(now) })
    .where(
      and(
        inArray(schema.monitorActions.state, ["pending", "sending"]),
        sql`${schema.monitorActions.monitorContactId} IN (SELECT id FROM monitor_contacts WHERE monitor_id = ${monitorId})`,
      ),
    )
    .run();
}

// ---- the sweep ------------------------------------------------------------------------------

/**
 * A contact the sweep found changed since the last one: new (created since monitoring began)
 * and not known yet, or known with another address than the one checked. Returns whether it was
 * queued; `unannounced` when no webhook had told us about it.
 */
export function queueSwept(db: Db, clock: Clock, m: MonitorRow, c: { contactId: string; email: string; lists: string[]; isNew: boolean }): { queued: boolean; unannounced: boolean } {
  return transaction(db, (tx) => {
    const now = clock.now();
    const row = tx
      .select()
      .from(schema.monitorContacts)
      .where(and(eq(schema.monitorContacts.monitorId, m.id), eq(schema.monitorContacts.contactId, c.contactId)))
      .get();
    if (!row) {
      if (!c.isNew) return { queued: false, unannounced: false };
      insertContact(tx, m, { ...c, source: "sweep" }, now);
      return { queued: true, unannounced: true };
    }
    if (lower(row.checkedEmail ?? row.email) === lower(c.email)) return { queued: false, unannounced: false };
    requeue(tx, row, { email: c.email, lists: listsOf(row) }, now);
    return { queued: true, unannounced: false };
  });
}

export function recordSweep(db: Db, monitorId: string, s: { from: number | null; at: number; found: number; error: string | null }): void {
  db.update(schema.monitors)
    .set({
      lastSweepAt: new Date(s.at),
      lastSweepError: s.error,
      ...(s.from === null ? {} : { sweptFrom: new Date(s.from) }),
      sweepFound: sql`${schema.monitors.sweepFound} + ${s.found}`,
    })
    .where(eq(schema.monitors.id, monitorId))
    .run();
}

/** Events older than `before` are of no use to the dedupe or the panel any more. */
export function pruneEvents(db: Db, before: number): number {
  return db.delete(schema.monitorEvents).where(lte(schema.monitorEvents.receivedAt, new Date(before))).run().changes;
}

// ---- the processor --------------------------------------------------------------------------

export interface MonitorLease {
  id: string;
  monitorId: string;
  token: string;
  /** The contact's revision when it was claimed: raised since, the turn is out of date. */
  revision: number;
}

/** The contact's lease is gone (expired and taken over): this attempt must stop without writing. */
export class MonitorLeaseLost extends Error {
  override name = "MonitorLeaseLost";
  constructor(readonly monitorContactId: string) {
    super(`lease on monitored contact ${monitorContactId} lost`);
  }
}

function holding(tx: Db, lease: MonitorLease): MonitorContactRow {
  const row = tx.select().from(schema.monitorContacts).where(eq(schema.monitorContacts.id, lease.id)).get();
  if (!row || row.leaseToken !== lease.token) throw new MonitorLeaseLost(lease.id);
  return row;
}

/**
 * Claims up to `limit` contacts due now, at most `perMonitor` per monitor counting those this
 * process already holds (`busy`), oldest due first. A contact of a monitor turned off is never
 * claimed (turning it off settled them all: `stopMonitorWork`).
 */
export function claimMonitorContacts(
  db: Db,
  now: number,
  o: { owner: string; leaseMs: number; limit: number; perMonitor: number; busy: ReadonlyMap<string, number> },
): { row: MonitorContactRow; lease: MonitorLease }[] {
  // Stryker disable next-line ConditionalExpression,EqualityOperator: with no room the query's LIMIT (0, or none for a negative one) is cut by `out.length >= o.limit` before any claim (`true` is killed)
  if (o.limit <= 0) return [];
  return transaction(db, (tx) => {
    const due = tx
      .select({ c: schema.monitorContacts })
      .from(schema.monitorContacts)
      .innerJoin(schema.monitors, eq(schema.monitors.id, schema.monitorContacts.monitorId))
      .where(
        and(
          eq(schema.monitorContacts.state, "pending"),
          lte(schema.monitorContacts.dueAt, new Date(now)),
          or(isNull(schema.monitorContacts.leaseExpiresAt), lte(schema.monitorContacts.leaseExpiresAt, new Date(now))),
          eq(schema.monitors.enabled, true),
          isNull(schema.monitors.heldReason),
        ),
      )
      .orderBy(asc(schema.monitorContacts.dueAt), asc(schema.monitorContacts.id))
      .limit(o.limit * 4)
      .all();
    const taken = new Map(o.busy);
    const out: { row: MonitorContactRow; lease: MonitorLease }[] = [];
    for (const { c } of due) {
      if (out.length >= o.limit) break;
      const n = taken.get(c.monitorId) ?? 0;
      if (n >= o.perMonitor) continue;
      taken.set(c.monitorId, n + 1);
      const token = randomBytes(12).toString("base64url");
      tx.update(schema.monitorContacts)
        .set({ leaseOwner: o.owner, leaseToken: token, leaseExpiresAt: new Date(now + o.leaseMs) })
        .where(eq(schema.monitorContacts.id, c.id))
        .run();
      out.push({ row: { ...c, leaseOwner: o.owner, leaseToken: token, leaseExpiresAt: new Date(now + o.leaseMs) }, lease: { id: c.id, monitorId: c.monitorId, token, revision: c.revision } });
    }
    return out;
  });
}

/** Extends the leases this process holds; returns the ids whose lease is gone. */
export function renewMonitorLeases(db: Db, now: number, leases: MonitorLease[], leaseMs: number): string[] {
  // Stryker disable next-line ConditionalExpression: with no leases the loop finds none lost
  if (leases.length === 0) return [];
  return transaction(db, (tx) => {
    const lost: string[] = [];
    for (const l of leases) {
      const r = tx
        .update(schema.monitorContacts)
        .set({ leaseExpiresAt: new Date(now + leaseMs) })
        .where(and(eq(schema.monitorContacts.id, l.id), eq(schema.monitorContacts.leaseToken, l.token)))
        .run();
      if (r.changes === 0) lost.push(l.id);
    }
    return lost;
  });
}

/** Lets go of a contact: it is due again at `dueAt` (weather, greylisting, credits), or at once after a stop. */
export function releaseMonitorContact(db: Db, lease: MonitorLease, patch: { dueAt?: number; state?: MonitorContactState; verifyAttempts?: number; outcome?: string | null; outcomeCode?: string | null; error?: string | null } = {}): void {
  // Marked to look at again during the turn (another list, another address): due at once, not later.
  const dueAt =
    patch.dueAt === undefined
      ? undefined
      : sql`CASE WHEN ${schema.monitorContacts.revision} != ${lease.revision} THEN min(${schema.monitorContacts.updatedAt}, ${patch.dueAt}) ELSE ${patch.dueAt} END`;
  // Stryker disable ConditionalExpression: drizzle leaves a key set to undefined out of an update, so spreading it anyway writes the same (`false` is killed)
  const given = {
    ...(dueAt !== undefined ? { dueAt } : {}),
    ...(patch.state ? { state: patch.state } : {}),
    ...(patch.verifyAttempts !== undefined ? { verifyAttempts: patch.verifyAttempts } : {}),
    ...(patch.outcome !== undefined ? { outcome: patch.outcome } : {}),
    ...(patch.outcomeCode !== undefined ? { outcomeCode: patch.outcomeCode } : {}),
    ...(patch.error !== undefined ? { error: patch.error } : {}),
  };
  // Stryker restore ConditionalExpression
  db.update(schema.monitorContacts)
    .set({ leaseOwner: null, leaseToken: null, leaseExpiresAt: null, ...given })
    .where(and(eq(schema.monitorContacts.id, lease.id), eq(schema.monitorContacts.leaseToken, lease.token)))
    .run();
}

/** The ledger key of checking one address of one contact: charged once, whatever happens. */
const chargeKey = (monitorId: string, contactId: string, email: string) => `monitor:${monitorId}:${contactId}:${sha256(lower(email)).slice(0, 24)}`;
const groupOf = (monitorId: string, now: number) => `monitor:${monitorId}:${new Date(now).toISOString().slice(0, 10)}`;

/**
 * Charges 1 credit for checking `email` (once per monitor, contact and address: a second try
 * finds the charge already made), and notes the address as the one being checked. With the
 * balance empty the contact waits for credits, and the workspace is told once per shortage.
 */
export function chargeForCheck(db: Db, clock: Clock, lease: MonitorLease, c: { email: string; connectionName: string; retryAt: number }): "charged" | "already_charged" | "insufficient" | "off" {
  return transaction(db, (tx) => {
    const row = holding(tx, lease);
    const m = tx.select().from(schema.monitors).where(eq(schema.monitors.id, row.monitorId)).get()!;
    const now = clock.now();
    // Turned off since the contact was claimed: nothing more is paid for (or done).
    if (!m.enabled) return "off";
    // An address charged for but never checked (the contact's e-mail changed before its check) is refunded before the new one is charged.
    // Stryker disable next-line StringLiteral: compared with an address charged for (one AC holds: AC requires one, with an "@"), "" and any other non-address differ alike
    if (row.chargedEmail && lower(row.chargedEmail) !== lower(c.email) && lower(row.chargedEmail) !== lower(row.checkedEmail ?? "")) {
      refundCredits(tx, clock, {
        workspaceId: row.workspaceId,
        amount: 1,
        reason: `Monitoring ${c.connectionName}: refund, the address changed before it was checked`,
        idempotencyKey: `${chargeKey(row.monitorId, row.contactId, row.chargedEmail)}:refund`,
        groupKey: groupOf(row.monitorId, now),
      });
    }
    const charged = chargeCredits(tx, clock, {
      workspaceId: row.workspaceId,
      amount: 1,
      reason: `Monitoring ${c.connectionName}: a new contact checked`,
      idempotencyKey: chargeKey(row.monitorId, row.contactId, c.email),
      groupKey: groupOf(row.monitorId, now),
    });
    if (charged === "insufficient") {
      tx.update(schema.monitorContacts)
        .set({ state: "waiting_credits", dueAt: new Date(c.retryAt), outcome: "Waiting for credits", outcomeCode: "waiting_credits", leaseOwner: null, leaseToken: null, leaseExpiresAt: null, updatedAt: new Date(now) })
        .where(eq(schema.monitorContacts.id, row.id))
        .run();
      const waiting = Number(
        (tx.get(sql`SELECT count(*) AS n FROM monitor_contacts WHERE monitor_id = ${row.monitorId} AND state = 'waiting_credits'`) as { n: number }).n,
      );
      recordMonitorNotice(tx, {
        workspaceId: row.workspaceId,
        event: "monitor_waiting_credits",
        key: `monitor:${row.monitorId}:waiting:${m.charged}`,
        data: { connectionName: c.connectionName, connectionId: m.connectionId, waiting },
        now,
      });
      return charged;
    }
    tx.update(schema.monitorContacts).set({ chargedEmail: c.email, updatedAt: new Date(now) }).where(eq(schema.monitorContacts.id, row.id)).run();
    if (charged === "charged") tx.update(schema.monitors).set({ charged: sql`${schema.monitors.charged} + 1` }).where(eq(schema.monitors.id, row.monitorId)).run();
    return charged;
  });
}

/** Contacts waiting for credits in workspaces that have credits again are due at once; the others cost nothing while they wait. */
export function wakeWaitingForCredits(db: Db, now: number): number {
  return db
    .update(schema.monitorContacts)
    .set({ state: "pending", dueAt: new Date(now) })
    .where(and(eq(schema.monitorContacts.state, "waiting_credits"), sql`${schema.monitorContacts.workspaceId} IN (SELECT id FROM workspaces WHERE balance > 0)`))
    .run().changes;
}

export interface PlannedChange {
  kind: MonitorActionKind;
  listId: number;
}

/**
 * Stores a check's result (a new check of the contact: `checks` + 1), refunds an unknown one, and
 * records the changes it calls for, in one transaction. Returns the check's number.
 */
export function saveCheck(
  db: Db,
  clock: Clock,
  lease: MonitorLease,
  c: { email: string; status: string; reason: string; result: unknown; connectionName: string; plan: PlannedChange[] },
): number {
  return transaction(db, (tx) => {
    const row = holding(tx, lease);
    const now = clock.now();
    const checkNo = row.checks + 1;
    tx.update(schema.monitorContacts)
      .set({
        checkedEmail: c.email,
        email: c.email,
        checks: checkNo,
        status: c.status,
        reason: c.reason,
        result: JSON.stringify(c.result),
        checkedAt: new Date(now),
        verifyAttempts: 0,
        updatedAt: new Date(now),
      })
      .where(eq(schema.monitorContacts.id, row.id))
      .run();
    if (c.status === "unknown") {
      refundCredits(tx, clock, {
        workspaceId: row.workspaceId,
        amount: 1,
        reason: `Monitoring ${c.connectionName}: refund, the result is unknown`,
        idempotencyKey: `${chargeKey(row.monitorId, row.contactId, c.email)}:refund`,
        groupKey: groupOf(row.monitorId, now),
      });
    }
    insertPlan(tx, row.id, checkNo, c.plan, now);
    return checkNo;
  });
}

/** Records changes of an earlier check (the contact joined another list since): idempotent. */
export function planMore(db: Db, lease: MonitorLease, checkNo: number, plan: PlannedChange[], now: number): void {
  transaction(db, (tx) => {
    holding(tx, lease);
    insertPlan(tx, lease.id, checkNo, plan, now);
  });
}

function insertPlan(tx: Db, monitorContactId: string, checkNo: number, plan: PlannedChange[], now: number): void {
  for (const p of plan) {
    tx.insert(schema.monitorActions)
      .values({
        // Stryker disable next-line StringLiteral: the id's "mac" prefix is for people reading the table; nothing decides on it
        id: newId("mac", now),
        monitorContactId,
        checkNo,
        kind: p.kind,
        listId: p.listId,
        state: "pending",
        updatedAt: new Date(now),
      })
      .onConflictDoNothing()
      .run();
  }
}

/** The changes of a check not finished yet, in the order they were planned. */
export function openActions(db: Db, monitorContactId: string, checkNo: number): MonitorActionRow[] {
  return db
    .select()
    .from(schema.monitorActions)
    .where(and(eq(schema.monitorActions.monitorContactId, monitorContactId), eq(schema.monitorActions.checkNo, checkNo), inArray(schema.monitorActions.state, ["pending", "sending"])))
    .orderBy(asc(schema.monitorActions.id))
    .all();
}

export function actionsOf(db: Db, monitorContactId: string, checkNo: number): MonitorActionRow[] {
  return db
    .select()
    .from(schema.monitorActions)
    .where(and(eq(schema.monitorActions.monitorContactId, monitorContactId), eq(schema.monitorActions.checkNo, checkNo)))
    .orderBy(asc(schema.monitorActions.id))
    .all();
}

/**
 * Recorded before the request leaves: a crash from here on is visible, and AC is asked before it
 * is sent again. The monitor is read in the same transaction: one turned off (or gone) since the
 * change was planned sends nothing, and the change is marked `skipped`; returns whether to send.
 */
export function markActionSending(db: Db, clock: Clock, lease: MonitorLease, action: Pick<MonitorActionRow, "id" | "kind">, brake?: Brake): "send" | "off" | "held" {
  const actionId = action.id;
  return transaction(db, (tx) => {
    const row = holding(tx, lease);
    const m = tx.select().from(schema.monitors).where(eq(schema.monitors.id, row.monitorId)).get();
    // Stryker disable next-line OptionalChaining: holding() found the contact in this transaction, and its monitor_id is a foreign key (on delete cascade): the monitor is there
    if (!m?.enabled) {
      tx.update(schema.monitorActions)
        .set({ state: "skipped", resultCode: "monitor_off", error: MONITOR_OFF_ACTION, updatedAt: new Date(clock.now()) })
        .where(eq(schema.monitorActions.id, actionId))
        .run();
      return "off";
    }
    if (action.kind !== "label" && (m.heldReason || (brake && brakes(tx, clock, m, brake)))) return "held";
    tx.update(schema.monitorActions)
      .set({ state: "sending", attempts: sql`${schema.monitorActions.attempts} + 1`, updatedAt: new Date(clock.now()) })
      .where(eq(schema.monitorActions.id, actionId))
      .run();
    return "send";
  });
}

/** The brake on destructive changes: more than `percent` of the last `window` checks (at least `min`) calling for one holds the monitor. */
export interface Brake {
  percent: number;
  window: number;
  min: number;
}

/**
 * Before an unsubscribe or a delete leaves: of the monitor's last `window` checks since the brake
 * was last released, how many called for one. Above `percent` (and with at least `min` checks),
 * the monitor is held with the reason, in this transaction; returns whether it was.
 */
function brakes(tx: Db, clock: Clock, m: MonitorRow, b: Brake): boolean {
  // Stryker disable next-line ConditionalExpression,EqualityOperator: destructive never exceeds checked, so at 100% or more the test below never holds either (`true` is killed)
  if (b.percent >= 100) return false;
  const from = m.brakeFrom?.getTime() ?? 0;
  const r = tx.get(sql`
    SELECT count(*) AS checked,
           coalesce(sum(EXISTS (SELECT 1 FROM monitor_actions a WHERE a.monitor_contact_id = c.id AND a.check_no = c.checks AND a.kind IN ('unsubscribe', 'delete'))), 0) AS destructive
    FROM (SELECT id, checks FROM monitor_contacts WHERE monitor_id = ${m.id} AND checked_at IS NOT NULL AND checked_at >= ${from} ORDER BY checked_at DESC LIMIT ${b.window}) c`) as { checked: number; destructive: number };
  const checked = Number(r.checked);
  const destructive = Number(r.destructive);
  if (checked < b.min || destructive * 100 <= b.percent * checked) return false;
  const now = clock.now();
  const reason =
    `Held for review: ${destructive} of the last ${checked} contacts checked would be unsubscribed or deleted, more than ${b.percent}% (ANOMALY_PERCENT). ` +
    "Nothing more is checked or changed until you save the settings again; if lookups or the list look wrong, turn monitoring off instead.";
  tx.update(schema.monitors).set({ heldReason: reason, heldAt: new Date(now) }).where(eq(schema.monitors.id, m.id)).run();
  return true;
}

export function saveActionOutcome(
  db: Db,
  clock: Clock,
  lease: MonitorLease,
  actionId: string,
  o: { state: "done" | "failed" | "pending"; resultCode: string | null; error: string | null; nextAttemptAt?: number },
): void {
  transaction(db, (tx) => {
    holding(tx, lease);
    // Stryker disable next-line ConditionalExpression: new Date(undefined) is NaN ms, which SQLite stores as NULL, as null is (`true` is killed)
    const nextAttemptAt = o.nextAttemptAt === undefined ? null : new Date(o.nextAttemptAt);
    tx.update(schema.monitorActions)
      .set({ state: o.state, resultCode: o.resultCode, error: o.error, nextAttemptAt, updatedAt: new Date(clock.now()) })
      .where(eq(schema.monitorActions.id, actionId))
      .run();
  });
}

/**
 * The contact is settled: what was done, in words and as a code. One that was charged for an
 * address never checked (it left AC, or the list, first) gets the credit back. One marked to look
 * at again during the turn (its revision raised) is left pending, due at once.
 */
export function settleContact(db: Db, clock: Clock, lease: MonitorLease, s: { state: Extract<MonitorContactState, "done" | "gone" | "skipped">; outcome: string; outcomeCode: string; error?: string | null; connectionName: string }): void {
  transaction(db, (tx) => {
    const row = holding(tx, lease);
    if (row.revision !== lease.revision) {
      // Marked to look at again during this turn (it joined another list, its address changed):
      // what this turn planned from is out of date, so it is not settled but due again at once.
      tx.update(schema.monitorContacts)
        .set({ state: "pending", dueAt: new Date(clock.now()), outcome: s.outcome, outcomeCode: s.outcomeCode, error: s.error ?? null, leaseOwner: null, leaseToken: null, leaseExpiresAt: null, updatedAt: new Date(clock.now()) })
        .where(eq(schema.monitorContacts.id, lease.id))
        .run();
      return;
    }
    // Stryker disable next-line StringLiteral: compared with an address charged for (one AC holds: AC requires one, with an "@"), "" and any other non-address differ alike
    if (row.chargedEmail && lower(row.chargedEmail) !== lower(row.checkedEmail ?? "")) {
      refundCredits(tx, clock, {
        workspaceId: row.workspaceId,
        amount: 1,
        reason: `Monitoring ${s.connectionName}: refund, the contact was not checked`,
        idempotencyKey: `${chargeKey(row.monitorId, row.contactId, row.chargedEmail)}:refund`,
        groupKey: groupOf(row.monitorId, clock.now()),
      });
    }
    tx.update(schema.monitorContacts)
      .set({ state: s.state, outcome: s.outcome, outcomeCode: s.outcomeCode, error: s.error ?? null, leaseOwner: null, leaseToken: null, leaseExpiresAt: null, updatedAt: new Date(clock.now()) })
      .where(eq(schema.monitorContacts.id, lease.id))
      .run();
  });
}

export function saveMonitorLabelSetup(db: Db, monitorId: string, setup: LabelSetup): void {
  db.update(schema.monitors).set({ labelSetup: JSON.stringify(setup) }).where(eq(schema.monitors.id, monitorId)).run();
}
