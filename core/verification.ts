import type { Config } from "./config.ts";
import type { Logger } from "./logger.ts";
import { createVerifier, type Verifier, type VerifierOptions } from "../verify/index.ts";

/** What a run needs of a verifier: one attempt at an address, which may say "come back later". */
export type AddressVerifier = Pick<Verifier, "attempt">;

export interface ProbingVerifier extends AddressVerifier {
  preflight(target: string, signal?: AbortSignal): Promise<{ ok: true } | { ok: false; reason: string; detail: string }>;
}

/** The verifiers runs use: DNS and list checks, and an SMTP-probing one when the server allows probes. */
export interface RunVerifiers {
  plain: AddressVerifier;
  smtp: ProbingVerifier | null;
}

/** The verifier settings the configuration gives (DNS_SERVERS, SMTP_*, ...). */
type VerifierConfig = Pick<
  Config,
  "DNS_SERVERS" | "DNS_TIMEOUT_MS" | "SMTP_PROBE" | "SMTP_HELO" | "SMTP_MAIL_FROM" | "SMTP_PORT" | "SMTP_CONNECT_TIMEOUT_MS" | "SMTP_REPLY_TIMEOUT_MS" | "SMTP_GREYLIST_DELAYS_MS"
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
    },
    ...(logger ? { log: (level, message, fields) => logger[level](fields ?? {}, message) } : {}),
  };
}

/**
 * A plain verifier (DNS and list checks) and, when SMTP_PROBE=on, a probing one: one of each
 * per process, shared by every run, so DNS answers and catch-all
 * verdicts are cached across runs.
 */
export function createRunVerifiers(config: Config, logger?: Logger): RunVerifiers {
  const options = verifierOptionsFromConfig(config, logger);
  return {
    plain: createVerifier({ ...options, smtp: { ...options.smtp, enabled: false } }),
    smtp: config.SMTP_PROBE ? createVerifier(options) : null,
  };
}
