/**
 * A map whose entries expire, with de-duplication of loads in flight: concurrent callers
 * asking for the same key share one load.
 */
export class TtlCache<V> {
  readonly #entries = new Map<string, { value: V; expiresAt: number }>();
  readonly #inflight = new Map<string, Promise<V>>();

  constructor(
    private readonly now: () => number,
    private readonly maxEntries = 200_000,
  ) {}

  get size(): number {
    return this.#entries.size;
  }

  get(key: string): V | undefined {
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= this.now()) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry.value;
  }

  set(key: string, value: V, ttlMs: number): void {
    if (ttlMs <= 0) return;
    this.#entries.delete(key);
    if (this.#entries.size >= this.maxEntries) {
      const oldest = this.#entries.keys().next();
      if (!oldest.done) this.#entries.delete(oldest.value);
    }
    this.#entries.set(key, { value, expiresAt: this.now() + ttlMs });
  }

  delete(key: string): void {
    this.#entries.delete(key);
  }

  /** The cached value, else the load already running for `key`, else a new load. */
  load(key: string, loader: () => Promise<V>, ttlFor: (value: V) => number): Promise<V> {
    const cached = this.get(key);
    if (cached !== undefined) return Promise.resolve(cached);
    const running = this.#inflight.get(key);
    if (running) return running;
    const promise = loader().then(
      (value) => {
        this.#inflight.delete(key);
        this.set(key, value, ttlFor(value));
        return value;
      },
      (err: unknown) => {
        this.#inflight.delete(key);
        throw err;
      },
    );
    this.#inflight.set(key, promise);
    return promise;
  }
}
