import type { Clock } from "./clock.ts";

/**
 * Counts events per key in a fixed window. In-process: enough for one server process;
 * several processes would each allow `limit`.
 */
export class WindowLimiter {
  readonly #hits = new Map<string, { count: number; resetAt: number }>();

  constructor(
    private readonly clock: Clock,
    private readonly limit: number,
    private readonly windowMs: number,
  ) {}

  /** Seconds until `key` may try again, or 0 when it is under the limit. */
  retryAfter(key: string): number {
    const entry = this.#live(key);
    return entry && entry.count >= this.limit ? Math.ceil((entry.resetAt - this.clock.now()) / 1000) : 0;
  }

  hit(key: string): void {
    const entry = this.#live(key);
    if (entry) entry.count += 1;
    else this.#hits.set(key, { count: 1, resetAt: this.clock.now() + this.windowMs });
    if (this.#hits.size > 10_000) this.#sweep();
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
