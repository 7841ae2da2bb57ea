import type { Clock } from "../lib/clock.ts";
import { WindowLimiter, networkOf } from "../lib/rate-limit.ts";

/** The documented sign-in limits (README, "Security"). */
export const SIGN_IN_LIMITS = {
  /** Attempts per e-mail from clients that never signed in to it, per window. */
  perAccount: 10,
  /** Attempts per e-mail from one known browser, or one known network, per window. */
  perKnownClient: 10,
  /** Attempts per client network (IPv4 address, IPv6 /64), whatever the e-mail, per window. */
  perNetwork: 50,
  windowMs: 15 * 60 * 1000,
  /** Checks running at once for one e-mail, and for one network. */
  inFlightPerAccount: 2,
  inFlightPerNetwork: 4,
  /** How long a network the user signed in from stays known. */
  knownNetworkMs: 30 * 24 * 3600 * 1000,
} as const;

/** Who is trying, as far as the throttle can tell before the password is checked. */
export interface SignInClient {
  email: string;
  ip: string;
  /** The id of a browser that signed in to this account before (its signed device cookie). */
  deviceId: string | null;
}

export type Admission =
  | { ok: true; ticket: SignInTicket }
  | { ok: false; retryAfter: number; reason: "too_many" | "in_progress" };

/** One admitted attempt: counted already; report how it ended so the count can be settled. */
export interface SignInTicket {
  /** The password was right: the attempt is given back and the client becomes known. */
  succeeded(): void;
  /** It never got checked (the server was too busy): the attempt is given back. */
  notChecked(): void;
  /** Ends the attempt's time in flight; call exactly once, whatever happened. */
  done(): void;
}

/**
 * Sign-in attempts, counted BEFORE the password is checked so that attempts sent together
 * cannot all slip under the limit, for the API and the dashboard alike.
 *
 * Each attempt is counted in one per-account bucket chosen by who is asking: a browser that
 * signed in to the account before (device cookie), a network the account signed in from
 * before, or everyone else. A stranger who fails 10 times locks "everyone else" out of that
 * account for 15 minutes, but not the owner's known browsers and networks, which have their
 * own buckets. Every attempt without a known browser also counts against its network.
 */
export class LoginThrottle {
  readonly #accounts: WindowLimiter;
  readonly #known: WindowLimiter;
  readonly #networks: WindowLimiter;
  readonly #inFlight = new Map<string, number>();
  /** `email|network` → when the network stops being known. Bounded; oldest dropped first. */
  readonly #knownNetworks = new Map<string, number>();

  constructor(private readonly clock: Clock) {
    const { perAccount, perKnownClient, perNetwork, windowMs } = SIGN_IN_LIMITS;
    this.#accounts = new WindowLimiter(clock, perAccount, windowMs);
    this.#known = new WindowLimiter(clock, perKnownClient, windowMs);
    this.#networks = new WindowLimiter(clock, perNetwork, windowMs);
  }

  /**
   * Admits and counts one attempt, or says how long to wait. Synchronous on purpose: the
   * check and the count happen in one step, so concurrent requests are counted in order.
   */
  admit(client: SignInClient): Admission {
    const email = client.email;
    const network = networkOf(client.ip);
    const now = this.clock.now();
    const knownNetwork = (this.#knownNetworks.get(`${email}|${network}`) ?? 0) > now;
    const account: [WindowLimiter, string] = client.deviceId
      ? [this.#known, `device|${email}|${client.deviceId}`]
      : knownNetwork
        ? [this.#known, `network|${email}|${network}`]
        : [this.#accounts, email];
    // A known browser carries a secret only the account's owner got: it needs no network budget.
    const buckets: [WindowLimiter, string][] = client.deviceId ? [account] : [account, [this.#networks, network]];
    const wait = Math.max(...buckets.map(([limiter, key]) => limiter.retryAfter(key)));
    if (wait > 0) return { ok: false, retryAfter: wait, reason: "too_many" };
    for (const [limiter, key] of buckets) limiter.hit(key);

    const flights = [`a|${email}`, `n|${network}`];
    const busy =
      (this.#inFlight.get(flights[0]!) ?? 0) >= SIGN_IN_LIMITS.inFlightPerAccount ||
      (this.#inFlight.get(flights[1]!) ?? 0) >= SIGN_IN_LIMITS.inFlightPerNetwork;
    // Still counted: no person has several sign-ins to one account in flight, a script does.
    if (busy) return { ok: false, retryAfter: 1, reason: "in_progress" };
    for (const f of flights) this.#inFlight.set(f, (this.#inFlight.get(f) ?? 0) + 1);

    let settled = false;
    let finished = false;
    const refund = () => {
      if (settled) return;
      settled = true;
      for (const [limiter, key] of buckets) limiter.refund(key);
    };
    return {
      ok: true,
      ticket: {
        succeeded: () => {
          refund();
          if (account[0] === this.#known) this.#known.reset(account[1]);
          this.#rememberNetwork(email, network);
        },
        notChecked: refund,
        done: () => {
          if (finished) return;
          finished = true;
          for (const f of flights) {
            const left = (this.#inFlight.get(f) ?? 1) - 1;
            if (left > 0) this.#inFlight.set(f, left);
            else this.#inFlight.delete(f);
          }
        },
      },
    };
  }

  #rememberNetwork(email: string, network: string): void {
    const key = `${email}|${network}`;
    this.#knownNetworks.delete(key);
    this.#knownNetworks.set(key, this.clock.now() + SIGN_IN_LIMITS.knownNetworkMs);
    if (this.#knownNetworks.size > 50_000) {
      const oldest = this.#knownNetworks.keys().next().value;
      if (oldest !== undefined) this.#knownNetworks.delete(oldest);
    }
  }
}
