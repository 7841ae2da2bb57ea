import type { LedgerKind, OccurrenceState, RunStatus } from "../db/schema/index.ts";
import { labelOf, labelTag, type RunActions, type RunScope, type UploadScope } from "../core/domain/scope-actions.ts";
import { fmt, plural } from "../core/lib/words.ts";
import { STATUS_BY_REASON, VERIFICATION_STATUSES, type VerificationReason, type VerificationStatus } from "../verify/taxonomy.ts";

/** The words the dashboard uses for each run status: a short badge and a sentence. */
export const RUN_STATUS_WORDS: Record<RunStatus, { badge: string; sentence: string; tone: "info" | "warn" | "ok" | "bad" | "muted" }> = {
  queued: { badge: "Queued", sentence: "Waiting for a worker to start this run.", tone: "info" },
  running: { badge: "Checking", sentence: "Fetching contacts from ActiveCampaign and checking each address.", tone: "info" },
  paused_credits: { badge: "Paused: credits", sentence: "Paused because the balance does not cover the next contacts.", tone: "warn" },
  paused_dns: { badge: "Paused: lookups failing", sentence: "Paused because this server cannot look up domains right now; nothing is checked until it can.", tone: "warn" },
  awaiting_review: { badge: "Needs review", sentence: "Every address is checked. Review the changes below; nothing changes in ActiveCampaign until you approve.", tone: "warn" },
  applying: { badge: "Applying", sentence: "Applying the approved changes in ActiveCampaign.", tone: "info" },
  completed: { badge: "Completed", sentence: "This run is finished.", tone: "ok" },
  failed: { badge: "Failed", sentence: "This run stopped before it finished.", tone: "bad" },
  cancelled: { badge: "Cancelled", sentence: "This run was cancelled.", tone: "muted" },
};

export const STATUS_LABELS: Record<VerificationStatus, string> = {
  deliverable: "Deliverable",
  risky: "Risky",
  undeliverable: "Undeliverable",
  unknown: "Unknown",
};

export const STATUS_HELP: Record<VerificationStatus, string> = {
  deliverable: "The domain receives mail (or the mailbox accepted a probe).",
  risky: "May work, but catch-all, disposable, role (info@), full mailbox or a likely typo.",
  undeliverable: "Bad syntax, the domain does not exist or takes no mail, the mailbox does not exist, or a hard bounce.",
  unknown: "We could not tell (DNS or mail server did not answer). Refunded.",
};

export const REASON_LABELS: Record<VerificationReason, string> = {
  accepted_email: "Mailbox accepted a probe",
  mail_domain_ok: "Domain receives mail",
  invalid_syntax: "Not a valid address",
  domain_not_found: "Domain does not exist",
  no_mail_server: "Domain has no mail server",
  null_mx: "Domain accepts no mail",
  mailbox_not_found: "Mailbox does not exist",
  mailbox_disabled: "Mailbox disabled",
  hard_bounced: "Hard bounce recorded in ActiveCampaign",
  accept_all: "Domain accepts any address (catch-all)",
  disposable: "Disposable address",
  role_account: "Role address (info@, sales@…)",
  mailbox_full: "Mailbox full",
  possible_typo: "Likely typo in the domain",
  dns_error: "DNS lookup failed",
  smtp_timeout: "Mail server timed out",
  smtp_unavailable: "Mail server unavailable",
  smtp_blocked: "Our probe was blocked",
  greylisted: "Greylisted; retries ran out",
  provider_unverifiable: "Provider's answers prove nothing",
};

export function reasonLabel(reason: string): string {
  return (REASON_LABELS as Record<string, string>)[reason] ?? reason.replaceAll("_", " ");
}

export function statusLabel(status: string): string {
  return (STATUS_LABELS as Record<string, string>)[status] ?? status;
}

export const ACTION_LABELS = { keep: "Keep", unsubscribe: "Unsubscribe", delete: "Delete" } as const;

export function actionLabel(action: string): string {
  return (ACTION_LABELS as Record<string, string>)[action] ?? action;
}

/** "Unsubscribe + label", "Label", "Keep": an action and the label choice together. */
function choiceWords(action: string | undefined, label: boolean | undefined): string {
  if (action === undefined) return label ? "Label" : "Do not label";
  return label ? (action === "keep" ? "Label" : `${actionLabel(action)} + label`) : actionLabel(action);
}

/** "Undeliverable → Unsubscribe · Risky → Label · Disposable address → Delete": every choice other than Keep. */
export function actionsWords(actions: RunActions): string {
  const labelled = labelOf(actions).statuses;
  const changes = [
    ...VERIFICATION_STATUSES.filter((s) => actions[s] !== "keep" || labelled.includes(s)).map((s) => `${STATUS_LABELS[s]} → ${choiceWords(actions[s], labelled.includes(s))}`),
    ...actions.overrides.map((o) => `${reasonLabel(o.reason)} → ${choiceWords(o.action ?? (o.label === undefined ? undefined : actions[STATUS_OF[o.reason] ?? "deliverable"]), o.label)}`),
  ];
  return changes.length > 0 ? changes.join(" · ") : "Keep every contact (report only)";
}

/** The status of each reason, for words only. */
const STATUS_OF: Partial<Record<string, VerificationStatus>> = STATUS_BY_REASON;

/** "Field “Email status”, reason in “Email status reason”, tags lw-…, automations off": how a run labels. */
export function labelSettingsWords(actions: RunActions): string {
  const l = labelOf(actions);
  return [
    `field “${l.fieldName}”`,
    l.reasonFieldName ? `reason in “${l.reasonFieldName}”` : null,
    l.tagPrefix !== null ? `tags ${labelTag(l, "deliverable")}, ${labelTag(l, "risky")}…` : "no tags",
    l.runAutomations ? "automations react" : "automations skipped",
  ]
    .filter(Boolean)
    .join(", ");
}

export const OCCURRENCE_WORDS: Record<OccurrenceState, { badge: string; tone: "info" | "warn" | "muted" }> = {
  started: { badge: "Started", tone: "info" },
  waiting: { badge: "Waiting", tone: "warn" },
  skipped: { badge: "Skipped", tone: "muted" },
};

/** The last error (by its code) is ActiveCampaign refusing the key: the user must paste a new one. */
export function isKeyRefused(lastErrorCode: string | null): boolean {
  return lastErrorCode === "ac_key_refused";
}

export const LEDGER_LABELS: Record<LedgerKind, string> = { grant: "Added", charge: "Charged", refund: "Refunded" };

/** A run's list and tag names as ActiveCampaign had them when it fetched (undefined before it has). */
export function namesOfRun(run: { names: { lists: Record<string, string>; tags: Record<string, string> } | null }): { lists: Map<string, string>; tags: Map<string, string> } | undefined {
  return run.names ? { lists: new Map(Object.entries(run.names.lists)), tags: new Map(Object.entries(run.names.tags)) } : undefined;
}

/** "2 lists", "Tag 4", "All contacts"; with names when they are known. */
export function scopeWords(scope: RunScope | UploadScope, names?: { lists?: Map<string, string>; tags?: Map<string, string> }): string {
  if (scope.kind === "all") return "All contacts";
  if (scope.kind === "upload") return "Uploaded file";
  if (scope.kind === "tag") {
    const name = names?.tags?.get(scope.tagId);
    return name ? `Tag “${name}”` : `Tag #${scope.tagId}`;
  }
  const listNames = scope.listIds.map((id) => names?.lists?.get(id));
  if (listNames.every((n): n is string => n !== undefined)) {
    return listNames.length <= 3 ? listNames.map((n) => `“${n}”`).join(", ") : `${listNames.length} lists`;
  }
  return scope.listIds.length === 1 ? `List #${scope.listIds[0]}` : `${scope.listIds.length} lists`;
}

export { fmt, plural };

const dateTime = new Intl.DateTimeFormat("en-GB", { dateStyle: "medium", timeStyle: "short", timeZone: "UTC" });
const dateOnly = new Intl.DateTimeFormat("en-GB", { day: "numeric", month: "short", timeZone: "UTC" });

/** A date in UTC; the page script shows it in the reader's own time zone. */
export function when(iso: string | null): string {
  return iso ? `${dateTime.format(new Date(iso))} UTC` : "—";
}

export function shortDate(iso: string | null): string {
  return iso ? dateOnly.format(new Date(iso)) : "—";
}

const dayTime = new Intl.DateTimeFormat("en-GB", { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit", timeZone: "UTC" });

/** For runs on the same day: "22 Nov, 08:34" (UTC). */
export function shortDateTime(iso: string | null): string {
  return iso ? dayTime.format(new Date(iso)) : "—";
}

export function duration(ms: number | null): string {
  if (ms === null) return "—";
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${s % 60} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

export function percent(part: number, whole: number): string {
  if (whole <= 0) return "0%";
  const p = (part / whole) * 100;
  return `${p > 0 && p < 1 ? "<1" : Math.round(p)}%`;
}
