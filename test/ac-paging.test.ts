import { http, HttpResponse } from "msw";
import { setupServer } from "msw/node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createAcClient, createAcLimiters, type AcContact, type AcContactPage, type AcScope } from "../core/ac/index.ts";
import { FakeAc, fakeAcHandlers } from "./support/fake-ac.ts";

const BASE = "https://paging.api-us1.com";

const server = setupServer();
beforeAll(() => server.listen({ onUnhandledRequest: "error" }));
afterEach(() => server.resetHandlers());
afterAll(() => server.close());

function setup(fake = new FakeAc({ baseUrl: BASE, requestsPerSecond: 1000 })) {
  server.use(...fakeAcHandlers(fake));
  const client = createAcClient({
    apiUrl: BASE,
    apiKey: fake.apiKey,
    limiters: createAcLimiters({ requestsPerSecond: 1000 }),
    allowPrivateHosts: false,
    sleep: async () => {},
  });
  return { fake, client };
}

async function collect(pages: AsyncIterable<AcContactPage>): Promise<AcContact[]> {
  const out: AcContact[] = [];
  for await (const page of pages) out.push(...page.contacts);
  return out;
}

const contactRequests = (fake: FakeAc) => fake.requests.filter((r) => r.path === "/api/3/contacts");

describe("contact paging", () => {
  it("walks all contacts by id with keyset paging, without duplicates, and stops at the end", async () => {
    const { fake, client } = setup();
    const ids = fake.addContacts(250);
    const contacts = await collect(client.contactPages({ scope: { kind: "all" } }));
    expect(contacts.map((c) => c.id)).toEqual(ids);
    expect(new Set(contacts.map((c) => c.id)).size).toBe(250);
    const reqs = contactRequests(fake);
    expect(reqs.map((r) => r.query.id_greater)).toEqual(["0", "100", "200"]);
    expect(reqs[0]?.query).toMatchObject({ "orders[id]": "ASC", limit: "100", include: "contactLists" });
    expect(reqs[0]?.query).not.toHaveProperty("offset");
  });

  it("asks once more when the last page is exactly full, then stops", async () => {
    const { fake, client } = setup();
    fake.addContacts(200);
    expect(await collect(client.contactPages({ scope: { kind: "all" } }))).toHaveLength(200);
    expect(contactRequests(fake).map((r) => r.query.id_greater)).toEqual(["0", "100", "200"]);
  });

  it("follows id gaps and reports meta.total as a number", async () => {
    const { fake, client } = setup();
    for (const id of ["3", "17", "18", "400", "1000"]) fake.addContact({ id, email: `c${id}@example.com` });
    const page = await client.pageContacts({ scope: { kind: "all" }, limit: 2 });
    expect(page).toMatchObject({ total: 5, lastId: "17" });
    const next = await client.pageContacts({ scope: { kind: "all" }, limit: 2, afterId: page.lastId });
    expect(next.contacts.map((c) => c.id)).toEqual(["18", "400"]);
    expect(next.total).toBe(3); // AC counts what matches id_greater too
    const end = await client.pageContacts({ scope: { kind: "all" }, afterId: "1000" });
    expect(end).toEqual({ contacts: [], total: 0, lastId: null });
  });

  it("pages one list's contacts only", async () => {
    const { fake, client } = setup();
    const a = fake.addList("A");
    const b = fake.addList("B");
    const onA = fake.addContacts(150, (i) => ({ lists: i % 3 === 0 ? { [a]: 1, [b]: 2 } : { [b]: 1 } }));
    const expected = onA.filter((_, i) => i % 3 === 0);
    const contacts = await collect(client.contactPages({ scope: { kind: "list", listId: a } }));
    expect(contacts.map((c) => c.id)).toEqual(expected);
    expect(contactRequests(fake).every((r) => r.query.listid === a && r.query.tagid === undefined)).toBe(true);
    expect(contacts[0]?.lists).toEqual(expect.arrayContaining([{ listId: a, status: 1 }, { listId: b, status: 2 }]));
  });

  it("pages one tag's contacts only", async () => {
    const { fake, client } = setup();
    const vip = fake.addTag("vip");
    const ids = fake.addContacts(230, (i) => ({ tags: i % 2 === 1 ? [vip] : [] }));
    const contacts = await collect(client.contactPages({ scope: { kind: "tag", tagId: vip } }));
    expect(contacts.map((c) => c.id)).toEqual(ids.filter((_, i) => i % 2 === 1));
    expect(contactRequests(fake)).toHaveLength(2);
    expect(contactRequests(fake)[0]?.query.tagid).toBe(vip);
  });

  it.each<[string, AcScope]>([
    ["all", { kind: "all" }],
    ["list", { kind: "list", listId: "1" }],
  ])("does not skip contacts deleted during the walk (%s)", async (_name, scope) => {
    const { fake, client } = setup();
    const list = fake.addList("L");
    const ids = fake.addContacts(300, () => ({ lists: { [list]: 1 } }));
    const seen: string[] = [];
    for await (const page of client.contactPages({ scope })) {
      seen.push(...page.contacts.map((c) => c.id));
      for (const c of page.contacts.slice(0, 50)) await client.deleteContact(c.id);
    }
    expect(seen).toEqual(ids);
  });

  it("maps contact fields: strings kept, bounce flags to booleans", async () => {
    const { fake, client } = setup();
    const list = fake.addList("L");
    fake.addContact({ email: "hard@example.com", firstName: "Hal", lastName: "Hard", bouncedHard: true, lists: { [list]: 3 } });
    fake.addContact({ email: "soft@example.com", bouncedSoft: true });
    const { contacts } = await client.pageContacts({ scope: { kind: "all" } });
    expect(contacts).toEqual([
      { id: "1", email: "hard@example.com", firstName: "Hal", lastName: "Hard", bouncedHard: true, bouncedSoft: false, lists: [{ listId: list, status: 3 }] },
      { id: "2", email: "soft@example.com", firstName: "", lastName: "", bouncedHard: false, bouncedSoft: true, lists: [] },
    ]);
  });

  it("falls back to one contactLists request per contact when AC does not sideload", async () => {
    const fake = new FakeAc({ baseUrl: BASE, requestsPerSecond: 1000, sideloadContactLists: false });
    const { client } = setup(fake);
    const a = fake.addList("A");
    const ids = fake.addContacts(3, (i) => ({ lists: { [a]: i } }));
    const page = await client.pageContacts({ scope: { kind: "all" } });
    expect(page.contacts.map((c) => c.lists)).toEqual([[{ listId: a, status: 0 }], [{ listId: a, status: 1 }], [{ listId: a, status: 2 }]]);
    expect(fake.requests.map((r) => r.path).sort()).toEqual(["/api/3/contacts", ...ids.map((id) => `/api/3/contacts/${id}/contactLists`)].sort());
  });

  it("does not ask for lists when told not to", async () => {
    const { fake, client } = setup();
    fake.addContacts(2);
    await client.pageContacts({ scope: { kind: "all" }, includeLists: false });
    expect(fake.requests).toHaveLength(1);
    expect(fake.requests[0]?.query).not.toHaveProperty("include");
  });

  it("resumes from a stored last id", async () => {
    const { fake, client } = setup();
    const ids = fake.addContacts(120);
    const contacts = await collect(client.contactPages({ scope: { kind: "all" }, afterId: "90" }));
    expect(contacts.map((c) => c.id)).toEqual(ids.slice(90));
  });

  it("caps the page size at 100", async () => {
    const { fake, client } = setup();
    fake.addContacts(150);
    const page = await client.pageContacts({ scope: { kind: "all" }, limit: 500 });
    expect(page.contacts).toHaveLength(100);
    expect(fake.requests[0]?.query.limit).toBe("100");
  });

  it("fails instead of looping when AC ignores id_greater", async () => {
    const { client } = setup();
    server.use(
      http.get(`${BASE}/api/3/contacts`, () =>
        HttpResponse.json({ contacts: [{ id: "1", email: "a@b.c" }], contactLists: [], meta: { total: "1" } }),
      ),
    );
    await expect(client.pageContacts({ scope: { kind: "all" }, afterId: "1" })).rejects.toMatchObject({ kind: "bad_response" });
  });
});

describe("lists and tags", () => {
  it("reads every list past 100 with offset paging", async () => {
    const { fake, client } = setup();
    const ids = Array.from({ length: 230 }, (_, i) => fake.addList(`List ${i + 1}`));
    const lists = await client.listLists();
    expect(lists.map((l) => l.id)).toEqual(ids);
    expect(lists[229]).toEqual({ id: "230", name: "List 230" });
    expect(fake.requests.map((r) => r.query.offset)).toEqual(["0", "100", "200"]);
    expect(fake.requests.every((r) => r.query.limit === "100")).toBe(true);
  });

  it("reads every tag, naming each by its `tag` field", async () => {
    const { fake, client } = setup();
    for (let i = 1; i <= 101; i++) fake.addTag(`tag-${i}`);
    const tags = await client.listTags();
    expect(tags).toHaveLength(101);
    expect(tags[100]).toEqual({ id: "101", name: "tag-101" });
    expect(fake.requests).toHaveLength(2);
  });

  it("stops after one request when everything fits, and handles none", async () => {
    const { fake, client } = setup();
    expect(await client.listLists()).toEqual([]);
    fake.addList("Only");
    expect(await client.listLists()).toEqual([{ id: "1", name: "Only" }]);
    expect(fake.requests).toHaveLength(2);
  });

  it("accepts meta.total as a number or a string", async () => {
    const { client } = setup();
    server.use(
      http.get(`${BASE}/api/3/lists`, ({ request }) => {
        const offset = Number(new URL(request.url).searchParams.get("offset"));
        const lists = offset === 0 ? Array.from({ length: 100 }, (_, i) => ({ id: String(i + 1), name: `L${i + 1}` })) : [{ id: 101, name: "L101" }];
        return HttpResponse.json({ lists, meta: { total: 101 } });
      }),
    );
    expect(await client.listLists()).toHaveLength(101);
  });
});
