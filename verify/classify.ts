import type { MailRoute } from "./dns.ts";
import type { TypoSuggestion } from "./lists.ts";
import type { SmtpReply } from "./smtp-session.ts";
import type { SyntaxCheck } from "./syntax.ts";
import {
  STATUS_BY_REASON,
  strongestReason,
  type VerificationFlag,
  type VerificationReason,
  type VerificationResult,
} from "./taxonomy.ts";

/** What an SMTP reply says about the command it answers. */
export type ReplyClass = "accepted" | "not_found" | "disabled" | "full" | "blocked" | "temporary";

/** Words of replies that refuse us (our IP, HELO or sender), not the mailbox. */
const BLOCKED_TEXT =
  /spamhaus|spamcop|barracuda|sorbs|\brbl\b|dnsbl|black ?list|block ?list|blocked|banned|access denied|denied access|not authori[sz]ed|unauthori[sz]ed|policy|reputation|client host rejected|reverse (dns|hostname)|\bptr\b|too many (connections|errors)|rate limit/i;
const NOT_FOUND_TEXT =
  /user unknown|unknown user|no such (user|mailbox|recipient|address)|user (not found|doesn'?t exist|does not exist)|mailbox (not found|does not exist|doesn'?t exist)|recipient (not found|unknown|does not exist)|unknown recipient|invalid recipient|address does not exist|account (that you tried to reach )?does not exist|not our customer/i;
const DISABLED_TEXT = /(mailbox|account) (is |has been )?(disabled|deactivated|suspended|inactive|closed|discontinued)/i;
const FULL_TEXT = /mailbox (is )?full|over ?quota|quota exceeded|exceeded (its|the) storage|insufficient (system )?storage/i;
const GREYLIST_TEXT = /gr[ae]y ?list|try again later/i;

/**
 * Reads an RCPT reply. Only explicit mailbox answers are undeliverable: 5.1.1/5.1.10 (or
 * "user unknown" wording) and 5.2.1. Anything naming a block list, a policy or 5.7.x means
 * the server refused *us*, and an unexplained 5xx cannot tell a dead mailbox from a policy
 * refusal: both are "blocked" (unknown), never "not found".
 */
export function classifyRcptReply(reply: SmtpReply, notFound: readonly RegExp[] = []): ReplyClass {
  const { code, enhanced, text } = reply;
  if (code >= 200 && code < 300) return "accepted";
  // A provider's own words for "no such mailbox" (Microsoft 365's 5.4.1 "Access denied").
  if (code >= 500 && notFound.some((pattern) => pattern.test(text))) return "not_found";
  if (code >= 400 && code < 500) {
    if (enhanced === "4.2.2") return "full";
    // Gmail's per-user rate limit: the mailbox exists.
    if (enhanced === "4.2.1" && /receiving mail at a rate/i.test(text)) return "accepted";
    if (GREYLIST_TEXT.test(text)) return "temporary";
    if (BLOCKED_TEXT.test(text)) return "blocked";
    if (code === 452 && enhanced === null && FULL_TEXT.test(text)) return "full";
    return "temporary";
  }
  // Stryker disable next-line MethodExpression: no enhanced status ends in "."; and a 5.7.x reply is blocked by the last line too
  if (enhanced?.startsWith("5.7.") || BLOCKED_TEXT.test(text)) return "blocked";
  if (enhanced === "5.1.1" || enhanced === "5.1.10") return "not_found";
  if (enhanced === "5.2.1") return "disabled";
  if (enhanced === "5.2.2" || (code === 552 && enhanced === null)) return "full";
  if (enhanced === null || enhanced.startsWith("5.1.") || enhanced === "5.0.0") {
    if (NOT_FOUND_TEXT.test(text)) return "not_found";
    if (DISABLED_TEXT.test(text)) return "disabled";
    if (FULL_TEXT.test(text)) return "full";
  }
  return "blocked";
}

const TOO_MANY_RECIPIENTS = /too many recipients|recipients? limit|too many rcpt|recipients belong to multiple/i;
/** Block-list words that name our address (not a recipient's policy): the whole server refuses us. */
const OUR_ADDRESS_LISTED = /spamhaus|spamcop|barracuda|sorbs|\brbl\b|dnsbl|black ?list|block ?list|blocked using|client host|your ip|reputation/i;

/**
 * A server objecting to several recipients in one session (452 4.5.3 "Too many recipients",
 * Microsoft's "recipients belong to multiple regions"): the address was not answered; ask
 * it again in a session of its own.
 */
export function objectsToRecipients(reply: SmtpReply): boolean {
  return reply.code >= 400 && (reply.enhanced?.slice(1) === ".5.3" || TOO_MANY_RECIPIENTS.test(reply.text));
}

/** A refusal that names a block list or our address: every probe to this server would get it. */
export function refusesOurAddress(reply: SmtpReply): boolean {
  return reply.code >= 400 && OUR_ADDRESS_LISTED.test(reply.text);
}

/**
 * Reads a refusal of the greeting, EHLO/HELO or MAIL FROM, after which the probe cannot go
 * on: "blocked" when it names a block list or policy (5.7.x), "refused" for other permanent
 * refusals, "temporary" for 4xx.
 */
export function classifySessionReply(reply: SmtpReply): "blocked" | "refused" | "temporary" {
  const temporary = reply.code >= 400 && reply.code < 500;
  if (temporary && GREYLIST_TEXT.test(reply.text)) return "temporary";
  if (reply.enhanced?.slice(1, 4) === ".7." || BLOCKED_TEXT.test(reply.text)) return "blocked";
  return temporary ? "temporary" : "refused";
}

/** What the SMTP probe concluded. */
export type SmtpReason = Extract<
  VerificationReason,
  | "accepted_email"
  | "accept_all"
  | "mailbox_not_found"
  | "mailbox_disabled"
  | "mailbox_full"
  | "smtp_blocked"
  | "smtp_timeout"
  | "smtp_unavailable"
  | "greylisted"
  | "provider_unverifiable"
>;

export interface Evidence {
  input: string;
  syntax: SyntaxCheck;
  route?: MailRoute;
  smtp?: SmtpReason;
  traits?: { free: boolean; role: boolean; disposable: boolean };
  typo?: TypoSuggestion | null;
  provider?: string | null;
}

const ROUTE_REASON: Record<MailRoute["kind"], VerificationReason> = {
  mx: "mail_domain_ok",
  implicit_mx: "mail_domain_ok",
  null_mx: "null_mx",
  not_found: "domain_not_found",
  no_mail_server: "no_mail_server",
  dangling_mx: "no_mail_server",
  error: "dns_error",
};

/**
 * Combines everything learnt about one address into its result; see REASON_PRECEDENCE.
 * Typo suggestions: a domain that cannot receive mail gets any plausible correction (it is
 * undeliverable either way); a domain whose DNS we could not read, or one that works, only
 * a near-miss of a major provider, which is then reported as `possible_typo`.
 */
export function decide(evidence: Evidence): VerificationResult {
  const { syntax } = evidence;
  if (!syntax.ok) {
    return { email: evidence.input, normalized: syntax.trimmed, status: "undeliverable", reason: "invalid_syntax", flags: [], suggestion: null, provider: null };
  }

  const reasons: VerificationReason[] = [];
  const flags: VerificationFlag[] = [];
  const { traits, typo, route, smtp } = evidence;
  if (traits?.free) flags.push("free");
  if (traits?.role) {
    flags.push("role");
    reasons.push("role_account");
  }
  if (traits?.disposable) {
    flags.push("disposable");
    reasons.push("disposable");
  }
  if (smtp === "accept_all") flags.push("accept_all");
  if (smtp) reasons.push(smtp);

  let suggested: string | null = null;
  if (route) {
    const routeReason = ROUTE_REASON[route.kind];
    reasons.push(routeReason);
    const domainIsDead = STATUS_BY_REASON[routeReason] === "undeliverable";
    if (typo && (domainIsDead || typo.nearMajorProvider)) suggested = typo.domain;
    if (typo?.nearMajorProvider && !domainIsDead) reasons.push("possible_typo");
  }

  const reason = strongestReason(reasons) ?? "mail_domain_ok";
  return {
    email: evidence.input,
    normalized: syntax.normalized,
    status: STATUS_BY_REASON[reason],
    reason,
    flags,
    suggestion: suggested === null ? null : `${syntax.local}@${suggested}`,
    provider: evidence.provider ?? null,
  };
}
