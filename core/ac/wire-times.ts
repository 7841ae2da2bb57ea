import diagnostics from "node:diagnostics_channel";
import type { Dispatcher } from "undici";

/**
 * When undici wrote one request's headers to its socket (epoch ms). The rate limiter counts a
 * request from when it left and sizes its window's margin by how unevenly answers come; fetch()
 * is called earlier, and in a busy thread undici wrote the request up to 57 ms later (50,000
 * contacts at a raised 200 req/s: a tenth of the requests 11 ms or more), which blurred both.
 */
export interface WireTimes {
  sentAt?: number;
}

/** undici's Request of each timed request (its diagnostics name it, nothing else does). */
const byRequest = new WeakMap<object, WireTimes>();
/** Set during a timed dispatch: the Request undici creates within it is the timed one. */
let dispatching: WireTimes | null = null;
let listening = false;

type RequestMessage = { request: object };

// Stryker disable all: this runs once per process and the subscriptions are Node's, so a mutant
// of it never runs in the tests of its own run; those tests (every request timed) cover it.
function listen(): void {
  if (listening) return;
  listening = true;
  diagnostics.subscribe("undici:request:create", (message) => {
    if (!dispatching) return;
    byRequest.set((message as RequestMessage).request, dispatching);
    dispatching = null;
  });
  diagnostics.subscribe("undici:client:sendHeaders", (message) => {
    const times = byRequest.get((message as RequestMessage).request);
    if (times) times.sentAt ??= Date.now();
  });
}
// Stryker restore all

/**
 * `base` for one request, noting in `times` when undici writes it, from undici's diagnostics
 * channels. undici creates its Request synchronously within
 * `dispatch` (Agent → Pool → Client) and announces it there, so the one announced during this
 * dispatch is this request's. A pool that queues the request (a cap on connections) creates it
 * later: it is then not timed, and the caller keeps its own clock.
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
