import { index, integer, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";
import { createdAt, idColumn, timestamp } from "./columns.ts";
import { connections } from "./connections.ts";
import { workspaces } from "./workspaces.ts";

export const WEBHOOK_STATES = ["none", "registering", "registered", "failed", "missing"] as const;
/**
 * The webhook in ActiveCampaign: `none` (monitoring off), `registering` (recorded before the
 * request leaves, so a crash is found and reconciled), `registered`, `failed` (AC refused or
 * could not be reached; `webhookError` says why), `missing` (AC no longer has it: deleted, or
 * deactivated after a 410).
 */
export type WebhookState = (typeof WEBHOOK_STATES)[number];

/**
 * "Check new contacts as they arrive" for one connection (issue 18): which lists (or all), what
 * to do per result, and the webhook ActiveCampaign calls. The webhook's secret is in its URL;
 * only its SHA-256 is stored (a new registration makes a new secret), so neither the database
 * nor the dashboard can give it away. Deleting the connection deletes its monitor.
 */
export const monitors = sqliteTable(
  "monitors",
  {
    id: idColumn(),
    workspaceId: text("workspace_id")
      .notNull()
      .references(() => workspaces.id, { onDelete: "cascade" }),
    connectionId: text("connection_id")
      .notNull()
      .references(() => connections.id, { onDelete: "cascade" }),
    enabled: integer("enabled", { mode: "boolean" }).notNull().default(false),
    /** JSON: {"kind":"all"} or {"kind":"lists","listIds":[...]}. */
    scope: text("scope").notNull(),
    /** JSON, as runs.actions (RunActions). */
    actions: text("actions").notNull(),
    smtpProbe: integer("smtp_probe", { mode: "boolean" }).notNull().default(false),
    /** The user confirmed, when saving, that these actions may delete contacts. */
    deleteConfirmed: integer("delete_confirmed", { mode: "boolean" }).notNull().default(false),
    /** Send a daily digest of what was done (through the workspace's notification channels). */
    digest: integer("digest", { mode: "boolean" }).notNull().default(false),
    /** SHA-256 (hex) of the secret in the webhook's URL; null while monitoring was never on. */
    secretHash: text("secret_hash"),
    /**
     * While a new secret is being registered (rotation): the current webhook's secret hash, still
     * accepted, so a refused or failed registration leaves the working webhook working. Null otherwise.
     */
    previousSecretHash: text("previous_secret_hash"),
    acWebhookId: text("ac_webhook_id"),
    webhookState: text("webhook_state", { enum: WEBHOOK_STATES }).notNull().default("none"),
    webhookError: text("webhook_error"),
    webhookCheckedAt: timestamp("webhook_checked_at"),
    /** Contacts created before this are not new: the sweep leaves them alone. */
    activeFrom: timestamp("active_from"),
    lastEventAt: timestamp("last_event_at"),
    /** When the last sweep that finished began: the next one reads what changed since (with an overlap). */
    sweptFrom: timestamp("swept_from"),
    lastSweepAt: timestamp("last_sweep_at"),
    lastSweepError: text("last_sweep_error"),
    /** Contacts the sweeps found that no webhook had announced (a sign deliveries are missing). */
    sweepFound: integer("sweep_found").notNull().default(0),
    /** JSON (LabelSetup): the result field, reason field and tags in AC, found or created on first use. */
    labelSetup: text("label_setup"),
    /** Credits charged by this monitor so far: a "waiting for credits" notice is told once per shortage. */
    charged: integer("charged").notNull().default(0),
    /**
     * The brake: set when more than ANOMALY_PERCENT of the monitor's recent checks called for an
     * unsubscribe or a delete (why, in words); nothing of the monitor is worked on until the user
     * saves its settings again, which clears it and starts counting afresh from `brakeFrom`.
     */
    heldReason: text("held_reason"),
    heldAt: timestamp("held_at"),
    brakeFrom: timestamp("brake_from"),
    /** The UTC day of the last digest recorded ("2026-11-02"). */
    lastDigestDay: text("last_digest_day"),
    createdAt: createdAt(),
    updatedAt: timestamp("updated_at").notNull(),
  },
  (t) => [uniqueIndex("monitors_connection_unique").on(t.connectionId), index("monitors_workspace_idx").on(t.workspaceId)],
);

export const MONITOR_CONTACT_STATES = ["pending", "waiting_credits", "done", "gone", "skipped"] as const;
/**
 * `pending` (to look at: re-read, check, act), `waiting_credits` (the balance is empty; looked
 * at again when credits arrive), `done`, `gone` (no longer in AC: nothing charged, nothing done),
 * `skipped` (not in the monitored lists any more, or monitoring was turned off before it was charged).
 */
export type MonitorContactState = (typeof MONITOR_CONTACT_STATES)[number];

/**
 * One AC contact a monitor has been told about (by a webhook or the sweep): the unit of work,
 * unique per monitor and contact. It is claimed with a lease, so a crash or a second process
 * never works on it twice at once. `checkedEmail` is the address verified (and charged for, once:
 * the ledger key names the monitor, the contact and the address); an e-mail change makes it
 * pending again. `lists`: the lists the contact joined, which an unsubscribe applies to.
 */
export const monitorContacts = sqliteTable(
  "monitor_contacts",
  {
    id: idColumn(),
    monitorId: text("monitor_id")
      .notNull()
      .references(() => monitors.id, { onDelete: "cascade" }),
    workspaceId: text("workspace_id").notNull(),
    contactId: text("contact_id").notNull(),
    /** The address as last announced or read from AC. */
    email: text("email").notNull(),
    state: text("state", { enum: MONITOR_CONTACT_STATES }).notNull().default("pending"),
    /** JSON array of list ids the contact joined (from the events, or the sweep). */
    lists: text("lists").notNull().default("[]"),
    /** "webhook" or "sweep": who told us first. */
    source: text("source").notNull(),
    dueAt: timestamp("due_at").notNull(),
    leaseOwner: text("lease_owner"),
    leaseToken: text("lease_token"),
    leaseExpiresAt: timestamp("lease_expires_at"),
    /**
     * Raised each time a delivery or the sweep marks the contact to look at again (another list,
     * another address). A turn remembers it when it claims the contact; one that ends with it
     * raised leaves the contact pending, due at once, instead of settling it (what it planned
     * from may be out of date).
     */
    revision: integer("revision").notNull().default(0),
    /** Greylisting retries used so far, for the verifier. */
    verifyAttempts: integer("verify_attempts").notNull().default(0),
    /** The address charged for and being (or last) checked; null before the first charge. */
    chargedEmail: text("charged_email"),
    checkedEmail: text("checked_email"),
    /** How many addresses of this contact were checked (each e-mail change is a new check). */
    checks: integer("checks").notNull().default(0),
    status: text("status"),
    reason: text("reason"),
    /** JSON: the verification result (flags, suggestion, provider), for the panel. */
    result: text("result"),
    checkedAt: timestamp("checked_at"),
    /** What was done, in words for the panel ("Unsubscribed from Newsletter"). */
    outcome: text("outcome"),
    /** "unsubscribed", "deleted", "labelled", "kept", "failed", "gone"…: what the panel and counts read. */
    outcomeCode: text("outcome_code"),
    error: text("error"),
    createdAt: createdAt(),
    updatedAt: timestamp("updated_at").notNull(),
  },
  (t) => [
    uniqueIndex("monitor_contacts_unique").on(t.monitorId, t.contactId),
    index("monitor_contacts_due_idx").on(t.state, t.dueAt),
    index("monitor_contacts_recent_idx").on(t.monitorId, t.updatedAt),
    index("monitor_contacts_checked_idx").on(t.monitorId, t.checkedAt),
  ],
);

export const MONITOR_ACTION_KINDS = ["unsubscribe", "delete", "label"] as const;
export type MonitorActionKind = (typeof MONITOR_ACTION_KINDS)[number];

/**
 * One change a monitored contact's result calls for, per check: an unsubscribe from one list,
 * a delete, or its label. As for runs (run_actions), `sending` is written before the request
 * and `done`/`failed` after it; one found `sending` (a crash) or sent before (weather) is
 * checked against AC before it is ever sent again.
 */
export const monitorActions = sqliteTable(
  "monitor_actions",
  {
    id: idColumn(),
    monitorContactId: text("monitor_contact_id")
      .notNull()
      .references(() => monitorContacts.id, { onDelete: "cascade" }),
    /** The check (monitor_contacts.checks) this action belongs to. */
    checkNo: integer("check_no").notNull(),
    kind: text("kind", { enum: MONITOR_ACTION_KINDS }).notNull(),
    /** The list for an unsubscribe; 0 otherwise. */
    listId: integer("list_id").notNull().default(0),
    /** `skipped`: not sent, monitoring was turned off first (`resultCode: monitor_off`). */
    state: text("state", { enum: ["pending", "sending", "done", "failed", "skipped"] }).notNull().default("pending"),
    attempts: integer("attempts").notNull().default(0),
    nextAttemptAt: timestamp("next_attempt_at"),
    resultCode: text("result_code"),
    error: text("error"),
    updatedAt: timestamp("updated_at").notNull(),
  },
  (t) => [uniqueIndex("monitor_actions_unique").on(t.monitorContactId, t.checkNo, t.kind, t.listId)],
);

/**
 * What the webhook delivered, one row per distinct event: AC delivers at least once, so the
 * key (type, contact, list, AC's date_time, address) makes a repeated delivery a no-op. Kept
 * for 30 days (the sweep prunes them): the panel's "last event" and the dedupe need no more.
 */
export const monitorEvents = sqliteTable(
  "monitor_events",
  {
    id: idColumn(),
    monitorId: text("monitor_id")
      .notNull()
      .references(() => monitors.id, { onDelete: "cascade" }),
    key: text("key").notNull(),
    type: text("type").notNull(),
    contactId: text("contact_id"),
    listId: text("list_id"),
    /** "queued" (the contact was marked to look at) or why not: "duplicate_contact", "other_list", "unchanged", "unseen_update", "ignored_type". */
    outcome: text("outcome").notNull(),
    receivedAt: timestamp("received_at").notNull(),
  },
  (t) => [uniqueIndex("monitor_events_key_unique").on(t.monitorId, t.key), index("monitor_events_received_idx").on(t.receivedAt)],
);
