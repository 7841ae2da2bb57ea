// Issue 11, point 2: `next` after sign-in stays on this site, whatever it is given.
import { describe, expect, it } from "vitest";
import { createTestApp, signUp, type Session, type TestApp } from "../support/app.ts";

const PASSWORD = "correct horse battery";

/** Each as it would be typed into the address bar, after `?next=`. */
const HOSTILE = [
  "/%09/evil.example", // the tab is dropped by browsers: //evil.example
  "/%0A/evil.example",
  "/%0D/evil.example",
  "%0A",
  "%0D",
  "/x%0D%0ASet-Cookie:%20a=b",
  "//evil.example",
  "/%5Cevil.example",
  "/%5C%5Cevil.example",
  "%5C%5Cevil.example",
  "https://evil.example",
  "https:evil.example",
  "https:/evil.example",
  "javascript:alert(1)",
  "%20/evil.example",
  "/%20/evil.example",
  "/%00/evil.example",
  "/%E2%80%AE/evil.example",
  "evil.example",
  "",
  // Dot segments collapse into "//evil.example" once parsed.
  "/.//evil.example",
  "/x/..//evil.example",
  "/%2e//evil.example",
  "/./%5Cevil.example",
];

/** One app and user for the many cases (each would otherwise pay for migrations and a password hash). */
let shared: Promise<{ t: TestApp; s: Session }> | undefined;
const signedUp = () => (shared ??= (async () => {
  const t = createTestApp();
  return { t, s: await signUp(t) };
})());

describe("next after sign-in", () => {
  it.each(HOSTILE)("sends a signed-in user asked for next=%s to /", async (next) => {
    const { t, s } = await signedUp();
    const res = await t.request("GET", `/login?next=${next}`, { as: s });
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe("/");
  });

  it.each(HOSTILE)("sends a user who signs in with next=%s to /, and does not echo it in the form", async (next) => {
    const { t, s } = await signedUp();
    const page = await t.request("GET", `/login?next=${next}`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('action="/login"');
    const res = await t.request("POST", `/login?next=${next}`, {
      body: new URLSearchParams({ email: s.email, password: PASSWORD }).toString(),
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe("/");
  });

  it("keeps a path on this site, with its query", async () => {
    const t = createTestApp();
    const s = await signUp(t);
    const res = await t.request("GET", `/login?next=${encodeURIComponent("/runs/run_1?tab=report")}`, { as: s });
    expect(res.headers.get("location")).toBe("/runs/run_1?tab=report");
  });

  it("sends a signed-out visitor of a page to sign in and back to that page", async () => {
    const t = createTestApp();
    const s = await signUp(t);
    const away = await t.request("GET", "/tokens");
    expect(away.headers.get("location")).toBe(`/login?next=${encodeURIComponent("/tokens")}`);
    const res = await t.request("POST", `/login?next=${encodeURIComponent("/tokens")}`, {
      body: new URLSearchParams({ email: s.email, password: PASSWORD }).toString(),
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    expect(res.headers.get("location")).toBe("/tokens");
  });
});
