// The AC HTTP thread (core/ac/http-threads.ts) against real sockets on 127.0.0.1: msw only
// intercepts this thread's fetch, so everything here is served by the fake AC or a raw server.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { createServer, type Server } from "node:http";
import { createServer as createNetServer } from "node:net";
import { fileURLToPath } from "node:url";
import { Agent, buildConnector, Pool } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AcError, createAcClient, createAcLimiters, type AcClient } from "../core/ac/index.ts";
import { createAcHttpThread, SOURCE_ENTRY, type AcHttpThread } from "../core/ac/http-threads.ts";
import { fetchHttp, fromWire, NotSentError, pooledHttp, shapedValue, toWire, type AcHttpRequest } from "../core/ac/http.ts";
import { timedDispatcher, type WireTimes } from "../core/ac/wire-times.ts";
import { FakeAc, startFakeAcServer, type FakeAcServer } from "./support/fake-ac.ts";

const run = promisify(execFile);
let fake: FakeAc;
let served: FakeAcServer;
let thread: AcHttpThread;
/** What the raw server answers next (for answers the fake AC never gives). */
let rawAnswer: (res: import("node:http").ServerResponse) => void = (res) => res.end("{}");
let raw: Server;
let rawUrl: string;

beforeAll(async () => {
  fake = new FakeAc({ requestsPerSecond: 1000 });
  const list = fake.addList("Newsletter");
  for (let i = 1; i <= 130; i++) fake.addContact({ email: `c${i}@example.com`, firstName: `F${i}`, lastName: i % 7 === 0 ? "" : `L${i}`, lists: { [list]: i % 5 === 0 ? 2 : 1 } });
  served = await startFakeAcServer(fake);
  raw = createServer((_req, res) => rawAnswer(res));
  await new Promise<void>((r) => raw.listen(0, "127.0.0.1", r));
  rawUrl = `http://127.0.0.1:${(raw.address() as { port: number }).port}`;
  thread = createAcHttpThread();
});
afterAll(async () => {
  await thread.close();
  await served.close();
  await new Promise<void>((r) => raw.close(() => r()));
});

const clients = (url: string, extra: { timeoutMs?: number; maxTries?: number } = {}): { threaded: AcClient; local: AcClient } => {
  // Retry-After pauses cut to 10 ms; backoff waits skipped.
  const base = { apiUrl: url, apiKey: fake.apiKey, allowPrivateHosts: true, sleep: async () => {}, maxRetryAfterMs: 10, ...extra };
  return {
    threaded: createAcClient({ ...base, limiters: createAcLimiters({ requestsPerSecond: 1000 }), http: thread.http }),
    local: createAcClient({ ...base, limiters: createAcLimiters({ requestsPerSecond: 1000 }) }),
  };
};

const failure = (p: Promise<unknown>) => p.then(
  () => {
    throw new Error("expected a rejection");
  },
  (e: unknown) => e,
);
/** The AcError along an error's causes, as the client's network mapping finds it. */
const acErrorIn = (e: unknown): AcError | undefined => {
  for (let depth = 0; e && depth < 6; depth++) {
    if (e instanceof AcError) return e;
    if (e instanceof AggregateError) return e.errors.map(acErrorIn).find(Boolean);
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
};
/** What callers read of an AC error. */
const seen = (e: unknown) => {
  const { kind, message, status, retryable, retryAfterMs } = e as Record<string, unknown>;
  return { kind, message, status, retryable, retryAfterMs };
};

describe("AC requests through the HTTP thread", () => {
  it("pages contacts as this thread does: the same contacts, lists, totals and last ids", async () => {
    const { threaded, local } = clients(served.url);
    for (const afterId of [null, "100"]) {
      const [a, b] = await Promise.all([threaded.pageContacts({ scope: { kind: "all" }, afterId }), local.pageContacts({ scope: { kind: "all" }, afterId })]);
      expect(a).toEqual(b);
      expect(a.contacts.length).toBe(afterId ? 30 : 100);
    }
    expect(await threaded.contactIdRange({ scope: { kind: "all" } })).toEqual(await local.contactIdRange({ scope: { kind: "all" } }));
    expect(await threaded.getMe()).toEqual(await local.getMe());
    expect(threaded.stats.requests).toBe(4);
  });

  it("hands back a contact page parsed and checked with the client's shape, and other answers as text", async () => {
    const request = (shape?: "contactsPage") => ({
      method: "GET",
      url: `${served.url}/api/3/contacts?limit=2&include=contactLists&orders[id]=ASC`,
      headers: { "Api-Token": fake.apiKey },
      maxBytes: 1 << 20,
      guarded: false,
      ...(shape ? { shape } : {}),
    });
    const checked = await thread.http(request("contactsPage"), new AbortController().signal);
    expect(checked.text).toBe("");
    const value = checked.value as { contacts: Record<string, unknown>[] };
    // The shape's output, not AC's JSON: unknown keys gone, flags read.
    expect(Object.keys(value.contacts[0]!).sort()).toEqual(["bounced_hard", "bounced_soft", "cdate", "email", "firstName", "id", "lastName"]);
    expect(value.contacts[0]).toMatchObject({ id: "1", email: "c1@example.com", bounced_hard: false });
    const plain = await thread.http(request(), new AbortController().signal);
    expect(plain.value).toBeUndefined();
    expect(JSON.parse(plain.text)).toMatchObject({ contacts: [{ id: "1" }, { id: "2" }] });
  });

  it("reads AC's refusals and faults in the same words, with the same retries, as this thread", async () => {
    const faults = [
      { status: 429, headers: { "Retry-After": "2" }, body: {} },
      { status: 500, body: { message: "down" } },
      { status: 422, body: { errors: [{ title: "Email is invalid", source: { pointer: "/data/attributes/email" } }] } },
      { status: 401, body: {} },
      { status: 404, body: { message: "No Result found for Subscriber with id 9" } },
      { status: 200, body: { contacts: [{ id: "x" }] } }, // not the shape
      { truncate: true as const },
      { empty: true as const },
    ];
    for (const fault of faults) {
      const results = [];
      for (const client of Object.values(clients(served.url, { maxTries: 2 }))) {
        fake.failNext(2, fault);
        results.push(seen(await failure(client.pageContacts({ scope: { kind: "all" } }))));
        results.push(client.stats);
        fake.faults.length = 0; // what a refusal not retried left unused
      }
      expect(results[0], JSON.stringify(fault)).toEqual(results[2]);
      expect(results[1], JSON.stringify(fault)).toEqual(results[3]);
    }
  });

  it("reads a web page, a body past the size cap and a redirect as this thread does", async () => {
    const answers: ((res: import("node:http").ServerResponse) => void)[] = [
      (res) => res.writeHead(200, { "content-type": "text/html" }).end("<html>login</html>"),
      (res) => res.writeHead(200, { "content-type": "application/json" }).end("x".repeat(5 * 1024 * 1024)),
      (res) => res.writeHead(200, { "content-type": "application/json", "content-length": String(9 * 1024 * 1024) }).flushHeaders(),
      (res) => res.writeHead(302, { location: "http://169.254.169.254/" }).end(),
    ];
    for (const answer of answers) {
      rawAnswer = answer;
      const { threaded, local } = clients(rawUrl, { maxTries: 1 });
      const [a, b] = [seen(await failure(threaded.pageContacts({ scope: { kind: "all" } }))), seen(await failure(local.pageContacts({ scope: { kind: "all" } })))];
      expect(a).toEqual(b);
      expect(a.kind).toMatch(/bad_response|invalid_url/);
    }
  });

  it("maps a refused connection, a reset and a slow answer as this thread does", async () => {
    const s = createNetServer();
    await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
    const closed = `http://127.0.0.1:${(s.address() as { port: number }).port}`;
    await new Promise<void>((r) => s.close(() => r()));
    const refused = clients(closed, { maxTries: 2 });
    const [a, b] = [seen(await failure(refused.threaded.getMe())), seen(await failure(refused.local.getMe()))];
    expect(a).toEqual(b);
    expect(a).toMatchObject({ kind: "unreachable", message: "Could not reach that API URL: the connection was refused", retryable: true });

    const { threaded } = clients(served.url);
    fake.failNext(1, { reset: true });
    await expect(threaded.listLists()).resolves.toEqual([expect.objectContaining({ name: "Newsletter" })]);
    expect(threaded.stats).toMatchObject({ requests: 2, retries: 1 });

    const slow = clients(served.url, { timeoutMs: 50, maxTries: 1 });
    fake.failNext(1, { delayMs: 400 });
    expect(seen(await failure(slow.threaded.getMe()))).toMatchObject({ kind: "timeout", retryable: true });
    expect(thread.inFlight).toBe(0);
  });

  it("stops a request the caller aborts: the caller's reason at once, and the thread closes the connection", async () => {
    let closedByClient!: () => void;
    const gone = new Promise<void>((r) => (closedByClient = r));
    rawAnswer = (res) => res.on("close", () => closedByClient()); // never answers
    const { threaded } = clients(rawUrl);
    const stop = new AbortController();
    const pending = failure(threaded.getMe({ signal: stop.signal }));
    await new Promise((r) => setTimeout(r, 100));
    expect(thread.inFlight).toBe(1);
    const reason = new Error("run stopped");
    stop.abort(reason);
    expect(await pending).toBe(reason);
    expect(thread.inFlight).toBe(0);
    await gone;
  });

  it("measures round trips in the thread: a slow answer's headers show in its latency", async () => {
    rawAnswer = (res) => setTimeout(() => res.writeHead(200, { "content-type": "application/json", "ratelimit-remaining": "4" }).end("{}"), 120);
    const reply = await thread.http({ method: "GET", url: `${rawUrl}/api/3/users/me`, headers: {}, maxBytes: 1024, guarded: false }, new AbortController().signal);
    expect(reply.latencyMs).toBeGreaterThanOrEqual(100);
    expect(reply.headers).toEqual({ "content-type": "application/json", "ratelimit-remaining": "4" });
  });

  it("refuses private addresses in the thread when the request is guarded, an IP or a name that resolves to one (as the thread's pools do here)", async () => {
    fake.clearRequests();
    for (const host of ["127.0.0.1", "localhost"]) {
      const request = { method: "GET", url: `http://${host}:${served.port}/api/3/users/me`, headers: { "Api-Token": fake.apiKey }, maxBytes: 1024, guarded: true };
      const there = await failure(thread.http(request, new AbortController().signal));
      // The thread's own choice of pool (pooledHttp), in this thread where a test can see it.
      const here = await failure(pooledHttp(globalThis.fetch)(request)(request, new AbortController().signal));
      expect(seen(acErrorIn(there)), host).toEqual(seen(acErrorIn(here)));
      expect(acErrorIn(there), host).toMatchObject({ kind: "invalid_url", message: expect.stringMatching(/private or local/) });
    }
    expect(fake.requests).toEqual([]); // none reached the fake AC
  });
});

describe("the HTTP thread's life", () => {
  /** A thread that exits on its first request (after saying it started it, with `afterStart`); those started after it are real. */
  const dyingThread = (afterStart: boolean) =>
    createAcHttpThread({
      entry: {
        file: new URL("./support/dying-http-thread.mjs", import.meta.url),
        workerData: { ...(SOURCE_ENTRY.workerData as object), died: new Int32Array(new SharedArrayBuffer(4)), afterStart },
      },
    });
  /** A client of the fake AC whose requests go through `http`, retried at once. */
  const clientOn = (http: AcHttpThread["http"]) =>
    createAcClient({ apiUrl: served.url, apiKey: fake.apiKey, limiters: createAcLimiters({ requestsPerSecond: 1000 }), allowPrivateHosts: true, sleep: async () => {}, http });

  it("fails the requests of a thread that died as network errors, which the client retries on a new thread", async () => {
    const dying = dyingThread(false);
    try {
      const client = clientOn(dying.http);
      // The first thread exits on its first request; the retry starts a second one, which answers.
      await expect(client.getMe()).resolves.toMatchObject({ email: "admin@example.com" });
      expect(client.stats).toMatchObject({ requests: 2, retries: 1 });
      expect(dying.inFlight).toBe(0);
    } finally {
      await dying.close();
    }
  });

  it("sends a request that is not idempotent again when its thread died before starting it: the tag is created once", async () => {
    const dying = dyingThread(false);
    try {
      fake.clearRequests();
      const client = clientOn(dying.http);
      const tag = await client.createTag("never sent twice", "");
      expect(client.stats).toMatchObject({ requests: 2, retries: 1 });
      // Only the second thread's request reached AC, and created the tag.
      expect(fake.requests.filter((r) => r.method === "POST" && r.path === "/api/3/tags")).toHaveLength(1);
      expect((await client.listTags()).filter((t) => t.name === "never sent twice").map((t) => t.id)).toEqual([tag.id]);
    } finally {
      await dying.close();
    }
  });

  it("does not send it again when the thread died after starting it (it may have reached AC): a network error the caller sees", async () => {
    const dying = dyingThread(true);
    try {
      fake.clearRequests();
      const client = clientOn(dying.http);
      const err = await failure(client.createTag("maybe sent", ""));
      expect(err).toBeInstanceOf(AcError);
      expect(err).toMatchObject({ kind: "unreachable", retryable: true, notSent: false });
      expect(client.stats).toMatchObject({ requests: 1, retries: 0 });
      // The client goes on: the next thread answers.
      await expect(client.getMe()).resolves.toMatchObject({ email: "admin@example.com" });
    } finally {
      await dying.close();
    }
  });

  it("the real thread says it started a POST: when it dies with the POST at AC, the POST is not sent again and AC holds one tag", async () => {
    const dying = createAcHttpThread({
      entry: {
        file: new URL("./support/http-thread-dies-after-post.mjs", import.meta.url),
        workerData: { ...(SOURCE_ENTRY.workerData as object), died: new Int32Array(new SharedArrayBuffer(4)) },
      },
    });
    try {
      await dying.ready();
      fake.clearRequests();
      // AC holds its answer 1 s; the thread dies 300 ms after it was handed the POST.
      fake.failNext(1, { delayMs: 1_000 }, (r) => r.method === "POST");
      const client = clientOn(dying.http);
      const err = await failure(client.createTag("reached AC once", ""));
      expect(err).toMatchObject({ kind: "unreachable", notSent: false });
      expect(client.stats).toMatchObject({ requests: 1, retries: 0 });
      // AC goes on with the request it holds: it creates the tag, once.
      const posts = () => fake.requests.filter((r) => r.method === "POST" && r.path === "/api/3/tags").length;
      for (let i = 0; i < 60 && posts() === 0; i++) await new Promise((resolve) => setTimeout(resolve, 50));
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(posts()).toBe(1);
      expect((await client.listTags()).filter((t) => t.name === "reached AC once")).toHaveLength(1);
    } finally {
      await dying.close();
    }
  });

  it("a POST aborted before its thread says it started it: the late word is ignored, and the thread goes on", async () => {
    const own = createAcHttpThread();
    try {
      await own.ready();
      const request = { method: "POST", url: `${served.url}/api/3/tags`, headers: { "Api-Token": fake.apiKey }, body: "{}", maxBytes: 4096, guarded: false };
      const stop = new AbortController();
      const aborted = failure(own.http(request, stop.signal));
      stop.abort(new Error("the caller stopped"));
      expect(await aborted).toMatchObject({ message: "the caller stopped" });
      // The thread's "started" for it comes after: were it taken for a waiting request, this
      // thread's listener would throw.
      await new Promise((resolve) => setTimeout(resolve, 100));
      const me = await own.http({ method: "GET", url: `${served.url}/api/3/users/me`, headers: { "Api-Token": fake.apiKey }, maxBytes: 4096, guarded: false }, new AbortController().signal);
      expect(me.status).toBe(200);
      expect(own.inFlight).toBe(0);
    } finally {
      await own.close();
    }
  });

  it("a POST still waiting when the thread is closed fails as a plain network error, not as never sent: there is no thread to send it again on", async () => {
    const closing = createAcHttpThread();
    const request = { method: "POST", url: `${served.url}/api/3/tags`, headers: { "Api-Token": fake.apiKey }, body: "{}", maxBytes: 1024, guarded: false };
    // Handed over before the new thread listens, then closed at once: it never starts it.
    const waiting = failure(closing.http(request, new AbortController().signal));
    await closing.close();
    const err = await waiting;
    expect(err).toBeInstanceOf(Error);
    expect(err).not.toBeInstanceOf(NotSentError);
    expect((err as Error).message).toMatch(/stopped before the answer came/);
  });

  it("keeps the process alive while a request waits on it, and not once the answer is in", async () => {
    const script = fileURLToPath(new URL("./support/http-thread-exit.ts", import.meta.url));
    // The fake AC holds the answer 1.5 s: with nothing else to wait on, the process would end
    // before it (exit code 13, a top-level await never settled) were the thread not holding it.
    fake.failNext(1, { delayMs: 1_500 });
    const child = await run(process.execPath, ["--import", "tsx", script, served.url, fake.apiKey], { encoding: "utf8", timeout: 20_000 });
    expect(child.stderr).toBe("");
    expect(child.stdout.trim()).toBe("answered admin@example.com");
  });

  it("is ready once its thread listens, and says so at once when its file cannot start", async () => {
    const t = createAcHttpThread();
    await t.ready();
    expect(t.inFlight).toBe(0);
    await t.close();
    const missing = createAcHttpThread({ entry: { file: new URL("./support/no-such-thread.mjs", import.meta.url) } });
    await expect(missing.ready()).rejects.toThrow(/no-such-thread|Cannot find module|stopped/);
    await missing.close();
  });

  it("refuses requests once closed, as a network error the caller can retry", async () => {
    const t = createAcHttpThread();
    await t.close();
    const client = createAcClient({ apiUrl: served.url, apiKey: fake.apiKey, limiters: createAcLimiters({ requestsPerSecond: 1000 }), allowPrivateHosts: true, maxTries: 1, http: t.http });
    expect(seen(await failure(client.getMe()))).toMatchObject({ kind: "unreachable", retryable: true });
  });
});

describe("what crosses from the HTTP thread", () => {
  const page = JSON.stringify({ contacts: [{ id: "7", email: "a@b.test", firstName: "A", lastName: null, bounced_hard: "1", bounced_soft: 0, cdate: "2026-11-01", links: {} }], meta: { total: "1" } });
  const reply = (status: number, text: string, contentType = "application/json") => ({ status, headers: { "content-type": contentType }, text });

  it("a page is parsed there only when the client would read it as it is: a 2xx JSON body of the shape", () => {
    expect(shapedValue(reply(200, page), "contactsPage")).toEqual({
      contacts: [{ id: "7", email: "a@b.test", firstName: "A", lastName: "", bounced_hard: true, bounced_soft: false, cdate: "2026-11-01" }],
      meta: { total: "1" },
    });
    expect(shapedValue(reply(299, page), "contactsPage")).toBeDefined();
    // Everything else is left to the client's own reading (and its words).
    for (const [status, text, type] of [
      [199, page, undefined],
      [300, page, undefined],
      [404, page, undefined],
      [200, "  ", undefined],
      [200, page, "text/HTML; charset=utf-8"],
      [200, "{not json", undefined],
      [200, JSON.stringify({ contacts: [{ id: "x" }] }), undefined],
    ] as const) {
      expect(shapedValue(reply(status, text, type), "contactsPage"), `${status} ${text.slice(0, 20)} ${type}`).toBeUndefined();
    }
  });

  it("an error crosses with the codes along its causes and the AcError met on the way", () => {
    const refused = new TypeError("fetch failed", { cause: new AggregateError([Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), { code: "ECONNREFUSED" }), Object.assign(new Error("v6"), { code: "EADDRNOTAVAIL" })]) });
    const wire = toWire(refused);
    expect(wire).toEqual({ message: "fetch failed", codes: ["ECONNREFUSED", "EADDRNOTAVAIL"] });
    const again = fromWire(structuredClone(wire));
    expect(again.message).toBe("fetch failed");
    const inner = (again.cause as AggregateError).errors;
    expect(inner.map((e: { code?: string }) => e.code)).toEqual(["ECONNREFUSED", "EADDRNOTAVAIL"]);
    expect(acErrorIn(again)).toBeUndefined();

    const tooLarge = new AcError("bad_response", "more than 4 MB", { status: 200 });
    const guarded = new TypeError("fetch failed", { cause: new AcError("invalid_url", "private or local address", { retryable: false }) });
    for (const [err, ac] of [
      [tooLarge, { kind: "bad_response", message: "more than 4 MB", status: 200, retryable: false }],
      [guarded, { kind: "invalid_url", message: "private or local address", retryable: false }],
    ] as const) {
      const w = toWire(err);
      expect(w.ac).toEqual(ac);
      expect(seen(acErrorIn(fromWire(structuredClone(w))))).toEqual({ retryAfterMs: undefined, ...("status" in ac ? {} : { status: undefined }), ...ac });
    }
    // A cause chain that loops stops at five levels.
    const loop = new Error("loop") as Error & { cause?: unknown; code?: string };
    loop.code = "ELOOP";
    loop.cause = loop;
    expect(toWire(loop).codes).toEqual(Array(6).fill("ELOOP"));
    expect(toWire("plain words")).toEqual({ message: "plain words", codes: [] });
  });
});

describe("one exchange in this thread (fetchHttp)", () => {
  const answer = (body: BodyInit | null, headers: Record<string, string> = {}, status = 200) => fetchHttp(async () => new Response(body, { status, headers }), undefined);
  const ask = (extra: Partial<AcHttpRequest> = {}): AcHttpRequest => ({ method: "GET", url: "https://acct.api-us1.com/api/3/users/me", headers: {}, maxBytes: 10, guarded: false, ...extra });
  const signal = new AbortController().signal;

  it("hands back the headers the client reads, only those AC sent", async () => {
    const reply = await answer("{}", { "content-type": "application/json", "x-other": "1" })(ask(), signal);
    expect(reply).toMatchObject({ status: 200, text: "{}", headers: { "content-type": "application/json" } });
    expect(Object.keys(reply.headers)).toEqual(["content-type"]);
  });

  it("untimed (no dispatcher), says the request left when called: after the time it was handed over with, 0 without one", async () => {
    expect((await answer("{}")(ask(), signal)).delayMs).toBe(0);
    expect((await answer("{}")(ask({ askedAt: Date.now() - 250 }), signal)).delayMs).toBeGreaterThanOrEqual(250);
    expect((await answer("{}")(ask({ askedAt: Date.now() + 60_000 }), signal)).delayMs).toBe(0);
  });

  it("reads a body of exactly the cap, and refuses one byte more, declared or streamed", async () => {
    expect((await answer("x".repeat(10), { "content-length": "10" })(ask(), signal)).text).toBe("x".repeat(10));
    expect((await answer("x".repeat(10))(ask(), signal)).text).toBe("x".repeat(10));
    for (const [body, headers] of [
      ["x".repeat(11), {}],
      [null, { "content-length": "11" }],
      ["x", { "content-length": "11" }],
    ] as const) {
      const err = await failure(answer(body, headers)(ask(), signal));
      expect(err, JSON.stringify(headers)).toMatchObject({ kind: "bad_response", message: expect.stringMatching(/answered with more than/) });
    }
  });
});

describe("an exchange's times on the wire (wire-times.ts)", () => {
  /** Answers /slow/<ms> with its headers after <ms>, then its body 150 ms later. */
  let timed: Server;
  let timedUrl: string;
  beforeAll(async () => {
    timed = createServer((req, res) => {
      const ms = Number(/\/slow\/(\d+)/.exec(req.url ?? "")?.[1] ?? 0);
      setTimeout(() => {
        res.writeHead(200, { "content-type": "application/json" });
        res.flushHeaders();
        setTimeout(() => res.end("{}"), 150);
      }, ms);
    });
    await new Promise<void>((r) => timed.listen(0, "127.0.0.1", r));
    timedUrl = `http://127.0.0.1:${(timed.address() as { port: number }).port}`;
  });
  afterAll(() => new Promise<void>((r) => timed.close(() => r())));

  /** `askedAt` null: not handed over with a time (the client's own fetch, in the main thread). */
  const ask = (path: string, askedAt: number | null = Date.now()): AcHttpRequest => ({
    method: "GET",
    url: `${timedUrl}${path}`,
    headers: {},
    maxBytes: 100,
    guarded: false,
    ...(askedAt === null ? {} : { askedAt }),
  });
  const signal = new AbortController().signal;
  /** A pool whose connections open `ms` late: a request waits that long before undici writes it. */
  const lateBy = (ms: number) => {
    const connector = buildConnector({});
    return new Agent({ connect: (options, callback) => void setTimeout(() => connector(options, callback), ms) });
  };

  it("says a request left when undici wrote it, not when fetch was called, whether handed over with a time or not", async () => {
    // Handed to the HTTP thread with a time, and in the main thread without one: both left 300 ms later.
    for (const askedAt of [Date.now(), null]) {
      const late = lateBy(300);
      try {
        const reply = await fetchHttp(globalThis.fetch, late)(ask("/slow/60", askedAt), signal);
        expect(reply.delayMs).toBeGreaterThanOrEqual(290);
        // The round trip still counts from the call, the wait for the connection (300 ms)
        // included, then the server's 60: the limiter counts the request from when it was asked
        // for until this answer says otherwise.
        expect(reply.latencyMs).toBeGreaterThanOrEqual(345);
      } finally {
        await late.close();
      }
    }
  });

  it("times requests sent at once each by its own write", async () => {
    const late = lateBy(300);
    const prompt = new Agent();
    try {
      const [slow, quick] = await Promise.all([fetchHttp(globalThis.fetch, late)(ask("/slow/0"), signal), fetchHttp(globalThis.fetch, prompt)(ask("/slow/0"), signal)]);
      expect(slow.delayMs).toBeGreaterThanOrEqual(290);
      expect(quick.delayMs).toBeLessThan(150);
    } finally {
      await Promise.all([late.close(), prompt.close()]);
    }
  });

  it("leaves untimed a request its pool queued (the connection busy): undici created it after the dispatch", async () => {
    const pool = new Pool(timedUrl, { connections: 1 });
    const first: WireTimes = {};
    const queued: WireTimes = {};
    try {
      const answers = [fetch(`${timedUrl}/slow/200`, { dispatcher: timedDispatcher(pool, first) } as RequestInit), fetch(`${timedUrl}/slow/0`, { dispatcher: timedDispatcher(pool, queued) } as RequestInit)];
      await Promise.all(answers.map(async (answer) => (await answer).text()));
      expect(first.sentAt).toBeTypeOf("number");
      // undici created its Request when the connection was free, after the dispatch: not ours to time.
      expect(queued).toEqual({});
    } finally {
      await pool.close();
    }
  });

  it("the HTTP thread's plain requests are timed too, through a pool of their own", async () => {
    const http = pooledHttp(globalThis.fetch)({ guarded: false });
    const asked = Date.now();
    const reply = http(ask("/slow/0", asked), signal);
    // This thread is busy for 150 ms after the call: undici writes the request after it.
    while (Date.now() - asked < 150);
    expect((await reply).delayMs).toBeGreaterThanOrEqual(145);
  });

  it("keeps its own clock when no dispatcher sends it (msw in tests): from the call to the answer", async () => {
    const reply = await fetchHttp(async () => {
      await new Promise((r) => setTimeout(r, 80));
      return new Response("{}");
    }, undefined)(ask("/"), signal);
    expect(reply.latencyMs).toBeGreaterThanOrEqual(75);
    expect(reply.delayMs).toBeLessThan(75);
  });
});

describe("errors as they cross, along odd causes", () => {
  it("stops at a null cause, keeps the first AcError met, follows only errors' causes, and stops an aggregate that holds itself", () => {
    expect(toWire(new Error("top", { cause: null }))).toEqual({ message: "top", codes: [] });
    const first = new AcError("invalid_url", "first", { retryable: false });
    const second = new AcError("bad_response", "second", { retryable: true });
    expect(toWire(new Error("two", { cause: new AggregateError([first, second]) })).ac).toMatchObject({ kind: "invalid_url", message: "first" });
    // A plain object's `cause` is not an error's: only its own code is read.
    const plain = { code: "EPLAIN", cause: Object.assign(new Error("inner"), { code: "EINNER" }) };
    expect(toWire(new Error("wrap", { cause: plain })).codes).toEqual(["EPLAIN"]);
    const self = Object.assign(new AggregateError([], "self"), { code: "ESELF" });
    self.errors.push(self);
    expect(toWire(self).codes).toEqual(Array(6).fill("ESELF"));
    expect(fromWire({ message: "bare", codes: [] }).cause).toBeUndefined();
  });
});
