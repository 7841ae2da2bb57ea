// Issue 11, points 4 and 5: bodies that cannot be read, and bodies of the wrong type.
import { setupServer } from "msw/node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, signUp, type Session, type TestApp } from "../support/app.ts";
import { createRunHarness } from "../support/runs.ts";

const server = setupServer();
beforeAll(() => server.listen({ onUnhandledRequest: "error" }));
afterEach(() => server.resetHandlers());
afterAll(() => server.close());

const GARBAGE: [string, string][] = [
  ["multipart/form-data; boundary=xyz", "this is not multipart at all"],
  ["multipart/form-data", "--xyz\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nb\r\n--xyz--\r\n"],
  ["multipart/form-data; boundary=xyz", "--xyz\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nunterminated"],
];

function logged(t: TestApp) {
  const lines = t.logs.map((l) => JSON.parse(l) as { level: number; msg: string; err?: { stack?: string } });
  return { errors: lines.filter((l) => l.level >= 50), warnings: lines.filter((l) => l.level === 40) };
}

async function expectReadable400(t: TestApp, res: Response) {
  expect(res.status).toBe(400);
  const text = await res.text();
  expect(text).toMatch(/could not be read/);
  expect(text).not.toMatch(/TypeError|Error:|\bat \S+\.(js|ts):\d/);
  const { errors, warnings } = logged(t);
  expect(errors).toEqual([]);
  expect(warnings.some((w) => w.msg === "unreadable form body" && !w.err)).toBe(true);
}

describe("unreadable form bodies answer 400, never 500", () => {
  const signedOut: [string, string][] = [
    ["POST", "/login"],
    ["POST", "/signup"],
  ];
  const signedIn: [string, string][] = [
    ["POST", "/logout"],
    ["POST", "/tokens"],
    ["POST", "/connections"],
    ["POST", "/connections/conn_x/settings"],
  ];

  for (const [type, body] of GARBAGE) {
    it.each(signedOut)(`%s %s with ${type.split(";")[0]} garbage (${GARBAGE.findIndex((g) => g[1] === body) + 1})`, async (method, path) => {
      const t = createTestApp();
      await expectReadable400(t, await t.request(method, path, { body, headers: { "content-type": type } }));
    });

    it.each(signedIn)(`%s %s, signed in, with ${type.split(";")[0]} garbage (${GARBAGE.findIndex((g) => g[1] === body) + 1})`, async (method, path) => {
      const t = createTestApp();
      const s = await signUp(t);
      await expectReadable400(t, await t.request(method, path, { as: s, csrf: false, body, headers: { "content-type": type } }));
    });
  }

  it("in the CSRF check of a cookie-authenticated API call", async () => {
    const t = createTestApp();
    const s = await signUp(t);
    const res = await t.request("POST", "/api/tokens", { as: s, csrf: false, body: GARBAGE[0]![1], headers: { "content-type": GARBAGE[0]![0] } });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: { code: "invalid_input", message: expect.stringMatching(/could not be read/) } });
    expect(logged(t).errors).toEqual([]);
  });

  it("answers unreadable JSON with 400 and logs it at warn", async () => {
    const t = createTestApp();
    const res = await t.request("POST", "/api/auth/login", { body: '{"email": "a@b.c", ' });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: { code: "invalid_input", message: "Request body is not valid JSON" } });
    expect(logged(t).errors).toEqual([]);
    expect(logged(t).warnings.some((w) => w.msg === "unreadable JSON body")).toBe(true);
  });

  it("refuses a dashboard form over 256 kB with 413", async () => {
    const t = createTestApp();
    const res = await t.request("POST", "/login", { body: `email=${"a".repeat(300 * 1024)}`, headers: { "content-type": "application/x-www-form-urlencoded" } });
    expect(res.status).toBe(413);
    expect(await res.text()).toMatch(/larger than 256 kB/);
  });
});

describe("JSON routes refuse bodies of another Content-Type", () => {
  it("PATCH /api/schedules/:id with curl's default form type answers 415 and leaves the schedule running", async () => {
    const h = await createRunHarness(server);
    const created = await h.t.request("POST", "/api/schedules", {
      as: h.user,
      body: { connectionId: h.connectionId, scope: { kind: "all" }, dayOfMonth: 1, hour: 9, timeZone: "Europe/Berlin", autoApply: false },
    });
    const { id } = (await created.json()) as { id: string };
    const res = await h.t.request("PATCH", `/api/schedules/${id}`, {
      as: h.user,
      body: '{"paused":true}',
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    expect(res.status).toBe(415);
    expect(await res.json()).toMatchObject({ error: { code: "unsupported_media_type", message: expect.stringMatching(/application\/json/) } });
    const after = (await (await h.t.request("GET", `/api/schedules/${id}`, { as: h.user })).json()) as { paused: boolean };
    expect(after.paused).toBe(false);
    await h.close();
  });

  it.each([
    ["POST", "/api/tokens", "text/plain"],
    ["POST", "/api/connections", "application/x-www-form-urlencoded"],
    ["POST", "/api/runs", "multipart/form-data; boundary=x"],
    ["POST", "/api/auth/login", "text/plain"],
  ])("%s %s answers 415 to a %s body", async (method, path, type) => {
    const t = createTestApp();
    const s: Session = await signUp(t);
    const res = await t.request(method, path, { as: s, body: '{"name":"x"}', headers: { "content-type": type } });
    // The form-typed one goes through the CSRF check first, which reads the CSRF header here.
    expect(res.status).toBe(415);
  });

  it("still takes a JSON route's request with no body at all", async () => {
    const t = createTestApp();
    const s = await signUp(t);
    const res = await t.request("POST", "/api/tokens", { as: s });
    expect(res.status).toBe(201);
  });

  it.each([["application/x-www-form-urlencoded"], ["text/plain;charset=UTF-8"]])("takes an empty %s body (curl -d '', fetch with body '') as no body", async (type) => {
    const t = createTestApp();
    const s = await signUp(t);
    const res = await t.request("POST", "/api/tokens", { as: s, body: "", headers: { "content-type": type } });
    expect(res.status).toBe(201);
    expect(await res.json()).toMatchObject({ name: "API token" });
  });
});
