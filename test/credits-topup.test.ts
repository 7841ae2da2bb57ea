import { afterEach, describe, expect, it } from "vitest";
import { balanceOf } from "../core/services/credits.ts";
import { answer, apiClient } from "./support/api.ts";
import { createTestApp, signUp, type Session, type TestApp } from "./support/app.ts";
import { FakeClock } from "./support/clock.ts";
import { FakeStripe } from "./support/fake-stripe.ts";
import { startMailbox, type Mailbox } from "./support/mailbox.ts";

const SECRET_KEY = "sk_test_51Listwarden0fake0key";
const WEBHOOK_SECRET = "whsec_test0listwarden0webhook0secret";
const PUBLIC = "https://lw.example.com";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function stripeWorld() {
  const clock = new FakeClock();
  const stripe = new FakeStripe(SECRET_KEY, WEBHOOK_SECRET);
  const api = await stripe.start();
  cleanups.push(() => stripe.close());
  const t = createTestApp({ clock, config: { STRIPE_SECRET_KEY: SECRET_KEY, STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET, PUBLIC_URL: PUBLIC, SIGNUP_CREDITS: 100 } });
  t.deps.stripeApi = api;
  cleanups.push(() => {
    t.db.$client.close();
  });
  const user = await signUp(t);
  const webhook = (e: { payload: string; signature?: string }) =>
    t.request("POST", "/api/billing/stripe/webhook", { body: e.payload, headers: e.signature === undefined ? {} : { "stripe-signature": e.signature } });
  const nowS = () => Math.floor(clock.now() / 1000);
  return { clock, stripe, t, user, webhook, nowS, balance: () => balanceOf(t.db, user.workspaceId) };
}

describe("buying credits with Stripe Checkout", () => {
  it("a paid checkout credits its pack once; the same event again, or a second event for it, changes nothing", async () => {
    const w = await stripeWorld();
    const started = await answer(await apiClient(w.t, w.user).credits.checkout.$post({ json: { pack: 1 } }), 201);
    expect(started.url).toMatch(new RegExp(`^${w.stripe.url}/pay/cs_test_`));
    const [session] = [...w.stripe.sessions.values()];
    expect(session).toMatchObject({ mode: "payment", amount_total: 8_000, currency: "usd", client_reference_id: started.purchaseId, customer_email: w.user.email, success_url: `${PUBLIC}/credits?notice=paid` });
    expect(w.stripe.requests[0]!.idempotencyKey).toBe(`purchase:${started.purchaseId}`);
    expect(w.balance()).toBe(100);

    w.clock.advance(30_000);
    const paid = w.stripe.pay(session!.id, { timestampS: w.nowS() });
    const res = await w.webhook(paid);
    expect(await res.json()).toEqual({ received: true, outcome: "credited" });
    expect(w.balance()).toBe(10_100);

    // Stripe redelivers (the same event, signed again later), or sends another event for it.
    w.clock.advance(60_000);
    const replayed = await w.webhook(paid);
    expect(await replayed.json()).toEqual({ received: true, outcome: "duplicate" });
    const again = await w.webhook(w.stripe.event("checkout.session.completed", session, { timestampS: w.nowS() }));
    expect(await again.json()).toEqual({ received: true, outcome: "duplicate" });
    expect(w.balance()).toBe(10_100);
    const history = await answer(await apiClient(w.t, w.user).credits.history.$get({ query: { page: "1" } }), 200);
    expect(history.lines[0]).toMatchObject({ kind: "grant", amount: 10_000, reason: "Bought 10,000 credits ($80.00)" });
  });

  it("refuses a forged, altered, unsigned or stale webhook, and credits nothing for them", async () => {
    const w = await stripeWorld();
    await answer(await apiClient(w.t, w.user).credits.checkout.$post({ json: { pack: 0 } }), 201);
    const [session] = [...w.stripe.sessions.values()];
    const forged = w.stripe.pay(session!.id, { timestampS: w.nowS(), secret: "whsec_someone0else0secret" });
    const genuine = w.stripe.pay(session!.id, { timestampS: w.nowS() });
    const altered = { payload: genuine.payload.replace('"amount_total":1000', '"amount_total":1'), signature: genuine.signature };
    // A genuine event captured and sent again after Stripe's 5-minute tolerance.
    const stale = w.stripe.pay(session!.id, { timestampS: w.nowS() - 10 * 60 });
    for (const [what, e] of Object.entries({ forged, altered, unsigned: { payload: genuine.payload }, stale })) {
      const res = await w.webhook(e);
      const body = (await res.json()) as { error?: { code: string } };
      expect({ what, status: res.status, code: body.error?.code }).toEqual({ what, status: 400, code: "invalid_input" });
    }
    expect(w.balance()).toBe(100);
    expect((await (await w.webhook(genuine)).json()) as object).toEqual({ received: true, outcome: "credited" });
    expect(w.balance()).toBe(1_100);
  });

  it("credits nothing for a checkout that is not paid, or paid another amount than its pack's", async () => {
    const w = await stripeWorld();
    const client = apiClient(w.t, w.user);
    await answer(await client.credits.checkout.$post({ json: { pack: 0 } }), 201);
    await answer(await client.credits.checkout.$post({ json: { pack: 0 } }), 201);
    const [unpaid, cheap] = [...w.stripe.sessions.values()];
    expect(await (await w.webhook(w.stripe.event("checkout.session.completed", unpaid, { timestampS: w.nowS() }))).json()).toEqual({ received: true, outcome: "ignored" });
    expect(await (await w.webhook(w.stripe.pay(cheap!.id, { timestampS: w.nowS(), amountTotal: 1 }))).json()).toEqual({ received: true, outcome: "ignored" });
    expect(w.balance()).toBe(100);
  });
});

describe("requesting credits from the operator (no payment provider)", () => {
  async function requestWorld(): Promise<{ t: TestApp; user: Session; admin: Session; mailbox: Mailbox }> {
    const mailbox = await startMailbox();
    cleanups.push(() => mailbox.close());
    const t = createTestApp({ config: { MAIL_URL: mailbox.url, PUBLIC_URL: PUBLIC, SIGNUP_CREDITS: 100 } });
    cleanups.push(() => {
      t.deps.mailer.close();
      t.db.$client.close();
    });
    const admin = await signUp(t, "operator@example.com");
    t.db.$client.prepare("UPDATE users SET role = 'admin' WHERE email = ?").run("operator@example.com");
    const user = await signUp(t, "marketer@example.com");
    return { t, user, admin, mailbox };
  }

  const form = (t: TestApp, s: Session, path: string, fields: Record<string, string>) =>
    t.request("POST", path, { as: s, body: new URLSearchParams(fields).toString(), headers: { "content-type": "application/x-www-form-urlencoded" } });

  it("a request reaches the operator by e-mail, who approves it on the operator page; the requester is told and credited once", async () => {
    const { t, user, admin, mailbox } = await requestWorld();
    const client = apiClient(t, user);
    expect((await client.credits.checkout.$post({ json: { pack: 0 } })).status).toBe(409);
    const request = await answer(await client.credits.requests.$post({ json: { credits: 500, note: "For the spring clean" } }), 201);
    await t.deps.mailer.idle();
    expect(mailbox.mails.map((m) => [m.to[0], m.subject])).toEqual([["operator@example.com", "Credit request: 500 credits for marketer@example.com"]]);
    expect(mailbox.mails[0]!.text).toContain(`${PUBLIC}/operator`);
    expect(mailbox.mails[0]!.text).toContain("For the spring clean");

    // Only the operator sees the page and may decide.
    expect((await t.request("GET", "/operator", { as: user })).status).toBe(403);
    expect((await form(t, user, `/operator/requests/${request.id}/approve`, { credits: "500" })).status).toBe(403);
    const page = await (await t.request("GET", "/operator", { as: admin })).text();
    expect(page).toContain("marketer@example.com");

    const approved = await form(t, admin, `/operator/requests/${request.id}/approve`, { credits: "400" });
    expect(approved.status).toBe(303);
    expect(balanceOf(t.db, user.workspaceId)).toBe(500);
    expect((await form(t, admin, `/operator/requests/${request.id}/approve`, { credits: "400" })).status).toBe(409);
    expect(balanceOf(t.db, user.workspaceId)).toBe(500);
    await t.deps.mailer.idle();
    expect(mailbox.mails.at(-1)).toMatchObject({ to: ["marketer@example.com"], subject: "400 credits added to your Listwarden" });
    expect((await answer(await client.credits.requests.$get(), 200)).requests[0]).toMatchObject({ status: "approved", granted: 400 });
  });

  it("the operator grants credits by e-mail address on the operator page, as the command line does", async () => {
    const { t, user, admin } = await requestWorld();
    expect((await form(t, admin, "/operator/grant", { email: "marketer@example.com", credits: "250", reason: "Welcome back" })).status).toBe(303);
    expect(balanceOf(t.db, user.workspaceId)).toBe(350);
    const unknown = await form(t, admin, "/operator/grant", { email: "nobody@example.com", credits: "250", reason: "" });
    expect(unknown.status).toBe(400);
    expect(await unknown.text()).toContain("No user signed up with this e-mail address");
  });
});
