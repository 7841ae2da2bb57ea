// Issue 11, points 1 and 8: the sign-in throttle against bursts, and lockouts a stranger can cause.
import { describe, expect, it } from "vitest";
import { FakeClock } from "../support/clock.ts";
import { createTestApp, signUp, type TestApp } from "../support/app.ts";

const RIGHT = "correct horse battery";
const WRONG = "wrong password!";
const ATTACKER = "203.0.113.66";
const OWNER = "198.51.100.7";

function login(t: TestApp, email: string, password: string, opts: { ip?: string; cookie?: string } = {}) {
  return t.request("POST", "/api/auth/login", {
    body: { email, password },
    ...(opts.ip ? { ip: opts.ip } : {}),
    ...(opts.cookie ? { headers: { cookie: opts.cookie } } : {}),
  });
}

/** The cookies a response set, as one Cookie header (name=value; ...). */
function cookiesOf(res: Response): string {
  return res.headers
    .getSetCookie()
    .map((c) => c.split(";")[0]!)
    .join("; ");
}

const failedSignIns = (t: TestApp) => t.logs.filter((l) => l.includes('"failed sign-in"')).length;

describe("sign-in throttle under a burst", () => {
  it("checks at most 10 of 199 concurrent wrong guesses and refuses the right password sent with them", async () => {
    const t = createTestApp();
    const s = await signUp(t);
    const burst = [...Array.from({ length: 199 }, () => login(t, s.email, WRONG, { ip: ATTACKER })), login(t, s.email, RIGHT, { ip: ATTACKER })];
    const statuses = (await Promise.all(burst)).map((r) => r.status);
    const checked = statuses.filter((st) => st === 401).length;
    expect(checked).toBeLessThanOrEqual(10);
    expect(failedSignIns(t)).toBeLessThanOrEqual(10);
    expect(statuses.at(-1)).toBe(429);
    expect(statuses.every((st) => st === 401 || st === 429)).toBe(true);
    // And afterwards: the account is closed to this network for the rest of the window.
    expect((await login(t, s.email, RIGHT, { ip: ATTACKER })).status).toBe(429);
  });

  it("answers 429 with Retry-After and a message saying how long to wait", async () => {
    const t = createTestApp();
    const s = await signUp(t);
    await Promise.all(Array.from({ length: 30 }, () => login(t, s.email, WRONG, { ip: ATTACKER })));
    const res = await login(t, s.email, RIGHT, { ip: ATTACKER });
    expect(res.status).toBe(429);
    expect(Number(res.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/wait \d+ minute/);
  });

  it("counts a network's attempts across e-mails: at most 50 checked in a burst spread over many accounts", async () => {
    const t = createTestApp();
    const emails = Array.from({ length: 30 }, (_, i) => `victim${i}@example.com`);
    const burst = emails.flatMap((email) => Array.from({ length: 5 }, () => login(t, email, WRONG, { ip: ATTACKER })));
    const statuses = (await Promise.all(burst)).map((r) => r.status);
    expect(statuses.filter((st) => st === 401).length).toBeLessThanOrEqual(50);
    expect(statuses.filter((st) => st === 429).length).toBeGreaterThanOrEqual(100);
  });

  it("signs in another network's user while one network's burst is being refused", async () => {
    const t = createTestApp();
    const victim = await signUp(t);
    const other = await signUp(t);
    const burst = Array.from({ length: 200 }, () => login(t, victim.email, WRONG, { ip: ATTACKER }));
    const legit = login(t, other.email, RIGHT, { ip: OWNER });
    const [legitRes] = await Promise.all([legit, ...burst]);
    expect(legitRes.status).toBe(200);
  });

  it("answers 429 'busy' to sign-ins beyond the password checks running and queued, instead of queueing them", async () => {
    const t = createTestApp();
    // 80 networks, one guess each: no throttle applies, only the hashing gate (2 running + 32 queued).
    const statuses = await Promise.all(
      Array.from({ length: 80 }, async (_, i) => {
        const res = await login(t, `someone${i}@example.com`, WRONG, { ip: `198.18.0.${i + 1}` });
        return { status: res.status, message: res.status === 429 ? ((await res.json()) as { error: { message: string } }).error.message : "" };
      }),
    );
    const busy = statuses.filter((s) => s.status === 429);
    expect(busy.length).toBeGreaterThan(0);
    expect(busy.every((s) => /busy/.test(s.message))).toBe(true);
    expect(statuses.filter((s) => s.status === 401).length).toBeGreaterThanOrEqual(34);
  });

  it("gives back the attempt of a sign-in that succeeds, so a user who signs in often is never throttled", async () => {
    const t = createTestApp();
    const s = await signUp(t);
    for (let i = 0; i < 15; i++) expect((await login(t, s.email, RIGHT, { ip: OWNER })).status).toBe(200);
  });

  it("applies the same limit to the dashboard's sign-in form", async () => {
    const t = createTestApp();
    const s = await signUp(t);
    const form = (password: string) =>
      t.request("POST", "/login", {
        ip: ATTACKER,
        body: new URLSearchParams({ email: s.email, password }).toString(),
        headers: { "content-type": "application/x-www-form-urlencoded" },
      });
    const statuses = (await Promise.all([...Array.from({ length: 60 }, () => form(WRONG)), form(RIGHT)])).map((r) => r.status);
    expect(statuses.filter((st) => st === 401).length).toBeLessThanOrEqual(10);
    expect(statuses.at(-1)).toBe(429);
  });
});

describe("lockout a stranger cannot use against the owner", () => {
  it("keeps a browser that signed in before able to sign in while a stranger is locked out", async () => {
    const t = createTestApp();
    const s = await signUp(t);
    const first = await login(t, s.email, RIGHT, { ip: OWNER });
    expect(first.status).toBe(200);
    const device = cookiesOf(first)
      .split("; ")
      .filter((c) => c.startsWith("lw_device="))
      .join("; ");
    expect(device).toMatch(/^lw_device=/);
    for (let i = 0; i < 20; i++) await login(t, s.email, WRONG, { ip: ATTACKER });
    expect((await login(t, s.email, RIGHT, { ip: ATTACKER })).status).toBe(429);
    // The owner, on the same browser but on a network never seen (a café), still gets in.
    expect((await login(t, s.email, RIGHT, { ip: "192.0.2.200", cookie: device })).status).toBe(200);
  });

  it("keeps a network the owner signed in from before able to sign in, even without the browser cookie", async () => {
    const t = createTestApp();
    const s = await signUp(t);
    expect((await login(t, s.email, RIGHT, { ip: OWNER })).status).toBe(200);
    await Promise.all(Array.from({ length: 40 }, () => login(t, s.email, WRONG, { ip: ATTACKER })));
    expect((await login(t, s.email, RIGHT, { ip: OWNER })).status).toBe(200);
    // A network never seen is held back with the stranger.
    expect((await login(t, s.email, RIGHT, { ip: "192.0.2.201" })).status).toBe(429);
  });

  it("does not trust a device cookie issued to another account", async () => {
    const t = createTestApp();
    const victim = await signUp(t);
    const attacker = await signUp(t);
    const own = await login(t, attacker.email, RIGHT, { ip: ATTACKER });
    const device = cookiesOf(own)
      .split("; ")
      .filter((c) => c.startsWith("lw_device="))
      .join("; ");
    // The stranger's allowance for the victim is used up first...
    for (let i = 0; i < 10; i++) expect((await login(t, victim.email, WRONG, { ip: ATTACKER })).status).toBe(401);
    // ...and the attacker's own device cookie does not open a fresh allowance for the victim.
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) statuses.push((await login(t, victim.email, WRONG, { ip: ATTACKER, cookie: device })).status);
    expect(statuses).toEqual(Array.from({ length: 10 }, () => 429));
    expect((await login(t, victim.email, RIGHT, { ip: ATTACKER, cookie: device })).status).toBe(429);
  });

  it("lifts the stranger lockout after the 15-minute window", async () => {
    const clock = new FakeClock();
    const t = createTestApp({ clock });
    const s = await signUp(t);
    for (let i = 0; i < 12; i++) await login(t, s.email, WRONG, { ip: ATTACKER });
    expect((await login(t, s.email, RIGHT, { ip: ATTACKER })).status).toBe(429);
    clock.advance(16 * 60 * 1000);
    expect((await login(t, s.email, RIGHT, { ip: ATTACKER })).status).toBe(200);
  });
});
