// Issue 11 follow-up: client addresses behind a reverse proxy, and a site-wide cap on free credits.
import { describe, expect, it } from "vitest";
import { createTestApp, uniqueEmail, type TestApp, type TestAppOptions } from "../support/app.ts";

const PASSWORD = "correct horse battery";
const REAL_LIMITS: TestAppOptions["config"] = { SIGNUP_PER_HOUR: 5, SIGNUP_CREDITS_PER_DAY: 1, SIGNUP_CREDITS: 100 };

function signup(t: TestApp, opts: { ip: string; forwardedFor?: string }) {
  return t.request("POST", "/api/auth/signup", {
    body: { email: uniqueEmail("proxy"), password: PASSWORD },
    ip: opts.ip,
    ...(opts.forwardedFor ? { headers: { "x-forwarded-for": opts.forwardedFor } } : {}),
  });
}

describe("client addresses", () => {
  it("ignores X-Forwarded-For by default: a client cannot pose as many networks", async () => {
    const t = createTestApp({ config: REAL_LIMITS });
    const statuses = [];
    for (let i = 0; i < 8; i++) statuses.push((await signup(t, { ip: "203.0.113.7", forwardedFor: `198.51.100.${i + 1}` })).status);
    expect(statuses.filter((s) => s === 201)).toHaveLength(5);
  });

  it("behind TRUST_PROXY=1 uses the address the proxy saw, and a forged entry on the left changes nothing", async () => {
    const t = createTestApp({ config: { ...REAL_LIMITS, TRUST_PROXY: 1 } });
    // Every request reaches us from the proxy (127.0.0.1); the proxy appends the client's address.
    const statuses = [];
    for (let i = 0; i < 7; i++) statuses.push((await signup(t, { ip: "127.0.0.1", forwardedFor: `10.9.9.${i}, 203.0.113.7` })).status);
    expect(statuses).toEqual([201, 201, 201, 201, 201, 429, 429]);
    // Another client behind the same proxy is another network.
    expect((await signup(t, { ip: "127.0.0.1", forwardedFor: "198.51.100.9" })).status).toBe(201);
  });
});

describe("free credits", () => {
  it("go to at most SIGNUP_CREDITS_SITE_PER_DAY new accounts a day across all networks", async () => {
    const t = createTestApp({ config: { ...REAL_LIMITS, SIGNUP_CREDITS_SITE_PER_DAY: 2 } });
    const granted = [];
    for (let i = 0; i < 4; i++) {
      const res = await signup(t, { ip: `198.51.100.${40 + i}` });
      expect(res.status).toBe(201);
      granted.push(((await res.json()) as { creditsGranted: number }).creditsGranted);
    }
    expect(granted).toEqual([100, 100, 0, 0]);
  });
});
