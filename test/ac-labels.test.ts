import { setupServer } from "msw/node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { AcError, createAcClient, createAcLimiters, type AcLimiterOptions } from "../core/ac/index.ts";
import { FakeAc, fakeAcHandlers } from "./support/fake-ac.ts";

/**
 * The AC client's label calls (issue 17) against the sandbox: custom fields, tags on
 * contacts, contacts re-read by id, bulk imports and their status, AC's import limits.
 */

const BASE = "https://acct.api-us1.com";
const KEY = "sk-live-labels-0123456789abcdef";

const server = setupServer();
beforeAll(() => server.listen({ onUnhandledRequest: "error" }));
afterEach(() => server.resetHandlers());
afterAll(() => server.close());

/** A fake account and a client, both on one fake clock that the limiter's waits move. */
function setup(opts: { fake?: ConstructorParameters<typeof FakeAc>[0]; limiter?: AcLimiterOptions } = {}) {
  let now = Date.parse("2026-11-02T09:00:00Z");
  const clock = { now: () => now, advance: (ms: number) => (now += ms) };
  const fake = new FakeAc({ baseUrl: BASE, apiKeys: [KEY], requestsPerSecond: 1000, now: clock.now, ...opts.fake });
  server.use(...fakeAcHandlers(fake));
  const waits: number[] = [];
  const limiters = createAcLimiters({
    requestsPerSecond: 1000,
    now: clock.now,
    sleep: async (ms) => {
      waits.push(ms);
      clock.advance(ms);
    },
    ...opts.limiter,
  });
  const client = createAcClient({ apiUrl: BASE, apiKey: KEY, limiters, sleep: async () => {}, clock, random: () => 0.5 });
  return { fake, client, clock, waits, limiter: limiters.forHost("acct.api-us1.com") };
}

describe("custom fields and tags", () => {
  it("creates a text field, attaches it to every list, and lists it with its lists; a second field of the same title is refused with AC's words", async () => {
    const { fake, client } = setup();
    fake.addList("News");
    const { id } = await client.createField({ title: "Email status", description: "by Listwarden" });
    expect(fake.fields.get(id)).toMatchObject({ title: "Email status", type: "text", perstag: "EMAIL_STATUS" });
    expect((await client.listFields()).find((f) => f.id === id)?.lists).toEqual([]);
    await client.attachFieldToAllLists(id);
    expect((await client.listFields()).find((f) => f.id === id)?.lists).toEqual(["0"]);
    const dup = await client.createField({ title: "email STATUS", description: "" }).catch((e: unknown) => e);
    expect(dup).toBeInstanceOf(AcError);
    expect((dup as AcError).kind).toBe("validation");
    expect((dup as AcError).message).toContain("There is already a field with this title");
  });

  it("finds tags by a part of their name, creates one, tags a contact and removes the tag (404 the second time)", async () => {
    const { fake, client } = setup();
    fake.addTag("vip");
    const risky = fake.addTag("lw-risky");
    const c = fake.addContact({ email: "a@example.com" });
    expect((await client.findTags("lw-")).map((t) => t.name)).toEqual(["lw-risky"]);
    const { id: unknown } = await client.createTag("lw-unknown", "");
    expect(fake.tags.get(unknown)?.tag).toBe("lw-unknown");
    expect(await client.addContactTag(c, risky)).toEqual({ contactGone: false });
    const [row] = await client.getContactTags(c);
    expect(row).toMatchObject({ tagId: risky });
    expect(await client.removeContactTag(row!.id)).toEqual({ alreadyGone: false });
    expect(await client.removeContactTag(row!.id)).toEqual({ alreadyGone: true });
    expect(fake.tagNamesOf(c)).toEqual([]);
    // A tag for a contact that is gone: AC's 404 with {"errors":[...]}.
    fake.removeContact(c);
    expect(await client.addContactTag(c, risky)).toEqual({ contactGone: true });
  });

  it("sets a field value with POST, then with PUT on the value's id", async () => {
    const { fake, client } = setup();
    const field = fake.addField("Email status");
    const c = fake.addContact({ email: "a@example.com" });
    await client.setFieldValue({ contactId: c, fieldId: field, value: "risky" });
    const [value] = await client.getContactFieldValues(c);
    expect(value).toMatchObject({ fieldId: field, value: "risky" });
    await client.setFieldValue({ contactId: c, fieldId: field, value: "deliverable", valueId: value!.id });
    expect(fake.fieldValue(c, field)).toBe("deliverable");
    expect(fake.requests.filter((r) => r.path.startsWith("/api/3/fieldValues")).map((r) => `${r.method} ${r.path}`)).toEqual(["POST /api/3/fieldValues", `PUT /api/3/fieldValues/${value!.id}`]);
  });
});

describe("re-reading contacts by id", () => {
  it("reads up to 100 contacts in one request with their tags and field values; a contact not in the answer is gone", async () => {
    const { fake, client } = setup();
    const field = fake.addField("Email status");
    const tag = fake.addTag("lw-risky");
    const ids = fake.addContacts(100, (i) => ({ email: `c${i}@example.com` }));
    fake.setFieldValue(ids[3]!, field, "risky");
    fake.tagContact(ids[3]!, tag);
    fake.removeContact(ids[7]!);
    fake.addContacts(5);
    fake.clearRequests();
    const states = await client.readContacts(ids, { tags: true, fieldValues: true });
    expect(fake.requests).toHaveLength(1);
    expect(fake.requests[0]!.query).toMatchObject({ include: "contactTags,fieldValues", limit: "100" });
    expect(states).toHaveLength(99);
    expect(states.some((s) => s.id === ids[7])).toBe(false);
    expect(states.find((s) => s.id === ids[3])).toMatchObject({ email: "c3@example.com", tags: [{ tagId: tag }], fieldValues: [{ fieldId: field, value: "risky" }] });
    expect(states.find((s) => s.id === ids[4])).toMatchObject({ tags: [], fieldValues: [] });
    await expect(client.readContacts([...ids, "999"])).rejects.toThrow(/at most 100 ids/);
  });

  it("says unknown (null), not empty, when AC leaves the sideloads out", async () => {
    const { fake, client } = setup({ fake: { sideloadContactLists: false } });
    const c = fake.addContact({ email: "a@example.com" });
    expect(await client.readContacts([c], { tags: true, fieldValues: true })).toEqual([{ id: c, email: "a@example.com", tags: null, fieldValues: null }]);
  });
});

describe("bulk import", () => {
  it("queues an import with fields and tags, answers false at first, then completed; AC's import creates a contact it does not find", async () => {
    const { fake, client, clock } = setup({ fake: { importUnknownMs: 1_000, importProcessMs: 2_000 } });
    const field = fake.addField("Email status");
    const known = fake.addContact({ email: "Known@Example.com" });
    const { batchId } = await client.bulkImport({
      contacts: [
        { email: "known@example.com", fields: [{ id: Number(field), value: "risky" }], tags: ["lw-risky"] },
        { email: "stranger@example.com", fields: [{ id: Number(field), value: "unknown" }] },
      ],
      excludeAutomations: true,
    });
    expect(await client.importInfo(batchId)).toEqual({ status: null, created: [], failed: [] });
    clock.advance(1_000);
    expect((await client.importInfo(batchId)).status).toBe("waiting");
    clock.advance(1_000);
    const done = await client.importInfo(batchId);
    expect(done.status).toBe("completed");
    expect(fake.fieldValue(known, field)).toBe("risky");
    expect(fake.tagNamesOf(known)).toEqual(["lw-risky"]);
    // What safe matching exists for: an address AC does not know becomes a new contact.
    expect(done.created).toHaveLength(1);
    expect(fake.contacts.get(done.created[0]!)?.email).toBe("stranger@example.com");
    expect(fake.imports.get(batchId)?.excludeAutomations).toBe(true);
    expect(fake.automationTriggers).toEqual([]);
    // exclude_automations goes both in the payload and in each contact.
    const body = fake.requests.find((r) => r.method === "POST")!.body as { exclude_automations: boolean; contacts: { exclude_automations: boolean }[] };
    expect(body.exclude_automations).toBe(true);
    expect(body.contacts.every((c) => c.exclude_automations)).toBe(true);
  });

  it("never sends an import that carries a list, nor more than 250 contacts", async () => {
    const { fake, client } = setup();
    const withList = { email: "a@example.com", subscribe: [{ listid: 1 }] } as unknown as { email: string };
    await expect(client.bulkImport({ contacts: [withList], excludeAutomations: true })).rejects.toThrow(/never subscribe/);
    const unsub = { email: "a@example.com", unsubscribe: [{ listid: 1 }] } as unknown as { email: string };
    await expect(client.bulkImport({ contacts: [unsub], excludeAutomations: true })).rejects.toThrow(/never unsubscribe/);
    await expect(client.bulkImport({ contacts: Array.from({ length: 251 }, (_, i) => ({ email: `c${i}@example.com` })), excludeAutomations: true })).rejects.toThrow(/1 to 250/);
    expect(fake.requests).toHaveLength(0);
  });

  it("gives AC's refusal of named contacts with their place in the import", async () => {
    const { client } = setup();
    const err = (await client.bulkImport({ contacts: [{ email: "good@example.com" }, { email: "not an address" }], excludeAutomations: true }).catch((e: unknown) => e)) as AcError;
    expect(err.kind).toBe("validation");
    expect(err.details).toEqual([{ title: "Field\u2018 email\u2019 incorrect format", pointer: "/contacts/1" }]);
  });

  it("keeps within 100 imports per minute itself, counting each when it is sent", async () => {
    const { fake, client, waits, limiter } = setup({ limiter: { importsPerMinute: 3 }, fake: { importsPerMinute: 3 } });
    const sends: number[] = [];
    fake.addContact({ email: "a@example.com" });
    const started = Date.parse("2026-11-02T09:00:00Z");
    for (let i = 0; i < 7; i++) {
      await client.bulkImport({ contacts: [{ email: "a@example.com" }, { email: `n${i}@example.com` }], excludeAutomations: true });
      sends.push(fake.requests.at(-1)!.at - started);
    }
    // Bursts of 3, a minute (and the window's margin) apart; AC never had to refuse one.
    expect(sends).toEqual([0, 0, 0, 60_075, 60_075, 60_075, 120_150]);
    expect(fake.countStatus(400)).toBe(0);
    expect(waits.every((w) => w > 0)).toBe(true);
    expect(limiter.importsInLastMinute).toEqual({ multi: 1, single: 0 });
  });

  it("takes AC's 400 'Rate limit exceeded.' as weather: imports wait a minute and are sent again, other requests are not held", async () => {
    const { fake, client, limiter } = setup({ fake: { importsPerMinute: 1 } });
    const contacts = [{ email: "a@example.com" }, { email: "b@example.com" }];
    await client.bulkImport({ contacts, excludeAutomations: true });
    const second = await client.bulkImport({ contacts, excludeAutomations: true });
    expect(second.batchId).toMatch(/^0641fbdd-/);
    const posts = fake.requests.filter((r) => r.method === "POST");
    expect(posts.map((r) => r.status)).toEqual([200, 400, 200]);
    expect(posts[2]!.at - posts[1]!.at).toBeGreaterThanOrEqual(60_000);
    // Only imports were paused: the account's request window was not.
    expect(limiter.pausedUntil).toBeNull();
    expect((await client.getMe()).email).toBe("admin@example.com");
  });
});
