import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { createAcClient, createAcLimiters, type AcLimiters } from "../core/ac/index.ts";
import { FakeAc, startFakeAcServer, type FakeAcServer } from "./support/fake-ac.ts";

/** True when no `windowMs` span holds more than `cap` of the sorted times. */
function withinSlidingWindow(times: number[], cap: number, windowMs: number): boolean {
  return times.every((t, i) => i < cap || t - (times[i - cap] ?? -Infinity) >= windowMs);
}

describe("AC limiter (fake timers)", () => {
  beforeAll(() => {
    vi.useFakeTimers();
  });
  afterAll(() => {
    vi.useRealTimers();
  });

  it("never starts more than 5 requests in any 1 s window, and uses the whole allowance", async () => {
    const limiter = createAcLimiters({ requestsPerSecond: 5 }).forHost("acct.api-us1.com");
    const starts: number[] = [];
    const done = Promise.all(
      Array.from({ length: 23 }, () =>
        limiter.schedule(async () => {
          starts.push(Date.now());
        }),
      ),
    );
    await vi.runAllTimersAsync();
    await done;
    const t0 = starts[0] ?? 0;
    expect(withinSlidingWindow(starts, 5, 1000)).toBe(true);
    // Bursts of 5 one window (1 s + 75 ms margin) apart: 93% of the allowed rate.
    expect(starts.map((t) => t - t0)).toEqual([0, 0, 0, 0, 0, 1075, 1075, 1075, 1075, 1075, 2150, 2150, 2150, 2150, 2150, 3225, 3225, 3225, 3225, 3225, 4300, 4300, 4300]);
  });

  it("slides the window: requests arriving late in one second wait for the oldest start to leave it, not for the next second", async () => {
    // Queued all at t=0 a fixed and a sliding window give the same timing; staggered arrivals
    // tell them apart: a fixed window would let 4 start at 900 ms and 5 more at 1,075 ms.
    const limiter = createAcLimiters({ requestsPerSecond: 5 }).forHost("slide.api-us1.com");
    const starts: number[] = [];
    const t0 = Date.now();
    const schedule = () => limiter.schedule(async () => void starts.push(Date.now() - t0));
    const first = schedule();
    await vi.advanceTimersByTimeAsync(900);
    const rest = Array.from({ length: 9 }, schedule);
    await vi.runAllTimersAsync();
    await Promise.all([first, ...rest]);
    expect(starts).toEqual([0, 900, 900, 900, 900, 1075, 1975, 1975, 1975, 1975]);
    expect(withinSlidingWindow(starts, 5, 1000)).toBe(true);
  });

  it("sizes the window's margin by the spread of recent round trips: 75 ms until known, then slowest − fastest + 5 ms, between 10 and 75", async () => {
    const limiter = createAcLimiters({ requestsPerSecond: 5 }).forHost("margin.api-us1.com");
    expect(limiter.marginMs).toBe(75);
    for (let i = 0; i < 9; i++) limiter.noteLatency(40 + (i % 3));
    expect(limiter.marginMs).toBe(75);
    limiter.noteLatency(41);
    expect(limiter.marginMs).toBe(10);
    limiter.noteLatency(60);
    expect(limiter.marginMs).toBe(25);
    limiter.noteLatency(400);
    expect(limiter.marginMs).toBe(75);
    // A steady link: bursts of 5 one 1,010 ms window apart (99% of the allowed rate).
    const steady = createAcLimiters({ requestsPerSecond: 5 }).forHost("steady.api-us1.com");
    for (let i = 0; i < 10; i++) steady.noteLatency(20);
    const starts: number[] = [];
    const done = Promise.all(Array.from({ length: 11 }, () => steady.schedule(async () => void starts.push(Date.now()))));
    await vi.runAllTimersAsync();
    await done;
    expect(starts.map((t) => t - starts[0]!)).toEqual([0, 0, 0, 0, 0, 1010, 1010, 1010, 1010, 1010, 2020]);
    expect(withinSlidingWindow(starts, 5, 1000)).toBe(true);
  });

  it("paces a raised limit evenly: at most 5 start at once, then one per (1 s + margin) / limit, and the window still holds", async () => {
    const limiter = createAcLimiters({ requestsPerSecond: 100 }).forHost("paced.api-us1.com");
    const starts: number[] = [];
    const done = Promise.all(Array.from({ length: 250 }, () => limiter.schedule(async () => void starts.push(Date.now()))));
    await vi.runAllTimersAsync();
    await done;
    const t0 = starts[0]!;
    const at = starts.map((t) => t - t0);
    // 10.75 ms apart (1,075 ms / 100) after a burst of 5; a bursty limiter starts 100 at once.
    expect(at.slice(0, 8)).toEqual([0, 0, 0, 0, 0, 11, 22, 33]);
    // Never 6 within 10 ms, where a bursty limiter starts 100 at once and 100 more a window later.
    for (let i = 5; i < at.length; i++) expect(at[i]! - at[i - 5]!, `start ${i}`).toBeGreaterThanOrEqual(10);
    // And never more than 100 in any 1 s (+ margin) window: the rule, which the pace only spreads.
    expect(withinSlidingWindow(starts, 100, 1075)).toBe(true);
    // The window's echo of the first burst (5 wait for it at 1,075 ms) does not slow the pace:
    // the 250th start is on its due time, (250 - 5) × 10.75 ms.
    expect(at.slice(100, 105)).toEqual([1075, 1075, 1075, 1075, 1075]);
    expect(at.at(-1)).toBe(Math.ceil(245 * 10.75));
  });

  it("at a raised limit catches a late wake-up up with 1/20 of the limit at once (10 at 200 req/s), never more, and the window still holds", async () => {
    /** Start times (from the first) of 300 requests at 200 req/s, the limiter's 30th wait ending `lateMs` late. */
    const startsAt = async (lateMs: number) => {
      let sleeps = 0;
      const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms + (++sleeps === 30 ? lateMs : 0)));
      const limiter = createAcLimiters({ requestsPerSecond: 200, sleep }).forHost("late.api-us1.com");
      const starts: number[] = [];
      const done = Promise.all(Array.from({ length: 300 }, () => limiter.schedule(async () => void starts.push(Date.now()))));
      await vi.runAllTimersAsync();
      await done;
      expect(sleeps).toBeGreaterThan(30);
      expect(withinSlidingWindow(starts, 200, 1075)).toBe(true);
      return starts.map((t) => t - starts[0]!);
    };
    const onTime = await startsAt(0);
    // 40 ms late, as when the main thread is busy storing a page.
    const late = await startsAt(40);
    // 10 at once, then 5.375 ms apart (1,075 ms / 200).
    expect(late.slice(0, 13)).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 6, 11, 17]);
    // Never 11 within 5 ms: the catch-up is at most 10 at once.
    for (let i = 10; i < late.length; i++) expect(late[i]! - late[i - 10]!, `start ${i}`).toBeGreaterThanOrEqual(5);
    // The late wake-up did hold some starts back...
    expect(late).not.toEqual(onTime);
    // ...and the 40 ms were caught up: the 300th start is on its due time, (300 - 10) × 5.375
    // ms, as without it. With 5 at once it would be 1,586 ms even without the late one.
    expect(onTime.at(-1)).toBe(Math.ceil(290 * 5.375));
    expect(late.at(-1)).toBe(onTime.at(-1));
  });

  it("at a raised limit the margin covers every round trip of the window's requests, not only the last 32", () => {
    const raised = createAcLimiters({ requestsPerSecond: 200 }).forHost("burst.api-us1.com");
    const five = createAcLimiters({ requestsPerSecond: 5 }).forHost("five.api-us1.com");
    for (const limiter of [raised, five]) {
      limiter.noteLatency(70); // one of a start-up burst, queued at AC
      for (let i = 0; i < 40; i++) limiter.noteLatency(5);
    }
    expect(raised.marginMs).toBe(70); // 70 - 5 + 5: the slow one is still among the last 200
    expect(five.marginMs).toBe(10); // 32 samples: it has left them
  });

  it("holds queued requests for a Retry-After pause; the longer pause wins", async () => {
    const limiter = createAcLimiters().forHost("acct.api-us1.com");
    const t0 = Date.now();
    limiter.pauseFor(3000);
    limiter.pauseFor(1000);
    expect(limiter.pausedUntil).toBe(t0 + 3000);
    let startedAt = -1;
    const p = limiter.schedule(async () => {
      startedAt = Date.now();
    });
    await vi.advanceTimersByTimeAsync(2999);
    expect(startedAt).toBe(-1);
    await vi.advanceTimersByTimeAsync(1);
    await p;
    expect(startedAt).toBe(t0 + 3000);
    expect(limiter.pausedUntil).toBeNull();
  });

  it("backs off a window when AC reports 0 remaining that our own requests do not explain", async () => {
    const limiter = createAcLimiters({ requestsPerSecond: 5 }).forHost("shared.api-us1.com");
    await limiter.schedule(async () => {});
    limiter.noteRemaining(0); // 1 of ours in the window: someone else uses the account
    expect(limiter.pausedUntil).toBe(Date.now() + 1075);
    await vi.advanceTimersByTimeAsync(1075);
    expect(limiter.pausedUntil).toBeNull();

    await Promise.all(Array.from({ length: 5 }, () => limiter.schedule(async () => {})));
    limiter.noteRemaining(0); // our own 5 explain it; the window already waits
    expect(limiter.pausedUntil).toBeNull();
    expect(limiter.rateLimitRemaining).toBe(0);
  });

  it("compares a 0 remaining with our requests around the one it answers, however late the answer is read", async () => {
    const limiter = createAcLimiters({ requestsPerSecond: 5 }).forHost("late.api-us1.com");
    const t0 = Date.now();
    const starts: number[] = [];
    await Promise.all(Array.from({ length: 5 }, () => limiter.schedule(async (startedAt) => void starts.push(startedAt))));
    expect(starts).toEqual(Array(5).fill(t0));
    // The answer to one of them is read 1.1 s later (a busy process): our own five, sent
    // with it, explain AC's 0.
    await vi.advanceTimersByTimeAsync(1100);
    limiter.noteRemaining(0, t0);
    expect(limiter.pausedUntil).toBeNull();
    // Still so after five more left: the first five are kept.
    await Promise.all(Array.from({ length: 5 }, () => limiter.schedule(async () => {})));
    await vi.advanceTimersByTimeAsync(150);
    limiter.noteRemaining(0, t0);
    expect(limiter.pausedUntil).toBeNull();
    // Read 3 s late, after ten more left (starts are kept 2 s, and the last 5): whether ours
    // explain it is no longer known, and nobody is paused for it.
    await vi.advanceTimersByTimeAsync(3_000);
    const ten = Promise.all(Array.from({ length: 10 }, () => limiter.schedule(async () => {})));
    await vi.runAllTimersAsync();
    await ten;
    limiter.noteRemaining(0, t0);
    expect(limiter.pausedUntil).toBeNull();
    // A 0 on a request with none of ours around it is someone else's doing.
    await vi.advanceTimersByTimeAsync(5_000);
    const alone = await limiter.schedule(async (startedAt) => startedAt);
    limiter.noteRemaining(0, alone);
    expect(limiter.pausedUntil).toBe(Date.now() + 1075);
  });

  it("counts a request from when it left, when that was later than it was counted (a busy or starting HTTP thread)", async () => {
    const limiter = createAcLimiters({ requestsPerSecond: 5 }).forHost("sent.api-us1.com");
    const t0 = Date.now();
    const counted = await Promise.all(Array.from({ length: 5 }, () => limiter.schedule(async (startedAt) => startedAt)));
    // They left 300 ms late: the sixth may leave 1,075 ms after that, not after t0.
    for (const startedAt of counted) limiter.noteSent(startedAt, startedAt + 300);
    let sixth = -1;
    const p = limiter.schedule(async () => void (sixth = Date.now() - t0));
    await vi.runAllTimersAsync();
    await p;
    expect(sixth).toBe(1375);
  });

  it("shares one limiter per host across callers", () => {
    const limiters = createAcLimiters();
    expect(limiters.forHost("Acct.API-us1.com")).toBe(limiters.forHost("acct.api-us1.com"));
    expect(limiters.forHost("other.api-us1.com")).not.toBe(limiters.forHost("acct.api-us1.com"));
    expect(() => createAcLimiters({ requestsPerSecond: 0 })).toThrow(RangeError);
  });
});

describe("AC limiter against the fake AC over HTTP (5 req/s, 429 + Retry-After)", () => {
  const servers: FakeAcServer[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });

  /** A fresh account per test: the rate window must not carry over between tests. */
  async function account() {
    const fake = new FakeAc({ requestsPerSecond: 5 });
    fake.addContacts(30);
    fake.addList("Newsletter");
    const served = await startFakeAcServer(fake);
    servers.push(served);
    const clientOn = (limiters: AcLimiters) =>
      createAcClient({ apiUrl: served.url, apiKey: fake.apiKey, limiters, allowPrivateHosts: true });
    return { fake, clientOn };
  }

  it("really rate-limits: a client that ignores the 5 req/s gets 429s and recovers by honouring Retry-After", async () => {
    const { fake, clientOn } = await account();
    const client = clientOn(createAcLimiters({ requestsPerSecond: 1000 }));
    const results = await Promise.all(Array.from({ length: 12 }, () => client.getMe()));
    expect(results).toHaveLength(12);
    expect(fake.countStatus(429)).toBeGreaterThan(0);
    expect(client.stats.rateLimited).toBe(fake.countStatus(429));
    expect(fake.countStatus(200)).toBe(12);
  });

  it(
    "100 requests from two clients sharing the registry get zero 429s (most of them with the margin sized by round trips)",
    async () => {
      const { fake, clientOn } = await account();
      const limiters = createAcLimiters({ requestsPerSecond: 5 });
      const a = clientOn(limiters);
      const b = clientOn(limiters);
      const work = Array.from({ length: 50 }, (_, i) => [
        i % 2 === 0 ? a.getMe() : a.listLists(),
        b.pageContacts({ scope: { kind: "all" }, limit: 10, afterId: String(i % 20) }),
      ]).flat();
      await Promise.all(work);
      expect(fake.countStatus(429)).toBe(0);
      expect(fake.requests).toHaveLength(100);
      expect(a.stats.requests + b.stats.requests).toBe(100);
      expect(a.stats.retries + b.stats.retries).toBe(0);
    },
    120_000,
  );
});
