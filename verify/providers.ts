import { z } from "zod";
import { VerifierConfigError } from "./errors.ts";

/**
 * What large mail providers' answers to a probe can and cannot prove, kept as data (as
 * Reacher keeps its rules.json: rules chosen by MX host suffix), not as branches in the
 * probe. The probe reads every RCPT answer through the rule of the domain's provider, so a
 * provider that says 250 to everyone never makes an address "deliverable", and one whose
 * refusals are about us never makes it "undeliverable". More rules come from
 * `VerifierOptions.providerRules` (SMTP_PROVIDER_RULES_FILE): they are matched first.
 */

/**
 * What a 2xx to the real recipient shows.
 * - `mailbox_exists`: the mailbox exists (unless the made-up recipient is accepted too: accept_all);
 * - `accepts_all`: the provider accepts every recipient at RCPT: risky, `accept_all`;
 * - `proves_nothing`: no reading is safe: unknown, `provider_unverifiable`.
 */
export type AcceptedMeans = "mailbox_exists" | "accepts_all" | "proves_nothing";
/**
 * What "no such mailbox" (5.1.1, 5.2.1, the rule's `notFound` wording) shows.
 * - `no_mailbox`: undeliverable;
 * - `proves_nothing`: the provider refuses real mailboxes too (blocks, throttling): unknown.
 */
export type RejectedMeans = "no_mailbox" | "proves_nothing";

export interface ProviderRule {
  /** Stable name, carried by results and reports (`provider`). */
  id: string;
  name: string;
  /** MX host names: "yahoodns.net" matches that name and every name under it. */
  mx: string[];
  /** Only for these mail domains (after the @); without it, every domain whose MX matches. */
  domains?: string[];
  accepted: AcceptedMeans;
  rejected: RejectedMeans;
  /** Whether the made-up recipient (the catch-all test) is worth asking, once per domain. */
  catchAllProbe: boolean;
  /** Recipients asked in one SMTP session at most (below the verifier's own cap). */
  maxRecipientsPerSession?: number;
  /** Reply texts (regular expressions, case-insensitive) of this provider that mean "no such mailbox". */
  notFound?: string[];
  /** Why, with where it was seen. */
  why: string;
}

export const PROVIDER_RULES: readonly ProviderRule[] = [
  {
    id: "yahoo",
    name: "Yahoo / AOL",
    mx: ["yahoodns.net"],
    accepted: "accepts_all",
    rejected: "proves_nothing",
    catchAllProbe: false,
    why:
      "Yahoo and AOL accept every RCPT and refuse unknown mailboxes only after DATA, which a probe never sends " +
      "(AfterShip/email-verifier#57): a 250 is read as accept_all, a refusal at RCPT is about us, not the mailbox.",
  },
  {
    id: "microsoft365",
    name: "Microsoft 365",
    mx: ["mail.protection.outlook.com"],
    accepted: "mailbox_exists",
    rejected: "no_mailbox",
    catchAllProbe: true,
    notFound: [String.raw`5\.4\.1 .*access denied`, "RecipientNotFound"],
    why:
      "Tenants with directory-based edge blocking refuse unknown recipients (550 5.4.1 Recipient address rejected: " +
      "Access denied, or 5.1.10 RecipientNotFound); tenants without it answer 250 2.1.5 Recipient OK to anyone " +
      "(reacherhq/check-if-email-exists#1185), which the made-up recipient shows as accept_all.",
  },
  {
    id: "outlook",
    name: "Outlook.com / Hotmail / Live",
    mx: ["olc.protection.outlook.com", "hotmail.com"],
    accepted: "proves_nothing",
    rejected: "proves_nothing",
    catchAllProbe: false,
    maxRecipientsPerSession: 1,
    why:
      "Consumer mailboxes: a second RCPT in a session draws 452 (AfterShip/email-verifier#72), repeated probes are " +
      "blocked as namespace mining, made-up mailboxes have been accepted (zytzagoo/smtp-validate-email#26) and real " +
      "ones refused behind a block (AfterShip/email-verifier#152): no answer proves anything, and one recipient per " +
      "session keeps the probe polite.",
  },
  {
    id: "gmail",
    name: "Gmail",
    mx: ["google.com", "googlemail.com"],
    domains: ["gmail.com", "googlemail.com"],
    accepted: "mailbox_exists",
    rejected: "no_mailbox",
    catchAllProbe: false,
    why:
      "Consumer Gmail answers RCPT truthfully (550 5.1.1 for unknown users; 452 4.2.1 'receiving mail at a rate' " +
      "means the mailbox exists) and has no catch-all, so the made-up recipient is never sent.",
  },
  {
    id: "google_workspace",
    name: "Google Workspace",
    mx: ["google.com", "googlemail.com"],
    accepted: "mailbox_exists",
    rejected: "no_mailbox",
    catchAllProbe: true,
    why:
      "Gmail's servers, but a Workspace admin can route unknown recipients to a catch-all mailbox, so the made-up " +
      "recipient is asked once per domain.",
  },
  {
    id: "icloud",
    name: "iCloud Mail",
    mx: ["mail.icloud.com"],
    accepted: "mailbox_exists",
    rejected: "no_mailbox",
    catchAllProbe: true,
    why:
      "Answers RCPT truthfully for its own domains; custom domains may accept all. It refuses IPs on Spamhaus lists " +
      "(reacherhq/check-if-email-exists#1065): that is smtp_blocked, and the host is left alone for a while.",
  },
];

const ruleSchema = z
  .object({
    id: z.string().regex(/^[a-z0-9_]{1,40}$/, "must be 1-40 lowercase letters, digits or _"),
    name: z.string().min(1).max(100),
    mx: z.array(z.string().regex(/^[a-z0-9.-]+$/i, "must be host names such as yahoodns.net")).min(1),
    domains: z.array(z.string().min(1)).optional(),
    accepted: z.enum(["mailbox_exists", "accepts_all", "proves_nothing"]),
    rejected: z.enum(["no_mailbox", "proves_nothing"]),
    catchAllProbe: z.boolean(),
    maxRecipientsPerSession: z.number().int().positive().optional(),
    notFound: z
      .array(z.string())
      .optional()
      .refine((patterns) => (patterns ?? []).every(compiles), "must be valid regular expressions"),
    why: z.string().min(1),
  })
  .strict();

function compiles(pattern: string): boolean {
  try {
    new RegExp(pattern, "i");
    return true;
  } catch {
    return false;
  }
}

/** Checks rules read from a file (SMTP_PROVIDER_RULES_FILE): a JSON array of ProviderRule. */
export function parseProviderRules(value: unknown, source = "provider rules"): ProviderRule[] {
  const parsed = z.array(ruleSchema).safeParse(value);
  if (!parsed.success) {
    const first = parsed.error.issues[0]!;
    throw new VerifierConfigError(`${source}: ${first.path.join(".") || "(top)"}: ${first.message}`);
  }
  return parsed.data;
}

/** A rule ready to match: host suffixes lowercased, notFound compiled. */
export interface CompiledRule extends ProviderRule {
  notFoundPatterns: RegExp[];
}

export interface ProviderTable {
  /** The rule of a mail domain, from its MX hosts in preference order (the first host a rule claims). */
  match(domain: string, mxHosts: readonly string[]): CompiledRule | null;
  byId(id: string): CompiledRule | undefined;
}

export function providerTable(extra: readonly ProviderRule[] = []): ProviderTable {
  const rules: CompiledRule[] = [...extra, ...PROVIDER_RULES].map((rule) => ({
    ...rule,
    mx: rule.mx.map((m) => m.toLowerCase().replace(/^\*?\./, "").replace(/\.$/, "")),
    domains: rule.domains?.map((d) => d.toLowerCase()),
    notFoundPatterns: (rule.notFound ?? []).map((p) => new RegExp(p, "i")),
  }));
  const ids = new Map<string, CompiledRule>();
  for (const rule of rules) if (!ids.has(rule.id)) ids.set(rule.id, rule);
  const under = (host: string, suffix: string) => host === suffix || host.endsWith(`.${suffix}`);
  return {
    match(domain, mxHosts) {
      for (const host of mxHosts) {
        const name = host.toLowerCase().replace(/\.$/, "");
        const rule = rules.find((r) => r.mx.some((suffix) => under(name, suffix)) && (!r.domains || r.domains.includes(domain)));
        if (rule) return rule;
      }
      return null;
    },
    byId: (id) => ids.get(id),
  };
}
