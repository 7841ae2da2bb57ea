import { describe, expect, it } from "vitest";
import { createTestApp, signUp } from "./support/app.ts";

const UNSAFE = new Set(["POST", "PUT", "PATCH", "DELETE"]);
const PUBLIC_ROUTES = new Set(["POST /api/auth/signup", "POST /api/auth/login", "POST /api/auth/password-reset", "POST /api/auth/password-reset/confirm"]);
/** Called by the payment provider, without a session or an Origin: its signature is its proof (test/credits-topup.test.ts). */
const SIGNED_BY_PROVIDER = new Set([
  "POST /api/billing/stripe/webhook",
  // ActiveCampaign's webhook: a secret in its URL is its proof (test/security/webhooks.test.ts).
  "POST /api/hooks/activecampaign/:id/:secret",
]);

function stateChangingRoutes(t: ReturnType<typeof createTestApp>) {
  const seen = new Set<string>();
  for (const r of t.app.routes) {
    if (UNSAFE.has(r.method) && r.path.startsWith("/api/") && !SIGNED_BY_PROVIDER.has(`${r.method} ${r.path}`)) seen.add(`${r.method} ${r.path.replace(/:(\w+)/g, "x_$1")}`);
  }
  return [...seen].map((s) => {
    const [method, path] = s.split(" ") as [string, string];
    return { method, path, key: s.replace(/x_(\w+)/g, ":$1") };
  });
}

describe("every state-changing route", () => {
  it("is found by the route walk (the walk itself works)", () => {
    const keys = stateChangingRoutes(createTestApp()).map((r) => r.key);
    expect(keys).toEqual(expect.arrayContaining(["POST /api/connections", "DELETE /api/connections/:id", "POST /api/tokens", "POST /api/auth/logout"]));
  });

  it("requires authentication", async () => {
    const t = createTestApp();
    for (const r of stateChangingRoutes(t)) {
      if (PUBLIC_ROUTES.has(r.key)) continue;
      const res = await t.request(r.method, r.path, { body: {} });
      expect({ route: r.key, status: res.status }).toEqual({ route: r.key, status: 401 });
      expect((await res.json()) as object).toMatchObject({ error: { code: "unauthenticated" } });
    }
  });

  it("refuses a session cookie without the CSRF token, or with a wrong one", async () => {
    const t = createTestApp();
    const s = await signUp(t);
    for (const r of stateChangingRoutes(t)) {
      if (PUBLIC_ROUTES.has(r.key)) continue;
      const missing = await t.request(r.method, r.path, { as: s, csrf: false, body: {} });
      expect({ route: r.key, status: missing.status }).toEqual({ route: r.key, status: 403 });
      const wrong = await t.request(r.method, r.path, { as: s, csrf: false, body: {}, headers: { "x-csrf-token": "forged" } });
      expect({ route: r.key, status: wrong.status }).toEqual({ route: r.key, status: 403 });
    }
  });

  it("refuses a cross-site Origin, even with a valid CSRF token, and on sign-up and sign-in", async () => {
    const t = createTestApp();
    const s = await signUp(t);
    for (const r of stateChangingRoutes(t)) {
      const res = await t.request(r.method, r.path, { as: s, body: {}, headers: { origin: "https://evil.example" } });
      expect({ route: r.key, status: res.status }).toEqual({ route: r.key, status: 403 });
    }
    const form = await t.request("POST", "/api/auth/login", {
      body: "email=a%40b.c&password=x",
      headers: { "content-type": "application/x-www-form-urlencoded", "sec-fetch-site": "cross-site" },
    });
    expect(form.status).toBe(403);
  });

  it("accepts the CSRF token as a form field", async () => {
    const t = createTestApp();
    const s = await signUp(t);
    const res = await t.request("POST", "/api/auth/logout", {
      as: s,
      csrf: false,
      body: `_csrf=${encodeURIComponent(s.csrfToken)}`,
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    expect(res.status).toBe(204);
  });
});

describe("error shape", () => {
  it("answers malformed JSON with a 400 in the one error shape", async () => {
    const t = createTestApp();
    const res = await t.request("POST", "/api/auth/signup", { body: "{not json" });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { code: string; message: string; requestId: string } };
    expect(body.error.code).toBe("invalid_input");
    expect(body.error.message).toMatch(/JSON/);
    expect(body.error.requestId).toBe(res.headers.get("x-request-id"));
  });

  it("answers an unknown route with 404 in the same shape", async () => {
    const t = createTestApp();
    const s = await signUp(t);
    const res = await t.request("GET", "/api/nope", { as: s });
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ error: { code: "not_found" } });
  });

  it("refuses bodies over 1 MB", async () => {
    const t = createTestApp();
    const res = await t.request("POST", "/api/auth/signup", { body: JSON.stringify({ email: "x".repeat(1_100_000) }) });
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ error: { code: "payload_too_large" } });
  });
});
