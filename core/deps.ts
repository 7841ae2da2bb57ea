import type { Db } from "../db/index.ts";
import type { AcClientOptions, AcLimiters, LookupAll } from "./ac/index.ts";
import type { AcHttp } from "./ac/http.ts";
import { publicUrl, type Config } from "./config.ts";
import type { Clock } from "./lib/clock.ts";
import { Keyring, SecretBox } from "./lib/crypto.ts";
import { WorkGate } from "./lib/work-gate.ts";
import { LoginThrottle } from "./services/login-throttle.ts";
import { SignupThrottle } from "./services/signup-throttle.ts";
import type { Logger } from "./logger.ts";
import { createMailer, type Mailer } from "./lib/mail.ts";
import { SizeCache } from "./lib/size-cache.ts";
import { WindowLimiter } from "./lib/rate-limit.ts";

/** Reset e-mails per address and per client network per hour: a mailbox cannot be flooded. */
function createResetThrottle(clock: Clock) {
  return { perEmail: new WindowLimiter(clock, 3, 3_600_000), perNetwork: new WindowLimiter(clock, 20, 3_600_000) };
}
export type ResetThrottle = ReturnType<typeof createResetThrottle>;

/** Everything services need, built once per process (or per test) by createDeps. */
export interface Deps {
  db: Db;
  config: Config;
  clock: Clock;
  logger: Logger;
  keyring: Keyring;
  /** Encrypts AC API keys at rest. */
  keyBox: SecretBox;
  /** Encrypts backups of deleted contacts at rest (their own key, derived from APP_SECRET). */
  backupBox: SecretBox;
  /** Failed sign-ins, counted for the API and the dashboard alike. */
  loginThrottle: LoginThrottle;
  /** Sign-ups per network, and which new accounts get the free credits. */
  signupThrottle: SignupThrottle;
  /** Password hashing, a few at a time, so a burst of sign-ins cannot take every thread. */
  passwordWork: WorkGate;
  /** One rate limiter per AC account host, shared by every caller in the process. */
  acLimiters: AcLimiters;
  /** Overrides the fetch used to call AC (tests leave it unset: msw intercepts globalThis.fetch). */
  acFetch?: typeof fetch;
  /** The process's AC HTTP thread (AC_HTTP_THREAD); unset, or with `acFetch`, requests go from this thread. */
  acHttp?: AcHttp;
  /** Overrides the DNS lookup of the SSRF check (tests resolve fake AC hosts without DNS). */
  acLookup?: LookupAll;
  /** E-mail through the operator's relay (MAIL_URL): notifications, password resets, credit requests. */
  mailer: Mailer;
  /** Password reset e-mails per address and network. */
  resetThrottle: ResetThrottle;
  /**
   * Where links in e-mails and webhook messages point: PUBLIC_URL, or else this server's own
   * address (set by the boot code once it listens, when PORT=0 picked the port).
   */
  publicUrl: string;
  /** Contact counts of lists, tags and accounts, kept briefly (core/services/estimate.ts). */
  sizes: SizeCache;
  /** Where the Stripe client sends its requests (tests point it at a fake on loopback). */
  stripeApi?: { host: string; port: number; protocol: "http" | "https" };
  /**
   * Called when a webhook delivery or a setting made a monitored contact due now: the boot code
   * points it at this process's monitor processor, which otherwise finds the work by polling.
   */
  onMonitorWork?: () => void;
  /**
   * Called when a run became ready for the worker (queued, approved, its failed changes given
   * another try, an undo asked for, an upload started): the boot code points it at this
   * process's worker, which otherwise finds the run at its next poll (up to a second later).
   */
  onRunWork?: () => void;
  /** Overrides retry timing of AC clients (tests shorten backoff and timeouts). */
  acClientOptions?: Partial<Pick<AcClientOptions, "sleep" | "backoffBaseMs" | "backoffMaxMs" | "timeoutMs" | "maxTries" | "maxRetryAfterMs">>;
}

/** A signed-in user acting in their workspace. Every service query is scoped by it. */
export interface Principal {
  userId: string;
  workspaceId: string;
  email: string;
  via: "session" | "token";
  /** Hash of the session cookie, when signed in through the browser. */
  sessionHash?: string;
}

/** scrypt jobs at once (libuv has 4 threads; DNS lookups need the rest) and queued behind them. */
const PASSWORD_WORK = { concurrency: 2, maxWaiting: 32 };

export function createDeps(
  input: Omit<Deps, "keyring" | "keyBox" | "backupBox" | "loginThrottle" | "signupThrottle" | "passwordWork" | "mailer" | "sizes" | "resetThrottle" | "publicUrl"> & Partial<Pick<Deps, "mailer" | "sizes" | "publicUrl">>,
): Deps {
  const keyring = new Keyring(input.config.APP_SECRET);
  return {
    ...input,
    mailer: input.mailer ?? createMailer({ url: input.config.MAIL_URL, from: input.config.MAIL_FROM, logger: input.logger }),
    sizes: input.sizes ?? new SizeCache(),
    publicUrl: input.publicUrl ?? publicUrl(input.config),
    resetThrottle: createResetThrottle(input.clock),
    keyring,
    keyBox: new SecretBox(keyring.key("ac-api-key")),
    backupBox: new SecretBox(keyring.key("contact-backup")),
    loginThrottle: new LoginThrottle(input.clock),
    signupThrottle: new SignupThrottle(input.clock, input.config),
    passwordWork: new WorkGate(PASSWORD_WORK.concurrency, PASSWORD_WORK.maxWaiting),
  };
}
