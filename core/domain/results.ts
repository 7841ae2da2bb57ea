import { REASON_PRECEDENCE, STATUS_BY_REASON, VERIFICATION_STATUSES, type VerificationReason, type VerificationStatus } from "../../verify/taxonomy.ts";

/**
 * The classes a marketer reads results in: the four statuses, with "deliverable" split by what
 * was checked. A deliverable address whose mailbox was not probed (`mail_domain_ok`) only has
 * a domain that takes mail: it is its own class, shown, counted and exported apart from
 * mailboxes that accepted a probe, so a run without the probe never looks as clean as one
 * with it. Pages, the CSV, summary.json and the charts all read these.
 */
export const RESULT_CLASSES = ["deliverable", "domain_ok", "risky", "undeliverable", "unknown"] as const;
export type ResultClass = (typeof RESULT_CLASSES)[number];

/** The reason that makes a deliverable address "domain OK, mailbox not checked". */
export const UNCHECKED_MAILBOX_REASON: VerificationReason = "mail_domain_ok";

export const CLASS_WORDS: Record<ResultClass, string> = {
  deliverable: "Deliverable",
  domain_ok: "Domain OK, mailbox not checked",
  risky: "Risky",
  undeliverable: "Undeliverable",
  unknown: "Unknown",
};

export const CLASS_HELP: Record<ResultClass, string> = {
  deliverable: "The mailbox accepted our check: mail should arrive.",
  domain_ok: "The domain takes mail; the mailbox itself was not checked, so it may not exist, be disabled or full.",
  risky: "May work, but catch-all, disposable, role (info@), full mailbox or a likely typo.",
  undeliverable: "Bad syntax, the domain does not exist or takes no mail, the mailbox does not exist, or a hard bounce.",
  unknown: "We could not tell (a mail or name server did not answer). Refunded.",
};

/** The class of a result. */
export function classOf(status: string | null, reason: string | null): ResultClass | null {
  if (reason === UNCHECKED_MAILBOX_REASON) return "domain_ok";
  return (VERIFICATION_STATUSES as readonly string[]).includes(status ?? "") ? (status as VerificationStatus) : null;
}

/** Counts per class, from the counts per reason every run keeps. */
export function classCounts(byReason: Record<string, number>): Record<ResultClass, number> {
  const out = Object.fromEntries(RESULT_CLASSES.map((c) => [c, 0])) as Record<ResultClass, number>;
  for (const [reason, n] of Object.entries(byReason)) {
    const c = classOf((STATUS_BY_REASON as Record<string, string>)[reason] ?? null, reason);
    if (c) out[c] += n;
  }
  return out;
}

/** The reasons of a class, in the order results are explained. */
export function reasonsOf(c: ResultClass): VerificationReason[] {
  return REASON_PRECEDENCE.filter((r) => classOf(STATUS_BY_REASON[r], r) === c);
}
