import PQueue from "p-queue";

/** Thrown when the gate's queue is full: the caller answers "busy" at once instead of waiting. */
export class GateFull extends Error {
  override name = "GateFull";
}

/**
 * Runs expensive work (password hashing) at most `concurrency` at a time, with at most
 * `maxWaiting` queued; past that `run` rejects with GateFull at once. scrypt runs on libuv's
 * thread pool (4 threads by default), which DNS lookups and file access share: unbounded, one
 * burst of sign-ins would queue everything else behind it.
 */
export class WorkGate {
  readonly #queue: PQueue;
  constructor(
    concurrency: number,
    readonly maxWaiting: number,
  ) {
    this.#queue = new PQueue({ concurrency });
  }

  run<T>(work: () => Promise<T>): Promise<T> {
    if (this.#queue.size >= this.maxWaiting) return Promise.reject(new GateFull("too much work queued"));
    return this.#queue.add(work);
  }

  /** Work running now, and waiting. */
  get load(): { running: number; waiting: number } {
    return { running: this.#queue.pending, waiting: this.#queue.size };
  }
}
