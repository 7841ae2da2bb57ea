import { describe, expect, it } from "vitest";
import { RESET_TTL_MS } from "../core/services/password-reset.ts";
import { createTestApp, signUp, uniqueEmail } from "./support/app.ts";
import { FakeClock } from "./support/clock.ts";
import { startMailbox } from "./support/mailbox.ts";

const PUBLIC = "https://lw.example.com";
const OLD = "correct horse battery";
const NEW = "purple elephant sunrise tango";

async function setup() {
  const mailbox = await startMailbox();
  const clock = new FakeClock();
  const t = createTestApp({ clock, config: { MAIL_URL: mailbox.url, PUBLIC_URL: PUBLIC } });
  const email = uniqueEmail("reset");
  const session = await signUp(t, email, OLD);
  return {
    t,
    clock,
    mailbox,
    email,
    session,
    async ask(address: string) {
      const res = await t.request("POST", "/api/auth/password-reset", { body: { email: address } });
      await t.deps.mailer.idle();
      return { status: res.status, body: await res.text() };
    },
    linkIn(text: string): { url: string; token: string } {
      const url = new RegExp(`${PUBLIC}/reset-password\\?token=([A-Za-z0-9_%-]+)`).exec(text);
      if (!url) throw new Error(`no reset link in: ${text}`);
      return { url: url[0], token: decodeURIComponent(url[1]!) };
    },
    confirm: (token: string, password = NEW) => t.request("POST", "/api/auth/password-reset/confirm", { body: { token, password } }),
    login: (password: string) => t.request("POST", "/api/auth/login", { body: { email, password } }),
    async close() {
      t.deps.mailer.close();
      await mailbox.close();
      t.db.$client.close();
    },
  };
}

describe("password reset by e-mail", () => {
  it("answers the same for a known and an unknown address, and e-mails only the account's owner", async () => {
    const s = await setup();
    const known = await s.ask(s.email);
    const unknown = await s.ask("nobody-here@example.com");
    expect(known).toEqual(unknown);
    expect(known.status).toBe(202);
    expect(s.mailbox.mails).toHaveLength(1);
    expect(s.mailbox.mails[0]!.to).toEqual([s.email]);
    await s.close();
  });

  it("works end to end once: the link sets a new password, signs every session out, and cannot be used again", async () => {
    const s = await setup();
    await s.ask(s.email);
    const { url, token } = s.linkIn(s.mailbox.mails[0]!.text);
    // The page of the link shows the form (the token travels in the form, not in a log line).
    const page = await s.t.request("GET", url.replace(PUBLIC, ""));
    expect(page.status).toBe(200);
    expect(await page.text()).toContain("Save the new password");

    expect((await s.confirm(token)).status).toBe(204);
    expect((await s.login(NEW)).status).toBe(200);
    expect((await s.login(OLD)).status).toBe(401);
    expect((await s.t.request("GET", "/api/auth/me", { as: s.session })).status).toBe(401);

    const again = await s.confirm(token, "another fresh passphrase here");
    expect(again.status).toBe(400);
    expect(((await again.json()) as { error: { field: string } }).error.field).toBe("token");
    expect((await s.login(NEW)).status).toBe(200);
    expect(s.t.logs.join("")).not.toContain(token);
    await s.close();
  });

  it("refuses a guessed or altered token, and a link past its hour", async () => {
    const s = await setup();
    await s.ask(s.email);
    const { token } = s.linkIn(s.mailbox.mails[0]!.text);
    const altered = `${token.slice(0, -1)}${token.endsWith("A") ? "B" : "A"}`;
    for (const guess of [altered, "", "x".repeat(43), token.slice(0, 20)]) expect((await s.confirm(guess)).status).toBe(400);
    // 256 random bits, stored only as a hash.
    expect(Buffer.from(token, "base64url")).toHaveLength(32);
    const stored = s.t.db.$client.prepare("SELECT token_hash FROM password_resets").all() as { token_hash: string }[];
    expect(stored.map((r) => r.token_hash)).not.toContain(token);

    s.clock.advance(RESET_TTL_MS + 1);
    expect((await s.confirm(token)).status).toBe(400);
    expect((await s.login(OLD)).status).toBe(200);
    await s.close();
  });

  it("sends at most 3 links an hour to one address, still answering the same", async () => {
    const s = await setup();
    const answers = [];
    for (let i = 0; i < 5; i++) answers.push(await s.ask(s.email));
    expect(new Set(answers.map((a) => JSON.stringify(a))).size).toBe(1);
    expect(s.mailbox.mails).toHaveLength(3);
    await s.close();
  });
});
