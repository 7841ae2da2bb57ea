import { http, HttpResponse } from "msw";
import { setupServer } from "msw/node";
import { Writable } from "node:stream";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import {
  AUTH_MESSAGE,
  AcError,
  createAcClient,
  createAcLimiters,
  parseRetryAfter,
  type AcClientOptions,
  type AcLimiters,
  type Sleep,
} from "../core/ac/index.ts";
import { createLogger } from "../core/logger.ts";
import { FakeAc, fakeAcHandlers } from "./support/fake-ac.ts";

const BASE = "https://acct.api-us1.com";
const KEY = "sk-live-TOPSECRET-0123456789abcdef";

const server = setupServer();
beforeAll(() => server.listen({ onUnhandledRequest: "error" }));
afterEach(() => server.resetHandlers());
afterAll(() => server.close());

function setup(opts: { fake?: FakeAc; client?: Partial<AcClientOptions>; limiterSleep?: Sleep } = {}) {
  const logLines: string[] = [];
  const fake = opts.fake ?? new FakeAc({ baseUrl: BASE, apiKeys: [KEY], requestsPerSecond: 1000 });
  server.use(...fakeAcHandlers(fake));
  const sleeps: number[] = [];
  const pauses: number[] = [];
  const limiters: AcLimiters = createAcLimiters({
    requestsPerSecond: 1000,
    sleep:
      opts.limiterSleep ??
      (async (ms) => {
        pauses.push(ms);
      }),
  });
  const logger = createLogger({
    level: "debug",
    destination: new Writable({
      write(chunk, _enc, cb) {
        logLines.push(String(chunk));
        cb();
      },
    }),
  });
  const client = createAcClient({
    apiUrl: `${BASE}/api/3/`,
    apiKey: KEY,
    limiters,
    allowPrivateHosts: false,
    logger,
    random: () => 0.5,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    ...opts.client,
  });
  return { fake, client, sleeps, pauses, logLines, limiter: limiters.forHost("acct.api-us1.com") };
}

async function failure(p: Promise<unknown>): Promise<AcError> {
  const err = await p.then(
    () => {
      throw new Error("expected a rejection");
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AcError);
  return err as AcError;
}

describe("AC client: reading an answer", () => {
  it("joins a character split across chunks and drops a byte-order mark, as a text decoder would", async () => {
    const { client } = setup();
    const bytes = Buffer.from('\uFEFF{"user":{"id":"7","username":"zoe","email":"zoe@example.com","firstName":"Zoë","lastName":"Ødegård"}}', "utf8");
    const split = bytes.indexOf(Buffer.from("ë")) + 1; // between the two bytes of "ë"
    server.use(
      http.get(`${BASE}/api/3/users/me`, () => {
        const body = new ReadableStream<Uint8Array>({
          start(controller) {
            controller.enqueue(bytes.subarray(0, split));
            controller.enqueue(bytes.subarray(split));
            controller.close();
          },
        });
        return new HttpResponse(body, { headers: { "content-type": "application/json" } });
      }),
    );
    expect(await client.getMe()).toMatchObject({ id: "7", firstName: "Zoë", lastName: "Ødegård" });
  });
});

describe("AC client: errors", () => {
  it("maps a 403 for a bad key to the auth message without retrying", async () => {
    const { client, fake } = setup({ client: { apiKey: "wrong-key-123456" } });
    const err = await failure(client.getMe());
    expect(err).toMatchObject({ kind: "auth", status: 403, message: AUTH_MESSAGE });
    expect(fake.requests).toHaveLength(1);
  });

  it("maps AC's errors-shaped 403 served as text/plain to the auth message", async () => {
    const fake = new FakeAc({ baseUrl: BASE, apiKeys: [KEY], requestsPerSecond: 1000, authErrorStyle: "errors" });
    const { client } = setup({ fake, client: { apiKey: "wrong-key-123456" } });
    const err = await failure(client.listLists());
    expect(err).toMatchObject({ kind: "auth", status: 403, message: AUTH_MESSAGE });
    expect(err.details?.[0]?.title).toBe("Forbidden");
  });

  it("maps a 401 to the auth message", async () => {
    const { client } = setup();
    server.use(http.get(`${BASE}/api/3/users/me`, () => HttpResponse.json({ message: "Unauthorized" }, { status: 401 })));
    expect(await failure(client.getMe())).toMatchObject({ kind: "auth", status: 401, message: AUTH_MESSAGE });
  });

  it("refuses an empty or malformed key before sending anything", async () => {
    const { client, fake } = setup({ client: { apiKey: "abc\ndef" } });
    expect(await failure(client.getMe())).toMatchObject({ kind: "auth" });
    expect(fake.requests).toHaveLength(0);
  });

  it("maps a network error to 'Could not reach that API URL' after retrying a GET", async () => {
    const { client, sleeps } = setup({ client: { maxTries: 3 } });
    server.use(http.get(`${BASE}/api/3/users/me`, () => HttpResponse.error()));
    const err = await failure(client.getMe());
    expect(err.kind).toBe("unreachable");
    expect(err.message).toMatch(/^Could not reach that API URL/);
    expect(client.stats.requests).toBe(3);
    expect(sleeps).toEqual([375, 750]); // equal jitter at random() = 0.5: 500 ms, then 1 s
  });

  it("passes AC's message through for a 404", async () => {
    const { client } = setup();
    const err = await failure(client.getContactLists("999"));
    expect(err).toMatchObject({ kind: "not_found", status: 404, message: "No Result found for Subscriber with id 999" });
  });

  it("joins AC's errors[] for a 422", async () => {
    const { client, fake } = setup();
    const contact = fake.addContact({ email: "a@example.com" });
    const err = await failure(client.unsubscribe(contact, "77"));
    expect(err.kind).toBe("validation");
    expect(err.status).toBe(422);
    expect(err.message).toBe("ActiveCampaign rejected the request: The related list does not exist. (list)");
    expect(err.details).toEqual([{ title: "The related list does not exist.", code: "related_missing", pointer: "/data/attributes/list" }]);
    expect(client.stats.requests).toBe(1);
  });

  it("joins several 422 errors with their details", async () => {
    const { client } = setup();
    server.use(
      http.post(`${BASE}/api/3/contacts`, () =>
        HttpResponse.json(
          {
            errors: [
              { title: "Email address already exists in the system", detail: "", code: "duplicate", source: { pointer: "/data/attributes/email" } },
              { title: "Field missing", detail: "firstName is required" },
            ],
          },
          { status: 422 },
        ),
      ),
    );
    const err = await failure(client.request("POST", "/api/3/contacts", { body: { contact: { email: "a@b.c" } } }));
    expect(err.message).toBe(
      "ActiveCampaign rejected the request: Email address already exists in the system (email); Field missing: firstName is required",
    );
  });

  it("maps a 400 with an empty {} body to a validation error naming the status", async () => {
    const { client } = setup();
    server.use(http.post(`${BASE}/api/3/contacts`, () => HttpResponse.json({}, { status: 400 })));
    const err = await failure(client.request("POST", "/api/3/contacts", { body: {} }));
    expect(err).toMatchObject({ kind: "validation", status: 400, message: "ActiveCampaign rejected the request (HTTP 400)" });
  });

  it("gives up with rate_limited when every try gets a 429", async () => {
    const { client, pauses } = setup({ client: { maxTries: 3 } });
    server.use(
      http.get(`${BASE}/api/3/users/me`, () =>
        HttpResponse.json({ message: "Too Many Requests" }, { status: 429, headers: { "Retry-After": "1" } }),
      ),
    );
    const err = await failure(client.getMe());
    expect(err).toMatchObject({ kind: "rate_limited", status: 429 });
    expect(err.message).toMatch(/too many requests.*after 3 tries/i);
    expect(client.stats).toEqual({ requests: 3, retries: 2, rateLimited: 3 });
    expect(pauses).toEqual([1000, 1000, 1000]);
  });

  it("maps malformed JSON to bad_response (retried for a GET)", async () => {
    const { client } = setup({ client: { maxTries: 2 } });
    server.use(
      http.get(`${BASE}/api/3/users/me`, () => new HttpResponse('{"user":{"id":"1","email":', { headers: { "content-type": "application/json" } })),
    );
    const err = await failure(client.getMe());
    expect(err).toMatchObject({ kind: "bad_response", status: 200 });
    expect(client.stats.requests).toBe(2);
  });

  it("maps a body cut short by AC to bad_response, and recovers when the retry is whole", async () => {
    const { client, fake } = setup();
    fake.failNext(1, { truncate: true });
    await expect(client.getMe()).resolves.toMatchObject({ email: "admin@example.com" });
    fake.failNext(5, { truncate: true });
    expect(await failure(client.getMe())).toMatchObject({ kind: "bad_response" });
  });

  it("maps an empty 200 body where JSON is expected to bad_response", async () => {
    const { client, fake } = setup({ client: { maxTries: 1 } });
    fake.failNext(1, { empty: true });
    expect(await failure(client.listTags())).toMatchObject({ kind: "bad_response", message: expect.stringMatching(/empty/) });
  });

  it("maps a 200 with the wrong shape to bad_response", async () => {
    const { client } = setup();
    server.use(http.get(`${BASE}/api/3/users/me`, () => HttpResponse.json({ hello: "world" })));
    expect(await failure(client.getMe())).toMatchObject({ kind: "bad_response" });
  });

  it("says so when the URL serves a web page instead of the API", async () => {
    const { client } = setup();
    server.use(http.get(`${BASE}/api/3/users/me`, () => HttpResponse.html("<html>login</html>")));
    const err = await failure(client.getMe());
    expect(err).toMatchObject({ kind: "bad_response" });
    expect(err.message).toMatch(/web page/);
    expect(client.stats.requests).toBe(1);
  });

  it("does not follow redirects", async () => {
    const { client } = setup();
    server.use(http.get(`${BASE}/api/3/users/me`, () => new HttpResponse(null, { status: 302, headers: { Location: "http://169.254.169.254/" } })));
    expect(await failure(client.getMe())).toMatchObject({ kind: "invalid_url", status: 302 });
  });

  it("times out a request that takes too long and retries it", async () => {
    const { client, fake } = setup({ client: { timeoutMs: 30, maxTries: 2 } });
    fake.failNext(2, { delayMs: 300 });
    const err = await failure(client.getMe());
    expect(err).toMatchObject({ kind: "timeout" });
    expect(err.message).toMatch(/did not answer within/);
    expect(client.stats.requests).toBe(2);
  });

  it("rejects with the caller's abort reason, not an AcError", async () => {
    const { client, fake } = setup();
    fake.failNext(1, { delayMs: 300 });
    const controller = new AbortController();
    const p = client.getMe({ signal: controller.signal });
    controller.abort(new Error("run cancelled"));
    await expect(p).rejects.toThrow("run cancelled");
  });

  it("never puts the API key in an error message, its details or the log", async () => {
    const { client, fake, logLines } = setup({ client: { maxTries: 2, timeoutMs: 30 } });
    const list = fake.addList("L");
    server.use(
      http.get(`${BASE}/api/3/tags`, () => HttpResponse.json({ message: `key ${KEY} is not valid here` }, { status: 404 })),
      http.get(`${BASE}/api/3/contacts/5/contactLists`, () =>
        HttpResponse.json({ errors: [{ title: `Token ${KEY}`, detail: KEY }] }, { status: 422 }),
      ),
      http.get(`${BASE}/api/3/contacts/6/contactLists`, () => HttpResponse.error()),
    );
    const errors: AcError[] = [];
    errors.push(await failure(client.listTags()));
    errors.push(await failure(client.getContactLists("5")));
    errors.push(await failure(client.getContactLists("6")));
    errors.push(await failure(client.unsubscribe(fake.addContact({ email: "x@example.com" }), "999")));
    fake.failNext(2, { status: 429, headers: { "Retry-After": "1" } });
    errors.push(await failure(client.getMe()));
    fake.failNext(2, { truncate: true });
    errors.push(await failure(client.getMe()));
    fake.failNext(2, { delayMs: 200 });
    errors.push(await failure(client.getMe()));
    fake.apiKeys.clear();
    errors.push(await failure(client.getMe()));
    expect(errors.map((e) => e.kind)).toEqual([
      "not_found",
      "validation",
      "unreachable",
      "validation",
      "rate_limited",
      "bad_response",
      "timeout",
      "auth",
    ]);
    expect(errors[0]?.message).toBe("key [redacted] is not valid here");
    for (const e of errors) {
      expect(e.message).not.toContain(KEY);
      expect(String(e.stack)).not.toContain(KEY);
      expect(JSON.stringify(e.details ?? null)).not.toContain(KEY);
    }
    expect(logLines.length).toBeGreaterThan(10);
    expect(logLines.join("\n")).not.toContain(KEY);
  });
});

describe("AC client: retries", () => {
  it("retries a 503 and succeeds", async () => {
    const { client, fake, sleeps } = setup();
    fake.failNext(1, { status: 503 });
    await expect(client.getMe()).resolves.toEqual({
      id: "1",
      username: "admin",
      email: "admin@example.com",
      firstName: "Ada",
      lastName: "Admin",
    });
    expect(fake.requests.map((r) => r.status)).toEqual([503, 200]);
    expect(client.stats).toEqual({ requests: 2, retries: 1, rateLimited: 0 });
    expect(sleeps).toEqual([375]);
  });

  it.each([500, 502, 504])("retries a %i for a GET", async (status) => {
    const { client, fake } = setup();
    fake.failNext(2, { status });
    await expect(client.listTags()).resolves.toEqual([]);
    expect(client.stats.requests).toBe(3);
  });

  it("does not retry a 503 or a network error for a plain POST", async () => {
    const { client, fake } = setup();
    fake.failNext(1, { status: 503 });
    expect(await failure(client.request("POST", "/api/3/contacts", { body: { contact: { email: "x@y.z" } } }))).toMatchObject({
      kind: "server",
      status: 503,
    });
    fake.failNext(1, { reset: true });
    expect(await failure(client.request("POST", "/api/3/contacts", { body: { contact: { email: "x@y.z" } } }))).toMatchObject({
      kind: "unreachable",
    });
    expect(client.stats.requests).toBe(2);
  });

  it("does not send an unsubscribe or a delete again after an answer that may have been lost (503, reset): the caller checks first", async () => {
    const { client, fake } = setup();
    const list = fake.addList("Newsletter");
    const contact = fake.addContact({ email: "a@example.com", lists: { [list]: 1 } });
    fake.failNext(1, { status: 503 });
    await expect(client.unsubscribe(contact, list)).rejects.toMatchObject({ kind: "server", retryable: true });
    fake.failNext(1, { reset: true });
    await expect(client.unsubscribe(contact, list)).rejects.toMatchObject({ kind: "unreachable", retryable: true });
    fake.failNext(1, { answerLost: true });
    await expect(client.deleteContact(contact)).rejects.toMatchObject({ kind: "unreachable" });
    expect(fake.requests.map((r) => `${r.method} ${r.status}`)).toEqual(["POST 503", "POST 0", "DELETE 200"]);
    expect(fake.contacts.has(contact)).toBe(false);
  });

  it("retries an unsubscribe that got a 429: AC did nothing with it", async () => {
    const { client, fake } = setup();
    const list = fake.addList("Newsletter");
    const contact = fake.addContact({ email: "a@example.com", lists: { [list]: 1 } });
    fake.failNext(1, { status: 429, headers: { "Retry-After": "0" } });
    await client.unsubscribe(contact, list);
    expect(fake.listStatus(contact, list)).toBe(2);
    expect(fake.requests.map((r) => r.status)).toEqual([429, 200]);
  });

  it("retries a 429 for any method, after pausing the host for Retry-After", async () => {
    const { client, fake, pauses, sleeps } = setup();
    fake.failNext(1, { status: 429, headers: { "Retry-After": "2" } });
    await expect(client.request("POST", "/api/3/contactLists", { body: { contactList: { list: 1, contact: 1, status: 2 } } })).rejects.toMatchObject({
      kind: "validation",
    });
    expect(pauses).toEqual([2000]);
    expect(sleeps).toEqual([]);
    expect(fake.requests.map((r) => r.status)).toEqual([429, 422]);
    expect(client.stats).toEqual({ requests: 2, retries: 1, rateLimited: 1 });
  });

  it("caps a huge Retry-After", async () => {
    const { client, fake, pauses } = setup({ client: { maxRetryAfterMs: 5_000 } });
    fake.failNext(1, { status: 429, headers: { "Retry-After": "3600" } });
    await client.getMe();
    expect(pauses).toEqual([5_000]);
  });

  it("holds every request to the host while a 429's Retry-After runs, not just the one that got it", async () => {
    let release!: () => void;
    const { client, fake, limiter } = setup({
      limiterSleep: () =>
        new Promise<void>((resolve) => {
          release = resolve;
        }),
    });
    fake.failNext(1, { status: 429, headers: { "Retry-After": "1" } });
    const first = client.getMe();
    await vi.waitFor(() => expect(limiter.pausedUntil).not.toBeNull());
    const second = client.listLists();
    await vi.waitFor(() => expect(limiter.queued).toBe(2));
    expect(fake.requests).toHaveLength(1);
    release();
    await Promise.all([first, second]);
    expect(fake.requests.map((r) => r.status)).toEqual([429, 200, 200]);
    expect(limiter.pausedUntil).toBeNull();
  });

  it("also pauses the host when a 503 carries Retry-After", async () => {
    const { client, fake, pauses, sleeps } = setup();
    fake.failNext(1, { status: 503, headers: { "Retry-After": "3" } });
    await client.getMe();
    expect(pauses).toEqual([3000]);
    expect(sleeps).toEqual([]);
  });

  it("exposes the latest RateLimit-Remaining", async () => {
    const { client } = setup();
    expect(client.rateLimitRemaining).toBeNull();
    await client.getMe();
    expect(client.rateLimitRemaining).toBe(999);
  });

  it("parses Retry-After as seconds or an HTTP date", () => {
    const now = Date.parse("2026-11-02T09:00:00Z");
    expect(parseRetryAfter("30", now)).toBe(30_000);
    expect(parseRetryAfter("0.5", now)).toBe(500);
    expect(parseRetryAfter("Mon, 02 Nov 2026 09:00:07 GMT", now)).toBe(7_000);
    expect(parseRetryAfter("Mon, 02 Nov 2026 08:00:00 GMT", now)).toBe(0);
    expect(parseRetryAfter("soon", now)).toBeUndefined();
    expect(parseRetryAfter(null, now)).toBeUndefined();
  });
});

describe("AC client: writes", () => {
  it("unsubscribes with an AC-shaped body: integer ids and status 2", async () => {
    const { client, fake } = setup();
    const list = fake.addList("Customers");
    const contact = fake.addContact({ email: "a@example.com", lists: { [list]: 1 } });
    // The membership's date AC gave the change comes back too: an undo compares it later (issue 14).
    await expect(client.unsubscribe(contact, list)).resolves.toEqual({ contactGone: false, updated: expect.any(String) });
    expect(fake.requests[0]).toMatchObject({
      method: "POST",
      path: "/api/3/contactLists",
      body: { contactList: { list: Number(list), contact: Number(contact), status: 2 } },
      status: 200,
    });
    expect(fake.listStatus(contact, list)).toBe(2);
  });

  it("makes status 1 (re-subscribe) impossible to send", async () => {
    const { client, fake } = setup();
    const list = fake.addList("Customers");
    const contact = fake.addContact({ email: "a@example.com", lists: { [list]: 2 } });
    for (const status of [1, "1", 0, undefined]) {
      await expect(
        client.request("POST", "/api/3/contactLists", { body: { contactList: { list: Number(list), contact: Number(contact), status } } }),
      ).rejects.toThrow(TypeError);
    }
    expect(fake.requests).toHaveLength(0);
    expect(fake.listStatus(contact, list)).toBe(2);
  });

  it("rejects ids that are not AC ids before sending", async () => {
    const { client, fake } = setup();
    await expect(client.unsubscribe("1 OR 1=1", "2")).rejects.toThrow(TypeError);
    await expect(client.deleteContact("../users/me")).rejects.toThrow(TypeError);
    await expect(client.request("GET", "/api/3/../../admin")).rejects.toThrow(TypeError);
    expect(fake.requests).toHaveLength(0);
  });

  it("deletes a contact, and reports one already gone on 404", async () => {
    const { client, fake } = setup();
    const id = fake.addContact({ email: "gone@example.com" });
    await expect(client.deleteContact(id)).resolves.toEqual({ alreadyGone: false });
    await expect(client.deleteContact(id)).resolves.toEqual({ alreadyGone: true });
    expect(fake.requests.map((r) => [r.method, r.path, r.status])).toEqual([
      ["DELETE", `/api/3/contacts/${id}`, 200],
      ["DELETE", `/api/3/contacts/${id}`, 404],
    ]);
  });

  it("sends Api-Token and Accept headers", async () => {
    const { client } = setup();
    const seen: Headers[] = [];
    server.use(
      http.get(`${BASE}/api/3/users/me`, ({ request }) => {
        seen.push(request.headers);
        return HttpResponse.json({ user: { id: 1, username: "u", email: "e@x.y", firstName: null, lastName: "L" } });
      }),
    );
    await expect(client.getMe()).resolves.toEqual({ id: "1", username: "u", email: "e@x.y", firstName: "", lastName: "L" });
    expect(seen[0]?.get("api-token")).toBe(KEY);
    expect(seen[0]?.get("accept")).toBe("application/json");
  });
});
