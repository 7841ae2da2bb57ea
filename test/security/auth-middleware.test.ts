// The auth middleware (server/middleware/auth.ts) on a bare Hono app over a test app's deps:
// who the caller is, which state-changing requests pass the CSRF check, the client address,
// and the cookies a sign-in sets.
import { Hono } from "hono";
import { beforeAll, describe, expect, it } from "vitest";
import type { Config } from "../../core/config.ts";
import { AppError } from "../../core/errors.ts";
import { signup } from "../../core/services/accounts.ts";
import { createApiToken } from "../../core/services/tokens.ts";
import type { AppEnv } from "../../server/env.ts";
import {
  clearSessionCookie,
  clientIp,
  csrfProtection,
  csrfTokenFor,
  deviceCookie,
  identify,
  principal,
  requireAuth,
  setSignInCookies,
  siteOrigin,
} from "../../server/middleware/auth.ts";
import { FakeClock } from "../support/clock.ts";
import { createTestApp, uniqueEmail, type TestApp } from "../support/app.ts";

/** A session's end, a day from now (a cookie may not be set to expire more than 400 days ahead). */
const SESSION_ENDS = new Date(Math.floor(Date.now() / 1000 + 86_400) * 1000);

function bareApp(t: TestApp) {
  const app = new Hono<AppEnv>();
  app.use(async (c, next) => {
    c.set("deps", t.deps);
    c.set("log", t.deps.logger);
    await next();
  });
  app.onError((err, c) => (err instanceof AppError ? c.json({ code: err.code }, err.status as 400) : c.json({ code: "internal" }, 500)));
  app.get("/ip", (c) => c.json({ ip: clientIp(c) }));
  app.get("/origin", (c) => c.json({ origin: siteOrigin(c) }));
  app.get("/device", (c) => c.json({ device: deviceCookie(c) }));
  app.post("/signed-in", (c) => {
    const deviceToken = c.req.query("device");
    setSignInCookies(c, { sessionToken: "s3ss10n", expiresAt: SESSION_ENDS, ...(deviceToken ? { deviceToken } : {}) });
    return c.body(null, 204);
  });
  app.post("/signed-out", (c) => {
    clearSessionCookie(c);
    return c.body(null, 204);
  });
  app.get("/principal", (c) => c.json({ email: principal(c).email }));
  app.use("/api/*", identify, csrfProtection);
  app.get("/api/private", requireAuth, (c) => c.json({ via: c.var.principal?.via }));
  app.get("/api/principal", (c) => c.json({ email: principal(c).email }));
  app.all("/api/*", (c) => c.json({ via: c.var.principal?.via ?? null, uploadCsrf: c.var.uploadCsrf ?? null }));
  return app;
}

const peer = (ip: string) => ({ incoming: { socket: { remoteAddress: ip, remotePort: 40000, remoteFamily: "IPv4" } } });

function withApp(config: Partial<Config> = {}) {
  const t = createTestApp({ config, clock: new FakeClock() });
  return { t, app: bareApp(t) };
}

async function signedIn(t: TestApp) {
  const result = await signup(t.deps, { email: uniqueEmail("mw"), password: "correct horse battery" });
  const cookie = `lw_session=${encodeURIComponent(result.sessionToken)}`;
  const csrf = csrfTokenFor(t.deps, result.principal.sessionHash!);
  const token = createApiToken(t.deps, { ctx: result.principal, input: { name: "script" } }).token;
  return { cookie, csrf, token, email: result.principal.email };
}

describe("identify", () => {
  let t: TestApp;
  let app: Hono<AppEnv>;
  let s: Awaited<ReturnType<typeof signedIn>>;
  beforeAll(async () => {
    ({ t, app } = withApp());
    s = await signedIn(t);
  });

  it("knows the caller by the session cookie, and nobody without one", async () => {
    expect(await (await app.request("/api/who", { headers: { cookie: s.cookie } })).json()).toMatchObject({ via: "session" });
    expect(await (await app.request("/api/who")).json()).toMatchObject({ via: null });
    expect(await (await app.request("/api/who", { headers: { cookie: "lw_session=forged" } })).json()).toMatchObject({ via: null });
  });

  it.each(["Bearer TOKEN", "bearer TOKEN", "Bearer   TOKEN"])("knows the caller by %j", async (header) => {
    const res = await app.request("/api/who", { headers: { authorization: header.replace("TOKEN", s.token) } });
    expect(await res.json()).toMatchObject({ via: "token" });
  });

  it.each(["Bearer forged", "Bearer", "Bearer TOKEN extra", "Basic TOKEN", "TOKEN", "xBearer TOKEN"])(
    "refuses an Authorization header %j with 401, even beside a good session cookie",
    async (header) => {
      const res = await app.request("/api/who", { headers: { authorization: header.replace("TOKEN", s.token), cookie: s.cookie } });
      expect(res.status).toBe(401);
      expect(await res.json()).toEqual({ code: "unauthenticated" });
    },
  );

  it("lets requireAuth through only with a principal, and principal() throws without one", async () => {
    expect((await app.request("/api/private", { headers: { cookie: s.cookie } })).status).toBe(200);
    expect((await app.request("/api/private")).status).toBe(401);
    expect((await app.request("/principal")).status).toBe(401);
    const signedInAs = await app.request("/api/principal", { headers: { cookie: s.cookie } });
    expect(await signedInAs.json()).toEqual({ email: s.email });
  });
});

describe("csrfProtection", () => {
  let t: TestApp;
  let app: Hono<AppEnv>;
  let s: Awaited<ReturnType<typeof signedIn>>;
  beforeAll(async () => {
    ({ t, app } = withApp());
    s = await signedIn(t);
  });
  const send = (method: string, headers: Record<string, string>, body?: string) => app.request("http://localhost/api/x", { method, headers, body });

  it.each(["GET", "HEAD", "OPTIONS"])("lets a %s with the session cookie through without a token", async (method) => {
    expect((await send(method, { cookie: s.cookie, origin: "https://evil.example" })).status).toBe(200);
  });

  it.each(["POST", "PUT", "PATCH", "DELETE"])("refuses a %s with the session cookie and no token, and takes it with the token", async (method) => {
    expect((await send(method, { cookie: s.cookie })).status).toBe(403);
    expect((await send(method, { cookie: s.cookie, "x-csrf-token": `${s.csrf}x` })).status).toBe(403);
    expect((await send(method, { cookie: s.cookie, "x-csrf-token": s.csrf })).status).toBe(200);
  });

  it("refuses a foreign Origin or a cross-site fetch, with or without credentials", async () => {
    const ok = { cookie: s.cookie, "x-csrf-token": s.csrf };
    expect((await send("POST", { ...ok, origin: "https://evil.example" })).status).toBe(403);
    expect((await send("POST", { ...ok, "sec-fetch-site": "cross-site" })).status).toBe(403);
    expect((await send("POST", { origin: "https://evil.example" })).status).toBe(403);
    expect((await send("POST", { "sec-fetch-site": "cross-site" })).status).toBe(403);
    expect((await send("POST", { ...ok, origin: "http://localhost", "sec-fetch-site": "same-origin" })).status).toBe(200);
    expect((await send("POST", { ...ok, "sec-fetch-site": "same-site" })).status).toBe(200);
  });

  it("needs no token from a Bearer-token caller or from nobody", async () => {
    expect((await send("POST", { authorization: `Bearer ${s.token}` })).status).toBe(200);
    expect((await send("POST", {})).status).toBe(200);
  });

  it.each([
    ["application/x-www-form-urlencoded", (token: string) => `a=1&_csrf=${encodeURIComponent(token)}`],
    ["multipart/form-data; boundary=xyz", (token: string) => `--xyz\r\nContent-Disposition: form-data; name="_csrf"\r\n\r\n${token}\r\n--xyz--\r\n`],
  ])("reads the token from a %s form's _csrf field", async (type, body) => {
    expect((await send("POST", { cookie: s.cookie, "content-type": type }, body(s.csrf))).status).toBe(200);
    expect((await send("POST", { cookie: s.cookie, "content-type": type }, body("forged"))).status).toBe(403);
  });

  it("takes the header's token before a form's, even from a form without one", async () => {
    const form = { cookie: s.cookie, "x-csrf-token": s.csrf, "content-type": "application/x-www-form-urlencoded" };
    expect((await send("POST", form, "a=1")).status).toBe(200);
    expect((await send("POST", form, "_csrf=forged")).status).toBe(200);
  });

  it("reads a form's token whatever the case of its media type and its parameters", async () => {
    const body = `_csrf=${encodeURIComponent(s.csrf)}`;
    expect((await send("POST", { cookie: s.cookie, "content-type": "application/x-www-form-urlencoded; charset=UTF-8" }, body)).status).toBe(200);
    expect((await send("POST", { cookie: s.cookie, "content-type": "Application/X-WWW-Form-Urlencoded" }, body)).status).toBe(200);
  });

  it("refuses a form whose _csrf is a file, not a value", async () => {
    const body = `--xyz\r\nContent-Disposition: form-data; name="_csrf"; filename="t.txt"\r\nContent-Type: text/plain\r\n\r\n${s.csrf}\r\n--xyz--\r\n`;
    expect((await send("POST", { cookie: s.cookie, "content-type": "multipart/form-data; boundary=xyz" }, body)).status).toBe(403);
  });

  it("derives a session's token with the keyring's csrf purpose, unlike any other purpose's", () => {
    const hash = "session-hash";
    expect(csrfTokenFor(t.deps, hash)).toBe(t.deps.keyring.hmac("csrf", hash));
    expect(csrfTokenFor(t.deps, hash)).not.toBe(t.deps.keyring.hmac("", hash));
  });

  it("does not read a token from a body of another type", async () => {
    expect((await send("POST", { cookie: s.cookie, "content-type": "text/plain" }, `_csrf=${encodeURIComponent(s.csrf)}`)).status).toBe(403);
  });

  it("leaves a streamed file upload's token to its reader, handing it the one to expect", async () => {
    const res = await app.request("http://localhost/api/uploads", {
      method: "POST",
      headers: { cookie: s.cookie, "content-type": "multipart/form-data; boundary=xyz" },
      body: "--xyz--\r\n",
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ via: "session", uploadCsrf: s.csrf });
  });
});

describe("the site's origin", () => {
  it("is PUBLIC_URL's origin when set, else the request's", async () => {
    const behind = withApp({ PUBLIC_URL: "https://lw.example.com/app/" });
    expect(await (await behind.app.request("http://10.0.0.5:3000/origin")).json()).toEqual({ origin: "https://lw.example.com" });
    const direct = withApp();
    expect(await (await direct.app.request("http://localhost:3000/origin")).json()).toEqual({ origin: "http://localhost:3000" });
  });

  it("is what a state-changing request's Origin must equal behind PUBLIC_URL", async () => {
    const { t, app } = withApp({ PUBLIC_URL: "https://lw.example.com" });
    const s = await signedIn(t);
    const send = (origin: string) =>
      app.request("http://10.0.0.5:3000/api/x", { method: "POST", headers: { cookie: s.cookie, "x-csrf-token": s.csrf, origin } });
    expect((await send("https://lw.example.com")).status).toBe(200);
    expect((await send("http://10.0.0.5:3000")).status).toBe(403);
  });
});

describe("clientIp", () => {
  it("is the peer's address, ignoring X-Forwarded-For, by default", async () => {
    const { app } = withApp();
    const res = await app.request("/ip", { headers: { "x-forwarded-for": "198.51.100.1" } }, peer("203.0.113.7"));
    expect(await res.json()).toEqual({ ip: "203.0.113.7" });
  });

  it("is 'unknown' when the server reports no peer", async () => {
    const { app } = withApp();
    expect(await (await app.request("/ip")).json()).toEqual({ ip: "unknown" });
    expect(await (await app.request("/ip", {}, { incoming: { socket: {} } })).json()).toEqual({ ip: "unknown" });
  });

  it.each([
    [1, "10.9.9.9, 203.0.113.7", "203.0.113.7"],
    [1, "10.9.9.9 ,  203.0.113.7  ", "203.0.113.7"],
    [2, "10.9.9.9, 203.0.113.7, 127.0.0.1", "203.0.113.7"],
    [2, "203.0.113.7,, 127.0.0.1", "203.0.113.7"],
    [2, "127.0.0.1", "192.0.2.1"],
    [1, "", "192.0.2.1"],
  ])("behind %i trusted proxies, X-Forwarded-For %j gives %s", async (hops, forwarded, expected) => {
    const { app } = withApp({ TRUST_PROXY: hops });
    const res = await app.request("/ip", { headers: forwarded ? { "x-forwarded-for": forwarded } : {} }, peer("192.0.2.1"));
    expect(await res.json()).toEqual({ ip: expected });
  });

  it("is the peer's address behind a trusted proxy that sent no X-Forwarded-For", async () => {
    const { app } = withApp({ TRUST_PROXY: 1 });
    expect(await (await app.request("/ip", {}, peer("192.0.2.1"))).json()).toEqual({ ip: "192.0.2.1" });
  });
});

describe("cookies", () => {
  it("sets an HttpOnly, SameSite=Lax session cookie for the whole site, Secure only behind https", async () => {
    const plain = withApp();
    const cookie = (await plain.app.request("http://localhost/signed-in", { method: "POST" })).headers.get("set-cookie") ?? "";
    expect(cookie).toMatch(/^lw_session=s3ss10n;/);
    expect(cookie).toMatch(/; Path=\//);
    expect(cookie).toMatch(/; HttpOnly/);
    expect(cookie).toMatch(/; SameSite=Lax/);
    expect(cookie).toContain(`; Expires=${SESSION_ENDS.toUTCString()}`);
    expect(cookie).not.toMatch(/Secure/);
    const direct = (await plain.app.request("https://localhost/signed-in", { method: "POST" })).headers.get("set-cookie");
    expect(direct).toMatch(/; Secure/);
    const behind = withApp({ PUBLIC_URL: "https://lw.example.com" });
    expect((await behind.app.request("http://10.0.0.5/signed-in", { method: "POST" })).headers.get("set-cookie")).toMatch(/; Secure/);
    const plainBehind = withApp({ PUBLIC_URL: "http://lw.example.com" });
    expect((await plainBehind.app.request("https://10.0.0.5/signed-in", { method: "POST" })).headers.get("set-cookie")).not.toMatch(/Secure/);
  });

  it("sets the device cookie only when the sign-in issued one: HttpOnly, SameSite=Lax, for a year", async () => {
    const { app } = withApp({ PUBLIC_URL: "https://lw.example.com" });
    const res = await app.request("/signed-in?device=d3v1ce", { method: "POST" });
    const device = res.headers.getSetCookie().find((c) => c.startsWith("lw_device=")) ?? "";
    expect(device).toMatch(/^lw_device=d3v1ce;/);
    expect(device).toMatch(/; Max-Age=31536000/);
    expect(device).toMatch(/; Path=\//);
    expect(device).toMatch(/; HttpOnly/);
    expect(device).toMatch(/; SameSite=Lax/);
    expect(device).toMatch(/; Secure/);
    const without = await app.request("/signed-in", { method: "POST" });
    expect(without.headers.getSetCookie().filter((c) => c.startsWith("lw_device="))).toEqual([]);
    expect(await (await app.request("/device", { headers: { cookie: "lw_device=d3v1ce" } })).json()).toEqual({ device: "d3v1ce" });
    expect(await (await app.request("/device")).json()).toEqual({ device: null });
  });

  it("clears the session cookie for the whole site, Secure behind https", async () => {
    const { app } = withApp({ PUBLIC_URL: "https://lw.example.com" });
    const cleared = (await app.request("/signed-out", { method: "POST" })).headers.get("set-cookie") ?? "";
    expect(cleared).toMatch(/^lw_session=;/);
    expect(cleared).toMatch(/; Max-Age=0/);
    expect(cleared).toMatch(/; Path=\//);
    expect(cleared).toMatch(/; Secure/);
  });
});
