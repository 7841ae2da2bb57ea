import { VerifierConfigError } from "./errors.ts";
import type { ProviderRule } from "./providers.ts";
import type { SocksProxy } from "./smtp-session.ts";
import { checkSyntax } from "./syntax.ts";

export type VerifierLogLevel = "debug" | "info" | "warn";
/** Receives diagnostics; map it onto pino with `(level, msg, fields) => logger[level](fields ?? {}, msg)`. */
export type VerifierLog = (level: VerifierLogLevel, message: string, fields?: Record<string, unknown>) => void;

export interface SmtpProbeOptions {
  /** Probe mailboxes over SMTP (`SMTP_PROBE`). Off by default: port 25 is blocked on most clouds. */
  enabled: boolean;
  /**
   * EHLO name (`SMTP_HELO`): an FQDN you own whose A record points at the probing IP and whose
   * PTR points back. Required when enabled; never "localhost" or someone else's domain.
   */
  helo: string;
  /** MAIL FROM (`SMTP_MAIL_FROM`): a real mailbox on the HELO domain that accepts bounces. Required when enabled. */
  mailFrom: string;
  /** Port of every MX (`SMTP_PORT`). 25 in production; tests use a high port on 127.0.0.x. */
  port: number;
  /** TCP connect timeout per MX address (`SMTP_CONNECT_TIMEOUT_MS`). */
  connectTimeoutMs: number;
  /** Time allowed for each reply, the banner included (`SMTP_REPLY_TIMEOUT_MS`). */
  replyTimeoutMs: number;
  /** Sessions open at once to one MX address. */
  perMxConcurrency: number;
  /** MX hosts tried, in preference order, when connections fail. */
  maxMxHosts: number;
  /**
   * Probes that may wait in line for one MX address before a single attempt (`attempt`, as runs
   * use it) answers "busy, come back later" instead of joining the line, so a slow server never
   * holds up addresses at other servers.
   */
  maxWaitingPerMx: number;
  /** Waits before each retry of a greylisted (4xx) probe; their count is the number of retries. */
  greylistRetryDelaysMs: number[];
  /**
   * Retries are only scheduled while they start within this long after the batch began (or
   * the single `verify` call); after it a still-greylisted address is reported `greylisted`.
   */
  batchTimeBudgetMs: number;
  /** How long a domain's catch-all verdict is reused. */
  catchAllTtlMs: number;
  /**
   * Recipients asked in one session (`SMTP_RECIPIENTS_PER_SESSION`), RSET between them; 1
   * turns session reuse off. Provider rules and servers that object to several lower it.
   */
  recipientsPerSession: number;
  /** Recipients asked of one MX server (IP address) per minute (`SMTP_BUDGET_PER_MX_PER_MINUTE`); 0 for no cap. */
  budgetPerMxPerMinute: number;
  /** Recipients asked through one sending path (this host, or one proxy) per day (`SMTP_BUDGET_PER_PATH_PER_DAY`); 0 for no cap. */
  budgetPerPathPerDay: number;
  /** SOCKS5 proxies for the probe's connections (`SMTP_PROXIES`); with any, probes never go out directly. */
  proxies: SocksProxy[];
  /** Sessions one proxy carries at once. */
  perProxyConcurrency: number;
  /** How long a failed proxy is left alone before a health check may bring it back. */
  proxyRecheckMs: number;
  /** How long an MX server that refused us (block list, 5.7.x at the greeting or MAIL) is not probed. */
  blockedBackoffMs: number;
}

export interface VerifierOptions {
  /** DNS servers as "host" or "host:port" (`DNS_SERVERS`); empty uses the system's. */
  dnsServers?: string[];
  /** Per-try DNS timeout (`DNS_TIMEOUT_MS`). */
  dnsTimeoutMs?: number;
  /** Attempts per DNS query before it counts as a timeout. */
  dnsTries?: number;
  /** DNS queries in flight at once. */
  dnsConcurrency?: number;
  /** How long a DNS answer (including NXDOMAIN and "no mail server") is reused. */
  cacheTtlMs?: number;
  /** How long a failed lookup (SERVFAIL, timeout) is reused before asking again. */
  dnsErrorTtlMs?: number;
  smtp?: Partial<SmtpProbeOptions>;
  /** Provider rules matched before the built-in ones (`SMTP_PROVIDER_RULES_FILE`); see verify/providers.ts. */
  providerRules?: ProviderRule[];
  /** Time source for cache expiry and the retry budget. */
  clock?: { now(): number };
  log?: VerifierLog;
}

export interface ResolvedVerifierOptions {
  dnsServers: string[];
  dnsTimeoutMs: number;
  dnsTries: number;
  dnsConcurrency: number;
  cacheTtlMs: number;
  dnsErrorTtlMs: number;
  smtp: SmtpProbeOptions;
  providerRules: ProviderRule[];
  now: () => number;
  log: VerifierLog;
}

export const DEFAULT_SMTP_OPTIONS: SmtpProbeOptions = {
  enabled: false,
  helo: "",
  mailFrom: "",
  port: 25,
  connectTimeoutMs: 10_000,
  replyTimeoutMs: 30_000,
  perMxConcurrency: 2,
  maxMxHosts: 3,
  maxWaitingPerMx: 32,
  greylistRetryDelaysMs: [6 * 60_000, 30 * 60_000],
  batchTimeBudgetMs: 45 * 60_000,
  catchAllTtlMs: 7 * 24 * 3_600_000,
  recipientsPerSession: 5,
  budgetPerMxPerMinute: 60,
  budgetPerPathPerDay: 10_000,
  proxies: [],
  perProxyConcurrency: 4,
  proxyRecheckMs: 60_000,
  blockedBackoffMs: 30 * 60_000,
};

export const DEFAULT_VERIFIER_OPTIONS = {
  dnsServers: [] as string[],
  dnsTimeoutMs: 5_000,
  dnsTries: 2,
  dnsConcurrency: 32,
  cacheTtlMs: 3_600_000,
  dnsErrorTtlMs: 60_000,
} as const;

export { VerifierConfigError };

const HOSTNAME = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$/i;

export function resolveOptions(options: VerifierOptions = {}): ResolvedVerifierOptions {
  const clock = options.clock;
  const resolved: ResolvedVerifierOptions = {
    dnsServers: options.dnsServers ?? DEFAULT_VERIFIER_OPTIONS.dnsServers,
    dnsTimeoutMs: options.dnsTimeoutMs ?? DEFAULT_VERIFIER_OPTIONS.dnsTimeoutMs,
    dnsTries: options.dnsTries ?? DEFAULT_VERIFIER_OPTIONS.dnsTries,
    dnsConcurrency: options.dnsConcurrency ?? DEFAULT_VERIFIER_OPTIONS.dnsConcurrency,
    cacheTtlMs: options.cacheTtlMs ?? DEFAULT_VERIFIER_OPTIONS.cacheTtlMs,
    dnsErrorTtlMs: options.dnsErrorTtlMs ?? DEFAULT_VERIFIER_OPTIONS.dnsErrorTtlMs,
    smtp: { ...DEFAULT_SMTP_OPTIONS, ...options.smtp },
    providerRules: options.providerRules ?? [],
    now: clock ? () => clock.now() : Date.now,
    log: options.log ?? (() => {}),
  };

  const positive = { dnsTimeoutMs: resolved.dnsTimeoutMs, dnsTries: resolved.dnsTries, dnsConcurrency: resolved.dnsConcurrency };
  for (const [name, value] of Object.entries(positive)) {
    if (!Number.isInteger(value) || value <= 0) throw new VerifierConfigError(`${name} must be a whole number above 0`);
  }
  const { smtp } = resolved;
  const smtpPositive = {
    port: smtp.port,
    connectTimeoutMs: smtp.connectTimeoutMs,
    replyTimeoutMs: smtp.replyTimeoutMs,
    perMxConcurrency: smtp.perMxConcurrency,
    maxMxHosts: smtp.maxMxHosts,
    maxWaitingPerMx: smtp.maxWaitingPerMx,
    recipientsPerSession: smtp.recipientsPerSession,
    perProxyConcurrency: smtp.perProxyConcurrency,
  };
  for (const [name, value] of Object.entries(smtpPositive)) {
    if (!Number.isInteger(value) || value <= 0) throw new VerifierConfigError(`smtp.${name} must be a whole number above 0`);
  }
  for (const [name, value] of Object.entries({ budgetPerMxPerMinute: smtp.budgetPerMxPerMinute, budgetPerPathPerDay: smtp.budgetPerPathPerDay, proxyRecheckMs: smtp.proxyRecheckMs, blockedBackoffMs: smtp.blockedBackoffMs })) {
    if (!Number.isInteger(value) || value < 0) throw new VerifierConfigError(`smtp.${name} must be a whole number, 0 or more`);
  }
  for (const proxy of smtp.proxies) {
    if (!proxy.host || !Number.isInteger(proxy.port) || proxy.port <= 0 || proxy.port > 65535) {
      throw new VerifierConfigError("smtp.proxies must be SOCKS5 proxies with a host and a port (1-65535)");
    }
  }
  if (smtp.port > 65535) throw new VerifierConfigError("smtp.port must be 1-65535");
  if (smtp.greylistRetryDelaysMs.some((d) => !Number.isFinite(d) || d < 0)) {
    throw new VerifierConfigError("smtp.greylistRetryDelaysMs must be durations of 0 ms or more");
  }
  if (smtp.enabled) {
    if (!HOSTNAME.test(smtp.helo)) {
      throw new VerifierConfigError("smtp.helo must be a fully qualified host name you own when SMTP probing is on");
    }
    if (!checkSyntax(smtp.mailFrom).ok) {
      throw new VerifierConfigError("smtp.mailFrom must be an e-mail address (a mailbox you own) when SMTP probing is on");
    }
  }
  return resolved;
}
