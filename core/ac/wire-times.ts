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

// Stryker disable all: undici always sends one; the guards are for anyone else on the channel.
/** undici's Request in a diagnostics message; anything else on the channel is not ours to read. */
const requestIn = (message: unknown): object | undefined => {
  const request = (message as { request?: unknown } | null)?.request;
  return typeof request === "object" && request !== null ? request : undefined;
};
// Stryker restore all

// A subscriber that throws is an uncaught exception in Node: neither reads what it does not know.
const onCreate = (message: unknown) => {
  const request = requestIn(message);
  // Stryker disable next-line ConditionalExpression,LogicalOperator: `request` is always there (requestIn)
  if (!dispatching || !request) return;
  byRequest.set(request, dispatching);
  dispatching = null;
};
const onSendHeaders = (message: unknown) => {
  const request = requestIn(message);
  const times = request && byRequest.get(request);
  if (times) times.sentAt ??= Date.now();
};

// Stryker disable all: this runs once per process, before any mutant is active, and the
// subscriptions are Node's; every timed test stands for it.
function listen(): void {
  if (listening) return;
  listening = true;
  diagnostics.subscribe("undici:request:create", onCreate);
  diagnostics.subscribe("undici:client:sendHeaders", onSendHeaders);
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
