import { readFileSync } from "node:fs";
import { ConfigError, type Config } from "./config.ts";
import type { Logger } from "./logger.ts";
import { createVerifier, parseProviderRules, VerifierConfigError, type ProviderRule, type ResolverHealth, type Verifier, type VerifierOptions } from "../verify/index.ts";

/** What a run needs of a verifier: one attempt at an address, which may say "come back later". */
export type AddressVerifier = Pick<Verifier, "attempt"> & Partial<Pick<Verifier, "peek">>;

export interface ProbingVerifier extends AddressVerifier {
  /** `paths`: which ways out (direct, or each SOCKS5 proxy) reached the target. */
  preflight(target: string, signal?: AbortSignal): Promise<({ ok: true } | { ok: false; reason: string; detail: string }) & { paths: { path: string; ok: boolean; detail: string }[] }>;
}

/**
 * The verifiers runs use: DNS and list checks, an SMTP-probing one when the server allows
 * probes, and the resolver check a run passes before it relies on DNS (absent or null: none, as with DNS_HEALTH_DOMAINS=off).
 */
export interface RunVerifiers {
  plain: AddressVerifier;
  smtp: ProbingVerifier | null;
  resolver?: ResolverCheck | null;
}

export interface ResolverCheck {
  domains: readonly string[];
  /** How long a run paused on a failed check waits before checking again. */
  retryMs: number;
  check(signal?: AbortSignal): Promise<ResolverHealth>;
}

/** The verifier settings the configuration gives (DNS_SERVERS, SMTP_*, ...). */
type VerifierConfig = Pick<
  Config,
  | "DNS_SERVERS"
  | "DNS_TIMEOUT_MS"
  | "SMTP_PROBE"
  | "SMTP_HELO"
  | "SMTP_MAIL_FROM"
  | "SMTP_PORT"
  | "SMTP_CONNECT_TIMEOUT_MS"
  | "SMTP_REPLY_TIMEOUT_MS"
  | "SMTP_GREYLIST_DELAYS_MS"
  | "SMTP_RECIPIENTS_PER_SESSION"
  | "SMTP_BUDGET_PER_MX_PER_MINUTE"
  | "SMTP_BUDGET_PER_PATH_PER_DAY"
  | "SMTP_PROXIES"
  | "SMTP_PROXY_CONCURRENCY"
  | "SMTP_PROVIDER_RULES_FILE"
>;

export function verifierOptionsFromConfig(config: VerifierConfig, logger?: Logger): VerifierOptions {
  return {
    dnsServers: config.DNS_SERVERS,
    dnsTimeoutMs: config.DNS_TIMEOUT_MS,
    smtp: {
      enabled: config.SMTP_PROBE,
      helo: config.SMTP_HELO,
      mailFrom: config.SMTP_MAIL_FROM,
      port: config.SMTP_PORT,
      connectTimeoutMs: config.SMTP_CONNECT_TIMEOUT_MS,
      replyTimeoutMs: config.SMTP_REPLY_TIMEOUT_MS,
      greylistRetryDelaysMs: config.SMTP_GREYLIST_DELAYS_MS,
      recipientsPerSession: config.SMTP_RECIPIENTS_PER_SESSION,
      budgetPerMxPerMinute: config.SMTP_BUDGET_PER_MX_PER_MINUTE,
      budgetPerPathPerDay: config.SMTP_BUDGET_PER_PATH_PER_DAY,
      proxies: config.SMTP_PROXIES,
      perProxyConcurrency: config.SMTP_PROXY_CONCURRENCY,
    },
    ...(config.SMTP_PROVIDER_RULES_FILE ? { providerRules: readProviderRules(config.SMTP_PROVIDER_RULES_FILE) } : {}),
    ...(logger ? { log: (level, message, fields) => logger[level](fields ?? {}, message) } : {}),
  };
}

/** SMTP_PROVIDER_RULES_FILE: a JSON array of provider rules (verify/providers.ts), read once at start. */
function readProviderRules(file: string): ProviderRule[] {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, "utf8"));
  } catch (err) {
    throw new ConfigError(`Invalid configuration:\n  SMTP_PROVIDER_RULES_FILE: cannot read ${file} as JSON (${(err as Error).message})`);
  }
  try {
    return parseProviderRules(json, file);
  } catch (err) {
    if (err instanceof VerifierConfigError) throw new ConfigError(`Invalid configuration:\n  SMTP_PROVIDER_RULES_FILE: ${err.message}`);
    throw err;
  }
}

/**
 * A plain verifier (DNS and list checks) and, when SMTP_PROBE=on, a probing one: one of each
 * per process, shared by every run, so DNS answers and catch-all
 * verdicts are cached across runs.
 */
export function createRunVerifiers(config: Config, logger?: Logger): RunVerifiers {
  const options = verifierOptionsFromConfig(config, logger);
  const plain = createVerifier({ ...options, smtp: { ...options.smtp, enabled: false } });
  const domains = config.DNS_HEALTH_DOMAINS;
  return {
    plain,
    smtp: config.SMTP_PROBE ? createVerifier(options) : null,
    resolver: domains.length > 0 ? { domains, retryMs: config.DNS_HEALTH_RETRY_MS, check: (signal) => plain.checkResolver(domains, signal) } : null,
  };
}
