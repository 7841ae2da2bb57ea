import { AcError, isWeather, type AcClient, type AcContact } from "../../core/ac/index.ts";
import { actionFor, labelOf, labelsReason, type RunActions } from "../../core/domain/scope-actions.ts";
import type { Clock } from "../../core/lib/clock.ts";
import type { Logger } from "../../core/logger.ts";
import {
  actionsOf,
  chargeForCheck,
  markActionSending,
  monitoredLists,
  openActions,
  planMore,
  releaseMonitorContact,
  saveActionOutcome,
  saveCheck,
  saveMonitorLabelSetup,
  settleContact,
  type Brake,
  type MonitorActionRow,
  type MonitorContactRow,
  type MonitorLease,
  type MonitorRow,
  type PlannedChange,
} from "../../core/monitors/store.ts";
import type { LabelSetup } from "../../core/runs/labels.ts";
import { balanceOf } from "../../core/services/credits.ts";
import type { RunVerifiers } from "../../core/verification.ts";
import type { Db } from "../../db/index.ts";
import { applyAcSignals, type VerificationReason, type VerificationStatus } from "../../verify/index.ts";
import { retryWait, sendChange, CONTACT_GONE } from "../runs/apply.ts";
import { needOf, setUpLabels, writeOneLabel, writesOf, type LabelIo } from "../runs/label.ts";

/** What checking one monitored contact needs: its lease, its monitor, the account's client. */
export interface CheckContext {
  db: Db;
  clock: Clock;
  logger: Logger;
  lease: MonitorLease;
  row: MonitorContactRow;
  monitor: MonitorRow;
  connectionName: string;
  client: AcClient;
  verifiers: RunVerifiers;
  /** Aborted when the processor stops or the lease is lost. */
  signal: AbortSignal;
  settings: CheckSettings;
  /**
   * Issue 14's resolver check (cached by the processor): null when lookups can be relied on (or
   * the check is off), else why not and when to look again. Absent: no check.
   */
  resolverHold?: (signal: AbortSignal) => Promise<ResolverHold | null>;
}

/** The resolver cannot see well-known domains: nothing is verified (every domain would "not exist"). */
export interface ResolverHold {
  reason: string;
  retryMs: number;
}

export interface CheckSettings {
  /** How long a contact waits for credits before the balance is looked at again (credits also wake it). */
  creditsPollMs: number;
  /** Backoff of a change after AC weather: base, doubled per attempt, up to max. */
  retryBaseMs: number;
  retryMaxMs: number;
  /** The brake on destructive changes (ANOMALY_PERCENT over the monitor's recent checks); absent: none. */
  brake?: Brake;
}

/** How a contact's turn ended. */
export type CheckOutcome = "done" | "gone" | "skipped" | "waiting_credits" | "waiting_dns" | "later";

const lower = (s: string) => s.trim().toLowerCase();
const ACTIVE = 1;
/** Labels first (a contact to delete is labelled while it is still there), then unsubscribes, then a delete. */
const ORDER: Record<string, number> = { label: 0, unsubscribe: 1, delete: 2 };

/**
 * One turn at a monitored contact (issue 18), every step stored before the next:
 *
 * 1. Re-read it from AC by id: the payload is never trusted for what is acted on. Gone → done,
 *    nothing charged. No longer on a watched list → skipped.
 * 2. An address not checked yet is charged (once per address: the ledger key) and verified by the
 *    same engine and caches as runs; the result and the changes it calls for are stored together.
 *    No credits: it waits (the workspace is told once). Greylisted: it comes back later.
 * 3. The changes are sent one by one, each recorded before and after (`sending`, then done/failed),
 *    through runs' own code: unsubscribes only from lists where it is active, never status 1, a
 *    delete only when the user confirmed it; one that may have landed is checked in AC first.
 *    Weather puts a change back with a growing wait.
 */
export async function checkContact(ctx: CheckContext): Promise<CheckOutcome> {
  const { db, clock, lease, row, monitor } = ctx;
  const actions = JSON.parse(monitor.actions) as RunActions;
  // Nothing to pay with: wait without asking AC anything.
  if (lower(row.email) !== lower(row.checkedEmail ?? "") && lower(row.email) !== lower(row.chargedEmail ?? "") && balanceOf(db, row.workspaceId) < 1) {
    const charged = chargeForCheck(db, clock, lease, { email: row.email, connectionName: ctx.connectionName, retryAt: clock.now() + ctx.settings.creditsPollMs });
    if (charged === "insufficient") return "waiting_credits";
    if (charged === "off") return turnedOff(ctx);
  }
  const contact = await ctx.client.getContact(row.contactId, { signal: ctx.signal });
  if (!contact) {
    settleContact(db, clock, lease, { state: "gone", outcome: CONTACT_GONE, outcomeCode: "gone", connectionName: ctx.connectionName });
    return "gone";
  }
  const watched = monitoredLists(monitor);
  if (watched && !contact.lists.some((l) => watched.includes(l.listId))) {
    settleContact(db, clock, lease, { state: "skipped", outcome: "Not checked: no longer on a watched list", outcomeCode: "skipped", connectionName: ctx.connectionName });
    return "skipped";
  }

  let checkNo = row.checks;
  let verdict: Verdict;
  if (lower(contact.email) === lower(row.checkedEmail ?? "") && row.status && row.reason) {
    // Checked already (a duplicate, or it joined another watched list): act for the new lists only.
    verdict = { status: row.status as VerificationStatus, reason: row.reason as VerificationReason };
    planMore(db, lease, checkNo, planFor(monitor, actions, row, contact, verdict.reason), clock.now());
  } else {
    if (!monitor.enabled && lower(contact.email) !== lower(row.chargedEmail ?? "")) {
      settleContact(db, clock, lease, { state: "skipped", outcome: "Not checked: monitoring was turned off first", outcomeCode: "skipped", connectionName: ctx.connectionName });
      return "skipped";
    }
    // A resolver that cannot see real domains would make every address "Domain does not exist":
    // the contact waits, not charged, until the check passes (as a run pauses, issue 14).
    const hold = ctx.resolverHold ? await ctx.resolverHold(ctx.signal) : null;
    if (hold) {
      releaseMonitorContact(db, lease, { dueAt: clock.now() + hold.retryMs, outcome: hold.reason, outcomeCode: "waiting_dns" });
      return "waiting_dns";
    }
    const charged = chargeForCheck(db, clock, lease, { email: contact.email, connectionName: ctx.connectionName, retryAt: clock.now() + ctx.settings.creditsPollMs });
    if (charged === "insufficient") return "waiting_credits";
    if (charged === "off") return turnedOff(ctx);
    const verifier = monitor.smtpProbe && ctx.verifiers.smtp ? ctx.verifiers.smtp : ctx.verifiers.plain;
    const attempt = await verifier.attempt(contact.email, { signal: ctx.signal, greylistRetries: row.verifyAttempts });
    if (attempt.kind !== "done") {
      releaseMonitorContact(db, lease, {
        dueAt: clock.now() + attempt.afterMs,
        verifyAttempts: row.verifyAttempts + (attempt.why === "greylisted" ? 1 : 0),
        outcome: "Checking: the mail server asked us to try again later",
        outcomeCode: "checking",
      });
      return "later";
    }
    const result = applyAcSignals(attempt.result, { bouncedHard: contact.bouncedHard });
    verdict = { status: result.status, reason: result.reason };
    checkNo = saveCheck(db, clock, lease, {
      email: contact.email,
      status: result.status,
      reason: result.reason,
      result: { flags: result.flags, suggestion: result.suggestion, provider: result.provider },
      connectionName: ctx.connectionName,
      plan: planFor(monitor, actions, row, contact, result.reason),
    });
  }
  return act(ctx, contact, checkNo, actions, verdict);
}

/** Monitoring was turned off during the turn: nothing more is charged or sent (an unchecked charge is refunded). */
function turnedOff(ctx: CheckContext): CheckOutcome {
  settleContact(ctx.db, ctx.clock, ctx.lease, { state: "skipped", outcome: "Not checked: monitoring was turned off first", outcomeCode: "skipped", connectionName: ctx.connectionName });
  return "skipped";
}

interface Verdict {
  status: VerificationStatus;
  reason: VerificationReason;
}

/**
 * The changes a result calls for: per the monitor's actions (a reason's override first), an
 * unsubscribe from each list the contact joined where it is active (only watched lists; when no
 * event named one, the watched lists where it is active), a delete only when the user confirmed
 * deletes for this monitor, and a label.
 */
export function planFor(monitor: MonitorRow, actions: RunActions, row: MonitorContactRow, contact: AcContact, reason: VerificationReason): PlannedChange[] {
  const plan: PlannedChange[] = [];
  if (labelsReason(actions, reason)) plan.push({ kind: "label", listId: 0 });
  const action = actionFor(actions, reason);
  if (action === "delete" && monitor.deleteConfirmed) plan.push({ kind: "delete", listId: 0 });
  if (action === "unsubscribe") {
    const watched = monitoredLists(monitor);
    const joined = (JSON.parse(row.lists) as string[]).filter((l) => !watched || watched.includes(l));
    const active = contact.lists.filter((l) => l.status === ACTIVE).map((l) => l.listId);
    const targets = joined.length > 0 ? joined : active.filter((l) => !watched || watched.includes(l));
    for (const l of targets) if (active.includes(l)) plan.push({ kind: "unsubscribe", listId: Number(l) });
  }
  return plan;
}

/** Sends the check's open changes in order; settles the contact when none is left, or lets it wait for weather. */
async function act(ctx: CheckContext, contact: AcContact, checkNo: number, actions: RunActions, verdict: Verdict): Promise<CheckOutcome> {
  const { db, clock, lease } = ctx;
  const open = openActions(db, lease.id, checkNo).sort((a, b) => ORDER[a.kind]! - ORDER[b.kind]!);
  for (const a of open) {
    if (a.nextAttemptAt && a.nextAttemptAt.getTime() > clock.now()) continue;
    ctx.signal.throwIfAborted();
    // Recorded before the request leaves: after a crash it is checked in AC before it is sent again.
    // ... and only while monitoring is on (read in the same transaction): turned off, nothing is sent.
    // ... and not while the monitor is held (the brake: too many destructive results lately).
    const go = markActionSending(db, clock, lease, a, ctx.settings.brake);
    if (go === "off") continue;
    if (go === "held") {
      releaseMonitorContact(db, lease, { dueAt: clock.now(), outcome: "Held for review: too many new contacts would be unsubscribed or deleted", outcomeCode: "held" });
      return "later";
    }
    const outcome = a.kind === "label" ? await labelOne(ctx, contact, actions, verdict) : await changeOne(ctx, a);
    saveActionOutcome(db, clock, lease, a.id, outcome.state === "pending" ? { ...outcome, nextAttemptAt: clock.now() + retryWait(ctx.settings.retryBaseMs, ctx.settings.retryMaxMs, a.attempts + 1) } : outcome);
    if (outcome.resultCode === "contact_gone") break;
  }
  const left = openActions(db, lease.id, checkNo);
  const all = actionsOf(db, lease.id, checkNo);
  if (left.length > 0 && !all.some((a) => a.resultCode === "contact_gone")) {
    const next = Math.min(...left.map((a) => a.nextAttemptAt?.getTime() ?? clock.now()));
    releaseMonitorContact(db, lease, { dueAt: next, outcome: "ActiveCampaign is busy: the change is sent again shortly", outcomeCode: "retrying" });
    return "later";
  }
  const words = outcomeOf(all);
  settleContact(db, clock, lease, { state: "done", ...words, connectionName: ctx.connectionName });
  return "done";
}

type ActionOutcome = { state: "done" | "failed" | "pending"; resultCode: string | null; error: string | null };

async function changeOne(ctx: CheckContext, a: MonitorActionRow): Promise<ActionOutcome> {
  const result = await sendChange(ctx, { kind: a.kind as "unsubscribe" | "delete", contactId: ctx.row.contactId, listId: a.listId }, a.state === "sending" || a.attempts > 0);
  if (result.kind === "done") return { state: "done", resultCode: result.gone ? "contact_gone" : null, error: result.gone ? CONTACT_GONE : null };
  return { state: result.kind === "weather" ? "pending" : "failed", resultCode: result.error.kind, error: result.error.message };
}

/**
 * The label (issue 17's write-back) of one contact, per contact: the setup found or created
 * once per monitor, the contact re-read right before (an address changed since the check is
 * left alone), only what differs written. Each write is safe to send again.
 */
async function labelOne(ctx: CheckContext, contact: AcContact, actions: RunActions, verdict: Verdict): Promise<ActionOutcome> {
  const label = labelOf(actions);
  const io: LabelIo = { client: ctx.client, signal: ctx.signal, saveSetup: (s) => saveMonitorLabelSetup(ctx.db, ctx.monitor.id, s) };
  try {
    const setup = ctx.monitor.labelSetup ? (JSON.parse(ctx.monitor.labelSetup) as LabelSetup) : await setUpLabels(io, label);
    const withTags = setup.tags !== null;
    const [state] = await ctx.client.readContacts([contact.id], { tags: withTags, fieldValues: true, signal: ctx.signal });
    if (!state) return { state: "done", resultCode: "contact_gone", error: CONTACT_GONE };
    if (lower(state.email) !== lower(contact.email)) return { state: "done", resultCode: "email_changed", error: "Not labelled: its address changed since the check" };
    if (withTags && state.tags === null) state.tags = await ctx.client.getContactTags(contact.id, { signal: ctx.signal });
    if (state.fieldValues === null) state.fieldValues = await ctx.client.getContactFieldValues(contact.id, { signal: ctx.signal });
    const checked = { value: verdict.status, reason: label.reasonFieldName ? verdict.reason : null };
    const need = needOf(checked, state, setup);
    if (writesOf(need) === 0 && need.stale.length === 0) return { state: "done", resultCode: "already_current", error: null };
    const written = await writeOneLabel(io, setup, { contactId: contact.id, value: checked.value }, need);
    return written.gone ? { state: "done", resultCode: "contact_gone", error: CONTACT_GONE } : { state: "done", resultCode: "written", error: null };
  } catch (err) {
    if (ctx.signal.aborted || !(err instanceof AcError) || err.kind === "auth") throw err;
    return isWeather(err) ? { state: "pending", resultCode: err.kind, error: err.message } : { state: "failed", resultCode: err.kind, error: `ActiveCampaign refused the label: ${err.message}` };
  }
}

/** The panel's words for what became of a check's changes. */
function outcomeOf(all: MonitorActionRow[]): { outcome: string; outcomeCode: string; error: string | null } {
  const failed = all.filter((a) => a.state === "failed");
  const notSent = all.filter((a) => a.state === "skipped");
  if (all.some((a) => a.resultCode === "contact_gone")) return { outcome: CONTACT_GONE, outcomeCode: "gone", error: null };
  const done = all.filter((a) => a.state === "done");
  const unsub = done.filter((a) => a.kind === "unsubscribe").map((a) => a.listId);
  const parts = [
    done.some((a) => a.kind === "delete") ? "Deleted" : null,
    unsub.length ? `Unsubscribed from list${unsub.length > 1 ? "s" : ""} ${unsub.join(", ")}` : null,
    done.some((a) => a.kind === "label" && a.resultCode !== "email_changed") ? "Labelled" : null,
  ].filter(Boolean);
  const code = done.some((a) => a.kind === "delete") ? "deleted" : unsub.length ? "unsubscribed" : parts.length ? "labelled" : "kept";
  if (notSent.length && !failed.length) {
    return { outcome: [...parts, `${notSent.length} change(s) not sent: monitoring was turned off first`].join("; "), outcomeCode: parts.length ? code : "skipped", error: null };
  }
  if (failed.length) {
    return { outcome: [...parts, `${failed.length} change(s) refused by ActiveCampaign`].join("; "), outcomeCode: "failed", error: failed.map((f) => f.error).filter(Boolean).join("; ") };
  }
  return { outcome: parts.length ? parts.join("; ") : "Kept", outcomeCode: code, error: null };
}
