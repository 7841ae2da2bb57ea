import diagnostics from "node:diagnostics_channel";
import type { Dispatcher } from "undici";

/**
 * When undici wrote one request's headers to its socket (epoch ms; its sendHeaders event comes
 * as it writes them, after the connection opened). The rate limiter counts a request from
 * when it left, as AC counts it when it arrives. fetch() is called earlier: in one traced run
 * (50,000 contacts at a raised 200 req/s, the trace not kept) undici wrote a tenth of the
 * requests 11 ms or more after the call and up to 57 ms, the HTTP thread busy or a connection
 * opening, and the limiter counted them as gone that much sooner.
 */
export interface WireTimes {
  sentAt?: number;
}

/** undici's Request of each timed request (its diagnostics name it, nothing else does). */
const byRequest = new WeakMap<object, WireTimes>();
/** Set during a timed dispatch: the Request undici creates within it is the timed one. */
let dispatching: WireTimes | null = null;
let listening = false;

// Stryker disable all: listen() runs once per process and the subscriptions are Node's, so a
// mutant of it never runs in the tests of its own run; those tests (every request timed) cover
// it. requestIn only refuses messages undici never sends.

/** undici's Request in a diagnostics message; anything else on the channel is not ours to read. */
const requestIn = (message: unknown): object | undefined => {
  const request = (message as { request?: unknown } | null)?.request;
  return typeof request === "object" && request !== null ? request : undefined;
};

function listen(): void {
  if (listening) return;
  listening = true;
  // A subscriber that throws is an uncaught exception in Node: neither reads what it does not know.
  diagnostics.subscribe("undici:request:create", (message) => {
    const request = requestIn(message);
    if (!dispatching || !request) return;
    byRequest.set(request, dispatching);
    dispatching = null;
  });
  diagnostics.subscribe("undici:client:sendHeaders", (message) => {
    const request = requestIn(message);
    const times = request && byRequest.get(request);
    if (times) times.sentAt ??= Date.now();
  });
}
// Stryker restore all

/**
 * `base` for one request, noting in `times` when undici writes it, from undici's diagnostics
 * channels. undici creates its Request synchronously within `dispatch` (Agent → Pool →
 * Client) and announces it there, so the one announced during this dispatch is this
 * request's. A pool that queues the request (its connections all busy) creates it later, and
 * HTTP/2 announces no write: such a request is not timed, and the caller keeps its own clock.
 */
export function timedDispatcher(base: Pick<Dispatcher, "dispatch">, times: WireTimes): Pick<Dispatcher, "dispatch"> {
  listen();
  return {
    dispatch(options, handler) {
      dispatching = times;
      try {
        return base.dispatch(options, handler);
      } finally {
        dispatching = null;
      }
    },
  };
}
