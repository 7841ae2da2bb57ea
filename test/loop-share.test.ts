import { setupServer } from "msw/node";
import type { EventLoopUtilization } from "node:perf_hooks";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { RunEvent } from "../worker/runs/context.ts";
import { LoopShare } from "../worker/runs/loop-share.ts";
import { createRunHarness } from "./support/runs.ts";
import { address } from "./support/world.ts";

/** A loop whose busyness the test sets: each sample reads the share set last. */
function scriptedLoop() {
  let busy = 0;
  let now = 0;
  const reading = (): EventLoopUtilization => ({ idle: 0, active: 0, utilization: busy });
  const share = new LoopShare({ utilization: reading, now: () => now });
  return {
    share,
    setBusy: (u: number) => (busy = u),
    advance: (ms: number) => (now += ms),
  };
}

const ended: (() => void)[] = [];
afterEach(() => {
  for (const end of ended.splice(0)) end();
});

describe("LoopShare: fetching comes first when the event loop is full", () => {
  it("never holds verification while no run is fetching, however busy the loop", () => {
    const { share, setBusy, advance } = scriptedLoop();
    setBusy(1);
    share.sample();
    for (let i = 0; i < 5; i++) {
      expect(share.verifyWait()).toBe(0);
      advance(10);
    }
  });

  it("never holds verification while a run fetches and the loop has room", () => {
    const { share, setBusy, advance } = scriptedLoop();
    ended.push(share.fetchStarted());
    setBusy(0.8);
    share.sample();
    for (let i = 0; i < 5; i++) {
      expect(share.verifyWait()).toBe(0);
      advance(10);
    }
  });

  it("while a run fetches and the loop is full, lets verification refill once per 250 ms, and says how long to wait until the next look", () => {
    const { share, setBusy, advance } = scriptedLoop();
    ended.push(share.fetchStarted());
    setBusy(0.95);
    share.sample();
    expect(share.verifyWait()).toBe(0); // the trickle: one refill now
    advance(40);
    expect(share.verifyWait()).toBe(100); // 210 ms left, looked at again within a sample
    advance(150);
    expect(share.verifyWait()).toBe(60);
    advance(60);
    expect(share.verifyWait()).toBe(0); // 250 ms after the last refill
    advance(1);
    expect(share.verifyWait()).toBeGreaterThan(0);
  });

  it("lets verification go as soon as the loop has room again, or the last fetch ends", () => {
    const { share, setBusy, advance } = scriptedLoop();
    const endFirst = share.fetchStarted();
    const endSecond = share.fetchStarted();
    setBusy(0.95);
    share.sample();
    share.verifyWait();
    advance(10);
    expect(share.verifyWait()).toBeGreaterThan(0);

    setBusy(0.5);
    share.sample();
    expect(share.verifyWait()).toBe(0);

    setBusy(0.95);
    share.sample();
    advance(10);
    expect(share.verifyWait()).toBeGreaterThan(0);
    endFirst();
    endFirst(); // twice: still one fetch running
    expect(share.verifyWait()).toBeGreaterThan(0);
    endSecond();
    expect(share.verifyWait()).toBe(0);
  });
});

describe("a run while the event loop stays full", () => {
  const server = setupServer();
  beforeAll(() => server.listen({ onUnhandledRequest: "error" }));
  afterAll(() => server.close());

  it("stores every page first, verifies a trickle meanwhile, and then every contact: nothing is starved or lost", async () => {
    // AC at 10 requests a second: the fetch takes about a second, which verification would keep up with.
    const h = await createRunHarness(server, { acRequestsPerSecond: 10 });
    try {
      const list = h.fake.addList("Newsletter");
      for (let i = 0; i < 600; i++) h.fake.addContact({ email: address("deliverable", `full${i}`), lists: { [list]: 1 } });
      const full = new LoopShare({ utilization: () => ({ idle: 0, active: 1, utilization: 1 }) });
      full.sample(); // already full when the run starts
      const events: (RunEvent & { at: number })[] = [];
      const run = await h.startRun({ scope: { kind: "all" }, actions: { deliverable: "keep", risky: "keep", undeliverable: "keep", unknown: "keep", overrides: [] } });
      // The verify stage's share of the loop is under test: no address is verified with its page (no peek).
      const stageOnly = { plain: { attempt: h.verifiers.plain.attempt }, smtp: null };
      await h.worker({ loopShare: full, verifiers: stageOnly, onEvent: (e) => events.push({ ...e, at: performance.now() }) }).drain();

      const lastPage = events.findLastIndex((e) => e.type === "page_stored");
      const verifiedWhileFetching = events.slice(0, lastPage).reduce((n, e) => n + (e.type === "results_stored" ? e.contacts : 0), 0);
      // The harness's window is 50, refilled at most once per 250 ms while the loop is full:
      // about 200 of the 600 are verified while the pages come in, against all 600 when
      // verification is not held.
      const fetchMs = events[lastPage]!.at - events[0]!.at;
      expect(events.filter((e) => e.type === "page_stored").length).toBeGreaterThanOrEqual(6);
      expect(verifiedWhileFetching).toBeLessThanOrEqual(50 * (Math.ceil(fetchMs / 250) + 2));
      const done = await h.getRun(run.id);
      expect(done.status).toBe("completed");
      expect(done.progress.verified).toBe(600);
    } finally {
      await h.close();
    }
  });
});
