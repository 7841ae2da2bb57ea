import { describe, expect, it, vi } from "vitest";
import { AcError, type AcClient, type AcListMembership } from "../core/ac/index.ts";
import { backoffMs, retryWait, sendChange, type Change } from "../worker/runs/apply.ts";
import type { RunContext } from "../worker/runs/context.ts";

// The apply stage's own decisions (issue 20, mutation testing), on sendChange and the waits
// rather than through a whole run: what the after-crash check takes as landed, what a delete
// keeps first, which of AC's answers are weather, refusals or thrown.

const UNSUBSCRIBE: Change = { kind: "unsubscribe", contactId: 7, listId: 3 };
const DELETE: Change = { kind: "delete", contactId: 7, listId: 0 };

/** An AC client that answers from `answers` and records each call. */
function fakeClient(answers: {
  lists?: AcListMembership[] | AcError;
  contact?: AcError;
  unsubscribe?: { contactGone: boolean; updated?: string | null } | AcError;
  delete?: { alreadyGone: boolean } | AcError;
}) {
  const calls: string[] = [];
  const signal = new AbortController().signal;
  /** The signal each request was sent with: the stage's, so stopping it stops them. */
  const signals: (AbortSignal | undefined)[] = [];
  const give = <T>(what: T | AcError | undefined, fallback: T): Promise<T> => (what instanceof AcError ? Promise.reject(what) : Promise.resolve(what ?? fallback));
  const client = {
    request: (method: string, path: string, opts?: { signal?: AbortSignal }) => {
      signals.push(opts?.signal);
      calls.push(`${method} ${path}`);
      return give(undefined, { contact: {} });
    },
    getContactLists: (id: string, opts?: { signal?: AbortSignal }) => {
      signals.push(opts?.signal);
      calls.push(`lists ${id}`);
      return give(answers.lists, []);
    },
    unsubscribe: (id: string, list: string, opts?: { signal?: AbortSignal }) => {
      signals.push(opts?.signal);
      calls.push(`unsubscribe ${id} ${list}`);
      return give(answers.unsubscribe, { contactGone: false, updated: "2026-11-02T10:00:00-06:00" });
    },
    deleteContact: (id: string, opts?: { signal?: AbortSignal }) => {
      signals.push(opts?.signal);
      calls.push(`delete ${id}`);
      return give(answers.delete, { alreadyGone: false });
    },
  } as unknown as AcClient;
  if (answers.contact) client.request = ((method: string, path: string) => (calls.push(`${method} ${path}`), Promise.reject(answers.contact))) as AcClient["request"];
  return { io: { client, signal }, calls, signals };
}

describe("sendChange", () => {
  it("sends an unsubscribe not sent before without looking first, and returns AC's date for the membership", async () => {
    const f = fakeClient({ unsubscribe: { contactGone: false, updated: "2026-11-02T10:00:00-06:00" } });
    await expect(sendChange(f.io, UNSUBSCRIBE, false)).resolves.toEqual({ kind: "done", gone: false, updated: "2026-11-02T10:00:00-06:00" });
    expect(f.calls).toEqual(["unsubscribe 7 3"]);
    const noDate = fakeClient({ unsubscribe: { contactGone: true } });
    await expect(sendChange(noDate.io, UNSUBSCRIBE, false)).resolves.toEqual({ kind: "done", gone: true, updated: null });
  });

  it("sent before: an unsubscribe AC already shows as not active on that list is done without sending it again", async () => {
    const f = fakeClient({ lists: [{ listId: "9", status: 1 }, { listId: "3", status: 2, updated: "2026-11-02T11:00:00-06:00" }] });
    await expect(sendChange(f.io, UNSUBSCRIBE, true)).resolves.toEqual({ kind: "done", gone: false, updated: "2026-11-02T11:00:00-06:00" });
    expect(f.calls).toEqual(["lists 7"]);
    const noDate = fakeClient({ lists: [{ listId: "3", status: 2 }] });
    await expect(sendChange(noDate.io, UNSUBSCRIBE, true)).resolves.toEqual({ kind: "done", gone: false, updated: null });
  });

  it("sent before: an unsubscribe still active on that list (or only on another list) is sent", async () => {
    const active = fakeClient({ lists: [{ listId: "3", status: 1 }, { listId: "9", status: 2 }] });
    await expect(sendChange(active.io, UNSUBSCRIBE, true)).resolves.toMatchObject({ kind: "done", gone: false });
    expect(active.calls).toEqual(["lists 7", "unsubscribe 7 3"]);
  });

  it("sent before: a contact AC no longer knows is done, for an unsubscribe and for a delete, without sending", async () => {
    const notFound = () => new AcError("not_found", "No Result found", { status: 404 });
    const unsub = fakeClient({ lists: notFound() });
    await expect(sendChange(unsub.io, UNSUBSCRIBE, true)).resolves.toEqual({ kind: "done", gone: false, updated: null });
    expect(unsub.calls).toEqual(["lists 7"]);
    const del = fakeClient({ contact: notFound() });
    await expect(sendChange(del.io, DELETE, true)).resolves.toEqual({ kind: "done", gone: false, updated: null });
    expect(del.calls).toEqual(["GET /api/3/contacts/7"]);
  });

  it("sent before: a delete whose contact AC still has is sent, after the backup", async () => {
    const f = fakeClient({});
    const order: string[] = [];
    const result = await sendChange(f.io, DELETE, true, async () => {
      order.push(`backup after ${f.calls.join(", ")}`);
      return "kept";
    });
    expect(result).toEqual({ kind: "done", gone: false, updated: null });
    expect(order).toEqual(["backup after GET /api/3/contacts/7"]);
    expect(f.calls).toEqual(["GET /api/3/contacts/7", "delete 7"]);
  });

  it("a delete whose contact is gone before its backup is done as gone and never sent; one AC says was gone is done as gone", async () => {
    const first = fakeClient({});
    await expect(sendChange(first.io, DELETE, false, async () => "gone")).resolves.toEqual({ kind: "done", gone: true, updated: null });
    expect(first.calls).toEqual([]);
    const already = fakeClient({ delete: { alreadyGone: true } });
    await expect(sendChange(already.io, DELETE, false)).resolves.toEqual({ kind: "done", gone: true, updated: null });
  });

  it("weather is weather, AC refusing is a refusal, and a refused key, an error not AC's or anything after an abort is thrown", async () => {
    const weather = new AcError("rate_limited", "slow down", { status: 429 });
    await expect(sendChange(fakeClient({ unsubscribe: weather }).io, UNSUBSCRIBE, false)).resolves.toEqual({ kind: "weather", error: weather });
    const refused = new AcError("validation", "List is closed", { status: 422 });
    await expect(sendChange(fakeClient({ delete: refused }).io, DELETE, false)).resolves.toEqual({ kind: "refused", error: refused });
    // The after-crash check's own failures too.
    const lookWeather = new AcError("server", "bad gateway", { status: 502, retryable: true });
    await expect(sendChange(fakeClient({ lists: lookWeather }).io, UNSUBSCRIBE, true)).resolves.toEqual({ kind: "weather", error: lookWeather });

    await expect(sendChange(fakeClient({ unsubscribe: new AcError("auth", "key refused", { status: 403 }) }).io, UNSUBSCRIBE, false)).rejects.toMatchObject({ kind: "auth" });
    const notAc = fakeClient({});
    notAc.io.client.unsubscribe = () => Promise.reject(new TypeError("broken"));
    await expect(sendChange(notAc.io, UNSUBSCRIBE, false)).rejects.toThrow(TypeError);
    const aborted = fakeClient({ unsubscribe: weather });
    const controller = new AbortController();
    controller.abort();
    await expect(sendChange({ ...aborted.io, signal: controller.signal }, UNSUBSCRIBE, false)).rejects.toBe(weather);
  });
});

describe("the stage's signal", () => {
  it("goes with every request sendChange makes: the check, the unsubscribe, the delete", async () => {
    const unsub = fakeClient({ lists: [{ listId: "3", status: 1 }] });
    await sendChange(unsub.io, UNSUBSCRIBE, true);
    const del = fakeClient({});
    await sendChange(del.io, DELETE, true);
    expect([unsub.calls.length, del.calls.length]).toEqual([2, 2]);
    expect([...unsub.signals, ...del.signals]).toEqual([unsub.io.signal, unsub.io.signal, del.io.signal, del.io.signal]);
  });
});

describe("retryWait", () => {
  it("doubles from base per attempt up to max, jittered between half and all of it", () => {
    const at = (random: number, attempts: number) => {
      const spy = vi.spyOn(Math, "random").mockReturnValue(random);
      try {
        return retryWait(1_000, 8_000, attempts);
      } finally {
        spy.mockRestore();
      }
    };
    expect([0, 1, 2, 3, 4, 5].map((n) => at(0, n))).toEqual([500, 500, 1_000, 2_000, 4_000, 4_000]);
    expect([1, 2, 3, 4, 5].map((n) => at(0.999_999, n))).toEqual([1_000, 2_000, 4_000, 8_000, 8_000]);
    expect(at(0.5, 2)).toBe(1_500);
  });
});

describe("backoffMs", () => {
  it("is retryWait over the run's own base and max", () => {
    vi.spyOn(Math, "random").mockReturnValue(0);
    try {
      const ctx = { settings: { actionRetryBaseMs: 3_000, actionRetryMaxMs: 10_000 } } as unknown as RunContext;
      expect([1, 2, 3].map((n) => backoffMs(ctx, n))).toEqual([1_500, 3_000, 5_000]);
    } finally {
      vi.restoreAllMocks();
    }
  });
});
