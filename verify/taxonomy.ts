/**
 * The verification vocabulary (docs/verification.md): the status each reason implies,
 * the flags, and the order in which reasons win when several apply to one address.
 */

export const VERIFICATION_STATUSES = ["deliverable", "risky", "undeliverable", "unknown"] as const;
export type VerificationStatus = (typeof VERIFICATION_STATUSES)[number];

export const STATUS_BY_REASON = {
  accepted_email: "deliverable",
  mail_domain_ok: "deliverable",
  invalid_syntax: "undeliverable",
  domain_not_found: "undeliverable",
  no_mail_server: "undeliverable",
  null_mx: "undeliverable",
  mailbox_not_found: "undeliverable",
  mailbox_disabled: "undeliverable",
  hard_bounced: "undeliverable",
  accept_all: "risky",
  disposable: "risky",
  role_account: "risky",
  mailbox_full: "risky",
  possible_typo: "risky",
  dns_error: "unknown",
  smtp_timeout: "unknown",
  smtp_unavailable: "unknown",
  smtp_blocked: "unknown",
  greylisted: "unknown",
  provider_unverifiable: "unknown",
} as const satisfies Record<string, VerificationStatus>;

export type VerificationReason = keyof typeof STATUS_BY_REASON;
export const VERIFICATION_REASONS = Object.keys(STATUS_BY_REASON) as VerificationReason[];

export const VERIFICATION_FLAGS = ["free", "role", "disposable", "accept_all"] as const;
export type VerificationFlag = (typeof VERIFICATION_FLAGS)[number];

/**
 * When several reasons apply, the first in this list is reported. The order encodes:
 * - definite failures first: syntax, then DNS (the domain cannot receive mail), then our own
 *   SMTP answer about the mailbox, then AC's recorded hard bounce;
 * - facts that hold whatever a probe says (disposable domain, likely typo of a major provider)
 *   before "we could not look the domain up";
 * - what a probe learnt about the mailbox (full, catch-all) before the role-account trait;
 * - a failed probe (blocked, timeout, unreachable, greylisted) only when nothing else is
 *   known, because it says nothing about the address;
 * - deliverable last.
 */
export const REASON_PRECEDENCE: readonly VerificationReason[] = [
  "invalid_syntax",
  "domain_not_found",
  "null_mx",
  "no_mail_server",
  "mailbox_not_found",
  "mailbox_disabled",
  "hard_bounced",
  "disposable",
  "possible_typo",
  "dns_error",
  "mailbox_full",
  "accept_all",
  "role_account",
  "smtp_blocked",
  "smtp_timeout",
  "smtp_unavailable",
  "greylisted",
  "provider_unverifiable",
  "accepted_email",
  "mail_domain_ok",
];

export interface VerificationResult {
  /** The address exactly as given. */
  email: string;
  /** Trimmed, domain lowercased and converted to ASCII (IDNA); the local part keeps its case. */
  normalized: string;
  status: VerificationStatus;
  reason: VerificationReason;
  flags: VerificationFlag[];
  /** A corrected address when the domain looks like a typo (gmial.com → gmail.com). */
  suggestion: string | null;
  /**
   * The mail provider whose rules read the probe's answers (verify/providers.ts: "gmail",
   * "microsoft365", "yahoo"...), from the domain's MX hosts; null for everyone else.
   */
  provider: string | null;
}

export function isVerificationReason(value: string): value is VerificationReason {
  return Object.hasOwn(STATUS_BY_REASON, value);
}

/** The reason that wins among `reasons`, by REASON_PRECEDENCE. */
export function strongestReason(reasons: Iterable<VerificationReason>): VerificationReason | undefined {
  let best: VerificationReason | undefined;
  for (const reason of reasons) {
    // Stryker disable next-line EqualityOperator: equal ranks are the same reason (each is ranked once)
    if (best === undefined || REASON_PRECEDENCE.indexOf(reason) < REASON_PRECEDENCE.indexOf(best)) best = reason;
  }
  return best;
}

export interface AcSignals {
  /** ActiveCampaign recorded a hard bounce for the contact (`bounced_hard` > 0). */
  bouncedHard: boolean;
}

/**
 * Folds what ActiveCampaign already knows into a result: a recorded hard bounce makes the
 * address undeliverable (`hard_bounced`) unless our own checks found a more specific
 * undeliverable reason.
 */
export function applyAcSignals(result: VerificationResult, signals: AcSignals): VerificationResult {
  if (!signals.bouncedHard) return result;
  const reason = strongestReason([result.reason, "hard_bounced"]) ?? result.reason;
  return reason === result.reason ? result : { ...result, status: STATUS_BY_REASON[reason], reason };
}
