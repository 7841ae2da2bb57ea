import { performance, type EventLoopUtilization } from "node:perf_hooks";

/** How often the event loop's busyness is looked at while some run is fetching. */
const SAMPLE_MS = 100;
/** Busier than this share of the last sample: fetching comes first. */
const BUSY = 0.85;
/** While fetching comes first, verification still takes a window's worth this often. */
const TRICKLE_MS = 250;

export interface LoopShareOptions {
  /** The event loop's utilization since `previous` (tests replay their own). */
  utilization?: (previous?: EventLoopUtilization) => EventLoopUtilization;
  now?: () => number;
}

/**
 * Who gets the event loop when it is full: the fetch. A page AC answered but this process has
 * no time to read is request rate lost for good (AC allows 5 requests a second per account,
 * not a backlog), while contacts stored and not yet verified lose nothing by waiting. So while
 * any run of this worker is fetching and the loop was busy more than 85% of the last 100 ms,
 * verification refills its window at most every 250 ms (a trickle, so progress still shows)
 * and catches up when the fetch is done or the loop has room again. A process with room to
 * spare, as with AC's real limit, never holds anything.
 */
export class LoopShare {
  readonly #utilization: (previous?: EventLoopUtilization) => EventLoopUtilization;
  readonly #now: () => number;
  #fetching = 0;
  #mark: EventLoopUtilization;
  #busy = false;
  #timer: NodeJS.Timeout | null = null;
  #lastRefill = Number.NEGATIVE_INFINITY;

  constructor(opts: LoopShareOptions = {}) {
    this.#utilization = opts.utilization ?? ((previous) => performance.eventLoopUtilization(previous));
    this.#now = opts.now ?? (() => performance.now());
    this.#mark = this.#utilization();
  }

  /** A fetch began; the returned function says it ended (calling it twice is harmless). */
  fetchStarted(): () => void {
    this.#fetching += 1;
    if (this.#fetching === 1) {
      this.#mark = this.#utilization();
      this.#timer = setInterval(() => this.sample(), SAMPLE_MS);
      this.#timer.unref();
    }
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      this.#fetching -= 1;
      if (this.#fetching > 0) return;
      if (this.#timer) clearInterval(this.#timer);
      this.#timer = null;
      this.#busy = false;
    };
  }

  /** Reads the loop's busyness since the last sample (on a timer while some run fetches). */
  sample(): void {
    const since = this.#utilization(this.#mark);
    this.#mark = this.#utilization();
    this.#busy = since.utilization > BUSY;
  }

  /**
   * How long verification should wait before taking more addresses: 0 when it may now (the
   * refill is then counted for the trickle), else the time to the next look.
   */
  verifyWait(): number {
    const now = this.#now();
    if (this.#fetching > 0 && this.#busy) {
      const due = this.#lastRefill + TRICKLE_MS - now;
      if (due > 0) return Math.min(due, SAMPLE_MS);
    }
    this.#lastRefill = now;
    return 0;
  }
}
