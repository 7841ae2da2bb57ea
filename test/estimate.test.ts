import { setupServer } from "msw/node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { answer, apiClient } from "./support/api.ts";
import { createRunHarness } from "./support/runs.ts";
import { address } from "./support/world.ts";

const server = setupServer();
beforeAll(() => server.listen({ onUnhandledRequest: "error" }));
afterEach(() => server.resetHandlers());
afterAll(() => server.close());

describe("counts and cost before a run", () => {
  it("estimates contacts, credits and time from AC's counts (one request each, then cached), and a run started then is estimated from its first poll", async () => {
    const h = await createRunHarness(server, { signupCredits: 100 });
    const a = h.fake.addList("A");
    const b = h.fake.addList("B");
    for (let i = 0; i < 150; i++) h.fake.addContact({ email: address("deliverable", `e${i}`), lists: i < 30 ? { [a]: 1, [b]: 1 } : i < 120 ? { [a]: 1 } : { [b]: 1 } });
    const api = apiClient(h.t, h.user);
    h.fake.clearRequests();
    const estimate = await answer(await api.connections[":id"].estimate.$get({ param: { id: h.connectionId }, query: { kind: "lists", listIds: `${a},${b}` } }), 200);
    // A: 120, B: 60; a contact on both counts on each: an upper bound.
    expect(estimate).toEqual({ contacts: 180, upperBound: true, credits: 180, balance: 100, covered: false, requests: 2 + 2 + 1, seconds: 1, perSecond: 5 });
    expect(h.fake.requests).toHaveLength(2);
    await answer(await api.connections[":id"].estimate.$get({ param: { id: h.connectionId }, query: { kind: "lists", listIds: `${a},${b}` } }), 200);
    expect(h.fake.requests).toHaveLength(2);

    const run = await h.startRun({ scope: { kind: "lists", listIds: [a, b] } });
    expect(run.progress).toMatchObject({ total: 180, totalEstimated: true });
    const worker = h.worker();
    await worker.drain();
    const paused = await h.getRun(run.id);
    expect(paused.status).toBe("paused_credits");
    expect(paused.progress).toMatchObject({ fetched: 100, total: 180, totalEstimated: true, creditsStillNeeded: 80 });
    const { grantCredits } = await import("../core/services/credits.ts");
    grantCredits(h.t.db, h.clock, { workspaceId: h.user.workspaceId, amount: 100, reason: "top-up" });
    h.clock.advance(5_000);
    await worker.drain();
    // Fixed once known: the de-duplicated count.
    expect((await h.getRun(run.id)).progress).toMatchObject({ total: 150, totalEstimated: false, fetched: 150 });
    await h.close();
  });

  it("a run over several lists started without a count counts them all before its first page", async () => {
    const h = await createRunHarness(server);
    const a = h.fake.addList("A");
    const b = h.fake.addList("B");
    for (let i = 0; i < 40; i++) h.fake.addContact({ email: address("deliverable", `f${i}`), lists: { [a]: 1, [b]: 1 } });
    const run = await h.startRun({ scope: { kind: "lists", listIds: [a, b] } });
    expect(run.progress.total).toBeNull();
    const seen: (number | null)[] = [];
    const worker = h.worker({
      onEvent: (e) => {
        if (e.type === "page_stored") seen.push((h.t.db.$client.prepare("SELECT estimated_total AS n FROM runs WHERE id = ?").get(run.id) as { n: number | null }).n);
      },
    });
    await worker.drain();
    expect(seen.length).toBeGreaterThan(0);
    expect(new Set(seen)).toEqual(new Set([80]));
    expect((await h.getRun(run.id)).progress).toMatchObject({ total: 40, totalEstimated: false });
    await h.close();
  });
});
