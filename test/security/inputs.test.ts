// Issue 11, point 10: the smaller ones. (A run whose connection was deleted is left to issue 10's run lifecycle work.)
import { setupServer } from "msw/node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, signUp } from "../support/app.ts";
import { createRunHarness, parseCsv, type RunHarness } from "../support/runs.ts";
import { address } from "../support/world.ts";

const server = setupServer();
beforeAll(() => server.listen({ onUnhandledRequest: "error" }));
afterEach(() => server.resetHandlers());
afterAll(() => server.close());

const scheduleBody = (h: RunHarness) => ({ connectionId: h.connectionId, scope: { kind: "all" }, dayOfMonth: 1, hour: 9, timeZone: "Europe/Berlin", autoApply: false });

describe("JSON answers are never cached", () => {
  it("GET /api/auth/me (the CSRF token), POST /api/tokens (the token), lists and errors carry Cache-Control: no-store", async () => {
    const t = createTestApp();
    const s = await signUp(t);
    const answers = [
      await t.request("GET", "/api/auth/me", { as: s }),
      await t.request("POST", "/api/tokens", { as: s, body: { name: "ci" } }),
      await t.request("GET", "/api/credits", { as: s }),
      await t.request("GET", "/api/tokens"),
      await t.request("POST", "/api/auth/login", { body: { email: s.email, password: "wrong password!" } }),
    ];
    expect(answers.map((r) => r.status)).toEqual([200, 201, 200, 401, 401]);
    for (const r of answers) expect(r.headers.get("cache-control")).toBe("no-store");
  });
});

describe("create routes refuse unknown fields, as PATCH routes do", () => {
  it("POST /api/tokens, /api/auth/signup, /api/connections, /api/runs and /api/schedules name the unknown field", async () => {
    const h = await createRunHarness(server);
    const cases: [string, Record<string, unknown>, string][] = [
      ["/api/tokens", { name: "ci", scopes: ["admin"] }, "scopes"],
      ["/api/auth/signup", { email: "x@example.com", password: "lantern velvet orbit", isAdmin: true }, "isAdmin"],
      ["/api/connections", { apiUrl: "https://hygiene.api-us1.com", apiKey: "k".repeat(40), workspaceId: "ws_other" }, "workspaceId"],
      ["/api/runs", { connectionId: h.connectionId, scope: { kind: "all" }, credits: 0 }, "credits"],
      ["/api/schedules", { ...scheduleBody(h), paused: true }, "paused"],
    ];
    for (const [path, body, field] of cases) {
      const res = await h.t.request("POST", path, { as: h.user, body });
      expect({ path, status: res.status }).toEqual({ path, status: 400 });
      expect(await res.json()).toMatchObject({ error: { code: "invalid_input", field, message: "is not a field this route accepts" } });
    }
    await h.close();
  });

  it("no route accepts __proto__ (or constructor): PATCH /api/schedules/:id, POST /api/tokens, PATCH /api/connections/:id", async () => {
    const h = await createRunHarness(server);
    const created = (await (await h.t.request("POST", "/api/schedules", { as: h.user, body: scheduleBody(h) })).json()) as { id: string };
    const attempts: [string, string, string][] = [
      ["PATCH", `/api/schedules/${created.id}`, '{"__proto__":{"paused":true}}'],
      ["PATCH", `/api/schedules/${created.id}`, '{"constructor":{"paused":true}}'],
      ["POST", "/api/tokens", '{"name":"x","__proto__":{"admin":true}}'],
      ["PATCH", `/api/connections/${h.connectionId}`, '{"name":"x","nested":{"__proto__":{}}}'],
      ["POST", "/api/runs", `{"connectionId":"${h.connectionId}","scope":{"kind":"all","__proto__":{}}}`],
    ];
    for (const [method, path, body] of attempts) {
      const res = await h.t.request(method, path, { as: h.user, body });
      expect({ path, body, status: res.status }).toEqual({ path, body, status: 400 });
    }
    const after = (await (await h.t.request("GET", `/api/schedules/${created.id}`, { as: h.user })).json()) as { paused: boolean };
    expect(after.paused).toBe(false);
    await h.close();
  });
});

describe("names lose hidden characters", () => {
  it("strips NUL, line breaks and bidi overrides from API token and connection names, API and dashboard alike", async () => {
    const h = await createRunHarness(server);
    const token = await h.t.request("POST", "/api/tokens", { as: h.user, body: { name: "deploy\u0000 script\u202Etxt.exe\n" } });
    expect(await token.json()).toMatchObject({ name: "deploy scripttxt.exe" });
    const renamed = await h.t.request("PATCH", `/api/connections/${h.connectionId}`, { as: h.user, body: { name: "\u202Eniam\u2066 \u200Faccount\t" } });
    expect(await renamed.json()).toMatchObject({ name: "niam account" });
    const form = await h.t.request("POST", "/tokens", {
      as: h.user,
      body: new URLSearchParams({ name: "cron\u202Egnp.js", _csrf: h.user.csrfToken }).toString(),
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    expect(form.status).toBe(200);
    const list = (await (await h.t.request("GET", "/api/tokens", { as: h.user })).json()) as { tokens: { name: string }[] };
    expect(list.tokens.map((t) => t.name).sort()).toEqual(["crongnp.js", "deploy scripttxt.exe"]);
    await h.close();
  });

  it("refuses a token name that is nothing but hidden characters, saying a name is required", async () => {
    const t = createTestApp();
    const s = await signUp(t);
    const res = await t.request("POST", "/api/tokens", { as: s, body: { name: "\u202E\u0000\u2066" } });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: { field: "name", message: "is required" } });
  });
});

describe("ActiveCampaign ids", () => {
  it("refuses list and tag ids above 2^53 sent as JSON numbers instead of rounding them, and takes them as strings", async () => {
    const h = await createRunHarness(server);
    const asNumber = await h.t.request("POST", "/api/runs", {
      as: h.user,
      body: `{"connectionId":"${h.connectionId}","scope":{"kind":"lists","listIds":[9007199254740993]}}`,
    });
    expect(asNumber.status).toBe(400);
    expect(await asNumber.json()).toMatchObject({ error: { field: "scope.listIds.0", message: expect.stringMatching(/send it as a string/) } });
    const tag = await h.t.request("POST", "/api/schedules", { as: h.user, body: `{"connectionId":"${h.connectionId}","scope":{"kind":"tag","tagId":18014398509481984},"dayOfMonth":1,"hour":9,"timeZone":"UTC","autoApply":false}` });
    expect(tag.status).toBe(400);
    const asString = await h.t.request("POST", "/api/runs", { as: h.user, body: { connectionId: h.connectionId, scope: { kind: "lists", listIds: ["9007199254740993"] } } });
    expect(asString.status).toBe(202);
    expect(await asString.json()).toMatchObject({ scope: { kind: "lists", listIds: ["9007199254740993"] } });
    await h.close();
  });
});

describe("report CSV", () => {
  it("neutralises cells that start with =, +, -, @ after spaces, tabs or line breaks, and cells starting with a tab or CR", async () => {
    const h = await createRunHarness(server);
    const hostile = ["\n=HYPERLINK(\"https://evil.example\")", " =1+1", "\t@SUM(A1)", "\r-2+3", "+cmd|' /C calc'!A0", "  \n  -1", "\tplain"];
    hostile.forEach((firstName, i) => h.fake.addContact({ email: address("deliverable", `c${i}`), firstName }));
    h.fake.addContact({ email: address("deliverable", "anna"), firstName: "Anna", lastName: "O'Neil - Smith" });
    const run = await h.startRun({ scope: { kind: "all" } });
    await h.worker().drain();
    const res = await h.t.request("GET", `/api/runs/${run.id}/report.csv`, { as: h.user });
    const rows = parseCsv(await res.text());
    const names = new Map(rows.map((r) => [r.email!, r]));
    hostile.forEach((firstName, i) => expect(names.get(address("deliverable", `c${i}`))!.first_name).toBe(`'${firstName}`));
    expect(names.get(address("deliverable", "anna"))).toMatchObject({ first_name: "Anna", last_name: "O'Neil - Smith" });
    await h.close();
  });
});
