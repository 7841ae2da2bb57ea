import { Worker } from "node:worker_threads";
import type { Logger } from "../logger.ts";
import { fromWire, NotSentError, reportsStart, type AcHttp, type AcHttpReply, type AcHttpRequest, type WireError } from "./http.ts";

/** From the client's thread to the HTTP thread. */
export type ThreadMessage = { type: "send"; id: number; request: AcHttpRequest } | { type: "abort"; id: number };
/** Back: the answer or the error; before it, for a request that `reportsStart`, that it is being sent. */
export type ThreadReply = { id: number; ok: true; reply: AcHttpReply } | { id: number; ok: false; error: WireError } | { id: number; started: true };
/** The thread's first message: it listens. */
export type ThreadReady = { ready: true };

/** Which file the thread runs: the built one (dist/ac-http-thread.mjs) or the sources through tsx. */
export interface ThreadEntry {
  file: URL;
  workerData?: unknown;
}

export const SOURCE_ENTRY: ThreadEntry = {
  file: new URL("./http-thread-shim.mjs", import.meta.url),
  workerData: { entry: new URL("./http-thread.ts", import.meta.url).href },
};

/**
 * The thread's heap. Its live data is the pages in flight (a few MB); unbounded, V8 let its old
 * space grow to about 60 MB of garbage at a raised limit (peak RSS 366 MB at 200,000 contacts,
 * against 309 with a cap). The young generation is 32 MB: at 8 each in-flight page outlived a
 * scavenge and was copied, and the thread spent a sixth of its time collecting (50,000
 * contacts at 200 req/s: 88 µs of CPU per contact for the process against 102, peak RSS
 * 233-239 MB against 216-222). Past the cap the thread stops and is started again: its
 * requests fail as network errors, which the client retries (one that changes something only
 * if the thread never started it).
 */
const THREAD_HEAP = { maxYoungGenerationSizeMb: 32, maxOldGenerationSizeMb: 128 };

export interface AcHttpThread {
  /** For the AC client's `http` option. */
  http: AcHttp;
  /** Requests sent and not yet answered. */
  readonly inFlight: number;
  /**
   * Starts the thread and waits until it listens; rejects when it cannot start (e.g. its file
   * is missing). The server calls it at boot, so that neither a broken build nor the thread's
   * start-up time (requests counted by the limiter leaving late) is met by a run.
   */
  ready(): Promise<void>;
  /** Stops the thread; requests still waiting fail as network errors, not sent again (the process is stopping). */
  close(): Promise<void>;
}

/**
 * Sends every ActiveCampaign request of this process through one worker thread: undici, the
 * reading of ~110 KB contact pages, JSON.parse and the check of a page's shape cost the main
 * thread about a third of its time per contact at raised limits (README, "Capacity"), and its
 * round trips, measured on a thread that is not busy, size the rate limiter's margin from the
 * network's spread instead of the main thread's.
 *
 * The thread holds no state the client relies on: when it stops, the requests waiting on it
 * fail as network errors, and the next request starts a new one. The client retries them as
 * weather, except one that changes something and is not idempotent: that one only if the
 * thread never started it (NotSentError; the thread says when it starts one). While
 * requests are waiting it keeps the process alive, as a socket would; idle, it does not.
 */
export function createAcHttpThread(opts: { entry?: ThreadEntry; logger?: Logger } = {}): AcHttpThread {
  const entry = opts.entry ?? SOURCE_ENTRY;
  const log = opts.logger;
  const waiting = new Map<
    number,
    { resolve: (reply: AcHttpReply) => void; reject: (err: unknown) => void; signal: AbortSignal; onAbort: () => void; unsent: boolean }
  >();
  let thread: Worker | null = null;
  /** Settles when the current thread listens, or when it stops before. */
  let listening: Promise<void> = Promise.resolve();
  let nextId = 1;
  let closed = false;

  const settle = (id: number) => {
    const w = waiting.get(id);
    if (!w) return undefined;
    waiting.delete(id);
    w.signal.removeEventListener("abort", w.onAbort);
    if (waiting.size === 0) thread?.unref();
    return w;
  };

  const start = (): Worker => {
    const t = new Worker(entry.file, { workerData: entry.workerData, resourceLimits: THREAD_HEAP });
    let onReady!: () => void;
    let onFail!: (err: unknown) => void;
    listening = new Promise<void>((resolve, reject) => ((onReady = resolve), (onFail = reject)));
    // Awaited by ready() only: a request does not wait for it (its message waits in the port).
    listening.catch(() => undefined);
    t.on("message", (m: ThreadReply | ThreadReady) => {
      if ("ready" in m) {
        onReady();
        return;
      }
      if ("started" in m) {
        const w = waiting.get(m.id);
        if (w) w.unsent = false;
        return;
      }
      const w = settle(m.id);
      if (!w) return; // aborted meanwhile
      if (m.ok) w.resolve(m.reply);
      else w.reject(fromWire(m.error));
    });
    t.on("error", (err) => {
      onFail(err);
      log?.error({ err }, "the AC HTTP thread failed");
    });
    t.on("exit", (code) => {
      onFail(new Error(`the AC HTTP thread stopped (exit code ${code})`));
      if (thread === t) thread = null;
      if (!closed) log?.warn({ code }, "the AC HTTP thread stopped; the next request starts another");
      for (const id of [...waiting.keys()]) {
        const w = settle(id);
        // One it never started did not leave: the client may send it again, whatever it does;
        // unless the thread was closed, when there is no thread to send it on.
        w?.reject(
          w.unsent && !closed ? new NotSentError("the AC HTTP thread stopped before sending the request") : new Error("the AC HTTP thread stopped before the answer came"),
        );
      }
    });
    // After the listeners: adding a "message" listener holds the process again.
    t.unref();
    return t;
  };

  const http: AcHttp = (request, signal) =>
    new Promise<AcHttpReply>((resolve, reject) => {
      if (signal.aborted) {
        reject(signal.reason);
        return;
      }
      if (closed) {
        reject(new Error("the AC HTTP thread is closed"));
        return;
      }
      const t = (thread ??= start());
      const id = nextId++;
      const onAbort = () => {
        if (!settle(id)) return;
        t.postMessage({ type: "abort", id } satisfies ThreadMessage);
        reject(signal.reason);
      };
      signal.addEventListener("abort", onAbort, { once: true });
      waiting.set(id, { resolve, reject, signal, onAbort, unsent: reportsStart(request) });
      if (waiting.size === 1) t.ref();
      try {
        t.postMessage({ type: "send", id, request: { ...request, askedAt: Date.now() } } satisfies ThreadMessage);
      } catch (err) {
        settle(id);
        reject(err);
      }
    });

  return {
    http,
    get inFlight() {
      return waiting.size;
    },
    async ready() {
      if (closed) throw new Error("the AC HTTP thread is closed");
      const t = (thread ??= start());
      // Held while it starts: at boot nothing else may keep the process alive yet.
      t.ref();
      try {
        await listening;
      } finally {
        if (waiting.size === 0) t.unref();
      }
    },
    async close() {
      closed = true;
      const t = thread;
      thread = null;
      if (t) await t.terminate();
    },
  };
}
