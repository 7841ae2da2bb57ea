import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunView } from "../core/services/runs.ts";
import type { RunEvent } from "../worker/runs/context.ts";
import { VERIFICATION_REASONS } from "../verify/taxonomy.ts";
import { DEMO_CONNECTION_NAME, startDemo, type Demo } from "../sandbox/demo.ts";
import { KINDS, MIN_WORLD_CONTACTS, type Kind, type WorldContact } from "../sandbox/world.ts";
import { parseCsv } from "./support/runs.ts";

const ACTIVE = 1;
const UNSUBSCRIBED = 2;
/** Small enough to run quickly, large enough that the world has more than its minimum of every kind. */
const CONTACTS = 400;

let demo: Demo;
const events: RunEvent[] = [];
const waiters = new Set<() => void>();

/** Resolves with the first event (already seen or still to come) that matches. */
function nextEvent(match: (e: RunEvent) => boolean): Promise<RunEvent> {
  return new Promise((resolve) => {
    const check = () => {
      const found = events.find(match);
      if (!found) return;
      waiters.delete(check);
      resolve(found);
    };
    waiters.add(check);
    check();
  });
}

let session: { cookie: string; csrf: string };

async function api<T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T; text: string }> {
  const res = await fetch(`${demo.apiBase}${path}`, {
    method,
    headers: { cookie: session.cookie, "x-csrf-token": session.csrf, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  const json = res.headers.get("content-type")?.includes("json") ? (JSON.parse(text) as T) : (undefined as T);
  return { status: res.status, body: json, text };
}

beforeAll(async () => {
  demo = await startDemo({
    contacts: CONTACTS,
    port: 0,
    logLevel: "silent",
    worker: {
      pollMs: 20,
      onEvent: (e) => {
        events.push(e);
        for (const w of [...waiters]) w();
      },
    },
  });
  const login = await fetch(`${demo.apiBase}/api/auth/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(demo.user),
  });
  expect(login.status).toBe(200);
  session = { cookie: (login.headers.get("set-cookie") ?? "").split(";")[0]!, csrf: ((await login.json()) as { csrfToken: string }).csrfToken };
}, 30_000);

afterAll(async () => {
  await demo?.close();
});

/** In `lists` (any status), as AC's listid filter returns them. */
const onAnyOf = (c: WorldContact, lists: string[]) => lists.some((l) => c.lists[l] !== undefined);

describe("npm run demo", () => {
  it("seeds a world that holds every kind of address, and a ready connection to it", async () => {
    expect(CONTACTS).toBeGreaterThan(MIN_WORLD_CONTACTS);
    for (const kind of Object.keys(KINDS) as Kind[]) expect({ kind, n: demo.world.counts[kind] > 0 }).toEqual({ kind, n: true });
    const connections = await api<{ connections: { id: string; name: string }[] }>("GET", "/api/connections");
    expect(connections.body.connections).toEqual([expect.objectContaining({ id: demo.connectionId, name: DEMO_CONNECTION_NAME })]);
    const lists = await api<{ lists: { id: string; name: string }[] }>("GET", `/api/connections/${demo.connectionId}/lists`);
    expect(lists.body.lists.map((l) => l.name)).toEqual(["Newsletter", "Customers", "Webinar leads", "Partners"]);
    const credits = await api<{ balance: number }>("GET", "/api/credits");
    expect(credits.body.balance).toBeGreaterThanOrEqual(2 * CONTACTS);
  });

  it("cleans two lists with SMTP probing: every result matches the ground truth, and AC ends with exactly the planned unsubscribes and deletes", async () => {
    const { world, sandbox } = demo;
    const fake = sandbox.fake;
    const chosen = ["1", "2"];
    const before = new Map(world.contacts.map((c) => [c.id, { ...c.lists }]));
    fake.clearRequests();

    const started = await api<RunView>("POST", "/api/runs", {
      connectionId: demo.connectionId,
      scope: { kind: "lists", listIds: chosen },
      actions: { undeliverable: "unsubscribe", overrides: [{ reason: "disposable", action: "delete" }] },
      smtpProbe: true,
    });
    expect(started.status, started.text).toBe(202);
    const runId = started.body.id;
    await nextEvent((e) => e.type === "planned" && e.runId === runId);

    const inScope = world.contacts.filter((c) => onAnyOf(c, chosen));
    const expected = new Map(inScope.map((c) => [c.email, world.expected(c.email, { smtpProbe: true })]));
    const review = (await api<RunView>("GET", `/api/runs/${runId}`)).body;
    expect(review.status).toBe("awaiting_review");
    expect(review.notes).toEqual([]); // the SMTP preflight passed: no fallback to DNS-only checks
    expect(review.progress).toMatchObject({ fetched: inScope.length, verified: inScope.length });
    const tally: Record<string, number> = {};
    for (const e of expected.values()) tally[e.reason] = (tally[e.reason] ?? 0) + 1;
    expect(review.counts.byReason).toEqual(tally);
    // Every outcome an SMTP-probing run can give is in these two lists.
    expect(Object.keys(tally).sort()).toEqual(VERIFICATION_REASONS.filter((r) => r !== "mail_domain_ok").sort());
    expect(fake.requests.every((r) => r.method === "GET")).toBe(true);

    const action = (c: WorldContact) => {
      const e = expected.get(c.email)!;
      return e.reason === "disposable" ? "delete" : e.status === "undeliverable" ? "unsubscribe" : "keep";
    };
    const unsubscribes = inScope.filter((c) => action(c) === "unsubscribe").flatMap((c) => chosen.filter((l) => c.lists[l] === ACTIVE).map((l) => ({ contact: c.id, list: l })));
    const deletes = inScope.filter((c) => action(c) === "delete").map((c) => c.id);
    expect(review.plan).toMatchObject({ unsubscribe: { requests: unsubscribes.length }, delete: { contacts: deletes.length } });

    const approved = await api("POST", `/api/runs/${runId}/approve`, { confirmDelete: true });
    expect(approved.status, approved.text).toBe(200);
    await nextEvent((e) => e.type === "finished" && e.runId === runId);
    const done = (await api<RunView>("GET", `/api/runs/${runId}`)).body;
    expect(done).toMatchObject({ status: "completed", progress: { applied: unsubscribes.length + deletes.length, failed: 0 } });

    // The report: one row per contact in scope, each with the ground truth's status and reason.
    const rows = parseCsv((await api<string>("GET", `/api/runs/${runId}/report.csv`)).text);
    expect(rows).toHaveLength(inScope.length);
    const mismatches = rows.filter((r) => {
      const e = expected.get(r.email!);
      return !e || r.status !== e.status || r.reason !== e.reason;
    });
    expect(mismatches.map((r) => `${r.email}: ${r.status}/${r.reason}, expected ${JSON.stringify(expected.get(r.email!))}`)).toEqual([]);
    // The report names the provider whose rules read the probe: the Outlook.com-style domain's.
    const withProvider = rows.filter((r) => r.provider !== "");
    expect(withProvider.length).toBeGreaterThan(0);
    expect(new Set(withProvider.map((r) => `${r.email!.split("@")[1]} ${r.provider}`))).toEqual(new Set(["hotmail-like.test outlook"]));
    for (const r of rows) {
      const c = inScope.find((x) => x.email === r.email)!;
      expect({ email: r.email, action: r.action }).toEqual({ email: r.email, action: action(c) });
    }

    // The sandbox's final state: exactly the planned writes, nothing else touched.
    const writes = fake.requests.filter((r) => r.method !== "GET" && r.status === 200);
    const posted = writes.filter((w) => w.method === "POST").map((w) => (w.body as { contactList: { list: number; contact: number; status: number } }).contactList);
    expect(posted.every((p) => p.status === UNSUBSCRIBED && typeof p.list === "number")).toBe(true);
    expect(posted.map((p) => `${p.contact}:${p.list}`).sort()).toEqual(unsubscribes.map((u) => `${u.contact}:${u.list}`).sort());
    expect(writes.filter((w) => w.method === "DELETE").map((w) => w.path.split("/").pop()).sort()).toEqual([...deletes].sort());

    const unsubscribed = new Set(unsubscribes.map((u) => `${u.contact}:${u.list}`));
    for (const c of world.contacts) {
      if (deletes.includes(c.id)) {
        expect(fake.contacts.has(c.id)).toBe(false);
        expect(fake.deletedContacts.has(c.id)).toBe(true);
        continue;
      }
      expect(fake.contacts.has(c.id)).toBe(true);
      for (const [list, status] of Object.entries(before.get(c.id)!)) {
        const want = unsubscribed.has(`${c.id}:${list}`) ? UNSUBSCRIBED : status;
        expect({ contact: c.id, list, status: fake.listStatus(c.id, list) }).toEqual({ contact: c.id, list, status: want });
      }
    }
    // SMTP probes never sent DATA.
    expect(demo.smtp.allLines().some((l) => /^DATA\b/i.test(l))).toBe(false);
  }, 60_000);

  it("without SMTP probing, a tag clean reports mail_domain_ok where probing found the mailbox's fate", async () => {
    const { world } = demo;
    const tag = world.tags.find((t) => t.name === "Imported 2019")!;
    const started = await api<RunView>("POST", "/api/runs", { connectionId: demo.connectionId, scope: { kind: "tag", tagId: tag.id } });
    expect(started.status, started.text).toBe(202);
    const runId = started.body.id;
    await nextEvent((e) => e.type === "planned" && e.runId === runId);

    const members = world.contacts.filter((c) => c.tagIds.includes(tag.id) && demo.sandbox.fake.contacts.has(c.id));
    const rows = parseCsv((await api<string>("GET", `/api/runs/${runId}/report.csv`)).text);
    expect(rows.map((r) => r.email).sort()).toEqual(members.map((c) => c.email).sort());
    for (const r of rows) {
      const e = world.expected(r.email!, { smtpProbe: false });
      expect({ email: r.email, status: r.status, reason: r.reason }).toEqual({ email: r.email, ...e });
    }
    expect(rows.some((r) => r.reason === "mail_domain_ok")).toBe(true);
    const planned = (await api<RunView>("GET", `/api/runs/${runId}`)).body;
    if (planned.status === "awaiting_review") expect((await api("POST", `/api/runs/${runId}/cancel`)).status).toBe(200);
    else expect(planned.status).toBe("completed");
  });

  it("labels two lists in the sandbox: each contact gets its result in the field and its tag, in imports AC takes a moment to run", async () => {
    const { world, sandbox } = demo;
    const fake = sandbox.fake;
    const chosen = ["3", "4"];
    const started = await api<RunView>("POST", "/api/runs", {
      connectionId: demo.connectionId,
      scope: { kind: "lists", listIds: chosen },
      actions: { undeliverable: "keep", label: { statuses: ["deliverable", "risky", "undeliverable", "unknown"], tagPrefix: "lw-" } },
    });
    expect(started.status, started.text).toBe(202);
    const runId = started.body.id;
    await nextEvent((e) => e.type === "planned" && e.runId === runId);
    fake.clearRequests();
    expect((await api("POST", `/api/runs/${runId}/approve`, {})).status).toBe(200);
    await nextEvent((e) => e.type === "finished" && e.runId === runId);
    const done = (await api<RunView>("GET", `/api/runs/${runId}`)).body;
    expect(done.status).toBe("completed");

    const field = fake.fieldByTitle("Email status")!;
    const rows = parseCsv((await api<string>("GET", `/api/runs/${runId}/report.csv`)).text);
    expect(rows.length).toBe(done.progress.labels.planned);
    for (const r of rows) {
      const want = world.expected(r.email!, { smtpProbe: false }).status;
      const id = r.contact_id!;
      if (r.label_result!.startsWith("failed")) {
        // AC's importer refuses what is not an address; nothing is written for it.
        expect({ email: r.email, result: r.label_result }).toEqual({ email: r.email, result: expect.stringContaining("ActiveCampaign refused this contact in the import") });
        expect(fake.fieldValue(id, field.id)).toBeUndefined();
        continue;
      }
      expect({ email: r.email, value: fake.fieldValue(id, field.id), tags: fake.tagNamesOf(id).filter((t) => t.startsWith("lw-")) }).toEqual({ email: r.email, value: want, tags: [`lw-${want}`] });
    }
    // AC answered "not known yet" at first: the imports were polled until they were done.
    expect(fake.requests.filter((r) => r.path === "/api/3/import/info").length).toBeGreaterThanOrEqual(fake.imports.size);
    expect([...fake.imports.values()].every((imp) => imp.status === "completed" && imp.success.length === 0)).toBe(true);
  }, 60_000);

  it("checks new subscribers as they arrive: the sandbox's signup form fires AC's webhook into the demo, and a dead address is unsubscribed", async () => {
    const fake = demo.sandbox.fake;
    expect(fake.webhooks.size).toBe(1);
    const subscribe = (email: string) =>
      fetch(`${demo.sandbox.url}/sandbox/subscribe`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ email, list: "1" }) }).then(async (r) => {
        expect(r.status).toBe(201);
        return ((await r.json()) as { contact: { id: string } }).contact.id;
      });
    const dead = await subscribe("someone@vanished.test");
    const alive = await subscribe("new.reader@acme.test");
    type Monitor = { recent: { contactId: string; state: string; status: string | null; outcomeCode: string | null }[]; webhook: { state: string; lastDeliveryAt: string | null } };
    const settled = async () => {
      const m = (await api<Monitor>("GET", `/api/connections/${demo.connectionId}/monitor`)).body;
      return [dead, alive].every((id) => m.recent.find((r) => r.contactId === id)?.state === "done") ? m : null;
    };
    let m: Monitor | null = null;
    for (let i = 0; i < 300 && !(m = await settled()); i++) await new Promise((r) => setTimeout(r, 50));
    expect(m).not.toBeNull();
    expect(m!.webhook).toMatchObject({ state: "registered" });
    expect(m!.recent.find((r) => r.contactId === dead)).toMatchObject({ status: "undeliverable", outcomeCode: "unsubscribed" });
    expect(m!.recent.find((r) => r.contactId === alive)).toMatchObject({ status: "deliverable", outcomeCode: "kept" });
    expect(fake.listStatus(dead, "1")).toBe(UNSUBSCRIBED);
    expect(fake.listStatus(alive, "1")).toBe(ACTIVE);
  }, 30_000);
});
