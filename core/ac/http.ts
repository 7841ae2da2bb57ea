import { Agent, type Dispatcher } from "undici";
import { AcError, type AcErrorKind } from "./errors.ts";
import { threadShapes, type ThreadShape } from "./shapes.ts";
import { createGuardedDispatcher } from "./url.ts";
import { timedDispatcher, type WireTimes } from "./wire-times.ts";

/**
 * One HTTP exchange with ActiveCampaign, below the client's retries, rate limit and reading
 * of answers. Plain data both ways, so that it can be done in this thread (`fetchHttp`) or
 * in the HTTP thread (http-thread.ts, http-threads.ts), which keeps undici, the reading of
 * ~110 KB pages and their parsing off the thread that stores them.
 */
export interface AcHttpRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: string;
  /** Reads at most this many bytes of the answer (MAX_RESPONSE_BYTES). */
  maxBytes: number;
  /**
   * Connect only to public addresses (checked after DNS: DNS rebinding). The HTTP thread
   * keeps its own guarded connection pool; `fetchHttp` uses the dispatcher it was given.
   */
  guarded: boolean;
  /** A shape the HTTP thread may parse and check a 2xx answer with (`value`). */
  shape?: ThreadShape;
  /** When it was handed to the HTTP thread (epoch ms), for the reply's `delayMs`. */
  askedAt?: number;
}

export interface AcHttpReply {
  status: number;
  /** The headers the client reads (READ_HEADERS), by lower-case name. */
  headers: Partial<Record<(typeof READ_HEADERS)[number], string>>;
  /** The body; "" when `value` carries it. */
  text: string;
  /** The body parsed and checked with the request's `shape`: only for an answer the client would read as it is. */
  value?: unknown;
  /**
   * From the call that sent it to the answer's headers, in ms, a wait for a connection
   * included: until the answer says when the request left (`delayMs`), the limiter counts it
   * from when it was asked for, so the margin these size must cover that wait too.
   */
  latencyMs: number;
  /**
   * How long after the exchange was asked for (handed to the HTTP thread; else the call) the
   * request left, in ms: when undici wrote its headers (wire-times.ts), or the call when it
   * was not timed. The limiter counted it when asked; a thread that was busy or starting, or
   * a connection still opening, sends it later.
   */
  delayMs: number;
}

export type AcHttp = (request: AcHttpRequest, signal: AbortSignal) => Promise<AcHttpReply>;

export const READ_HEADERS = ["content-type", "ratelimit-remaining", "retry-after"] as const;

/**
 * The exchange in this thread, with `doFetch` (msw replaces the global fetch in tests) and
 * `dispatcher` (undici's global one when undefined: then a request is taken to leave when
 * it is called, not when undici wrote it).
 */
export function fetchHttp(doFetch: typeof fetch, dispatcher: Dispatcher | undefined): AcHttp {
  return async (request, signal) => {
    // Through a dispatcher, when undici wrote it; without one (msw in tests), or from a pool
    // that queued it, the call.
    const wire: WireTimes = {};
    const init: RequestInit & { dispatcher?: Pick<Dispatcher, "dispatch"> } = {
      method: request.method,
      headers: request.headers,
      signal,
      redirect: "manual", // a redirect could point anywhere, including inside our network
      ...(request.body === undefined ? {} : { body: request.body }),
      ...(dispatcher ? { dispatcher: timedDispatcher(dispatcher, wire) } : {}),
    };
    const calledAt = Date.now();
    const res = await doFetch(request.url, init);
    const latencyMs = Date.now() - calledAt;
    const sentAt = wire.sentAt ?? calledAt;
    const text = await readCapped(res, request.maxBytes);
    const headers: AcHttpReply["headers"] = {};
    for (const name of READ_HEADERS) {
      const value = res.headers.get(name);
      if (value !== null) headers[name] = value;
    }
    return { status: res.status, headers, text, latencyMs, delayMs: Math.max(0, sentAt - (request.askedAt ?? calledAt)) };
  };
}

/**
 * The HTTP thread's exchanges: plain requests through a pool of its own, guarded ones
 * (`AcHttpRequest.guarded`) through one, created on first use, that checks every address it
 * connects to. Pools of their own, not undici's global one, so that every request is timed
 * from when undici wrote it.
 */
export function pooledHttp(doFetch: typeof fetch): (request: Pick<AcHttpRequest, "guarded">) => AcHttp {
  const plain = fetchHttp(doFetch, new Agent());
  let guarded: AcHttp | undefined;
  return (request) => (request.guarded ? (guarded ??= fetchHttp(doFetch, createGuardedDispatcher())) : plain);
}

async function readCapped(res: Response, limit: number): Promise<string> {
  const tooLarge = () =>
    new AcError(
      "bad_response",
      `That API URL answered with more than ${limit / 1024 / 1024} MB, which ActiveCampaign never sends; check that it is your account's API URL`,
      { status: res.status },
    );
  const declared = Number(res.headers.get("content-length") ?? "");
  if (Number.isFinite(declared) && declared > limit) {
    await res.body?.cancel().catch(() => {});
    throw tooLarge();
  }
  if (!res.body) return "";
  const reader = res.body.getReader();
  // The chunks are decoded once, joined: a third of the CPU of decoding each as it comes
  // (a 100-contact page is ~110 KB, read 12,000 times a minute at a limit raised to 200 req/s).
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) {
      const text = Buffer.concat(chunks, size).toString("utf8");
      // As TextDecoder would: a byte-order mark is not part of the text.
      return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
    }
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => {});
      throw tooLarge();
    }
    chunks.push(value);
  }
}

/**
 * The body of a 2xx answer parsed and checked with `shape`, or undefined when the client must
 * read the answer itself: empty, a web page, not JSON, or not of the shape. Only the happy
 * path is taken here; every refusal keeps the client's own words (client.ts, `interpret`).
 */
export function shapedValue(reply: Pick<AcHttpReply, "status" | "headers" | "text">, shape: ThreadShape): unknown {
  // An empty body is not JSON either: JSON.parse refuses it below.
  if (reply.status < 200 || reply.status >= 300) return undefined;
  // Stryker disable next-line StringLiteral: without the header any string that does not say text/html reads the same
  if (/text\/html/i.test(reply.headers["content-type"] ?? "")) return undefined;
  let body: unknown;
  try {
    body = JSON.parse(reply.text);
  } catch {
    return undefined;
  }
  const parsed = threadShapes[shape].safeParse(body);
  return parsed.success ? parsed.data : undefined;
}

/**
 * The request never left this process (its HTTP thread stopped before starting it): sending it
 * again cannot do it twice, so even a request that is not idempotent may be retried.
 */
export class NotSentError extends Error {
  override name = "NotSentError";
}

/**
 * Whether the HTTP thread says when it starts this request, so that one it never started can
 * be told apart: only for requests that change something (a GET may be sent again anyway, and
 * pages are most of the traffic).
 */
export const reportsStart = (request: Pick<AcHttpRequest, "method">): boolean => request.method !== "GET";

/** A failed exchange as plain data, to cross from the HTTP thread. */
export interface WireError {
  message: string;
  /** The `code`s along the error's causes (ECONNREFUSED, ENOTFOUND, a TLS code). */
  codes: string[];
  /** An AcError met on the way (the body was too large, the address is private). */
  ac?: { kind: AcErrorKind; message: string; status?: number; retryable: boolean };
}

export function toWire(err: unknown): WireError {
  const codes: string[] = [];
  let ac: WireError["ac"];
  const visit = (e: unknown, depth: number) => {
    if (e === null || e === undefined || depth > 5) return;
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string") codes.push(code);
    if (e instanceof AcError && !ac) ac = { kind: e.kind, message: e.message, retryable: e.retryable, ...(e.status === undefined ? {} : { status: e.status }) };
    if (e instanceof AggregateError) for (const inner of e.errors) visit(inner, depth + 1);
    if (e instanceof Error) visit(e.cause, depth + 1);
  };
  visit(err, 0);
  return { message: err instanceof Error ? err.message : String(err), codes, ...(ac ? { ac } : {}) };
}

/** The error again on this side: the client's network mapping reads the same codes and AcError. */
export function fromWire(wire: WireError): Error {
  const causes = wire.codes.map((code) => Object.assign(new Error(code), { code }));
  // Stryker disable next-line ConditionalExpression: an AcError keeps a status of undefined as it keeps none
  const ac = wire.ac ? new AcError(wire.ac.kind, wire.ac.message, { retryable: wire.ac.retryable, ...(wire.ac.status === undefined ? {} : { status: wire.ac.status }) }) : undefined;
  const chain = [...(ac ? [ac] : []), ...causes];
  return new Error(wire.message, chain.length ? { cause: new AggregateError(chain, wire.message) } : undefined);
}
