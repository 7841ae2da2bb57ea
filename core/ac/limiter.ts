import PQueue from "p-queue";

export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>;

/** A real sleep that ends early (rejecting with the reason) when `signal` aborts. */
export const realSleep: Sleep = (ms, signal) =>
  new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });

export interface AcLimiterOptions {
  /** AC allows 5 per second per account, shared by every client of it. */
  requestsPerSecond?: number;
  /**
   * The most added to the 1 s window (and what is added until round trips are known). Our
   * window starts when a request leaves; AC's when it arrives, so two requests
   * `requestsPerSecond` apart may look closer to AC if the first was slower on the wire. The
   * margin follows the spread of recent round trips, between 10 ms and this.
   */
  windowMarginMs?: number;
  /** Requests in flight per host at once. */
  concurrency?: number;
  /** Waits out Retry-After pauses and the window; tests inject one that records and moves their clock. */
  sleep?: Sleep;
  now?: () => number;
  /**
   * AC's bulk import limits, on top of the requests per second: 100 imports per minute of
   * several contacts, 20 of one contact (developers.activecampaign.com/reference/bulk-import-contacts).
   */
  importsPerMinute?: number;
  singleImportsPerMinute?: number;
}

export interface ScheduleOptions {
  signal?: AbortSignal | undefined;
  /** Higher runs first; retries use 1 so they do not wait behind fresh work. */
  priority?: number;
}

export interface ImportScheduleOptions {
  signal?: AbortSignal | undefined;
  /** Contacts in the import: AC allows fewer imports of a single contact per minute. */
  contacts: number;
}

export interface AcLimiter {
  readonly host: string;
  /**
   * Runs `task` when the host's rate window and any Retry-After pause allow; it is given the
   * time its start was counted at (this limiter's clock), for `noteRemaining`.
   */
  schedule<T>(task: (startedAt: number) => Promise<T>, opts?: ScheduleOptions): Promise<T>;
  /**
   * Runs a bulk import request when AC's per-minute import window has room as well as the
   * request window: imports go one at a time, each counted when it is sent.
   */
  scheduleImport<T>(task: (startedAt: number) => Promise<T>, opts: ImportScheduleOptions): Promise<T>;
  /** Holds every import to this host for `ms` (AC said its import limit was reached); other requests go on. */
  pauseImports(ms: number): void;
  /** Imports sent in the last minute (of several contacts, of one). */
  readonly importsInLastMinute: { multi: number; single: number };
  /** Holds every request to this host for `ms` (AC answered 429). A longer pause wins. */
  pauseFor(ms: number): void;
  /**
   * Reports AC's RateLimit-Remaining on the answer to a request that started at `startedAt`
   * (default: now); 0 while we sent fewer than the limit around then means others share the
   * account.
   */
  noteRemaining(remaining: number, startedAt?: number): void;
  /**
   * The request counted at `startedAt` left at `sentAt` (later: the HTTP thread was busy or
   * starting, or a connection was opening): the window counts it from then, as AC does.
   */
  noteSent(startedAt: number, sentAt: number): void;
  /** Reports one request's round trip, to size the window's margin. */
  noteLatency(ms: number): void;
  /** AC answered 429: the margin goes back to its most for a while, whatever the round trips say. */
  noteRateLimited(): void;
  /** What the window adds to 1 s now. */
  readonly marginMs: number;
  readonly rateLimitRemaining: number | null;
  /** When the current Retry-After pause ends (epoch ms), or null. */
  readonly pausedUntil: number | null;
  readonly queued: number;
  readonly running: number;
  onIdle(): Promise<void>;
}

export interface AcLimiters {
  readonly requestsPerSecond: number;
  /** The limiter of the AC account behind `host`, created on first use and shared from then on. */
  forHost(host: string): AcLimiter;
}

/**
 * AC serves one account under several host names (`acct.api-us1.com`, `acct.activehosted.com`),
 * and its 5 requests per second are the account's, whichever name a request uses. Names under
 * those two domains (AC's own, where nobody else can register `acct.`) share one key; any other
 * host is its own account, so a look-alike domain cannot pause another tenant's limiter.
 */
const AC_ACCOUNT_HOST = /^([a-z0-9][a-z0-9-]*)\.(?:api-us1\.com|activehosted\.com)$/;

export function accountKey(host: string): string {
  const name = host.trim().toLowerCase();
  const account = AC_ACCOUNT_HOST.exec(name.replace(/:443$/, "").replace(/\.$/, ""))?.[1];
  // Any other host (with its port: two ports are two services) is an account of its own.
  return account ? `ac-account:${account}` : name;
}

/**
 * One limiter per AC account for the whole process. The app creates the registry once and
 * passes it to every client, so all runs (and dashboard reads) on an account share its
 * 5 req/s. Another process has its own registry: see README, "Rate limits".
 */
export function createAcLimiters(opts: AcLimiterOptions = {}): AcLimiters {
  const requestsPerSecond = opts.requestsPerSecond ?? 5;
  if (!(Number.isInteger(requestsPerSecond) && requestsPerSecond >= 1)) {
    throw new RangeError("requestsPerSecond must be a whole number from 1");
  }
  const byHost = new Map<string, AcLimiter>();
  return {
    requestsPerSecond,
    forHost(host) {
      const key = accountKey(host);
      let limiter = byHost.get(key);
      if (!limiter) {
        limiter = new HostLimiter(key, { ...opts, requestsPerSecond });
        byHost.set(key, limiter);
      }
      return limiter;
    },
  };
}

/**
 * Latency samples kept (at least; a limit above it keeps one per request of the window), and
 * how many before the margin follows them.
 */
const LATENCY_SAMPLES = 32;
const LATENCY_SAMPLES_TRUSTED = 10;
const MIN_MARGIN_MS = 10;
/** How long the margin stays at its most after a 429: trips that looked steady were not. */
const CAUTIOUS_MS = 60_000;
const IMPORT_WINDOW_MS = 60_000;
/**
 * How long starts are kept (at least the last `cap`, which the window needs): an answer read
 * after more requests left is compared with the starts around its own.
 */
const STARTS_KEPT_MS = 2_000;
/** Starts that may leave at once (AC's own 5 per second); above, the limit is paced. */
const BURST = 5;
/**
 * At a raised limit, the pace's schedule may also be caught up by this share of a second's
 * requests at once (50 ms of it): a main thread busy storing pages wakes the limiter 8-10 ms
 * late on average and up to 80 ms, and with only 5 at once (21 ms at 200 req/s) what it was
 * later than that was lost for good (50,000 contacts at 200 req/s: fetch-phase ratio 0.91
 * against 0.74-0.84; 1/10 of a second did no better, 0.90, its bunches arriving unevenly).
 */
const CATCH_UP_SHARE = 20;

class HostLimiter implements AcLimiter {
  readonly #queue: PQueue;
  /** Imports wait here, one at a time, for room in the per-minute import window. */
  readonly #importGate = new PQueue({ concurrency: 1 });
  readonly #importCap: { multi: number; single: number };
  /** When each import of the last minute was sent. */
  #importSends: { at: number; single: boolean }[] = [];
  #importsPausedUntil = 0;
  readonly #cap: number;
  /** The most the window adds to 1 s; also what it adds until latencies are known. */
  readonly #maxMarginMs: number;
  readonly #sleep: Sleep;
  readonly #now: () => number;
  /** Start times of our recent requests (the last `#cap` and any of the last STARTS_KEPT_MS): the sliding window. */
  readonly #starts: number[] = [];
  /** Recent request round trips, to size the margin. */
  readonly #latencies: number[] = [];
  /** When the next start is due at the paced rate (GCRA's theoretical arrival time). */
  #paced = 0;
  /** Requests pass the window one after another, in the order they left the queue. */
  #turn: Promise<void> = Promise.resolve();
  /** Until then the margin is at its most: AC told us a 429 despite it. */
  #cautiousUntil = 0;
  #pausedUntil: number | null = null;
  #pauseGeneration = 0;
  #remaining: number | null = null;

  constructor(
    readonly host: string,
    opts: AcLimiterOptions & { requestsPerSecond: number },
  ) {
    this.#cap = opts.requestsPerSecond;
    this.#maxMarginMs = opts.windowMarginMs ?? 75;
    this.#sleep = opts.sleep ?? realSleep;
    this.#now = opts.now ?? Date.now;
    this.#importCap = { multi: opts.importsPerMinute ?? 100, single: opts.singleImportsPerMinute ?? 20 };
    // p-queue holds priority, concurrency and Retry-After pauses; the window is below.
    this.#queue = new PQueue({ concurrency: opts.concurrency ?? Math.max(this.#cap * 4, 1) });
  }

  /**
   * What the window adds to 1 s. Our window runs on when requests leave, AC's on when they
   * arrive, so it must cover how much one request's trip can be slower than another's: the
   * spread of recent round trips (slowest − fastest, + 5 ms), at least 10 ms, at most
   * `windowMarginMs` (75 ms, also the value until enough trips are known, and for a minute
   * after AC answered 429 anyway: a busy process sends later than it stamps). On a steady link
   * that is a few ms: up to 99% of the allowed rate instead of 93%; on a jittery one, 93%.
   */
  get marginMs(): number {
    if (this.#latencies.length < LATENCY_SAMPLES_TRUSTED || this.#now() < this.#cautiousUntil) return this.#maxMarginMs;
    const spread = Math.max(...this.#latencies) - Math.min(...this.#latencies);
    return Math.min(this.#maxMarginMs, Math.max(MIN_MARGIN_MS, Math.ceil(spread + 5)));
  }

  /**
   * Waits until one more start keeps every window of 1 s + margin at `cap` starts at most (the
   * rule), and the starts paced at one per (1 s + margin) / cap, `burst` of them at once at
   * most: BURST, or 1/CATCH_UP_SHARE of a raised limit when that is more. At AC's 5 per second
   * that is the same window; at a raised limit the requests are spread evenly instead of
   * leaving in bursts that queue at AC, arrive unevenly late and echo a second later. The pace
   * is kept against a schedule (GCRA), so a start the busy event loop made late does not make
   * the next ones late too: up to `burst` leave at once to catch it up. A bunch of `burst` also
   * leaves at the start, and the window repeats it 1 s + margin later.
   */
  async #room(): Promise<number> {
    const burst = Math.min(this.#cap, Math.max(BURST, Math.ceil(this.#cap / CATCH_UP_SHARE)));
    for (;;) {
      const now = this.#now();
      // Read once: the margin scans the window's round trips (up to `cap` of them).
      const span = 1000 + this.marginMs;
      // After a start the pace is at most `burst` spacings ahead (at most 1 s + margin): beyond
      // that the clock was set back, and the pace starts again from now.
      if (this.#paced > now + span) this.#paced = now;
      const n = this.#starts.length;
      const wait = Math.max(n < this.#cap ? 0 : this.#starts[n - this.#cap]! + span - now, this.#paced - ((burst - 1) * span) / this.#cap - now);
      if (wait <= 0) return span;
      // Whole milliseconds: a timer of a fraction of one can fire before the pace allows. The
      // limiter's own sleep: a test's clock (`now`) moves with it.
      await this.#sleep(Math.ceil(wait));
    }
  }

  schedule<T>(task: (startedAt: number) => Promise<T>, opts: ScheduleOptions = {}): Promise<T> {
    return this.#queue.add(
      async () => {
        const turn = this.#turn.then(() => this.#room());
        this.#turn = turn.then(
          () => undefined,
          () => undefined,
        );
        // The window's span (1 s + margin) as #room read it: the pace's next step is one /cap of it.
        const span = await turn;
        opts.signal?.throwIfAborted();
        const now = this.#now();
        this.#starts.push(now);
        this.#paced = Math.max(this.#paced, now) + span / this.#cap;
        let old = 0;
        while (this.#starts.length - old > this.#cap && this.#starts[old]! < now - STARTS_KEPT_MS) old += 1;
        if (old > 0) this.#starts.splice(0, old);
        return task(now);
      },
      { signal: opts.signal, priority: opts.priority ?? 0 },
    );
  }

  noteRateLimited(): void {
    this.#cautiousUntil = this.#now() + CAUTIOUS_MS;
  }

  noteSent(startedAt: number, sentAt: number): void {
    if (!(sentAt > startedAt)) return;
    const i = this.#starts.lastIndexOf(startedAt);
    if (i < 0) return;
    this.#starts.splice(i, 1);
    let at = this.#starts.length;
    while (at > 0 && this.#starts[at - 1]! > sentAt) at -= 1;
    this.#starts.splice(at, 0, sentAt);
  }

  noteLatency(ms: number): void {
    if (!(ms >= 0)) return;
    this.#latencies.push(ms);
    // The window's requests are what AC's window holds: at a raised limit the margin must
    // cover how late any of them arrived (a start-up burst queued at AC), not the last 32.
    if (this.#latencies.length > Math.max(LATENCY_SAMPLES, this.#cap)) this.#latencies.shift();
  }

  scheduleImport<T>(task: (startedAt: number) => Promise<T>, opts: ImportScheduleOptions): Promise<T> {
    const single = opts.contacts === 1;
    return this.#importGate.add(
      async () => {
        // The window margin, as for requests: our clock starts when the request leaves.
        const windowMs = IMPORT_WINDOW_MS + this.marginMs;
        for (;;) {
          const now = this.#now();
          this.#importSends = this.#importSends.filter((s) => now - s.at < windowMs);
          const same = this.#importSends.filter((s) => s.single === single);
          const cap = single ? this.#importCap.single : this.#importCap.multi;
          const waitForWindow = same.length >= cap ? same[same.length - cap]!.at + windowMs - now : 0;
          const wait = Math.max(waitForWindow, this.#importsPausedUntil - now);
          if (wait <= 0) break;
          await this.#sleep(wait, opts.signal);
        }
        return this.schedule(
          (startedAt) => {
            this.#importSends.push({ at: this.#now(), single });
            return task(startedAt);
          },
          { signal: opts.signal, priority: 1 },
        );
      },
      { signal: opts.signal },
    ) as Promise<T>;
  }

  pauseImports(ms: number): void {
    if (ms > 0) this.#importsPausedUntil = Math.max(this.#importsPausedUntil, this.#now() + ms);
  }

  get importsInLastMinute() {
    const now = this.#now();
    const recent = this.#importSends.filter((s) => now - s.at < IMPORT_WINDOW_MS);
    return { multi: recent.filter((s) => !s.single).length, single: recent.filter((s) => s.single).length };
  }

  pauseFor(ms: number): void {
    if (!(ms > 0)) return;
    const until = this.#now() + ms;
    if (this.#pausedUntil !== null && until <= this.#pausedUntil) return;
    this.#pausedUntil = until;
    const generation = ++this.#pauseGeneration;
    this.#queue.pause();
    void this.#sleep(ms).then(() => {
      if (generation !== this.#pauseGeneration) return; // a longer pause replaced this one
      this.#pausedUntil = null;
      this.#queue.start();
    });
  }

  noteRemaining(remaining: number, startedAt: number = this.#now()): void {
    this.#remaining = remaining;
    if (remaining > 0) return;
    // AC counted when the request arrived: ours in its window left within 1 s + margin before
    // it (or within the margin after it). Counted back from now instead, a busy process that
    // reads the answer late finds fewer of its own and pauses a whole window for nobody (seen
    // at 200 req/s).
    // Older than the starts kept (an answer read long after): ours around it are not known.
    if (this.#starts.length > 0 && startedAt < this.#starts[0]!) return;
    const margin = this.marginMs;
    const ours = this.#starts.filter((t) => t > startedAt - (1000 + margin) && t <= startedAt + margin).length;
    // Our own requests explain the 0: the sliding window already waits. Otherwise another
    // client is spending the account's budget, so give it a full window.
    if (ours < this.#cap) this.pauseFor(1000 + margin);
  }

  get rateLimitRemaining() {
    return this.#remaining;
  }
  get pausedUntil() {
    return this.#pausedUntil;
  }
  get queued() {
    return this.#queue.size;
  }
  get running() {
    return this.#queue.pending;
  }
  onIdle() {
    return this.#queue.onIdle();
  }
}
