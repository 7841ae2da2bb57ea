import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FakeAc, startFakeAcServer, type FakeAcOptions, type FakeAcServer } from "../sandbox/fake-ac.ts";
import { startSandbox, type Sandbox } from "../sandbox/server.ts";

/**
 * The sandbox ActiveCampaign over real HTTP, point by point against the facts of
 * docs/activecampaign.md. test/ac-fake.test.ts covers the same fake in
 * process (sliding-window timing, fault injection, body validation details).
 */

interface Answer {
  status: number;
  headers: Headers;
  text: string;
  json: any;
}

function client(base: string, key: string) {
  return async (method: string, path: string, init: { body?: unknown; key?: string | null; headers?: Record<string, string> } = {}): Promise<Answer> => {
    const headers: Record<string, string> = { ...init.headers };
    if (init.key !== null) headers["Api-Token"] = init.key ?? key;
    if (init.body !== undefined) headers["Content-Type"] = "application/json";
    const res = await fetch(`${base}${path}`, {
      method,
      headers,
      ...(init.body === undefined ? {} : { body: typeof init.body === "string" ? init.body : JSON.stringify(init.body) }),
    });
    const text = await res.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    return { status: res.status, headers: res.headers, text, json };
  };
}

const started: { close(): Promise<void> }[] = [];
afterAll(async () => {
  await Promise.all(started.map((s) => s.close()));
});

/** A sandbox over HTTP with its own (frozen, unless advanced) clock. */
async function serve(opts: FakeAcOptions = {}) {
  let now = Date.parse("2026-11-02T09:00:00Z");
  const fake = new FakeAc({ now: () => now, requestsPerSecond: 1000, ...opts });
  const server: FakeAcServer = await startFakeAcServer(fake);
  started.push(server);
  return { fake, server, call: client(server.url, fake.apiKey), advance: (ms: number) => (now += ms) };
}

let world: Sandbox;
let call: ReturnType<typeof client>;
beforeAll(async () => {
  world = await startSandbox({ contacts: 300, requestsPerSecond: 1000 });
  started.push(world);
  call = client(world.url, world.apiKey);
});

describe("sandbox ActiveCampaign over HTTP", () => {
  it("is one account per base URL, under /api/3, checked with GET /users/me", async () => {
    expect(world.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const me = await call("GET", "/api/3/users/me");
    expect(me.status).toBe(200);
    expect(me.json).toEqual({ user: { id: "1", username: expect.any(String), firstName: expect.any(String), lastName: expect.any(String), email: expect.any(String), links: {} } });
    // A second account: its own URL, key, contacts; the first one's key means nothing there.
    const other = await serve({ apiKeys: ["other-account-key-0123456789"] });
    other.fake.addContacts(3);
    expect(other.server.url).not.toBe(world.url);
    expect((await other.call("GET", "/api/3/contacts")).json.meta.total).toBe("3");
    expect((await other.call("GET", "/api/3/users/me", { key: world.apiKey })).status).toBe(403);
    expect((await call("GET", "/api/3/contacts")).json.meta.total).toBe("300");
    // Only the v3 API lives at the base URL.
    const outside = await call("GET", "/users/me");
    expect(outside).toMatchObject({ status: 404, json: { message: expect.any(String) } });
    // Its links name its own URL.
    const contact = (await call("GET", "/api/3/contacts?limit=1")).json.contacts[0];
    expect(contact.links.contactLists).toBe(`${world.url}/api/3/contacts/${contact.id}/contactLists`);
  });

  it("authenticates with the Api-Token header only: a missing or wrong key gets 403 (401 where configured)", async () => {
    expect(await call("GET", "/api/3/users/me", { key: null })).toMatchObject({ status: 403, json: { message: expect.any(String) } });
    expect((await call("GET", "/api/3/lists", { key: "wrong-key" })).status).toBe(403);
    expect((await call("GET", "/api/3/lists", { key: null, headers: { Authorization: `Bearer ${world.apiKey}` } })).status).toBe(403);
    const errorsStyle = await serve({ authErrorStyle: "errors" });
    const refused = await errorsStyle.call("GET", "/api/3/lists", { key: "nope" });
    expect(refused.status).toBe(403);
    expect(refused.headers.get("content-type")).toMatch(/^text\/plain/);
    expect(refused.json).toEqual({ errors: [{ status: 403, title: "Forbidden", detail: expect.any(String) }] });
    const unauthorized = await serve({ authErrorStatus: 401 });
    expect((await unauthorized.call("GET", "/api/3/users/me", { key: "nope" })).status).toBe(401);
  });

  it("allows 5 requests per second for the whole account, every key together, then 429 with Retry-After and RateLimit headers", async () => {
    const { fake, call: hit, advance, server } = await serve({ requestsPerSecond: 5, apiKeys: ["first-user-key-0123456789", "second-user-key-0123456789"] });
    const second = client(server.url, "second-user-key-0123456789");
    // A burst of 12 concurrent requests from two users of the account, within one (frozen) second.
    const answers = await Promise.all(Array.from({ length: 12 }, (_, i) => (i % 2 ? second : hit)("GET", "/api/3/users/me")));
    const ok = answers.filter((a) => a.status === 200);
    const limited = answers.filter((a) => a.status === 429);
    expect(ok).toHaveLength(5);
    expect(limited).toHaveLength(7);
    expect(ok.map((a) => a.headers.get("ratelimit-remaining")).sort()).toEqual(["0", "1", "2", "3", "4"]);
    for (const a of [...ok, ...limited]) expect(a.headers.get("ratelimit-limit")).toBe("5");
    for (const a of limited) {
      expect(a.headers.get("retry-after")).toBe("1");
      expect(a.headers.get("ratelimit-remaining")).toBe("0");
    }
    advance(1_000);
    expect((await hit("GET", "/api/3/users/me")).status).toBe(200);
    // AC has also been seen answering 503 at the limit; the sandbox can be told to.
    fake.failNext(1, { status: 503, body: {} });
    expect((await hit("GET", "/api/3/users/me")).status).toBe(503);
  });

  it("pages lists and tags by limit (at most 100) and offset, with meta.total as a string", async () => {
    const { fake, call: get } = await serve();
    for (let i = 1; i <= 130; i++) fake.addList(`List ${i}`);
    fake.addTag("t");
    const first = await get("GET", "/api/3/lists?limit=500");
    expect(first.json.lists).toHaveLength(100);
    expect(first.json.meta.total).toBe("130");
    const rest = await get("GET", "/api/3/lists?limit=100&offset=100");
    expect(rest.json.lists.map((l: { name: string }) => l.name)).toEqual(Array.from({ length: 30 }, (_, i) => `List ${101 + i}`));
    expect((await get("GET", "/api/3/lists")).json.lists).toHaveLength(20);
    expect((await get("GET", "/api/3/tags")).json).toMatchObject({ tags: [{ tag: "t" }], meta: { total: "1" } });
  });

  it("pages contacts by keyset (orders[id]=ASC + id_greater), orders them otherwise not by id, and offset paging skips contacts deleted during the walk", async () => {
    const { fake, call: get } = await serve();
    fake.addContacts(250);
    const unordered = (await get("GET", "/api/3/contacts?limit=100")).json.contacts.map((c: { id: string }) => Number(c.id));
    expect(unordered).not.toEqual([...unordered].sort((a, b) => a - b));

    const walk = async (next: (page: { id: string }[], offset: number) => string) => {
      const seen: string[] = [];
      let query = "orders[id]=ASC&limit=100";
      for (let offset = 0; ; offset += 100) {
        const page = (await get("GET", `/api/3/contacts?${query}`)).json.contacts as { id: string }[];
        seen.push(...page.map((c) => c.id));
        // A cleaner deleting what it has read, as a hygiene run does.
        for (const c of page) expect((await get("DELETE", `/api/3/contacts/${c.id}`)).status).toBe(200);
        if (page.length < 100) return seen;
        query = next(page, offset + 100);
      }
    };
    const byOffset = await walk((_, offset) => `orders[id]=ASC&limit=100&offset=${offset}`);
    expect(byOffset).toHaveLength(150); // 101-200 were skipped
    for (const id of fake.deletedContacts.keys()) expect(fake.restoreContact(id)).toBe(true);
    const byKeyset = await walk((page) => `orders[id]=ASC&limit=100&id_greater=${page.at(-1)!.id}`);
    expect(byKeyset).toEqual(Array.from({ length: 250 }, (_, i) => String(i + 1)));
  });

  it("filters contacts by listid and tagid, with every field a string, bounced_hard included", async () => {
    const w = world.world!;
    const onList = w.contacts.filter((c) => c.lists["2"] !== undefined);
    const byList = await call("GET", "/api/3/contacts?listid=2&orders[id]=ASC&limit=100&include=contactLists");
    expect(byList.json.meta.total).toBe(String(onList.length));
    expect(byList.json.contacts.map((c: { id: string }) => c.id)).toEqual(onList.slice(0, 100).map((c) => c.id));
    const tagged = w.contacts.filter((c) => c.tagIds.includes("3"));
    const byTag = await call("GET", "/api/3/contacts?tagid=3&orders[id]=ASC&limit=100");
    expect(byTag.json.contacts.map((c: { email: string }) => c.email)).toEqual(tagged.map((c) => c.email));

    const bounced = w.contacts.find((c) => c.bouncedHard)!;
    const { contact } = (await call("GET", `/api/3/contacts/${bounced.id}`)).json;
    for (const field of ["id", "email", "firstName", "lastName", "phone", "bounced_hard", "bounced_soft", "cdate", "udate", "email_domain", "deleted"]) {
      expect({ field, type: typeof contact[field] }).toEqual({ field, type: "string" });
    }
    expect(contact).toMatchObject({ id: bounced.id, email: bounced.email, bounced_hard: "1", bounced_soft: "0" });
  });

  it("reports list membership with statuses 0-3, per contact and sideloaded with include=contactLists (best effort)", async () => {
    const w = world.world!;
    for (const status of [0, 1, 2, 3]) {
      const c = w.contacts.find((x) => Object.values(x.lists).includes(status))!;
      const memberships = (await call("GET", `/api/3/contacts/${c.id}/contactLists`)).json.contactLists as { contact: string; list: string; status: string }[];
      expect(memberships.map((m) => [m.list, m.status]).sort()).toEqual(Object.entries(c.lists).map(([l, s]) => [l, String(s)]).sort());
      expect(memberships.every((m) => m.contact === c.id)).toBe(true);
    }
    const page = (await call("GET", "/api/3/contacts?orders[id]=ASC&limit=10&include=contactLists")).json;
    const ids = new Set(page.contacts.map((c: { id: string }) => c.id));
    expect(page.contactLists.length).toBe(w.contacts.slice(0, 10).reduce((n, c) => n + Object.keys(c.lists).length, 0));
    expect(page.contactLists.every((m: { contact: string }) => ids.has(m.contact))).toBe(true);

    const { call: plain, fake } = await serve({ sideloadContactLists: false });
    fake.addList("L");
    fake.addContact({ email: "a@example.com", lists: { "1": 1 } });
    expect((await plain("GET", "/api/3/contacts?include=contactLists")).json).not.toHaveProperty("contactLists");
  });

  it("unsubscribes with POST /contactLists status 2 (200), and wants `list` as an integer", async () => {
    const { fake, call: post } = await serve();
    const list = fake.addList("L");
    const id = fake.addContact({ email: "a@example.com", lists: { [list]: 1 } });
    const asString = await post("POST", "/api/3/contactLists", { body: { contactList: { list, contact: Number(id), status: 2 } } });
    expect(asString).toMatchObject({ status: 422, json: { errors: [{ title: expect.any(String), code: "field_invalid", source: { pointer: "/data/attributes/list" } }] } });
    expect(fake.listStatus(id, list)).toBe(1);
    const ok = await post("POST", "/api/3/contactLists", { body: { contactList: { list: Number(list), contact: Number(id), status: 2 } } });
    expect(ok.status).toBe(200);
    expect(ok.json.contactList).toMatchObject({ contact: id, list, status: "2" });
    expect(fake.listStatus(id, list)).toBe(2);
    // Status 1 would re-subscribe: AC accepts it, which is why the product never sends it.
    expect((await post("POST", "/api/3/contactLists", { body: { contactList: { list: Number(list), contact: Number(id), status: 1 } } })).status).toBe(200);
    expect(fake.listStatus(id, list)).toBe(1);
  });

  it("deletes one contact per request: 200 {} and then 404, and keeps it restorable", async () => {
    const { fake, call: del } = await serve();
    const list = fake.addList("L");
    const id = fake.addContact({ email: "gone@example.com", lists: { [list]: 1 } });
    expect(await del("DELETE", `/api/3/contacts/${id}`)).toMatchObject({ status: 200, text: "{}" });
    expect(await del("DELETE", `/api/3/contacts/${id}`)).toMatchObject({ status: 404, json: { message: `No result found for contact with id ${id}` } });
    expect((await del("GET", `/api/3/contacts/${id}`)).status).toBe(404);
    expect((await del("GET", `/api/3/contacts?listid=${list}`)).json.meta.total).toBe("0");
    expect(fake.restoreContact(id)).toBe(true);
    expect((await del("GET", `/api/3/contacts/${id}/contactLists`)).json.contactLists).toEqual([expect.objectContaining({ list, status: "1" })]);
  });

  it("answers errors in AC's three shapes: {errors: [...]}, {message} and {}", async () => {
    const { call: send } = await serve();
    const errors = await send("POST", "/api/3/contactLists", { body: { nothing: true } });
    expect(errors).toMatchObject({ status: 422, json: { errors: [{ title: expect.any(String), detail: "", code: "field_missing", source: { pointer: expect.any(String) } }] } });
    const message = await send("GET", "/api/3/contacts/999");
    expect(message).toMatchObject({ status: 404, json: { message: expect.stringMatching(/No Result found/i) } });
    const empty = await send("POST", "/api/3/contactLists", { body: "{not json" });
    expect(empty).toMatchObject({ status: 400, text: "{}" });
  });
});
