import { isIP } from "node:net";
import type { Clock } from "./clock.ts";

/**
 * Counts events per key in a fixed window that starts at the key's first event. In-process:
 * enough for one server process; several processes would each allow `limit` (README,
 * "Security", says how they would share one store).
 */
export class WindowLimiter {
  readonly #hits = new Map<string, { count: number; resetAt: number }>();

  constructor(
    private readonly clock: Clock,
    readonly limit: number,
    readonly windowMs: number,
  ) {}

  /** Seconds until `key` may try again, or 0 when it is under the limit. */
  retryAfter(key: string): number {
    const entry = this.#live(key);
    return entry && entry.count >= this.limit ? Math.max(1, Math.ceil((entry.resetAt - this.clock.now()) / 1000)) : 0;
  }

  hit(key: string): void {
    const entry = this.#live(key);
    if (entry) entry.count += 1;
    else this.#hits.set(key, { count: 1, resetAt: this.clock.now() + this.windowMs });
    if (this.#hits.size > 10_000) this.#sweep();
  }

  /** Takes back one event of `key` (one that turned out not to count). */
  refund(key: string): void {
    const entry = this.#live(key);
    if (entry && entry.count > 0) entry.count -= 1;
  }

  reset(key: string): void {
    this.#hits.delete(key);
  }

  #live(key: string) {
    const entry = this.#hits.get(key);
    if (entry && entry.resetAt <= this.clock.now()) {
      this.#hits.delete(key);
      return undefined;
    }
    return entry;
  }

  #sweep() {
    const now = this.clock.now();
    for (const [key, entry] of this.#hits) if (entry.resetAt <= now) this.#hits.delete(key);
  }
}

/**
 * The network a client address stands for when counting: an IPv4 address itself, and for
 * IPv6 its /64 (one subscriber usually holds a whole /64, so counting single addresses
 * would give them 2^64 budgets). IPv4-mapped IPv6 addresses count as their IPv4 address.
 */
export function networkOf(ip: string): string {
  const bare = ip.trim().replace(/^\[|\]$/g, "").replace(/%.*$/, "");
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(bare);
  if (mapped) return mapped[1]!;
  if (isIP(bare) !== 6) return bare || "unknown";
  const [head = "", tail] = bare.toLowerCase().split("::");
  const h = head ? head.split(":") : [];
  const t = tail ? tail.split(":") : [];
  const groups = tail === undefined ? h : [...h, ...new Array<string>(8 - h.length - t.length).fill("0"), ...t];
  return `${groups
    .slice(0, 4)
    .map((g) => (g.includes(".") ? "0" : String(Number.parseInt(g, 16).toString(16))))
    .join(":")}::/64`;
}
