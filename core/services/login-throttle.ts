import type { Clock } from "../lib/clock.ts";
import { WindowLimiter } from "../lib/rate-limit.ts";

const FAILED_LOGINS_PER_EMAIL = 10;
const FAILED_LOGINS_PER_IP = 50;
const LOGIN_WINDOW_MS = 15 * 60 * 1000;

/** Failed sign-ins per e-mail and per client address, shared by the API and the sign-in form. */
export class LoginThrottle {
  readonly byEmail: WindowLimiter;
  readonly byIp: WindowLimiter;
  constructor(clock: Clock) {
    this.byEmail = new WindowLimiter(clock, FAILED_LOGINS_PER_EMAIL, LOGIN_WINDOW_MS);
    this.byIp = new WindowLimiter(clock, FAILED_LOGINS_PER_IP, LOGIN_WINDOW_MS);
  }
}
