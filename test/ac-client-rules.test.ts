import { describe, expect, it } from "vitest";
import { AcError, createAcClient, IMPORT_MAX_BYTES, IMPORT_MAX_CONTACTS, type AcClientOptions, type AcImportContact, type AcLimiters } from "../core/ac/index.ts";
import { MAX_RESPONSE_BYTES } from "../core/ac/client.ts";
import { NotSentError, reportsStart, type AcHttp, type AcHttpReply, type AcHttpRequest } from "../core/ac/http.ts";

// The AC client's own rules (issue 20, mutation testing), on a fetch and a limiter kept in
// memory: which paths and query values it sends, its headers and body, what it retries, what
// it tells the limiter, how it reads each status, and the limits of the writes it makes.

const BASE = "https://acct.api-us1.com";
const KEY = "sk-live-TOPSECRET-0123456789abcdef";

type Reply = { status: number; body?: string; headers?: Record<string, string> };
interface Sent {
  method: string;
  path: string;
  query: string;
  headers: Record<string, string>;
  body: unknown;
  hasBody: boolean;
  redirect: RequestRedirect | undefined;
  signal: AbortSignal;
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}): Reply => ({ status, body: JSON.stringify(body), headers: { "content-type": "application/json", ...headers } });

/**
 * A client whose fetch answers with `replies` in turn (the last one repeats; a function is
 * called with the request) and whose limiter records what it is told.
 */
function world(replies: (Reply | ((s: Sent) => Reply | Promise<Reply>))[], o: Partial<AcClientOptions> = {}) {
  const sent: Sent[] = [];
  const told: [string, unknown][] = [];
  const limiter = {
    host: "acct.api-us1.com",
    // Each start counted at 1,000 (the limiter's clock).
    schedule: <T>(task: (startedAt: number) => Promise<T>, opts: unknown) => (told.push(["schedule", opts]), task(1_000)),
    scheduleImport: <T>(task: (startedAt: number) => Promise<T>, opts: unknown) => (told.push(["scheduleImport", opts]), task(1_000)),
    pauseImports: (ms: number) => told.push(["pauseImports", ms]),
    pauseFor: (ms: number) => told.push(["pauseFor", ms]),
    noteRemaining: (n: number, startedAt: number) => told.push(["noteRemaining", [n, startedAt]]),
    noteLatency: (ms: number) => told.push(["noteLatency", ms]),
    noteSent: (startedAt: number, sentAt: number) => told.push(["noteSent", [startedAt, sentAt]]),
    noteRateLimited: () => told.push(["noteRateLimited", null]),
  };
  const limiters = { requestsPerSecond: 5, forHost: () => limiter } as unknown as AcLimiters;
  const fetch = (async (input: string | URL, init: RequestInit) => {
    const url = new URL(String(input));
    const s: Sent = {
      method: init.method!,
      path: url.pathname,
      query: url.searchParams.toString(),
      headers: { ...(init.headers as Record<string, string>) },
      body: init.body === undefined ? undefined : JSON.parse(String(init.body)),
      hasBody: "body" in init,
      redirect: init.redirect,
      signal: init.signal!,
    };
    sent.push(s);
    // Like fetch: a request whose signal is aborted ends with the abort.
    if (s.signal.aborted) throw s.signal.reason;
    const next = replies.length > 1 ? replies.shift()! : replies[0]!;
    const r = typeof next === "function" ? await next(s) : next;
    const empty = r.status === 204 || r.body === undefined;
    return new Response(empty ? null : r.body, { status: r.status, headers: r.headers });
  }) as typeof globalThis.fetch;
  const client = createAcClient({ apiUrl: BASE, apiKey: KEY, limiters, fetch, sleep: async () => {}, maxTries: 3, ...o });
  return { client, sent, told, limiter: (what: string) => told.filter(([w]) => w === what).map(([, v]) => v) };
}

async function failure(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => {
      throw new Error("expected a rejection");
    },
    (e: unknown) => e,
  );
}

describe("AC client rules: the request", () => {
  it("sends only paths of /api/3 and its segments, refusing anything else before sending", async () => {
    const w = world([json(200, {})]);
    for (const path of ["/x/api/3/contacts", "/api/3/contacts/..", "/api/3/contacts/1?x=1", "/api/3/contacts/", "/api/3"]) {
      expect(await failure(w.client.request("GET", path)), path).toBeInstanceOf(TypeError);
    }
    expect(w.sent).toEqual([]);
    await w.client.request("GET", "/api/3/contacts/12/contactLists");
    expect(w.sent.map((s) => s.path)).toEqual(["/api/3/contacts/12/contactLists"]);
  });

  it("puts each query value that is set in the URL, an array as the key repeated, and leaves out undefined and null", async () => {
    const w = world([json(200, {})]);
    await w.client.request("GET", "/api/3/contacts", { query: { a: undefined, b: null, c: 1, d: [4, 5], e: "x y" } as never });
    expect(w.sent[0]!.query).toBe("c=1&d=4&d=5&e=x+y");
  });

  it("sends the key, JSON accept and its name; a body only when there is one, as JSON; never follows a redirect", async () => {
    const w = world([json(200, {})]);
    await w.client.request("GET", "/api/3/contacts");
    await w.client.request("POST", "/api/3/tags", { body: { tag: { tag: "x" } } });
    const [get, post] = w.sent;
    expect(get!.headers).toEqual({ "Api-Token": KEY, Accept: "application/json", "User-Agent": "Listwarden" });
    expect(get!.hasBody).toBe(false);
    expect(post!.headers).toEqual({ "Api-Token": KEY, Accept: "application/json", "User-Agent": "Listwarden", "Content-Type": "application/json" });
    expect(post!.body).toEqual({ tag: { tag: "x" } });
    expect(w.sent.map((s) => s.redirect)).toEqual(["manual", "manual"]);
  });

  it("retries a GET and a DELETE after a 503 by default, a POST only when told it is idempotent", async () => {
    const retried = async (method: "GET" | "DELETE" | "POST", idempotent?: boolean) => {
      const w = world([json(503, {}), json(200, {})]);
      await w.client.request(method, "/api/3/contacts/5", idempotent === undefined ? {} : { idempotent }).catch(() => undefined);
      return w.sent.length;
    };
    expect(await retried("GET")).toBe(2);
    expect(await retried("DELETE")).toBe(2);
    expect(await retried("POST")).toBe(1);
    expect(await retried("POST", true)).toBe(2);
    expect(await retried("GET", false)).toBe(1);
  });

  it("hands the limiter the caller's signal, a retry ahead of the queue, and an import its number of contacts", async () => {
    const w = world([json(503, {}), json(200, {}), json(200, { batchId: "b1" })]);
    const signal = new AbortController().signal;
    await w.client.request("GET", "/api/3/contacts", { signal });
    expect(w.limiter("schedule")).toEqual([
      { signal, priority: 0 },
      { signal, priority: 1 },
    ]);
    await w.client.bulkImport({ contacts: [{ email: "a@x.test" }, { email: "b@x.test" }], excludeAutomations: true }, { signal });
    expect(w.limiter("scheduleImport")).toEqual([{ signal, contacts: 2 }]);
  });

  it("tells the limiter each round trip and AC's RateLimit-Remaining", async () => {
    const w = world([json(200, {}, { "ratelimit-remaining": "3" }), json(200, {})]);
    await w.client.request("GET", "/api/3/contacts");
    await w.client.request("GET", "/api/3/contacts");
    const latencies = w.limiter("noteLatency") as number[];
    expect(latencies).toHaveLength(2);
    for (const ms of latencies) expect(ms).toBeGreaterThanOrEqual(0), expect(ms).toBeLessThan(10_000);
    expect(w.limiter("noteRemaining")).toEqual([[3, 1_000]]);
  });

  it("stops the request in flight when the caller aborts, and rejects with the caller's reason even when AC's answer came in", async () => {
    const controller = new AbortController();
    const reason = new Error("stage stopped");
    const w = world([
      (s) =>
        new Promise<Reply>((resolve, reject) => {
          // Answers after 1 s unless the request is aborted first, as fetch does.
          const timer = setTimeout(() => resolve(json(200, {})), 1_000);
          s.signal.addEventListener("abort", () => (clearTimeout(timer), reject(s.signal.reason)));
        }),
    ]);
    const p = w.client.request("GET", "/api/3/contacts", { signal: controller.signal });
    await new Promise((r) => setTimeout(r, 10));
    controller.abort(reason);
    expect(await failure(p)).toBe(reason);
    expect(w.sent[0]!.signal.aborted).toBe(true);

    // AC refused it (404), but the caller had stopped meanwhile: the stop is what is thrown.
    const late = new AbortController();
    const x = world([() => (late.abort(reason), json(404, { message: "No Result found" }))]);
    expect(await failure(x.client.request("GET", "/api/3/contacts/5", { signal: late.signal }))).toBe(reason);
  });
});

describe("AC client rules: reading the answer", () => {
  it("reads 2xx as the answer and 3xx as a redirect refused, from 200 to 299 and 300 to 399", async () => {
    const w = world([json(299, { ok: 1 }), json(300, { ok: 2 }), json(399, {})]);
    expect(await w.client.request("GET", "/api/3/contacts")).toEqual({ ok: 1 });
    expect(await failure(w.client.request("GET", "/api/3/contacts"))).toMatchObject({ kind: "invalid_url", status: 300 });
    expect(await failure(w.client.request("GET", "/api/3/contacts"))).toMatchObject({ kind: "invalid_url", status: 399 });
  });

  it("takes an empty answer to a DELETE or a 204 as done, and an empty 200 elsewhere as a bad answer, retried", async () => {
    const w = world([{ status: 200, body: " \n" }]);
    expect(await w.client.request("DELETE", "/api/3/contacts/5")).toEqual({});
    const n = world([{ status: 204 }]);
    expect(await n.client.request("POST", "/api/3/contacts/5", { idempotent: false })).toEqual({});
    const g = world([{ status: 200, body: "" }]);
    const err = await failure(g.client.request("GET", "/api/3/contacts/5"));
    expect(err).toMatchObject({ kind: "bad_response", status: 200, retryable: true });
    expect(g.sent).toHaveLength(3);
  });

  it("says so, with the status, when the API URL answers with a web page", async () => {
    const w = world([{ status: 200, body: "<html></html>", headers: { "content-type": "text/html; charset=utf-8" } }]);
    expect(await failure(w.client.request("GET", "/api/3/contacts"))).toMatchObject({ kind: "bad_response", status: 200, retryable: false });
  });

  it("a 404 without AC's words names the path", async () => {
    const w = world([{ status: 404, body: "" }]);
    const err = (await failure(w.client.request("GET", "/api/3/contacts/9"))) as AcError;
    expect(err).toMatchObject({ kind: "not_found", status: 404 });
    expect(err.message).toBe("ActiveCampaign has nothing at /api/3/contacts/9");
  });

  it("reads 408, 500, 502, 503 and 504 as weather, retried; another 5xx as a server error, not retried; a 4xx as refused", async () => {
    for (const status of [408, 500, 502, 503, 504]) {
      const w = world([json(status, {}), json(200, { ok: true })]);
      expect(await w.client.request("GET", "/api/3/contacts"), String(status)).toEqual({ ok: true });
    }
    for (const status of [501, 505, 599]) {
      const w = world([json(status, {})]);
      const err = (await failure(w.client.request("GET", "/api/3/contacts"))) as AcError;
      expect(err, String(status)).toMatchObject({ kind: "server", status, retryable: false });
      expect(err.message).toBe(`ActiveCampaign had a problem (HTTP ${status})`);
      expect(w.sent).toHaveLength(1);
    }
    const w = world([json(409, {})]);
    expect(await failure(w.client.request("GET", "/api/3/contacts"))).toMatchObject({ kind: "validation", status: 409, retryable: false });
  });

  it("reads a 400 saying 'rate limit' from the bulk importer as its per-minute cap: imports wait a minute and it is sent again", async () => {
    for (const reply of [json(400, { message: "Rate limit exceeded" }), json(400, { errors: [{ title: "Import rate limit reached" }] })]) {
      const w = world([reply, json(200, { batchId: "b1" })]);
      await expect(w.client.bulkImport({ contacts: [{ email: "a@x.test" }], excludeAutomations: true })).resolves.toEqual({ batchId: "b1" });
      expect(w.told.filter(([what]) => what.startsWith("pause") || what === "noteRateLimited")).toEqual([["pauseImports", 60_000]]);
      expect(w.sent).toHaveLength(2);
    }
    // Elsewhere, or saying something else, a 400 is AC refusing the request.
    const other = world([json(400, { message: "Rate limit exceeded" })]);
    expect(await failure(other.client.request("POST", "/api/3/contacts", { body: {} }))).toMatchObject({ kind: "validation" });
    const refused = world([json(422, { message: "Rate limit exceeded" })]);
    expect(await failure(refused.client.bulkImport({ contacts: [{ email: "a@x.test" }], excludeAutomations: true }))).toMatchObject({ kind: "validation" });
    const words = world([json(400, { message: "Invalid email" })]);
    expect(await failure(words.client.bulkImport({ contacts: [{ email: "a@x.test" }], excludeAutomations: true }))).toMatchObject({ kind: "validation" });
    // "rate" ending one message and "limit" starting the next is not the cap: each is read alone.
    for (const body of [{ errors: [{ title: "Unknown field: rate" }, { title: "limit must be a number" }] }, { message: "Bad field rate", errors: [{ title: "limit is required" }] }]) {
      const apart = world([json(400, body), json(200, { batchId: "b2" })]);
      expect(await failure(apart.client.bulkImport({ contacts: [{ email: "a@x.test" }], excludeAutomations: true })), JSON.stringify(body)).toMatchObject({ kind: "validation", status: 400 });
      expect(apart.sent).toHaveLength(1);
    }
  });
});

describe("AC client rules: the exchange below the client", () => {
  /** An `http` that answers `body` and records what it was asked. */
  const exchange = (body: unknown, delayMs = 0, headers: AcHttpReply["headers"] = {}) => {
    const asked: AcHttpRequest[] = [];
    const http: AcHttp = async (request) => {
      asked.push(request);
      return { status: 200, headers: { "content-type": "application/json", ...headers }, text: JSON.stringify(body), latencyMs: 4, delayMs };
    };
    return { asked, http };
  };

  it("asks the exchange to check a contact page with its shape, and no other answer; guarded unless private hosts are allowed", async () => {
    const page = exchange({ contacts: [{ id: "1", email: "a@b.test" }], contactLists: [] });
    await world([], { http: page.http }).client.pageContacts({ scope: { kind: "all" } });
    const me = exchange({ user: { id: "1", email: "me@b.test" } });
    await world([], { http: me.http }).client.getMe();
    expect(page.asked.map((r) => [r.shape, r.guarded])).toEqual([["contactsPage", true]]);
    expect(me.asked.map((r) => ["shape" in r, r.guarded, r.maxBytes])).toEqual([[false, true, MAX_RESPONSE_BYTES]]);
    const local = exchange({ user: { id: "1" } });
    await world([], { http: local.http, apiUrl: "http://127.0.0.1:9", allowPrivateHosts: true }).client.getMe();
    expect(local.asked[0]?.guarded).toBe(false);
  });

  it("sends a request that is not idempotent again when it never left; out of tries, it ends as unreachable, marked never sent", async () => {
    const asked: AcHttpRequest[] = [];
    const neverSent: AcHttp = async (request) => {
      asked.push(request);
      throw new NotSentError("the AC HTTP thread stopped before sending the request");
    };
    const w = world([], { http: neverSent, maxTries: 3, sleep: async () => {} });
    const err = await w.client.createTag("t", "").then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(AcError);
    expect(err).toMatchObject({ kind: "unreachable", retryable: true, notSent: true });
    expect(asked.map((r) => [r.method, new URL(r.url).pathname])).toEqual(Array(3).fill(["POST", "/api/3/tags"]));
    expect(w.client.stats).toMatchObject({ requests: 3, retries: 2 });
  });

  it("the HTTP thread says when it starts a request that changes something, not a GET (pages are most of the traffic)", () => {
    expect(["GET", "POST", "PUT", "DELETE"].map((method) => reportsStart({ method }))).toEqual([false, true, true, true]);
  });

  it("tells the limiter when a request left later than it was counted, and only then", async () => {
    const late = world([], { http: exchange({ user: { id: "1" } }, 40).http });
    await late.client.getMe();
    expect(late.limiter("noteSent")).toEqual([[1_000, 1_040]]);
    expect(late.limiter("noteLatency")).toEqual([4]);
    const prompt = world([], { http: exchange({ user: { id: "1" } }, 0).http });
    await prompt.client.getMe();
    expect(prompt.limiter("noteSent")).toEqual([]);
  });

  it("reads AC's RateLimit-Remaining against the request's start where the limiter now has it, when it left", async () => {
    // The limiter compares it with our own starts around it: around the old one, a request that
    // left later than it was counted is missing from them, and a 0 would look like someone else's.
    const late = world([], { http: exchange({ user: { id: "1" } }, 200, { "ratelimit-remaining": "0" }).http });
    await late.client.getMe();
    expect(late.limiter("noteSent")).toEqual([[1_000, 1_200]]);
    expect(late.limiter("noteRemaining")).toEqual([[0, 1_200]]);
  });
});

describe("AC client rules: writes", () => {
  it("a contact's lists are read from its contactLists, with the caller's signal", async () => {
    const w = world([json(200, { contactLists: [{ contact: "5", list: "3", status: "1", udate: "2026-11-02 10:00:00" }] })]);
    expect(await w.client.getContactLists("5")).toEqual([{ listId: "3", status: 1, updated: "2026-11-02 10:00:00" }]);
    expect(w.sent.map((s) => `${s.method} ${s.path}`)).toEqual(["GET /api/3/contacts/5/contactLists"]);
    const stopped = new AbortController();
    stopped.abort(new Error("stopped"));
    expect(await failure(w.client.getContactLists("5", { signal: stopped.signal }))).toBe(stopped.signal.reason);
  });

  it("an unsubscribe of a contact AC no longer has is done, the contact gone", async () => {
    const w = world([json(422, { errors: [{ title: "The related contact does not exist.", code: "related_missing", source: { pointer: "/data/attributes/contact" } }] })]);
    await expect(w.client.unsubscribe("5", "3")).resolves.toEqual({ contactGone: true });
  });

  it("restores a subscription with status 1 and sourceid 4, once (not resent after a 503), ids checked", async () => {
    const w = world([json(201, { contactList: { status: 1 } })]);
    await w.client.restoreSubscription("5", "3");
    expect(w.sent.map((s) => [s.method, s.path, s.body])).toEqual([["POST", "/api/3/contactLists", { contactList: { list: 3, contact: 5, status: 1, sourceid: 4 } }]]);
    const busy = world([json(503, {}), json(201, {})]);
    expect(await failure(busy.client.restoreSubscription("5", "3"))).toMatchObject({ kind: "server" });
    expect(busy.sent).toHaveLength(1);
    for (const [c, l] of [
      ["x", "3"],
      ["5", "3; DROP"],
    ]) {
      expect(await failure(w.client.restoreSubscription(c!, l!))).toBeInstanceOf(TypeError);
    }
    expect(w.sent).toHaveLength(1);
  });

  it("a bulk import takes 1 to 250 contacts and a body up to its byte limit, and is never resent after a 503", async () => {
    const ok = () => json(200, { batchId: "b1" });
    const contacts = (n: number): AcImportContact[] => Array.from({ length: n }, (_, i) => ({ email: `c${i}@x.test` }));
    const w = world([ok()]);
    await expect(w.client.bulkImport({ contacts: contacts(0), excludeAutomations: true })).rejects.toBeInstanceOf(TypeError);
    await expect(w.client.bulkImport({ contacts: contacts(IMPORT_MAX_CONTACTS + 1), excludeAutomations: true })).rejects.toBeInstanceOf(TypeError);
    await expect(w.client.bulkImport({ contacts: contacts(IMPORT_MAX_CONTACTS), excludeAutomations: true })).resolves.toEqual({ batchId: "b1" });

    // A body of exactly the limit is sent; one byte more is refused.
    const sized = (bytes: number) => {
      const body = (k: number) => ({ contacts: [{ email: "a@x.test", fields: [{ id: 1, value: "v".repeat(k) }] }], excludeAutomations: false });
      const size = (k: number) => Buffer.byteLength(JSON.stringify({ contacts: body(k).contacts.map((c) => ({ ...c, exclude_automations: false })), exclude_automations: false }));
      const k = 1_000 + bytes - size(1_000);
      expect(size(k)).toBe(bytes);
      return body(k);
    };
    const sent = w.sent.length;
    await expect(w.client.bulkImport(sized(IMPORT_MAX_BYTES))).resolves.toEqual({ batchId: "b1" });
    await expect(w.client.bulkImport(sized(IMPORT_MAX_BYTES + 1))).rejects.toBeInstanceOf(TypeError);
    expect(w.sent.length - sent).toBe(1);

    const busy = world([json(503, {}), ok()]);
    expect(await failure(busy.client.bulkImport({ contacts: contacts(1), excludeAutomations: true }))).toMatchObject({ kind: "server" });
    expect(busy.sent).toHaveLength(1);
  });

  it("checks only imports for lists: another write may carry contacts with other keys", async () => {
    const w = world([json(200, {})]);
    await w.client.request("POST", "/api/3/contacts", { body: { contacts: [{ email: "a@x.test", list: 3 }] } });
    expect(w.sent).toHaveLength(1);
  });
});
