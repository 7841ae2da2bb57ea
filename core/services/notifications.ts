import { and, asc, eq, isNull, lte, or, sql } from "drizzle-orm";
import { plural } from "../lib/words.ts";
import { schema, type Db } from "../../db/index.ts";
import { newId } from "../../db/ids.ts";
import { NOTIFICATION_EVENTS, type DeliveryState, type NotificationEvent } from "../../db/schema/index.ts";
import type { Deps, Principal } from "../deps.ts";
import { AppError } from "../errors.ts";
import { checkWebhookUrl } from "../notify/webhook.ts";
import { sha256 } from "../lib/crypto.ts";

type RunRow = typeof schema.runs.$inferSelect;
type ConnectionRow = typeof schema.connections.$inferSelect;

export { NOTIFICATION_EVENTS, type NotificationEvent };

/** What a notification says, captured when the event happens: names and counts, never a secret. */
export interface NotificationData {
  connectionName: string;
  connectionId: string | null;
  runId?: string;
  scheduled?: boolean;
  reason?: string | null;
  checked?: number;
  changesPlanned?: number;
  changesDone?: number;
  changesFailed?: number;
  /** Paused for credits: how many more the rest of the run needs (an estimate). */
  creditsStillNeeded?: number;
  /** The run verifies an uploaded file (issue 19), named by `connectionName`. */
  upload?: boolean;
  /** Monitoring (issue 18): how many contacts wait; a digest's UTC day, its counts and its lines. */
  waiting?: number;
  day?: string;
  counts?: Record<string, number>;
  lines?: string[];
}

/** Records a monitoring notice (waiting for credits, webhook lost, a digest) once per `key`, in the caller's transaction. */
export function recordMonitorNotice(tx: Db, e: { workspaceId: string; event: Extract<NotificationEvent, `monitor_${string}`>; key: string; data: NotificationData; now: number }): void {
  insertNotification(tx, e);
}

function insertNotification(tx: Db, e: { workspaceId: string; event: NotificationEvent; key: string; data: NotificationData; now: number }): void {
  tx.insert(schema.notifications)
    .values({
      id: newId("ntf", e.now),
      workspaceId: e.workspaceId,
      event: e.event,
      key: e.key,
      runId: e.data.runId ?? null,
      connectionId: e.data.connectionId,
      data: JSON.stringify(e.data),
      createdAt: new Date(e.now),
    })
    .onConflictDoNothing()
    .run();
}

/**
 * Records the event a run's move is, if it is one a user hears about, in the transaction of
 * the move (core/runs/store.ts, moveRun): so each move is told once, and never a move that
 * rolled back. A pause with nothing charged since the last one is the same shortage: told once.
 */
export function recordRunMove(tx: Db, before: RunRow, after: RunRow, now = Date.now()): void {
  const event = runEvent(before, after);
  if (!event) return;
  const estimate = after.estimatedTotal ?? after.total;
  const data: NotificationData = {
    connectionName: after.connectionName,
    connectionId: after.connectionId,
    runId: after.id,
    scheduled: after.scheduleId !== null,
    ...(after.source === "upload" ? { upload: true } : {}),
    reason: after.statusReason,
    checked: after.contactsVerified,
    changesPlanned: after.actionsPlanned,
    changesDone: after.actionsDone,
    changesFailed: after.actionsFailed,
    ...(event === "run_paused_credits" ? { creditsStillNeeded: estimate === null ? undefined : Math.max(1, estimate - after.contactsFetched) } : {}),
  };
  const key = event === "run_paused_credits" ? `run:${after.id}:paused:${after.creditsCharged}` : `run:${after.id}:${event}:${newId("k", now)}`;
  insertNotification(tx, { workspaceId: after.workspaceId, event, key, data, now });
  if (after.status === "failed" && after.statusCode === "ac_key_refused" && after.connectionId) {
    const connection = tx.select().from(schema.connections).where(eq(schema.connections.id, after.connectionId)).get();
    if (connection) recordKeyRefused(tx, connection, now, after.id);
  }
}

function runEvent(before: RunRow, after: RunRow): NotificationEvent | null {
  if (before.status === after.status) return null;
  switch (after.status) {
    case "awaiting_review":
      return after.autoApply ? "scheduled_run_held" : "run_needs_review";
    case "applying":
      return before.status === "running" && after.autoApply ? "scheduled_run_applied" : null;
    case "paused_credits":
      return "run_paused_credits";
    case "failed":
      return "run_failed";
    case "completed":
      // The end of an undo (issue 14) is not news: the user asked for it and watches it.
      return after.undoFinishedAt && !before.undoFinishedAt ? null : "run_completed";
    default:
      return null;
  }
}

/**
 * ActiveCampaign refused a connection's key: told once per key (a run failing on it and the
 * connection page finding it refused are the same event), again only after a new key.
 */
export function recordKeyRefused(tx: Db, connection: ConnectionRow, now = Date.now(), runId?: string): void {
  insertNotification(tx, {
    workspaceId: connection.workspaceId,
    event: "connection_key_refused",
    key: `connection:${connection.id}:refused:${sha256(connection.apiKeyCiphertext).slice(0, 32)}`,
    data: { connectionName: connection.name, connectionId: connection.id, ...(runId ? { runId } : {}) },
    now,
  });
}

// ---- settings ---------------------------------------------------------------------------

export interface NotificationSettings {
  email: string | null;
  webhookUrl: string | null;
  events: NotificationEvent[];
  /** Whether this server can send e-mail at all (MAIL_URL). */
  emailAvailable: boolean;
}

export function getNotificationSettings(deps: Deps, { ctx }: { ctx: Pick<Principal, "workspaceId"> }): NotificationSettings {
  const ws = deps.db.select().from(schema.workspaces).where(eq(schema.workspaces.id, ctx.workspaceId)).get();
  return {
    email: ws?.notifyEmail ?? null,
    webhookUrl: ws?.notifyWebhookUrl ?? null,
    events: eventsOf(ws?.notifyEvents ?? null),
    emailAvailable: deps.mailer.configured,
  };
}

function eventsOf(json: string | null): NotificationEvent[] {
  if (!json) return [...NOTIFICATION_EVENTS];
  const list = JSON.parse(json) as string[];
  return NOTIFICATION_EVENTS.filter((e) => list.includes(e));
}

const EMAIL = /^[^\s@<>,;"]+@[^\s@<>,;"]+\.[^\s@<>,;"]+$/;

export async function updateNotificationSettings(
  deps: Deps,
  { ctx, input }: { ctx: Pick<Principal, "workspaceId">; input: { email: string | null; webhookUrl: string | null; events: NotificationEvent[] } },
): Promise<NotificationSettings> {
  const email = input.email?.trim() || null;
  if (email && (!EMAIL.test(email) || email.length > 254)) throw new AppError("invalid_input", "Enter an e-mail address like you@example.com", "email");
  const webhookUrl = input.webhookUrl?.trim() ? await checkWebhookUrl(input.webhookUrl, { allowPrivateHosts: deps.config.WEBHOOK_ALLOW_PRIVATE_HOSTS, lookup: deps.acLookup }) : null;
  const events = NOTIFICATION_EVENTS.filter((e) => input.events.includes(e));
  deps.db
    .update(schema.workspaces)
    .set({ notifyEmail: email, notifyWebhookUrl: webhookUrl, notifyEvents: JSON.stringify(events) })
    .where(eq(schema.workspaces.id, ctx.workspaceId))
    .run();
  deps.logger.info({ workspaceId: ctx.workspaceId, email: Boolean(email), webhook: Boolean(webhookUrl), events: events.length }, "notification settings saved");
  return getNotificationSettings(deps, { ctx });
}

// ---- the outbox -------------------------------------------------------------------------

export type NotificationRow = typeof schema.notifications.$inferSelect;

/** Claims up to `limit` notifications due now, for `leaseMs`: another dispatcher leaves them alone meanwhile. */
export function claimNotifications(db: Db, now: number, limit: number, leaseMs: number): NotificationRow[] {
  return db.transaction(
    (tx) => {
      const due = tx
        .select()
        .from(schema.notifications)
        .where(
          and(
            isNull(schema.notifications.sentAt),
            or(isNull(schema.notifications.nextAttemptAt), lte(schema.notifications.nextAttemptAt, new Date(now))),
            or(isNull(schema.notifications.leaseExpiresAt), lte(schema.notifications.leaseExpiresAt, new Date(now))),
          ),
        )
        .orderBy(asc(schema.notifications.createdAt))
        .limit(limit)
        .all();
      for (const n of due) tx.update(schema.notifications).set({ leaseExpiresAt: new Date(now + leaseMs) }).where(eq(schema.notifications.id, n.id)).run();
      return due;
    },
    { behavior: "immediate" },
  );
}

/** Where each channel of a claimed notification stands after a try; done when neither is pending. */
export function saveDelivery(db: Db, id: string, now: number, d: { email: DeliveryState; webhook: DeliveryState; error: string | null; retryAt: number | null }): void {
  const done = d.email !== "pending" && d.webhook !== "pending";
  db.update(schema.notifications)
    .set({
      emailState: d.email,
      webhookState: d.webhook,
      attempts: sql`${schema.notifications.attempts} + 1`,
      lastError: d.error,
      leaseExpiresAt: null,
      nextAttemptAt: d.retryAt === null ? null : new Date(d.retryAt),
      sentAt: done ? new Date(now) : null,
    })
    .where(eq(schema.notifications.id, id))
    .run();
}

export function workspaceNotifyTargets(db: Db, workspaceId: string) {
  const ws = db.select().from(schema.workspaces).where(eq(schema.workspaces.id, workspaceId)).get();
  return { email: ws?.notifyEmail ?? null, webhookUrl: ws?.notifyWebhookUrl ?? null, events: eventsOf(ws?.notifyEvents ?? null) };
}

// ---- the words --------------------------------------------------------------------------

export interface NotificationMessage {
  subject: string;
  /** Plain text: the e-mail's body, and the webhook's `text`. */
  text: string;
  /** The page the message is about. */
  url: string;
}

const n = (x: number | undefined) => (x ?? 0).toLocaleString("en-US");

/** The message of one notification. `base` is the dashboard's public URL. */
export function messageOf(row: Pick<NotificationRow, "event" | "data">, base: string): NotificationMessage {
  const d = JSON.parse(row.data) as NotificationData;
  const name = d.connectionName;
  const runUrl = d.runId ? `${base}/runs/${d.runId}` : `${base}/`;
  const kind = d.scheduled ? "scheduled run" : "run";
  const monitorUrl = d.connectionId ? `${base}/connections/${d.connectionId}/monitoring` : `${base}/`;
  if (d.upload) {
    const file = uploadMessage(row.event as NotificationEvent, d, name);
    if (file) return { ...file, url: runUrl };
  }
  switch (row.event as NotificationEvent) {
    case "run_needs_review":
      return {
        subject: `Review needed: ${kind} on ${name}`,
        text: `Your ${kind} on ${name} checked ${plural(d.checked ?? 0, "contact")} and waits for your review. Nothing changes in ActiveCampaign until you approve.`,
        url: runUrl,
      };
    case "scheduled_run_held":
      return {
        subject: `Held for review: scheduled run on ${name}`,
        text: `The scheduled run on ${name} did not apply its changes by itself. ${d.reason ?? ""} Review it to apply or cancel.`.replace(/\s+/g, " ").trim(),
        url: runUrl,
      };
    case "scheduled_run_applied":
      return {
        subject: `Applying: scheduled run on ${name}`,
        text: `The scheduled run on ${name} checked ${plural(d.checked ?? 0, "contact")} and is applying ${plural(d.changesPlanned ?? 0, "change")} by itself, as its schedule allows.`,
        url: runUrl,
      };
    case "run_paused_credits":
      return {
        subject: `Paused for credits: ${kind} on ${name}`,
        text: `The ${kind} on ${name} ran out of credits after checking ${plural(d.checked ?? 0, "contact")}.${d.creditsStillNeeded ? ` About ${plural(d.creditsStillNeeded, "more credit")} ${d.creditsStillNeeded === 1 ? "is" : "are"} needed to finish.` : ""} Add credits and it resumes on its own.`,
        url: runUrl,
      };
    case "run_failed":
      return {
        subject: `Failed: ${kind} on ${name}`,
        text: `The ${kind} on ${name} stopped: ${d.reason ?? "an error"}.`.replace(/\.\.$/, "."),
        url: runUrl,
      };
    case "run_completed":
      return {
        subject: `Done: ${kind} on ${name}`,
        text: `The ${kind} on ${name} is done: ${plural(d.checked ?? 0, "contact")} checked, ${plural(d.changesDone ?? 0, "change")} applied${d.changesFailed ? `, ${n(d.changesFailed)} failed` : ""}.`,
        url: runUrl,
      };
    case "connection_key_refused":
      return {
        subject: `ActiveCampaign refused the API key of ${name}`,
        text: `ActiveCampaign refused the API key of ${name}. Runs and schedules of this account cannot go on until you paste the current key (ActiveCampaign: Settings → Developer).`,
        url: d.connectionId ? `${base}/connections/${d.connectionId}#replace-key` : runUrl,
      };
    case "monitor_waiting_credits":
      return {
        subject: `New contacts wait for credits: ${name}`,
        text: `${d.waiting ? `${n(d.waiting)} new contact(s)` : "New contacts"} of ${name} wait to be checked: the balance is empty. Add credits and they are checked at once (1 credit each); nothing is lost meanwhile.`,
        url: monitorUrl,
      };
    case "monitor_webhook_lost":
      return {
        subject: `ActiveCampaign stopped calling Listwarden about new contacts of ${name}`,
        text: `The webhook that tells Listwarden about new contacts of ${name} is no longer in ActiveCampaign (deleted, or deactivated). The sweep still finds new contacts every few minutes; register the webhook again to check them as they arrive.`,
        url: monitorUrl,
      };
    case "monitor_digest": {
      const c = d.counts ?? {};
      const verdicts = ["deliverable", "risky", "undeliverable", "unknown"].map((s) => `${n(c[s])} ${s}`).join(", ");
      const done = [c.unsubscribed ? `${n(c.unsubscribed)} unsubscribed` : null, c.deleted ? `${n(c.deleted)} deleted` : null, c.labelled ? `${n(c.labelled)} labelled` : null]
        .filter(Boolean)
        .join(", ");
      const more = (c.checked ?? 0) > (d.lines?.length ?? 0) ? `\n…and ${n((c.checked ?? 0) - (d.lines?.length ?? 0))} more on the monitoring page.` : "";
      return {
        subject: `New contacts of ${name} on ${d.day}: ${n(c.checked)} checked`,
        text: `On ${d.day} (UTC) Listwarden checked ${n(c.checked)} new contact(s) of ${name}: ${verdicts}. ${done ? `Done: ${done}.` : "Nothing was changed in ActiveCampaign."}${d.lines?.length ? `\n${d.lines.map((l) => `- ${l}`).join("\n")}` : ""}${more}`,
        url: monitorUrl,
      };
    }
  }
}

/** The words for the verification of an uploaded file: addresses, no ActiveCampaign, a result file. */
function uploadMessage(event: NotificationEvent, d: NotificationData, name: string): Omit<NotificationMessage, "url"> | null {
  switch (event) {
    case "run_paused_credits":
      return {
        subject: `Paused for credits: verifying ${name}`,
        text: `Verifying the file ${name} ran out of credits after checking ${plural(d.checked ?? 0, "address", "addresses")}.${d.creditsStillNeeded ? ` ${plural(d.creditsStillNeeded, "more credit")} ${d.creditsStillNeeded === 1 ? "is" : "are"} needed to finish.` : ""} Add credits and it resumes on its own.`,
      };
    case "run_failed":
      return { subject: `Failed: verifying ${name}`, text: `Verifying the file ${name} stopped: ${d.reason ?? "an error"}.`.replace(/\.\.$/, ".") };
    case "run_completed":
      return { subject: `Done: verifying ${name}`, text: `The file ${name} is verified: ${plural(d.checked ?? 0, "unique address", "unique addresses")} checked. The result file is ready to download.` };
    default:
      return null;
  }
}

/** Slack's mrkdwn needs &, < and > escaped; names are user input. */
const slack = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** The webhook's JSON: Slack's incoming-webhook shape (`text`, `blocks`) and the event's facts under `listwarden`. */
export function webhookBody(row: Pick<NotificationRow, "id" | "event" | "data" | "createdAt" | "runId" | "connectionId">, message: NotificationMessage) {
  return {
    text: `${message.subject}: ${message.text} ${message.url}`,
    blocks: [
      { type: "section", text: { type: "mrkdwn", text: `*${slack(message.subject)}*\n${slack(message.text)}\n<${message.url}|Open in Listwarden>` } },
    ],
    listwarden: { id: row.id, event: row.event, runId: row.runId, connectionId: row.connectionId, url: message.url, occurredAt: row.createdAt.toISOString() },
  };
}
