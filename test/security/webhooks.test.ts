import { setupServer } from "msw/node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { schema } from "../../db/index.ts";
import { parseWebhookBody } from "../../core/domain/ac-webhook.ts";
import { createMonitorProcessor } from "../../worker/monitor/processor.ts";
import { answer, apiClient } from "../support/api.ts";
import { createRunHarness, type RunHarness } from "../support/runs.ts";
import { address } from "../support/world.ts";

/**
 * The receiver of ActiveCampaign's webhooks (issue 18) against abuse: its URL is the only
 * credential, so a wrong, old or guessed one learns nothing; bodies are capped and parsed
 * strictly; nothing is stored for what is refused; a flood is queued, not worked inline.
 */

const server = setupServer();
beforeAll(() => server.listen({ onUnhandledRequest: "error" }));
afterEach(() => server.resetHandlers());
afterAll(() => server.close());

const FORM = { "content-type": "application/x-www-form-urlencoded" };
const defaults = { deliverable: "keep", risky: "keep", undeliverable: "unsubscribe", unknown: "keep" } as const;

async function monitored(o: { rps?: number; logLevel?: "info" } = {}) {
  const h = await createRunHarness(server, {
    realTime: true,
    fakeOnHarnessClock: true,
    // The request lines (with the path) are written at info: a test of what they show needs them.
    config: { PUBLIC_URL: "https://lw.example.com", ...(o.logLevel ? { LOG_LEVEL: o.logLevel } : {}) },
    fakeAc: { holdWebhooks: true },
    ...(o.rps ? { acRequestsPerSecond: o.rps, fakeRequestsPerSecond: o.rps } : {}),
  });
  h.fake.webhookTransport = async (url, body) => (await h.t.app.request(url, { method: "POST", headers: FORM, body })).status;
  const api = apiClient(h.t, h.user);
  const list = h.fake.addList("Newsletter");
  await answer(await api.connections[":id"].monitor.$put({ param: { id: h.connectionId }, json: { enabled: true, scope: { kind: "all" }, actions: defaults } }), 200);
  const hook = [...h.fake.webhooks.values()][0]!;
  h.clock.advance(2_000);
  return { h, api, list, url: hook.url };
}

const post = async (h: RunHarness, url: string, body: string, headers: Record<string, string> = FORM): Promise<Response> => h.t.app.request(url, { method: "POST", headers, body });

function stored(h: RunHarness) {
  return { events: h.t.db.select().from(schema.monitorEvents).all().length, contacts: h.t.db.select().from(schema.monitorContacts).all().length };
}

const errorOf = async (res: Response) => {
  const body = (await res.json()) as { error: { code: string; message: string; requestId: string } };
  return { status: res.status, code: body.error.code, message: body.error.message };
};

describe("the webhook receiver", () => {
  it("answers a wrong, old or guessed secret, an unknown id and a monitor turned off alike, and stores nothing", async () => {
    const { h, api, url } = await monitored({ logLevel: "info" });
    const valid = "type=subscribe&list=1&contact%5Bid%5D=5&contact%5Bemail%5D=a%40ok.example.com";
    const [, id, secret] = url.match(/\/(mon_[0-9a-z]{26})\/([A-Za-z0-9_-]{43})$/)!;
    const base = url.slice(0, url.indexOf(`/${id}/`));
    const flip = (s: string) => (s[0] === "A" ? "B" : "A") + s.slice(1);
    const refusals = [
      `${base}/${id}/${flip(secret!)}`, // wrong secret
      `${base}/${id}/short`, // not a secret's shape
      `${base}/mon_00000000000000000000000000/${secret}`, // unknown monitor
      `${base}/${id}`, // no secret at all
    ];
    const answers = [];
    for (const u of refusals) answers.push(await errorOf(await post(h, u, valid)));
    expect(answers[0]).toEqual({ status: 410, code: "gone", message: "This webhook URL is not in use" });
    expect(answers[1]).toEqual(answers[0]);
    expect(answers[2]).toEqual(answers[0]);
    expect(answers[3]).toEqual(answers[0]);

    // Rotated: the old URL is dead, the new one works.
    await answer(await api.connections[":id"].monitor.webhook.$post({ param: { id: h.connectionId } }), 200);
    expect(h.fake.webhooks.size).toBe(1);
    const fresh = [...h.fake.webhooks.values()][0]!.url;
    expect(fresh).not.toBe(url);
    expect(await errorOf(await post(h, url, valid))).toEqual(answers[0]);
    expect(stored(h)).toEqual({ events: 0, contacts: 0 });
    expect((await post(h, fresh, valid)).status).toBe(200);
    expect(stored(h)).toEqual({ events: 1, contacts: 1 });

    // Turned off: the same answer as a URL that never existed.
    await answer(await api.connections[":id"].monitor.$put({ param: { id: h.connectionId }, json: { enabled: false, scope: { kind: "all" }, actions: defaults } }), 200);
    expect(await errorOf(await post(h, fresh, valid))).toEqual(answers[0]);
    // The requests were logged (at info), each path with its secret masked, and no secret anywhere.
    const hookLines = h.t.logs.filter((l) => l.includes("/api/hooks/activecampaign/"));
    expect(hookLines.length).toBeGreaterThanOrEqual(refusals.length + 3);
    expect(hookLines.filter((l) => l.includes(`/api/hooks/activecampaign/${id}/[secret]`)).length).toBeGreaterThanOrEqual(3);
    expect(h.t.logs.join("")).not.toContain(secret!);
    expect(h.t.logs.join("")).not.toContain(fresh.split("/").pop()!);
    await h.close();
  });

  it("keeps the working webhook's URL valid when ActiveCampaign refuses the rotated one", async () => {
    const { h, api, url } = await monitored();
    const valid = "type=subscribe&list=1&contact%5Bid%5D=5&contact%5Bemail%5D=a%40ok.example.com";
    h.fake.failNext(1, { status: 422, body: { errors: [{ title: "No" }] } }, (r) => r.method === "POST" && r.path === "/api/3/webhooks");
    const view = await answer(await api.connections[":id"].monitor.webhook.$post({ param: { id: h.connectionId } }), 200);
    expect(view.webhook.state).toBe("registered");
    expect(view.webhook.error).toMatch(/^The secret was not rotated/);
    expect([...h.fake.webhooks.values()].map((w) => w.url)).toEqual([url]);
    expect((await post(h, url, valid)).status).toBe(200);
    expect(stored(h)).toEqual({ events: 1, contacts: 1 });
    // A later rotation that AC accepts retires it as before.
    await answer(await api.connections[":id"].monitor.webhook.$post({ param: { id: h.connectionId } }), 200);
    const fresh = [...h.fake.webhooks.values()][0]!.url;
    expect(fresh).not.toBe(url);
    expect((await post(h, url, valid.replace("id%5D=5", "id%5D=6"))).status).toBe(410);
    expect((await post(h, fresh, valid.replace("id%5D=5", "id%5D=7"))).status).toBe(200);
    await h.close();
  });

  it("refuses oversized, malformed and non-form bodies with a 4xx and stores nothing", async () => {
    const { h, url } = await monitored();
    const cases: [string, string, Record<string, string>, number][] = [
      ["oversized", `type=subscribe&contact%5Bid%5D=5&contact%5Bemail%5D=a%40ok.example.com&contact%5Bfields%5D%5Bnote%5D=${"x".repeat(70_000)}`, FORM, 413],
      ["json", JSON.stringify({ type: "subscribe", contact: { id: "5", email: "a@ok.example.com" } }), { "content-type": "application/json" }, 415],
      ["no content type", "type=subscribe", {}, 415],
      ["no type", "contact%5Bid%5D=5&contact%5Bemail%5D=a%40ok.example.com", FORM, 400],
      ["no contact", "type=subscribe&list=1", FORM, 400],
      ["id not an id", "type=subscribe&contact%5Bid%5D=5%3B%20DROP&contact%5Bemail%5D=a%40ok.example.com", FORM, 400],
      ["not an address", "type=subscribe&contact%5Bid%5D=5&contact%5Bemail%5D=nobody", FORM, 400],
      ["list not an id", "type=subscribe&list=abc&contact%5Bid%5D=5&contact%5Bemail%5D=a%40ok.example.com", FORM, 400],
      ["contact as text", "type=subscribe&contact=5", FORM, 400],
      ["an id only under __proto__", "type=subscribe&contact%5B__proto__%5D%5Bid%5D=5&contact%5Bemail%5D=a%40ok.example.com", FORM, 400],
      ["too many fields", `type=subscribe&contact%5Bid%5D=5&contact%5Bemail%5D=a%40ok.example.com&${Array.from({ length: 2_100 }, (_, i) => `f${i}=1`).join("&")}`, FORM, 400],
      ["control characters", "type=subscribe&contact%5Bid%5D=5&contact%5Bemail%5D=a%0A%40ok.example.com", FORM, 400],
    ];
    for (const [name, body, headers, status] of cases) {
      const res = await post(h, url, body, headers);
      expect({ name, status: res.status }).toEqual({ name, status });
      const err = (await res.json()) as { error: { code: string; message: string } };
      expect(err.error.message.length).toBeGreaterThan(0);
    }
    expect(stored(h)).toEqual({ events: 0, contacts: 0 });
    // Prototype keys beside a valid contact: ignored (qs's allowPrototypes: false), never merged
    // into what is read or into Object.prototype; the delivery itself is good, so it is accepted.
    const proto = "type=subscribe&__proto__%5Bpolluted%5D=1&contact%5B__proto__%5D%5Bid%5D=666&contact%5B__proto__%5D%5Bpolluted%5D=1&contact%5Bid%5D=5&contact%5Bemail%5D=a%40ok.example.com";
    const parsed = parseWebhookBody(proto);
    expect(parsed.contact).toMatchObject({ id: "5", email: "a@ok.example.com" });
    expect(JSON.stringify(parsed)).not.toMatch(/polluted|666/);
    expect((await post(h, url, proto)).status).toBe(200);
    expect(h.t.db.select().from(schema.monitorContacts).all().map((c) => c.contactId)).toEqual(["5"]);
    expect(Object.prototype.hasOwnProperty.call(Object.prototype, "polluted")).toBe(false);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(h.t.logs.some((l) => /"status":500/.test(l))).toBe(false);
    // Other event types are acknowledged and ignored; a bad percent sequence is read as text, not a crash.
    expect((await post(h, url, "type=open&contact%5Bid%5D=5&contact%5Bemail%5D=a%40ok.example.com")).status).toBe(200);
    expect((await post(h, url, "type=subscribe&contact%5Bid%5D=5&contact%5Bemail%5D=a%E0%A4%A%40ok.example.com")).status).toBeLessThan(500);
    await h.close();
  });

  it("absorbs a flood of events at once, acts on them within the AC rate limit, and keeps the dashboard answering", async () => {
    const { h, api, list } = await monitored({ rps: 10 });
    const n = 30;
    const ids = Array.from({ length: n }, (_, i) => h.fake.subscribe({ email: address(i % 3 === 0 ? "nullMx" : "deliverable", `flood${i}`), lists: [list] }));
    h.fake.clearRequests();
    // Every delivery, three times over, at once: answered 200 without a single request to AC.
    const batch = h.fake.outbox.splice(0);
    const statuses = await Promise.all([...batch, ...batch, ...batch].map((d) => post(h, d.url, d.body).then((r) => r.status)));
    expect(statuses.every((s) => s === 200)).toBe(true);
    expect(h.fake.requests).toHaveLength(0);
    expect(stored(h)).toEqual({ events: n, contacts: n });

    const processor = createMonitorProcessor(h.t.deps, { verifiers: h.verifiers, pollMs: 10, retryBaseMs: 5, retryMaxMs: 20 });
    const draining = processor.drain();
    // The dashboard answers while the queue is worked off.
    const page = await api.connections[":id"].monitor.$get({ param: { id: h.connectionId } });
    expect(page.status).toBe(200);
    await draining;
    expect(h.fake.countStatus(429)).toBe(0);
    // No second of the fake's log saw more requests than the limit.
    const perWindow = h.fake.requests.map((r, i) => h.fake.requests.slice(i).filter((s) => s.at - r.at < 1000).length);
    expect(Math.max(...perWindow)).toBeLessThanOrEqual(10);
    const unsubscribed = ids.filter((id) => h.fake.listStatus(id, list) === 2);
    expect(unsubscribed).toHaveLength(n / 3);
    await h.close();
  });
});
