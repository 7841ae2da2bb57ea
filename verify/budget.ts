/**
 * How many probes may go out: per MX server per minute and per sending path (this host, or
 * one SOCKS5 proxy) per day, each over a sliding window. Probing faster is how a sending
 * address gets block-listed (Reacher suggests 60 a minute and 10,000 a day per IP). A probe
 * that finds no room is not failed: the caller is told when room frees up (a run parks the
 * address until then; `verify` waits).
 */
export interface BudgetLimits {
  /** Recipients asked of one MX server (IP address) per minute; 0 for no cap. */
  perMxPerMinute: number;
  /** Recipients asked through one sending path per day; 0 for no cap. */
  perPathPerDay: number;
}

const MINUTE = 60_000;
const DAY = 24 * 3_600_000;

/** Timestamps of the last `limit` uses within `windowMs`; oldest first. */
class SlidingWindow {
  readonly #times: number[] = [];
  #head = 0;

  constructor(
    readonly limit: number,
    readonly windowMs: number,
  ) {}

  #trim(now: number): void {
    while (this.#head < this.#times.length && this.#times[this.#head]! <= now - this.windowMs) this.#head++;
    if (this.#head > 1024 && this.#head * 2 > this.#times.length) {
      this.#times.splice(0, this.#head);
      this.#head = 0;
    }
  }

  used(now: number): number {
    this.#trim(now);
    return this.#times.length - this.#head;
  }

  /** 0 when a use fits now, else how long until one does. */
  waitMs(now: number): number {
    if (this.limit <= 0 || this.used(now) < this.limit) return 0;
    return this.#times[this.#head + this.used(now) - this.limit]! + this.windowMs - now;
  }

  take(now: number): void {
    if (this.limit > 0) this.#times.push(now);
  }

  /** Gives back the latest use (a probe that was never sent). */
  giveBack(): void {
    if (this.limit > 0 && this.#times.length > this.#head) this.#times.pop();
  }
}

export class ProbeBudget {
  readonly #mx = new Map<string, SlidingWindow>();
  readonly #paths = new Map<string, SlidingWindow>();

  constructor(
    private readonly limits: BudgetLimits,
    private readonly now: () => number,
  ) {}

  #window(map: Map<string, SlidingWindow>, key: string, limit: number, windowMs: number): SlidingWindow {
    let window = map.get(key);
    if (!window) map.set(key, (window = new SlidingWindow(limit, windowMs)));
    return window;
  }

  #mxWindow = (mx: string) => this.#window(this.#mx, mx, this.limits.perMxPerMinute, MINUTE);
  #pathWindow = (path: string) => this.#window(this.#paths, path, this.limits.perPathPerDay, DAY);

  /** 0 when the MX server can be asked now, else how long until it can. */
  mxWaitMs(mx: string): number {
    return this.#mxWindow(mx).waitMs(this.now());
  }

  /** 0 when the path may send a probe now, else how long until it may. */
  pathWaitMs(path: string): number {
    return this.#pathWindow(path).waitMs(this.now());
  }

  /** Counts one recipient asked of `mx` through `path`. */
  spend(mx: string, path: string): void {
    const now = this.now();
    this.#mxWindow(mx).take(now);
    this.#pathWindow(path).take(now);
  }

  /** Counts one recipient against the MX server only (the path is chosen when its session opens). */
  spendMx(mx: string): void {
    this.#mxWindow(mx).take(this.now());
  }

  spendPath(path: string): void {
    this.#pathWindow(path).take(this.now());
  }

  refundMx(mx: string): void {
    this.#mxWindow(mx).giveBack();
  }

  /** Probes counted today per path, for the preflight and logs. */
  pathUse(path: string): number {
    return this.#pathWindow(path).used(this.now());
  }
}
