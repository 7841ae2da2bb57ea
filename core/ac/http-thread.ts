import { parentPort } from "node:worker_threads";
import { pooledHttp, reportsStart, shapedValue, toWire } from "./http.ts";
import type { ThreadMessage, ThreadReady, ThreadReply } from "./http-threads.ts";

/**
 * The HTTP thread (http-threads.ts starts it): sends ActiveCampaign requests with its own
 * connection pools and reads, parses and checks their answers, so that the thread storing
 * pages does not. It decides nothing: retries, the rate limit and the reading of errors stay
 * with the client on the main thread.
 */
const port = parentPort;
if (!port) throw new Error("http-thread.ts runs as a worker thread (http-threads.ts starts it)");

const httpFor = pooledHttp((input, init) => globalThis.fetch(input, init));
const running = new Map<number, AbortController>();

function post(reply: ThreadReply): void {
  try {
    port!.postMessage(reply);
  } catch (err) {
    // A value that cannot be copied (it never should): the caller gets the error, a network
    // error to the client, which retries.
    port!.postMessage({ id: reply.id, ok: false, error: toWire(err) } satisfies ThreadReply);
  }
}

async function exchange(message: Extract<ThreadMessage, { type: "send" }>): Promise<void> {
  const stop = new AbortController();
  running.set(message.id, stop);
  try {
    const http = httpFor(message.request);
    // From here it may reach AC: should this thread stop before answering, the client must not
    // assume it was never sent.
    if (reportsStart(message.request)) port!.postMessage({ id: message.id, started: true } satisfies ThreadReply);
    const reply = await http(message.request, stop.signal);
    const shape = message.request.shape;
    const value = shape ? shapedValue(reply, shape) : undefined;
    post({ id: message.id, ok: true, reply: value === undefined ? reply : { ...reply, text: "", value } });
  } catch (err) {
    if (!stop.signal.aborted) post({ id: message.id, ok: false, error: toWire(err) });
  } finally {
    running.delete(message.id);
  }
}

port.postMessage({ ready: true } satisfies ThreadReady);

port.on("message", (message: ThreadMessage) => {
  if (message.type === "abort") {
    running.get(message.id)?.abort();
    return;
  }
  // exchange() sends back the answer or the error; should even that fail, the caller's
  // timeout ends its wait, and the client retries.
  exchange(message).catch(() => undefined);
});
