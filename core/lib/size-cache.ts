/** How long a count from ActiveCampaign is reused: lists change, but not between two clicks. */
export const SIZE_TTL_MS = 2 * 60_000;

export interface SizeEntry {
  at: number;
  value: Promise<number>;
  settled: number | null;
}

/**
 * Counts of contacts per list, per tag and in the whole account, per connection, as AC gives
 * them (`meta.total` of a one-contact page: one request each), kept for SIZE_TTL_MS. One per
 * process; a count in flight is shared by everyone who asks for it.
 */
export class SizeCache {
  readonly #entries = new Map<string, SizeEntry>();
  readonly #pending = new Set<Promise<unknown>>();

  get(key: string, now: number): SizeEntry | undefined {
    const e = this.#entries.get(key);
    if (e && now - e.at < SIZE_TTL_MS) return e;
    if (e) this.#entries.delete(key);
    return undefined;
  }

  set(key: string, now: number, value: Promise<number>): SizeEntry {
    const entry: SizeEntry = { at: now, value, settled: null };
    this.#entries.set(key, entry);
    const tracked = value.then(
      (n) => {
        entry.settled = n;
      },
      () => {
        // A count that failed is asked again next time.
        if (this.#entries.get(key) === entry) this.#entries.delete(key);
      },
    );
    this.#pending.add(tracked);
    void tracked.finally(() => this.#pending.delete(tracked));
    return entry;
  }

  /** Resolves when no count is in flight (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.#pending.size > 0) await Promise.allSettled([...this.#pending]);
  }
}

