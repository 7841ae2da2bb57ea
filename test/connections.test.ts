import { eq } from "drizzle-orm";
import { http, HttpResponse } from "msw";
import { setupServer } from "msw/node";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { schema } from "../db/index.ts";
import { answer, apiClient } from "./support/api.ts";
import { createTestApp, signUp, type TestApp } from "./support/app.ts";
import { FakeAc, fakeAcHandlers } from "./support/fake-ac.ts";

const API_KEY = "3f9a1c0b7d2e4f6a8b0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e";
const BASE = "https://acct.api-us1.com";

const server = setupServer();
beforeAll(() => server.listen({ onUnhandledRequest: "error" }));
afterEach(() => server.resetHandlers());
afterAll(() => server.close());

function fakeAc() {
  const fake = new FakeAc({ baseUrl: BASE, apiKeys: [API_KEY], requestsPerSecond: 1000 });
  server.use(...fakeAcHandlers(fake));
  return fake;
}

async function connect(t: TestApp, as: Awaited<ReturnType<typeof signUp>>, body: Record<string, unknown>) {
  const res = await t.request("POST", "/api/connections", { as, body });
  return { res, json: (await res.json()) as Record<string, any> };
}

describe("POST /api/connections", () => {
  it("checks the key against AC, stores it encrypted and answers with its last 4 characters only", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "lw-conn-"));
    const dbFile = path.join(dir, "listwarden.db");
    const t = createTestApp({ dbFile });
    const fake = fakeAc();
    const s = await signUp(t);
    const { res, json } = await connect(t, s, { apiUrl: "  https://ACCT.api-us1.com/api/3/  ", apiKey: API_KEY });
    expect(res.status).toBe(201);
    expect(json).toMatchObject({ name: "acct", apiUrl: BASE, keyHint: API_KEY.slice(-4) });
    expect(Object.keys(json)).not.toContain("apiKey");
    expect(fake.requests.map((r) => r.path)).toEqual(["/api/3/users/me"]);

    const responses = [
      JSON.stringify(json),
      await (await t.request("GET", "/api/connections", { as: s })).text(),
      await (await t.request("GET", `/api/connections/${json.id}`, { as: s })).text(),
    ];
    for (const body of responses) expect(body).not.toContain(API_KEY);
    expect(t.logs.join("")).not.toContain(API_KEY);

    const row = t.db.select().from(schema.connections).where(eq(schema.connections.id, json.id)).get()!;
    expect(row.apiKeyCiphertext).not.toContain(API_KEY);
    expect(t.deps.keyBox.open(row.apiKeyCiphertext, row.id)).toBe(API_KEY);
    t.db.$client.pragma("wal_checkpoint(TRUNCATE)");
    for (const file of [dbFile, `${dbFile}-wal`]) {
      if (existsSync(file)) expect(readFileSync(file).includes(Buffer.from(API_KEY))).toBe(false);
    }
  });

  it("rejects a key AC refuses with 403, next to the key field, and stores nothing", async () => {
    const t = createTestApp();
    fakeAc();
    const s = await signUp(t);
    const { res, json } = await connect(t, s, { apiUrl: BASE, apiKey: "0".repeat(72) });
    expect(res.status).toBe(422);
    expect(json.error).toMatchObject({ code: "ac_key_refused", field: "apiKey", message: "ActiveCampaign refused this API key (Settings → Developer)" });
    expect(t.db.select().from(schema.connections).all()).toHaveLength(0);
  });

  it("rejects a key AC refuses with 401", async () => {
    const t = createTestApp();
    server.use(http.get(`${BASE}/api/3/users/me`, () => HttpResponse.json({ message: "Unauthorized" }, { status: 401 })));
    const s = await signUp(t);
    const { res, json } = await connect(t, s, { apiUrl: BASE, apiKey: API_KEY });
    expect(res.status).toBe(422);
    expect(json.error).toMatchObject({ code: "ac_key_refused", field: "apiKey" });
  });

  it("says it could not reach an unreachable host, next to the URL field", async () => {
    const t = createTestApp();
    server.use(http.get("https://gone.api-us1.com/api/3/users/me", () => HttpResponse.error()));
    const s = await signUp(t);
    const { res, json } = await connect(t, s, { apiUrl: "https://gone.api-us1.com", apiKey: API_KEY });
    expect(res.status).toBe(422);
    expect(json.error).toMatchObject({ code: "ac_unreachable", field: "apiUrl" });
    expect(json.error.message).toMatch(/Could not reach that API URL/);
    expect(JSON.stringify(json)).not.toContain(API_KEY);
  });

  it("says so when the host name does not exist", async () => {
    const t = createTestApp({
      acLookup: async () => {
        throw Object.assign(new Error("getaddrinfo ENOTFOUND"), { code: "ENOTFOUND" });
      },
    });
    const s = await signUp(t);
    const { res, json } = await connect(t, s, { apiUrl: "https://nope.api-us1.com", apiKey: API_KEY });
    expect(res.status).toBe(422);
    expect(json.error).toMatchObject({ code: "ac_unreachable", field: "apiUrl" });
  });

  it("refuses private and malformed URLs before any request, naming the URL field", async () => {
    const t = createTestApp({
      acLookup: async (host) => (host === "intranet.example.com" ? [{ address: "10.0.0.5", family: 4 }] : [{ address: "34.1.2.3", family: 4 }]),
    });
    const s = await signUp(t);
    for (const apiUrl of ["http://acct.api-us1.com", "https://127.0.0.1", "https://169.254.169.254/latest", "https://intranet.example.com", "not a url", "javascript:alert(1)"]) {
      const { res, json } = await connect(t, s, { apiUrl, apiKey: API_KEY });
      expect({ apiUrl, status: res.status }).toEqual({ apiUrl, status: 400 });
      expect(json.error).toMatchObject({ code: "invalid_input", field: "apiUrl" });
      expect(json.error.message).toMatch(/API URL must look like https:\/\/youraccount\.api-us1\.com/);
    }
    const missing = await connect(t, s, { apiUrl: BASE });
    expect(missing.res.status).toBe(400);
    expect(missing.json.error.field).toBe("apiKey");
  });

  it("accepts a local AC URL when AC_ALLOW_PRIVATE_HOSTS is on", async () => {
    const t = createTestApp({ config: { AC_ALLOW_PRIVATE_HOSTS: true } });
    const fake = new FakeAc({ baseUrl: "http://127.0.0.1:9", apiKeys: [API_KEY], requestsPerSecond: 1000 });
    server.use(...fakeAcHandlers(fake));
    const s = await signUp(t);
    const { res, json } = await connect(t, s, { apiUrl: "http://127.0.0.1:9/api/3", apiKey: API_KEY });
    expect(res.status).toBe(201);
    expect(json.apiUrl).toBe("http://127.0.0.1:9");
  });
});

describe("connections", () => {
  it("lists a connection's lists and tags through AC, paging past 100", async () => {
    const t = createTestApp();
    const fake = fakeAc();
    for (let i = 1; i <= 130; i++) fake.addList(`List ${i}`);
    fake.addTag("vip");
    fake.addTag("<b>bold</b>");
    const s = await signUp(t);
    const api = apiClient(t, s);
    const { id } = await answer(await api.connections.$post({ json: { apiUrl: BASE, apiKey: API_KEY } }), 201);
    const lists = await answer(await api.connections[":id"].lists.$get({ param: { id } }), 200);
    expect(lists.lists).toHaveLength(130);
    expect(lists.lists[129]).toMatchObject({ name: "List 130" });
    const tags = await answer(await api.connections[":id"].tags.$get({ param: { id } }), 200);
    expect(tags.tags.map((x) => x.name)).toEqual(["vip", "<b>bold</b>"]);
  });

  it("records AC's refusal on the connection when its key stops working", async () => {
    const t = createTestApp();
    const fake = fakeAc();
    const s = await signUp(t);
    const api = apiClient(t, s);
    const { id } = await answer(await api.connections.$post({ json: { apiUrl: BASE, apiKey: API_KEY } }), 201);
    fake.apiKeys.clear();
    const refused = await answer(await api.connections[":id"].lists.$get({ param: { id } }), 422);
    expect(refused.error).toMatchObject({ code: "ac_key_refused", field: "apiKey" });
    const after = await answer(await api.connections[":id"].$get({ param: { id } }), 200);
    expect(after).toMatchObject({ lastErrorCode: "ac_key_refused", lastError: expect.stringMatching(/refused this API key/) });
  });

  it("keeps workspaces apart: another user's connection answers 404 everywhere", async () => {
    const t = createTestApp();
    fakeAc();
    const a = await signUp(t);
    const b = await signUp(t);
    const { json } = await connect(t, a, { apiUrl: BASE, apiKey: API_KEY });
    for (const [method, p] of [
      ["GET", `/api/connections/${json.id}`],
      ["GET", `/api/connections/${json.id}/lists`],
      ["GET", `/api/connections/${json.id}/tags`],
      ["DELETE", `/api/connections/${json.id}`],
    ] as const) {
      const res = await t.request(method, p, { as: b });
      expect({ p, method, status: res.status }).toEqual({ p, method, status: 404 });
    }
    const listB = await answer(await apiClient(t, b).connections.$get(), 200);
    expect(listB.connections).toHaveLength(0);
    expect((await t.request("GET", `/api/connections/${json.id}`, { as: a })).status).toBe(200);
  });

  it("PATCH replaces a key AC now refuses, only after AC accepts the new one", async () => {
    const t = createTestApp();
    const fake = fakeAc();
    const s = await signUp(t);
    const { json } = await connect(t, s, { apiUrl: BASE, apiKey: API_KEY });
    const newKey = "7".repeat(72);
    fake.apiKeys.clear();
    expect((await t.request("GET", `/api/connections/${json.id}/lists`, { as: s })).status).toBe(422);

    const refused = await t.request("PATCH", `/api/connections/${json.id}`, { as: s, body: { apiKey: newKey } });
    expect(refused.status).toBe(422);
    expect(await refused.json()).toMatchObject({ error: { code: "ac_key_refused", field: "apiKey" } });
    const row = () => t.db.select().from(schema.connections).where(eq(schema.connections.id, json.id)).get()!;
    expect(t.deps.keyBox.open(row().apiKeyCiphertext, json.id)).toBe(API_KEY);

    const schedule = await t.request("POST", "/api/schedules", {
      as: s,
      body: { connectionId: json.id, scope: { kind: "all" }, dayOfMonth: 1, hour: 9, timeZone: "UTC", autoApply: false },
    });
    expect(schedule.status).toBe(201);
    t.db.update(schema.schedules).set({ lastError: "The run of 1 Nov failed: ActiveCampaign refused this API key" }).run();

    fake.apiKeys.add(newKey);
    const body = await answer(await apiClient(t, s).connections[":id"].$patch({ param: { id: json.id }, json: { apiKey: newKey, name: "Renamed" } }), 200);
    expect(body).toMatchObject({ name: "Renamed", keyHint: "7777", lastError: null });
    expect(JSON.stringify(body)).not.toContain(newKey);
    expect(t.deps.keyBox.open(row().apiKeyCiphertext, json.id)).toBe(newKey);
    expect((await t.request("GET", `/api/connections/${json.id}/lists`, { as: s })).status).toBe(200);
    expect(t.db.select().from(schema.schedules).get()?.lastError).toBeNull();

    const other = await signUp(t);
    expect((await t.request("PATCH", `/api/connections/${json.id}`, { as: other, body: { name: "x" } })).status).toBe(404);
    const unknownField = await t.request("PATCH", `/api/connections/${json.id}`, { as: s, body: { apiUrl: "https://other.api-us1.com" } });
    expect(unknownField.status).toBe(400);
  });

  it("deletes a connection", async () => {
    const t = createTestApp();
    fakeAc();
    const s = await signUp(t);
    const { json } = await connect(t, s, { apiUrl: BASE, apiKey: API_KEY });
    expect((await t.request("DELETE", `/api/connections/${json.id}`, { as: s })).status).toBe(204);
    expect((await t.request("GET", `/api/connections/${json.id}`, { as: s })).status).toBe(404);
  });

  it("answers an internal failure with a 500 that reveals nothing, and logs it", async () => {
    const t = createTestApp();
    fakeAc();
    const s = await signUp(t);
    const { json } = await connect(t, s, { apiUrl: BASE, apiKey: API_KEY });
    t.db.update(schema.connections).set({ apiKeyCiphertext: "v1.garbage.garbage.garbage" }).where(eq(schema.connections.id, json.id)).run();
    const body = await answer(await apiClient(t, s).connections[":id"].lists.$get({ param: { id: json.id } }), 500);
    expect(body.error.code).toBe("internal");
    expect(body.error.message).toBe("Something went wrong on our side; it has been logged");
    expect(JSON.stringify(body)).not.toMatch(/ciphertext|decipher|stack|at /i);
    expect(t.logs.join("")).toContain(body.error.requestId);
  });
});

describe("SecretBox", () => {
  it("binds a ciphertext to its row: copied to another row it does not decrypt", async () => {
    const t = createTestApp();
    const sealed = t.deps.keyBox.seal(API_KEY, "con_a");
    expect(t.deps.keyBox.open(sealed, "con_a")).toBe(API_KEY);
    expect(() => t.deps.keyBox.open(sealed, "con_b")).toThrow();
    expect(t.deps.keyBox.seal(API_KEY, "con_a")).not.toBe(sealed);
  });
});
