// Issue 11, points 6 and 7: password rules, the sign-up throttle, enumeration and free credits.
import { count, eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { schema } from "../../db/index.ts";
import { FakeClock } from "../support/clock.ts";
import { createTestApp, uniqueEmail, type TestApp, type TestAppOptions } from "../support/app.ts";

const PASSWORD = "correct horse battery";
/** The shipped defaults: testConfig relaxes them for the rest of the suite. */
const REAL_LIMITS: TestAppOptions = { config: { SIGNUP_PER_HOUR: 5, SIGNUP_CREDITS_PER_DAY: 1, SIGNUP_CREDITS: 100 } };

function signup(t: TestApp, email: string, opts: { ip?: string; password?: string } = {}) {
  return t.request("POST", "/api/auth/signup", { body: { email, password: opts.password ?? PASSWORD }, ip: opts.ip ?? "203.0.113.10" });
}

const users = (t: TestApp) => t.db.select({ n: count() }).from(schema.users).get()!.n;

describe("sign-up throttle", () => {
  it("creates at most 5 accounts from a burst of 30 sign-ups from one network, and grants free credits once", async () => {
    const t = createTestApp(REAL_LIMITS);
    const statuses = (await Promise.all(Array.from({ length: 30 }, () => signup(t, uniqueEmail("farm"))))).map((r) => r.status);
    expect(statuses.filter((s) => s === 201)).toHaveLength(5);
    expect(statuses.filter((s) => s === 429)).toHaveLength(25);
    expect(users(t)).toBe(5);
    const grants = t.db.select({ n: count() }).from(schema.creditLedger).where(eq(schema.creditLedger.kind, "grant")).get()!.n;
    expect(grants).toBe(1);
  });

  it("answers the 6th sign-up of the hour with 429, Retry-After and how long to wait, and takes sign-ups again after the hour", async () => {
    const clock = new FakeClock();
    const t = createTestApp({ ...REAL_LIMITS, clock });
    for (let i = 0; i < 5; i++) expect((await signup(t, uniqueEmail())).status).toBe(201);
    const refused = await signup(t, uniqueEmail());
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(((await refused.json()) as { error: { message: string } }).error.message).toMatch(/wait \d+ minute/);
    const form = await t.request("POST", "/signup", {
      ip: "203.0.113.10",
      body: new URLSearchParams({ email: uniqueEmail(), password: PASSWORD }).toString(),
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    expect(form.status).toBe(429);
    expect(Number(form.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(await form.text()).toMatch(/Too many sign-ups from your network/);
    // Another network is not held back by this one.
    expect((await signup(t, uniqueEmail(), { ip: "198.51.100.20" })).status).toBe(201);
    clock.advance(61 * 60 * 1000);
    expect((await signup(t, uniqueEmail())).status).toBe(201);
  });

  it("counts sign-ups for taken e-mails too, so probing which addresses have accounts is throttled", async () => {
    const t = createTestApp(REAL_LIMITS);
    const taken = uniqueEmail();
    expect((await signup(t, taken, { ip: "198.51.100.21" })).status).toBe(201);
    const probes = [];
    for (let i = 0; i < 6; i++) probes.push((await signup(t, taken)).status);
    expect(probes).toEqual([409, 409, 409, 409, 409, 429]);
  });

  it("treats the addresses of one IPv6 /64 as one network", async () => {
    const t = createTestApp(REAL_LIMITS);
    const statuses = [];
    for (let i = 1; i <= 6; i++) statuses.push((await signup(t, uniqueEmail(), { ip: `2001:db8:1:2::${i.toString(16)}` })).status);
    expect(statuses).toEqual([201, 201, 201, 201, 201, 429]);
  });
});

describe("the answer to a taken e-mail (a 409: without e-mail, a sign-up cannot look the same for a taken address; the throttle keeps probing slow)", () => {
  it("answers a taken e-mail with a message that neither says it exists nor names the owner", async () => {
    const t = createTestApp(REAL_LIMITS);
    const taken = uniqueEmail();
    await signup(t, taken, { ip: "198.51.100.22" });
    const res = await signup(t, taken.toUpperCase(), { password: "another long password" });
    const body = (await res.json()) as { error: { message: string; field: string } };
    expect(body.error.message).not.toMatch(/exist|already|taken|registered/i);
    expect(body.error.message).toMatch(/could not create an account.*sign in/i);
    expect(body.error.field).toBe("email");
  });
});

describe("free credits", () => {
  it("go to the first new account of a network each day; the next starts at 0 and is told why on the dashboard", async () => {
    const clock = new FakeClock();
    const t = createTestApp({ ...REAL_LIMITS, clock });
    const first = await signup(t, uniqueEmail());
    expect(await first.json()).toMatchObject({ creditsGranted: 100 });
    const second = await signup(t, uniqueEmail());
    expect(await second.json()).toMatchObject({ creditsGranted: 0 });
    const otherNetwork = await signup(t, uniqueEmail(), { ip: "198.51.100.23" });
    expect(await otherNetwork.json()).toMatchObject({ creditsGranted: 100 });

    const form = await t.request("POST", "/signup", {
      ip: "203.0.113.10",
      body: new URLSearchParams({ email: uniqueEmail(), password: PASSWORD }).toString(),
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    expect(form.status).toBe(303);
    expect(form.headers.get("location")).toBe("/?notice=welcome-no-credits");

    clock.advance(25 * 3600 * 1000);
    expect(await (await signup(t, uniqueEmail())).json()).toMatchObject({ creditsGranted: 100 });
  });
});

describe("password rules", () => {
  it.each([
    ["          ", /only spaces/],
    ["aaaaaaaaaa", /too few characters/],
    ["1234567890", /common password/],
    ["abcdefghij", /sequence/],
    ["password123", /common password/],
    ["qwertyuiop", /common password/],
    ["Sunshine2024!", /common password/],
  ])("refuses %j with a reason", async (password, reason) => {
    const t = createTestApp(REAL_LIMITS);
    const res = await signup(t, uniqueEmail(), { password });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { code: string; field: string; message: string } };
    expect(body.error).toMatchObject({ code: "invalid_input", field: "password" });
    expect(body.error.message).toMatch(reason);
    expect(users(t)).toBe(0);
  });

  it("refuses the e-mail address itself as the password", async () => {
    const t = createTestApp(REAL_LIMITS);
    const res = await signup(t, "marianne.dupont@example.com", { password: "marianne.dupont@example.com" });
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/e-mail address/);
  });

  it("does not count a refused password against the network's sign-ups", async () => {
    const t = createTestApp(REAL_LIMITS);
    for (let i = 0; i < 8; i++) expect((await signup(t, uniqueEmail(), { password: "password123" })).status).toBe(400);
    expect((await signup(t, uniqueEmail())).status).toBe(201);
  });

  it("shows the reason next to the password field of the sign-up form", async () => {
    const t = createTestApp(REAL_LIMITS);
    const res = await t.request("POST", "/signup", {
      body: new URLSearchParams({ email: uniqueEmail(), password: "1234567890" }).toString(),
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    expect(res.status).toBe(400);
    expect(await res.text()).toMatch(/Is one of the most common passwords/);
  });

  it("accepts a passphrase of unrelated words", async () => {
    const t = createTestApp(REAL_LIMITS);
    expect((await signup(t, uniqueEmail(), { password: "lantern velvet orbit" })).status).toBe(201);
  });
});
