import type { Db } from "../db/index.ts";
import type { AcClientOptions, AcLimiters, LookupAll } from "./ac/index.ts";
import type { Config } from "./config.ts";
import type { Clock } from "./lib/clock.ts";
import { Keyring, SecretBox } from "./lib/crypto.ts";
import { LoginThrottle } from "./services/login-throttle.ts";
import type { Logger } from "./logger.ts";

/** Everything services need, built once per process (or per test) by createDeps. */
export interface Deps {
  db: Db;
  config: Config;
  clock: Clock;
  logger: Logger;
  keyring: Keyring;
  /** Encrypts AC API keys at rest. */
  keyBox: SecretBox;
  /** Failed sign-ins, counted for the API and the dashboard alike. */
  loginThrottle: LoginThrottle;
  /** One rate limiter per AC account host, shared by every caller in the process. */
  acLimiters: AcLimiters;
  /** Overrides the fetch used to call AC (tests leave it unset: msw intercepts globalThis.fetch). */
  acFetch?: typeof fetch;
  /** Overrides the DNS lookup of the SSRF check (tests resolve fake AC hosts without DNS). */
  acLookup?: LookupAll;
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

export function createDeps(input: Omit<Deps, "keyring" | "keyBox" | "loginThrottle">): Deps {
  const keyring = new Keyring(input.config.APP_SECRET);
  return { ...input, keyring, keyBox: new SecretBox(keyring.key("ac-api-key")), loginThrottle: new LoginThrottle(input.clock) };
}
