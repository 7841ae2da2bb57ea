import { setupServer } from "msw/node";
import { fetch as undiciFetch } from "undici";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createRun } from "../core/services/runs.ts";
import { createDispatcher } from "../worker/notifications/dispatcher.ts";
import { answer, apiClient } from "./support/api.ts";
import { startMailbox, startWebhookReceiver, type Mailbox, type WebhookReceiver } from "./support/mailbox.ts";
import { AC_KEY, createRunHarness, type RunHarness } from "./support/runs.ts";
import { address } from "./support/world.ts";

const server = setupServer();
beforeAll(() => server.listen({ onUnhandledRequest: "error" }));
afterEach(() => server.resetHandlers());
afterAll(() => server.close());

const ACTIVE = 1;
const PUBLIC = "https://lw.example.com";
const RELAY = { user: "relay-user", pass: "relay-Pa55word-never-shown" };
/** The webhook is called with undici's own fetch: msw (which stands in for AC) does not intercept it. */
const realFetch = undiciFetch as unknown as typeof fetch;

interface World {
  h: RunHarness;
  mailbox: Mailbox;
  hook: WebhookReceiver;
  dispatcher: ReturnType<typeof createDispatcher>;
  close(): Promise<void>;
}

async function world(opts: { signupCredits?: number } = {}): Promise<World> {
  const mailbox = await startMailbox({ credentials: RELAY });
  const hook = await startWebhookReceiver();
  const h = await createRunHarness(server, {
    ...(opts.signupCredits !== undefined ? { signupCredits: opts.signupCredits } : {}),
    config: { MAIL_URL: mailbox.url, MAIL_FROM: "Listwarden <lw@example.com>", PUBLIC_URL: PUBLIC, WEBHOOK_ALLOW_PRIVATE_HOSTS: true },
  });
  const api = apiClient(h.t, h.user);
  await answer(
    await api.notifications.settings.$put({
      json: { email: "owner@example.com", webhookUrl: hook.url, events: ["run_needs_review", "run_paused_credits", "run_failed", "run_completed", "scheduled_run_applied", "scheduled_run_held", "connection_key_refused"] },
    }),
    200,
  );
  const dispatcher = createDispatcher(h.t.deps, { fetch: realFetch });
  return {
    h,
    mailbox,
    hook,
    dispatcher,
    async close() {
      await dispatcher.stop();
      h.t.deps.mailer.close();
      await mailbox.close();
      await hook.close();
      await h.close();
    },
  };
}

/** Every secret this process holds that a message must never carry. */
function secretsOf(w: World): string[] {
  const cookie = w.h.user.cookie.split("=")[1] ?? "";
  return [AC_KEY, w.h.t.deps.config.APP_SECRET, RELAY.pass, cookie, w.h.user.csrfToken].filter((s) => s.length >= 8);
}

function expectNoSecret(w: World, text: string) {
  for (const secret of secretsOf(w)) expect(text.includes(secret), `a message carries a secret (${secret.slice(0, 4)}…)`).toBe(false);
}

function seedList(w: World, n: number): string {
  const list = w.h.fake.addList("Newsletter");
  for (let i = 0; i < n; i++) w.h.fake.addContact({ email: address(i % 3 === 0 ? "noDomain" : "deliverable", `n${i}`), lists: { [list]: ACTIVE } });
  return list;
}

describe("notifications by e-mail and webhook", () => {
  it("a run needing review, then completing, is told once per event by e-mail and webhook, with a link to the run and no secret", async () => {
    const w = await world();
    const list = seedList(w, 12);
    const run = await w.h.startRun({ scope: { kind: "lists", listIds: [list] } });
    await w.h.worker().drain();
    expect((await w.h.getRun(run.id)).status).toBe("awaiting_review");

    await w.dispatcher.drain();
    await w.dispatcher.drain();
    expect(w.mailbox.mails).toHaveLength(1);
    expect(w.hook.hits).toHaveLength(1);
    const mail = w.mailbox.mails[0]!;
    expect(mail.to).toEqual(["owner@example.com"]);
    expect(mail.user).toBe(RELAY.user);
    expect(mail.subject).toBe("Review needed: run on hygiene");
    expect(mail.text).toContain(`${PUBLIC}/runs/${run.id}`);
    const body = w.hook.hits[0]!.json as { text: string; blocks: { text: { text: string } }[]; listwarden: { event: string; runId: string; url: string } };
    expect(w.hook.hits[0]!.headers["content-type"]).toBe("application/json");
    expect(body.listwarden).toMatchObject({ event: "run_needs_review", runId: run.id, url: `${PUBLIC}/runs/${run.id}` });
    expect(body.text).toContain(`${PUBLIC}/runs/${run.id}`);
    expect(body.blocks[0]!.text.text).toContain(`<${PUBLIC}/runs/${run.id}|Open in Listwarden>`);

    const api = apiClient(w.h.t, w.h.user);
    await answer(await api.runs[":id"].approve.$post({ param: { id: run.id }, json: { confirmDelete: false } }), 200);
    await w.h.worker().drain();
    expect((await w.h.getRun(run.id)).status).toBe("completed");
    await w.dispatcher.drain();
    await w.dispatcher.drain();
    expect(w.mailbox.mails.map((m) => m.subject)).toEqual(["Review needed: run on hygiene", "Done: run on hygiene"]);
    expect(w.hook.hits.map((hit) => (hit.json as { listwarden: { event: string } }).listwarden.event)).toEqual(["run_needs_review", "run_completed"]);
    expect(w.mailbox.mails[1]!.text).toContain(`${PUBLIC}/runs/${run.id}`);
    for (const m of w.mailbox.mails) expectNoSecret(w, m.raw);
    for (const hit of w.hook.hits) expectNoSecret(w, hit.body + JSON.stringify(hit.headers));
    await w.close();
  });

  it("a run paused for credits is told once, with the credits still needed; a second pause with nothing charged between is the same event", async () => {
    const w = await world({ signupCredits: 5 });
    const list = seedList(w, 12);
    const run = await w.h.startRun({ scope: { kind: "lists", listIds: [list] } });
    const worker = w.h.worker();
    await worker.drain();
    expect((await w.h.getRun(run.id)).status).toBe("paused_credits");
    // Claimed again (e.g. another run took the credits back): nothing new was charged.
    w.h.clock.advance(5_000);
    await worker.drain();
    await w.dispatcher.drain();
    expect(w.mailbox.mails.map((m) => m.subject)).toEqual(["Paused for credits: run on hygiene"]);
    expect(w.mailbox.mails[0]!.text).toContain("About 7 more credits are needed");
    expect(w.mailbox.mails[0]!.text).toContain(`${PUBLIC}/runs/${run.id}`);
    expect(w.hook.hits).toHaveLength(1);
    await w.close();
  });

  it("a refused API key is told once per key, linking to the connection's replace-key form", async () => {
    const w = await world();
    w.h.fake.apiKeys.clear();
    w.h.fake.apiKeys.add("another-key-0123456789abcdef0123456789abcdef0123456789abcdef0123456789");
    for (let i = 0; i < 2; i++) expect((await w.h.t.request("GET", `/api/connections/${w.h.connectionId}/lists`, { as: w.h.user })).status).toBe(422);
    await w.dispatcher.drain();
    expect(w.mailbox.mails.map((m) => m.subject)).toEqual(["ActiveCampaign refused the API key of hygiene"]);
    expect(w.mailbox.mails[0]!.text).toContain(`${PUBLIC}/connections/${w.h.connectionId}#replace-key`);
    expect((w.hook.hits[0]!.json as { listwarden: { event: string } }).listwarden.event).toBe("connection_key_refused");
    expectNoSecret(w, w.mailbox.mails[0]!.raw + w.hook.hits[0]!.body);
    await w.close();
  });

  it("a scheduled run that may apply by itself says it applied, or that it was held above its threshold", async () => {
    const w = await world();
    const list = seedList(w, 9);
    const ctx = { workspaceId: w.h.user.workspaceId };
    const input = { connectionId: w.h.connectionId, scope: { kind: "lists" as const, listIds: [list] }, actions: { deliverable: "keep" as const, risky: "keep" as const, undeliverable: "unsubscribe" as const, unknown: "keep" as const, overrides: [] } };
    const applied = createRun(w.h.t.deps, { ctx, input, schedule: { id: "sch_applies", autoApply: true, holdThreshold: 1, deleteConfirmed: false, notes: [] } });
    await w.h.worker().drain();
    // Another list: the first run already unsubscribed its undeliverable contacts.
    const other = seedList(w, 9);
    const held = createRun(w.h.t.deps, { ctx, input: { ...input, scope: { kind: "lists", listIds: [other] } }, schedule: { id: "sch_holds", autoApply: true, holdThreshold: 0.01, deleteConfirmed: false, notes: [] } });
    await w.h.worker().drain();
    await w.dispatcher.drain();
    expect(w.mailbox.mails.map((m) => m.subject)).toEqual(["Applying: scheduled run on hygiene", "Done: scheduled run on hygiene", "Held for review: scheduled run on hygiene"]);
    expect(w.mailbox.mails[0]!.text).toContain(`${PUBLIC}/runs/${applied.id}`);
    expect(w.mailbox.mails[2]!.text).toContain(`${PUBLIC}/runs/${held.id}`);
    expect(w.mailbox.mails[2]!.text).toMatch(/above this schedule's 1% limit/);
    await w.close();
  });

  it("a webhook that fails is tried again later, and the e-mail already sent is not sent again", async () => {
    const w = await world();
    const list = seedList(w, 6);
    await w.h.startRun({ scope: { kind: "lists", listIds: [list] } });
    await w.h.worker().drain();
    w.hook.status = 500;
    await w.dispatcher.drain();
    expect(w.mailbox.mails).toHaveLength(1);
    expect(w.hook.hits).toHaveLength(0);
    w.hook.status = 200;
    w.h.clock.advance(61_000);
    await w.dispatcher.drain();
    expect(w.hook.hits).toHaveLength(1);
    expect(w.mailbox.mails).toHaveLength(1);
    await w.close();
  });

  it("refuses a webhook URL the server must not call: private, loopback or not https", async () => {
    const h = await createRunHarness(server, { config: { WEBHOOK_ALLOW_PRIVATE_HOSTS: false } });
    h.t.deps.acLookup = async (host) => [{ address: host === "hooks.internal.example" ? "10.0.0.7" : "34.120.10.20", family: 4 }];
    const api = apiClient(h.t, h.user);
    for (const webhookUrl of ["http://hooks.slack.com/services/x", "https://127.0.0.1/hook", "https://[::1]/hook", "https://169.254.169.254/latest", "https://hooks.internal.example/x", "https://user:pw@hooks.slack.com/x"]) {
      const res = await api.notifications.settings.$put({ json: { email: null, webhookUrl, events: ["run_failed"] } });
      const body = (await res.json()) as { error?: { field?: string; message?: string } };
      expect({ webhookUrl, status: res.status, field: body.error?.field }).toEqual({ webhookUrl, status: 400, field: "webhookUrl" });
      expect(body.error?.message).not.toContain("webhookUrl");
    }
    const ok = await answer(await api.notifications.settings.$put({ json: { email: null, webhookUrl: "https://hooks.slack.com/services/T0/B0/x", events: ["run_failed"] } }), 200);
    expect(ok).toMatchObject({ webhookUrl: "https://hooks.slack.com/services/T0/B0/x", events: ["run_failed"] });
    await h.close();
  });
});
