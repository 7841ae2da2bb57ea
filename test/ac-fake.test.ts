import { describe, expect, it } from "vitest";
import { FakeAc } from "./support/fake-ac.ts";

function account(opts: ConstructorParameters<typeof FakeAc>[0] = {}) {
  let now = Date.parse("2026-11-02T09:00:00Z");
  const fake = new FakeAc({ now: () => now, ...opts });
  const call = async (method: string, path: string, init: { body?: unknown; key?: string | null } = {}) => {
    const headers: Record<string, string> = {};
    if (init.key !== null) headers["Api-Token"] = init.key ?? fake.apiKey;
    if (init.body !== undefined) headers["Content-Type"] = "application/json";
    const res = await fake.handle(
      new Request(`${fake.baseUrl}${path}`, {
        method,
        headers,
        ...(init.body === undefined ? {} : { body: typeof init.body === "string" ? init.body : JSON.stringify(init.body) }),
      }),
    );
    const text = await res.text();
    return { status: res.status, headers: res.headers, text, json: text ? (JSON.parse(text) as Record<string, unknown>) : undefined };
  };
  return { fake, call, advance: (ms: number) => (now += ms) };
}

describe("FakeAc", () => {
  it("answers 403 for a missing or wrong Api-Token, in either of AC's shapes", async () => {
    const { call } = account();
    expect(await call("GET", "/api/3/users/me", { key: null })).toMatchObject({ status: 403, json: { message: expect.any(String) } });
    const other = account({ authErrorStyle: "errors" });
    const res = await other.call("GET", "/api/3/lists", { key: "nope" });
    expect(res.status).toBe(403);
    expect(res.headers.get("content-type")).toMatch(/text\/plain/);
    expect(res.json).toMatchObject({ errors: [{ title: "Forbidden" }] });
  });

  it("allows 5 requests in any 1 s window, then answers 429 with Retry-After and RateLimit headers", async () => {
    const { fake, call, advance } = account();
    for (let i = 0; i < 5; i++) {
      const res = await call("GET", "/api/3/users/me");
      expect(res.status).toBe(200);
      expect(res.headers.get("ratelimit-limit")).toBe("5");
      expect(res.headers.get("ratelimit-remaining")).toBe(String(4 - i));
      advance(100);
    }
    const limited = await call("GET", "/api/3/users/me");
    expect(limited.status).toBe(429);
    expect(limited.headers.get("retry-after")).toBe("1");
    expect(limited.headers.get("ratelimit-remaining")).toBe("0");
    advance(500); // the first request is now 1000 ms old
    expect((await call("GET", "/api/3/users/me")).status).toBe(200);
    expect(fake.requests.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 429, 200]);
  });

  it("orders contacts by id only when asked, caps limit at 100 and sends meta.total as a string", async () => {
    const { fake, call } = account({ requestsPerSecond: 1000 });
    fake.addContacts(150);
    const unordered = await call("GET", "/api/3/contacts");
    const ids = (unordered.json?.contacts as { id: string }[]).map((c) => Number(c.id));
    expect(ids).toHaveLength(20);
    expect(ids).not.toEqual([...ids].sort((a, b) => a - b));
    expect(unordered.json?.meta).toMatchObject({ total: "150" });
    const ordered = await call("GET", "/api/3/contacts?orders%5Bid%5D=ASC&id_greater=120&limit=500");
    expect((ordered.json?.contacts as { id: string }[]).map((c) => c.id)).toEqual(Array.from({ length: 30 }, (_, i) => String(121 + i)));
    const capped = await call("GET", "/api/3/contacts?orders[id]=ASC&limit=500");
    expect(capped.json?.contacts).toHaveLength(100);
  });

  it("sideloads contactLists with string fields", async () => {
    const { fake, call } = account({ requestsPerSecond: 1000 });
    const list = fake.addList("L");
    const id = fake.addContact({ email: "a@example.com", lists: { [list]: 1 }, bouncedHard: true });
    const res = await call("GET", "/api/3/contacts?include=contactLists");
    expect(res.json?.contacts).toEqual([expect.objectContaining({ id, bounced_hard: "1", bounced_soft: "0" })]);
    expect(res.json?.contactLists).toEqual([expect.objectContaining({ contact: id, list, status: "1" })]);
  });

  it("upserts contactLists and validates the body like AC", async () => {
    const { fake, call } = account({ requestsPerSecond: 1000 });
    const list = fake.addList("L");
    const id = fake.addContact({ email: "a@example.com", lists: { [list]: 1 } });
    expect((await call("POST", "/api/3/contactLists", { body: { contactList: { list, contact: id, status: 2 } } })).status).toBe(422);
    expect((await call("POST", "/api/3/contactLists", { body: { contactList: { list: 99, contact: Number(id), status: 2 } } })).json).toMatchObject({
      errors: [{ code: "related_missing" }],
    });
    expect((await call("POST", "/api/3/contactLists", { body: "not json" })).status).toBe(400);
    const ok = await call("POST", "/api/3/contactLists", { body: { contactList: { list: Number(list), contact: Number(id), status: 2 } } });
    expect(ok.status).toBe(200);
    expect(ok.json?.contactList).toMatchObject({ status: "2" });
    expect(fake.listStatus(id, list)).toBe(2);
    expect(fake.requests.filter((r) => r.status === 200).map((r) => r.body)).toEqual([
      { contactList: { list: Number(list), contact: Number(id), status: 2 } },
    ]);
  });

  it("deletes a contact once, then answers 404 with AC's message", async () => {
    const { fake, call } = account({ requestsPerSecond: 1000 });
    const id = fake.addContact({ email: "a@example.com" });
    expect(await call("DELETE", `/api/3/contacts/${id}`)).toMatchObject({ status: 200, json: {} });
    expect(await call("DELETE", `/api/3/contacts/${id}`)).toMatchObject({
      status: 404,
      json: { message: `No result found for contact with id ${id}` },
    });
    expect(fake.contacts.size).toBe(0);
  });

  it("injects faults for matching requests only, then behaves again", async () => {
    const { fake, call } = account({ requestsPerSecond: 1000 });
    fake.failNext(2, { status: 503 }, (r) => r.path === "/api/3/tags");
    expect((await call("GET", "/api/3/lists")).status).toBe(200);
    expect((await call("GET", "/api/3/tags")).status).toBe(503);
    expect((await call("GET", "/api/3/tags")).status).toBe(503);
    expect((await call("GET", "/api/3/tags")).status).toBe(200);
    fake.failNext(1, { truncate: true });
    const cut = await call("GET", "/api/3/users/me").catch((e: unknown) => e);
    expect(cut).toBeInstanceOf(SyntaxError);
    expect(fake.faults).toHaveLength(0);
  });
});
