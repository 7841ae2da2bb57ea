import type { Config } from "../config.ts";
import type { Clock } from "../lib/clock.ts";
import { WindowLimiter } from "../lib/rate-limit.ts";

/**
 * Sign-ups per client network (IPv4 address, IPv6 /64): attempts per hour, counted before
 * the e-mail is looked at (so probing which addresses have accounts is as slow as signing
 * up), and how many new accounts a day start with the free credits.
 */
export class SignupThrottle {
  readonly attempts: WindowLimiter;
  readonly freeCredits: WindowLimiter;
  /** Free-credit accounts a day for the whole site: a script with many networks (an IPv6 /48) still gets few. */
  readonly freeCreditsSite: WindowLimiter;
  constructor(clock: Clock, config: Pick<Config, "SIGNUP_PER_HOUR" | "SIGNUP_CREDITS_PER_DAY" | "SIGNUP_CREDITS_SITE_PER_DAY">) {
    this.attempts = new WindowLimiter(clock, config.SIGNUP_PER_HOUR, 3600 * 1000);
    this.freeCredits = new WindowLimiter(clock, config.SIGNUP_CREDITS_PER_DAY, 24 * 3600 * 1000);
    this.freeCreditsSite = new WindowLimiter(clock, config.SIGNUP_CREDITS_SITE_PER_DAY, 24 * 3600 * 1000);
  }
}
