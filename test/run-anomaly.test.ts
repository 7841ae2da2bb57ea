import { setupServer } from "msw/node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createRunHarness } from "./support/runs.ts";
import { address } from "./support/world.ts";

const server = setupServer();
beforeAll(() => server.listen({ onUnhandledRequest: "error" }));
afterEach(() => server.resetHandlers());
afterAll(() => server.close());

const ACTIVE = 1;

describe("anomaly guard for manual runs (issue 14)", () => {
  it("a plan that unsubscribes more than ANOMALY_PERCENT of its contacts needs that number to be approved; below it, none", async () => {
    const h = await createRunHarness(server, { config: { ANOMALY_PERCENT: 30 } });
    const list = h.fake.addList("Newsletter");
    h.fake.addContact({ email: address("deliverable", "fine"), lists: { [list]: ACTIVE } });
    for (let i = 0; i < 4; i++) h.fake.addContact({ email: address("noDomain", `x${i}`), lists: { [list]: ACTIVE } });
    const run = await h.startRun({ scope: { kind: "lists", listIds: [list] }, actions: { undeliverable: "unsubscribe" } });
    await h.worker().drain();
    const review = await h.getRun(run.id);
    expect(review.plan!.anomaly).toEqual({ threshold: 0.3, share: 0.8, count: 4, needsConfirmation: true });

    const page = await (await h.t.request("GET", `/runs/${run.id}`, { as: h.user })).text();
    expect(page).toContain("This plan is unusual: it unsubscribes or deletes 4 contacts, 80% of those checked (more than 30%)");
    expect(page).toContain("Type 4 to confirm that 4 contacts will be unsubscribed or deleted");

    const approve = (body: unknown) => h.t.request("POST", `/api/runs/${run.id}/approve`, { as: h.user, body });
    const none = await approve({});
    expect(none.status).toBe(400);
    expect(await none.json()).toMatchObject({ error: { field: "confirmCount", message: expect.stringContaining('send {"confirmCount": 4}') } });
    expect((await approve({ confirmCount: 3 })).status).toBe(400);
    const bad = await approve({ confirmCount: "four" });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: { field: "confirmCount" } });
    expect((await h.getRun(run.id)).status).toBe("awaiting_review");
    expect(h.fake.requests.filter((r) => r.method !== "GET")).toHaveLength(0);

    expect((await approve({ confirmCount: 4 })).status).toBe(200);
    await h.worker().drain();
    expect((await h.getRun(run.id)).status).toBe("completed");

    // A plan under the threshold approves as before.
    const small = h.fake.addList("Small");
    for (let i = 0; i < 4; i++) h.fake.addContact({ email: address("deliverable", `s${i}`), lists: { [small]: ACTIVE } });
    h.fake.addContact({ email: address("noDomain", "s-bad"), lists: { [small]: ACTIVE } });
    const ok = await h.startRun({ scope: { kind: "lists", listIds: [small] }, actions: { undeliverable: "unsubscribe" } });
    await h.worker().drain();
    expect((await h.getRun(ok.id)).plan!.anomaly).toMatchObject({ share: 0.2, needsConfirmation: false });
    expect((await h.t.request("POST", `/api/runs/${ok.id}/approve`, { as: h.user, body: {} })).status).toBe(200);
    await h.close();
  });
});
