import { createHash } from "node:crypto";
import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { schema } from "../db/index.ts";
import { FakeClock } from "./support/clock.ts";
import { createTestApp, signUp, uniqueEmail } from "./support/app.ts";

describe("accounts", () => {
  it("POST /api/auth/signup creates a user, a workspace and an HttpOnly SameSite=Lax session", async () => {
    const t = createTestApp();
    const email = uniqueEmail();
    const res = await t.request("POST", "/api/auth/signup", { body: { email: ` ${email.toUpperCase()} `, password: "correct horse battery" } });
    expect(res.status).toBe(201);
    const cookie = res.headers.get("set-cookie") ?? "";
    expect(cookie).toMatch(/^lw_session=/);
    expect(cookie).toMatch(/HttpOnly/i);
    expect(cookie).toMatch(/SameSite=Lax/i);
    expect(cookie).not.toMatch(/Secure/i);
    const body = (await res.json()) as { user: { email: string; workspaceId: string }; csrfToken: string };
    expect(body.user.email).toBe(email);
    expect(body.csrfToken).toBeTruthy();
    const user = t.db.select().from(schema.users).where(eq(schema.users.email, email)).get();
    expect(user?.passwordHash).toMatch(/^scrypt\$/);
    expect(user?.passwordHash).not.toContain("correct horse");
    // The workspace exists and is the user's, as the answer says.
    const workspace = t.db.select().from(schema.workspaces).where(eq(schema.workspaces.id, user!.workspaceId)).get();
    expect(workspace?.id).toBe(body.user.workspaceId);
    // The session row exists, belongs to the user, and keeps only the cookie value's SHA-256.
    const token = decodeURIComponent(cookie.split(";")[0]!.split("=")[1]!);
    const sessions = t.db.select().from(schema.sessions).where(eq(schema.sessions.userId, user!.id)).all();
    expect(sessions.map((s) => s.tokenHash)).toEqual([createHash("sha256").update(token).digest("base64url")]);
    expect(sessions[0]!.expiresAt.getTime()).toBeGreaterThan(t.clock.now());
    // The session works: the cookie alone signs the user in.
    const me = await t.app.request("/api/auth/me", { headers: { cookie: cookie.split(";")[0]! } });
    expect(me.status).toBe(200);
  });

  it("marks the session cookie Secure behind https", async () => {
    const t = createTestApp({ config: { PUBLIC_URL: "https://lw.example.com" } });
    const res = await t.request("POST", "/api/auth/signup", {
      body: { email: uniqueEmail(), password: "correct horse battery" },
      headers: { origin: "https://lw.example.com" },
    });
    expect(res.headers.get("set-cookie")).toMatch(/Secure/);
  });

  it("refuses a duplicate e-mail and a short password, naming the field", async () => {
    const t = createTestApp();
    const s = await signUp(t);
    const dup = await t.request("POST", "/api/auth/signup", { body: { email: s.email, password: "another long password" } });
    expect(dup.status).toBe(409);
    expect(await dup.json()).toMatchObject({ error: { code: "conflict", field: "email" } });
    const short = await t.request("POST", "/api/auth/signup", { body: { email: uniqueEmail(), password: "short" } });
    expect(short.status).toBe(400);
    expect(await short.json()).toMatchObject({ error: { code: "invalid_input", field: "password" } });
  });

  it("signs in with the right password only, and signs out", async () => {
    const t = createTestApp();
    const s = await signUp(t);
    const wrong = await t.request("POST", "/api/auth/login", { body: { email: s.email, password: "wrong password!" } });
    expect(wrong.status).toBe(401);
    const ok = await t.request("POST", "/api/auth/login", { body: { email: s.email, password: "correct horse battery" } });
    expect(ok.status).toBe(200);
    const cookie = (ok.headers.get("set-cookie") ?? "").split(";")[0]!;
    const { csrfToken } = (await ok.json()) as { csrfToken: string };
    const me = await t.request("GET", "/api/auth/me", { as: { ...s, cookie, csrfToken } });
    expect(me.status).toBe(200);
    const out = await t.request("POST", "/api/auth/logout", { as: { ...s, cookie, csrfToken } });
    expect(out.status).toBe(204);
    expect((await t.request("GET", "/api/auth/me", { as: { ...s, cookie, csrfToken } })).status).toBe(401);
  });

  it("rate-limits failed sign-ins per e-mail and lifts the limit after the window", async () => {
    const clock = new FakeClock();
    const t = createTestApp({ clock });
    const s = await signUp(t);
    for (let i = 0; i < 10; i++) {
      expect((await t.request("POST", "/api/auth/login", { body: { email: s.email, password: "wrong password!" } })).status).toBe(401);
    }
    const blocked = await t.request("POST", "/api/auth/login", { body: { email: s.email, password: "correct horse battery" } });
    expect(blocked.status).toBe(429);
    expect(Number(blocked.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(await blocked.json()).toMatchObject({ error: { code: "rate_limited" } });
    clock.advance(16 * 60 * 1000);
    expect((await t.request("POST", "/api/auth/login", { body: { email: s.email, password: "correct horse battery" } })).status).toBe(200);
  });

  it("expires sessions after 14 days", async () => {
    const clock = new FakeClock();
    const t = createTestApp({ clock });
    const s = await signUp(t);
    expect((await t.request("GET", "/api/auth/me", { as: s })).status).toBe(200);
    clock.advance(15 * 24 * 3600 * 1000);
    expect((await t.request("GET", "/api/auth/me", { as: s })).status).toBe(401);
  });
});

describe("API tokens", () => {
  it("POST /api/tokens returns a token once, stores only its hash, and it authenticates scripts", async () => {
    const t = createTestApp();
    const s = await signUp(t);
    const res = await t.request("POST", "/api/tokens", { as: s, body: { name: "nightly script" } });
    expect(res.status).toBe(201);
    const { token, id, hint } = (await res.json()) as { token: string; id: string; hint: string };
    expect(token).toMatch(/^lw_/);
    expect(hint).toBe(token.slice(-4));
    const row = t.db.select().from(schema.apiTokens).where(eq(schema.apiTokens.id, id)).get();
    expect(JSON.stringify(row)).not.toContain(token);
    const credits = await t.request("GET", "/api/credits", { bearer: token });
    expect(credits.status).toBe(200);
    const list = await t.request("GET", "/api/tokens", { bearer: token });
    expect(JSON.stringify(await list.json())).not.toContain(token);
    // A script needs no CSRF token: it sends no cookie.
    expect((await t.request("POST", "/api/tokens", { bearer: token, body: { name: "second" } })).status).toBe(201);
    expect((await t.request("DELETE", `/api/tokens/${id}`, { bearer: token })).status).toBe(204);
    expect((await t.request("GET", "/api/credits", { bearer: token })).status).toBe(401);
  });

  it("rejects an unknown bearer token", async () => {
    const t = createTestApp();
    const res = await t.request("GET", "/api/credits", { bearer: "lw_not-a-real-token" });
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ error: { code: "unauthenticated" } });
  });
});
