import { eq } from "drizzle-orm";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { schema, statement } from "../db/index.ts";
import { newId } from "../db/ids.ts";
import type { Principal } from "../core/deps.ts";
import type { RunStatus } from "../core/domain/run-status.ts";
import { signup } from "../core/services/accounts.ts";
import { approveRun, cancelRun, createRun, getRun, getRunRow, listRuns, retryRunActions, runsWaitingForUser } from "../core/services/runs.ts";
import { insertRun, readRun, type RunRow } from "../core/runs/store.ts";
import { createTestApp, refusal, storedConnection, uniqueEmail, type TestApp } from "./support/app.ts";
import { FakeClock } from "./support/clock.ts";

// The run service's own rules (issue 20, mutation testing), its functions called directly on a
// test app's database rather than through the run harness: each refuses another workspace's run,
// approving needs confirmDelete, the typed count and the current plan revision, and only some
// statuses can be approved, cancelled or have their failed changes retried.

const ACTIONS = { deliverable: "keep", risky: "keep", undeliverable: "unsubscribe", unknown: "keep", overrides: [] };

let t: TestApp;
let clock: FakeClock;
let a: Principal;
let b: Principal;
let connA: string;
let connA2: string;
let connB: string;
const work = vi.fn();

beforeAll(async () => {
  clock = new FakeClock();
  t = createTestApp({ clock, config: { LOG_LEVEL: "warn" } });
  t.deps.onRunWork = work;
  a = (await signup(t.deps, { email: uniqueEmail("runs-a"), password: "correct horse battery" })).principal;
  b = (await signup(t.deps, { email: uniqueEmail("runs-b"), password: "correct horse battery" })).principal;
  connA = connection(a.workspaceId, "Main");
  connA2 = connection(a.workspaceId, "Second");
  connB = connection(b.workspaceId, "Theirs");
});

let seq = 0;
const connection = (workspaceId: string, name: string) => storedConnection(t, workspaceId, name, `conn_${name.toLowerCase()}_${++seq}`);

/** A run of `who`'s in `status`, created a second after the one before. */
function run(who: Principal, status: RunStatus, values: Partial<RunRow> = {}, connectionId: string | null = who === a ? connA : connB): RunRow {
  clock.advance(1000);
  const row = insertRun(t.db, {
    id: newId("run", clock.now()),
    workspaceId: who.workspaceId,
    connectionId,
    connectionName: "Main",
    scope: JSON.stringify({ kind: "all" }),
    actions: JSON.stringify(ACTIONS),
    createdAt: new Date(clock.now()),
  });
  return t.db.update(schema.runs).set({ status, ...values }).where(eq(schema.runs.id, row.id)).returning().get()!;
}

const count = (runId: string, kind: string, key: string, n: number) =>
  statement(t.db, "INSERT INTO run_counts (run_id, kind, key, n) VALUES (?, ?, ?, ?)").run(runId, kind, key, n);

let actionSeq = 0;
const action = (runId: string, kind: "unsubscribe" | "delete", state = "pending", contactId = ++actionSeq) =>
  statement(t.db, "INSERT INTO run_actions (id, run_id, contact_id, kind, list_id, state) VALUES (?, ?, ?, ?, ?, ?)").run(
    `act_${++actionSeq}`,
    runId,
    contactId,
    kind,
    kind === "delete" ? 0 : 3,
    state,
  );

/** A run awaiting review whose plan keeps `keep` contacts and unsubscribes `unsubscribe` (one list each). */
function reviewed(who: Principal, o: { keep?: number; unsubscribe?: number; deletes?: number; threshold?: number; revision?: number } = {}): RunRow {
  const row = run(who, "awaiting_review", {
    planReady: true,
    statusReason: "Review the plan",
    holdThreshold: o.threshold ?? 1,
    notBefore: new Date(clock.now() + 60_000),
    actionsPlanned: (o.unsubscribe ?? 0) + (o.deletes ?? 0),
  });
  count(row.id, "action", "keep", o.keep ?? 5);
  if (o.unsubscribe) {
    count(row.id, "action", "unsubscribe", o.unsubscribe);
    count(row.id, "plan", "unsubscribe_contacts", o.unsubscribe);
    for (let i = 0; i < o.unsubscribe; i++) action(row.id, "unsubscribe");
  }
  if (o.deletes) {
    count(row.id, "action", "delete", o.deletes);
    for (let i = 0; i < o.deletes; i++) action(row.id, "delete");
  }
  if (o.revision) count(row.id, "edit", "revision", o.revision);
  return row;
}

function expectNotFound(fn: () => unknown) {
  const err = refusal(fn);
  expect(err.code).toBe("not_found");
  expect(err.message).toContain("Run");
}

const status = (id: string) => readRun(t.db, id)!.status;

describe("createRun", () => {
  it("queues a run on the caller's connection with its actions parsed and a manual run's settings, and wakes the worker", () => {
    work.mockClear();
    const view = createRun(t.deps, { ctx: a, input: { connectionId: connA, estimatedTotal: 120, scope: { kind: "lists", listIds: ["4", "4", "7"] }, actions: { undeliverable: "delete" } } });
    expect(work).toHaveBeenCalledTimes(1);
    expect(view).toMatchObject({
      connectionId: connA,
      connectionName: "Main",
      scheduleId: null,
      status: "queued",
      smtpProbe: false,
      scope: { kind: "lists", listIds: ["4", "7"] },
      actions: { deliverable: "keep", risky: "keep", undeliverable: "delete", unknown: "keep", overrides: [] },
      notes: [],
      progress: { total: 120, totalEstimated: true },
    });
    const row = getRunRow(t.db, { workspaceId: a.workspaceId, id: view.id });
    expect(row).toMatchObject({ workspaceId: a.workspaceId, autoApply: false, deleteConfirmed: false, estimatedTotal: 120, notes: null, createdAt: new Date(clock.now()) });
    // A manual run's threshold is ANOMALY_PERCENT (100 in tests) as a share.
    expect(row.holdThreshold).toBe(1);
    expect(view.id).toMatch(/^run_/);
  });

  it("with no estimate given and none cached, the total is unknown", () => {
    const view = createRun(t.deps, { ctx: a, input: { connectionId: connA, scope: { kind: "all" }, actions: {} } });
    expect(view.progress.total).toBeNull();
    expect(getRunRow(t.db, { workspaceId: a.workspaceId, id: view.id }).estimatedTotal).toBeNull();
  });

  it("carries a schedule's id, auto-apply, threshold, confirmed delete and notes", () => {
    const view = createRun(t.deps, {
      ctx: a,
      input: { connectionId: connA, scope: { kind: "all" }, actions: {} },
      schedule: { id: "sch_1", autoApply: true, holdThreshold: 0.25, deleteConfirmed: true, notes: ["Started late"] },
    });
    expect(view).toMatchObject({ scheduleId: "sch_1", notes: ["Started late"] });
    expect(getRunRow(t.db, { workspaceId: a.workspaceId, id: view.id })).toMatchObject({ autoApply: true, holdThreshold: 0.25, deleteConfirmed: true });
  });

  it("refuses another workspace's connection, creating nothing", () => {
    const before = listRuns(t.deps, { ctx: b }).length;
    const err = refusal(() => createRun(t.deps, { ctx: b, input: { connectionId: connA, scope: { kind: "all" }, actions: {} } }));
    expect(err.code).toBe("not_found");
    expect(listRuns(t.deps, { ctx: b })).toHaveLength(before);
  });

  it("refuses a bad scope or actions with the field named, and the SMTP probe on a server without it", () => {
    const scope = refusal(() => createRun(t.deps, { ctx: a, input: { connectionId: connA, scope: { kind: "lists", listIds: [] }, actions: {} } }));
    expect(scope).toMatchObject({ code: "invalid_input", field: "scope.listIds", message: "pick at least one list" });
    const actions = refusal(() => createRun(t.deps, { ctx: a, input: { connectionId: connA, scope: { kind: "all" }, actions: { risky: "burn" } as never } }));
    expect(actions).toMatchObject({ code: "invalid_input", field: "actions.risky" });
    const probe = refusal(() => createRun(t.deps, { ctx: a, input: { connectionId: connA, scope: { kind: "all" }, actions: {}, smtpProbe: true } }));
    expect(probe).toMatchObject({ code: "invalid_input", field: "smtpProbe" });
  });

  it("takes the SMTP probe where the server has it, and needs no worker to wake", async () => {
    const probing = createTestApp({ clock, config: { LOG_LEVEL: "warn", SMTP_PROBE: true } });
    const p = (await signup(probing.deps, { email: uniqueEmail("runs-p"), password: "correct horse battery" })).principal;
    probing.db
      .insert(schema.connections)
      .values({ id: "conn_p", workspaceId: p.workspaceId, name: "P", apiUrl: "https://acct.api-us1.com", apiKeyCiphertext: "x", keyHint: "abcd", createdAt: new Date(clock.now()) })
      .run();
    expect(probing.deps.onRunWork).toBeUndefined();
    const view = createRun(probing.deps, { ctx: p, input: { connectionId: "conn_p", scope: { kind: "all" }, actions: {}, smtpProbe: true } });
    expect(view.smtpProbe).toBe(true);
  });
});

describe("the worker", () => {
  it("creating, approving and retrying need no worker to wake (none in this process)", () => {
    t.deps.onRunWork = undefined;
    try {
      expect(createRun(t.deps, { ctx: a, input: { connectionId: connA, scope: { kind: "all" }, actions: {} } }).status).toBe("queued");
      expect(approveRun(t.deps, { ctx: a, id: reviewed(a).id, confirmDelete: false }).status).toBe("applying");
      const failed = run(a, "failed", { approvedAt: new Date(clock.now()), actionsPlanned: 1, actionsFailed: 1 });
      action(failed.id, "unsubscribe", "failed");
      expect(retryRunActions(t.deps, { ctx: a, id: failed.id }).status).toBe("applying");
    } finally {
      t.deps.onRunWork = work;
    }
  });
});

describe("reading runs", () => {
  it("getRun and getRunRow find a run only in its own workspace; getRun shows the plan, the list does not", () => {
    const mine = reviewed(a, { keep: 3 });
    expect(getRun(t.deps, { ctx: a, id: mine.id }).plan).toMatchObject({ contacts: 3, keep: 3 });
    expect(getRunRow(t.db, { workspaceId: a.workspaceId, id: mine.id }).id).toBe(mine.id);
    expectNotFound(() => getRun(t.deps, { ctx: b, id: mine.id }));
    expectNotFound(() => getRunRow(t.db, { workspaceId: b.workspaceId, id: mine.id }));
    expect(listRuns(t.deps, { ctx: a }).find((v) => v.id === mine.id)?.plan).toBeNull();
  });

  it("listRuns lists the workspace's own AC runs, newest first, by connection when asked, up to the limit", async () => {
    const { principal } = await signup(t.deps, { email: uniqueEmail("runs-list"), password: "correct horse battery" });
    {
      const c1 = connection(principal.workspaceId, "One");
      const c2 = connection(principal.workspaceId, "Two");
      const older = run(principal, "completed", {}, c1);
      const newer = run(principal, "queued", {}, c2);
      const upload = run(principal, "completed", { source: "upload" }, null);
      run(b, "queued");
      expect(listRuns(t.deps, { ctx: principal }).map((v) => v.id)).toEqual([newer.id, older.id]);
      expect(listRuns(t.deps, { ctx: principal, connectionId: c1 }).map((v) => v.id)).toEqual([older.id]);
      expect(listRuns(t.deps, { ctx: principal, connectionId: c2 }).map((v) => v.id)).toEqual([newer.id]);
      expect(listRuns(t.deps, { ctx: principal, limit: 1 }).map((v) => v.id)).toEqual([newer.id]);
      expect(listRuns(t.deps, { ctx: principal }).map((v) => v.id)).not.toContain(upload.id);
      // Another workspace's connection id shows none of its runs.
      expect(listRuns(t.deps, { ctx: principal, connectionId: connB })).toEqual([]);
    }
  });

  it("runsWaitingForUser lists the workspace's runs awaiting review or credits, oldest first", async () => {
    const { principal } = await signup(t.deps, { email: uniqueEmail("runs-wait"), password: "correct horse battery" });
    const c = connection(principal.workspaceId, "Wait");
    const review = run(principal, "awaiting_review", { planReady: true }, c);
    for (const s of ["queued", "running", "paused_dns", "applying", "completed", "failed", "cancelled"] as const) run(principal, s, {}, c);
    const credits = run(principal, "paused_credits", {}, c);
    run(b, "awaiting_review");
    expect(runsWaitingForUser(t.deps, { ctx: principal }).map((v) => v.id)).toEqual([review.id, credits.id]);
    expect(runsWaitingForUser(t.deps, { ctx: principal })[0]?.plan).toBeNull();
  });
});

describe("approveRun", () => {
  it("refuses another workspace's run, leaving it in review", () => {
    const mine = reviewed(a);
    expectNotFound(() => approveRun(t.deps, { ctx: b, id: mine.id, confirmDelete: true }));
    expect(status(mine.id)).toBe("awaiting_review");
  });

  it("moves a run in review to applying, clearing its reason and wait, measuring its pace from now, and wakes the worker", () => {
    const mine = reviewed(a, { keep: 5, unsubscribe: 2 });
    work.mockClear();
    clock.advance(5000);
    const view = approveRun(t.deps, { ctx: a, id: mine.id, confirmDelete: false });
    expect(view.status).toBe("applying");
    expect(work).toHaveBeenCalledTimes(1);
    const row = readRun(t.db, mine.id)!;
    expect(row).toMatchObject({
      statusReason: null,
      notBefore: null,
      approvedAt: new Date(clock.now()),
      rateFromAt: new Date(clock.now()),
      rateFromCount: 0,
      deleteConfirmed: false,
      anomalyConfirmed: false,
    });
  });

  it("only a run awaiting review can be approved; the refusal names its status in words", () => {
    for (const s of ["queued", "running", "paused_credits", "paused_dns", "applying", "completed", "failed", "cancelled"] as const) {
      const r = run(a, s);
      const err = refusal(() => approveRun(t.deps, { ctx: a, id: r.id, confirmDelete: true }));
      expect(err.code).toBe("conflict");
      expect(err.message).toBe(`This run is ${s.replace("_", " ")}; only a run awaiting review can be approved`);
      expect(status(r.id)).toBe(s);
    }
  });

  it("refuses a run whose connection was deleted", () => {
    const r = reviewed(a);
    t.db.update(schema.runs).set({ connectionId: null }).where(eq(schema.runs.id, r.id)).run();
    expect(refusal(() => approveRun(t.deps, { ctx: a, id: r.id, confirmDelete: true })).code).toBe("conflict");
    expect(status(r.id)).toBe("awaiting_review");
  });

  it("a plan that deletes needs confirmDelete, and approving records it; unsubscribes alone do not", () => {
    const deletes = reviewed(a, { keep: 5, unsubscribe: 1, deletes: 2 });
    const err = refusal(() => approveRun(t.deps, { ctx: a, id: deletes.id, confirmDelete: false }));
    expect(err).toMatchObject({ code: "invalid_input", field: "confirmDelete" });
    expect(err.message).toContain("deletes 2 contacts");
    expect(status(deletes.id)).toBe("awaiting_review");
    approveRun(t.deps, { ctx: a, id: deletes.id, confirmDelete: true });
    expect(readRun(t.db, deletes.id)).toMatchObject({ status: "applying", deleteConfirmed: true });

    const unsubscribes = reviewed(a, { keep: 5, unsubscribe: 3 });
    approveRun(t.deps, { ctx: a, id: unsubscribes.id, confirmDelete: false });
    expect(status(unsubscribes.id)).toBe("applying");
  });

  it("a plan above the threshold needs its destructive count typed; one at or below it does not", () => {
    // 4 of 10 contacts (40%) against a threshold of 30%.
    const above = reviewed(a, { keep: 6, unsubscribe: 3, deletes: 1, threshold: 0.3 });
    for (const confirmCount of [undefined, null, 3, 5]) {
      const err = refusal(() => approveRun(t.deps, { ctx: a, id: above.id, confirmDelete: true, confirmCount }));
      expect(err).toMatchObject({ code: "invalid_input", field: "confirmCount" });
      expect(err.message).toContain("4 contacts, 40% of those checked (more than 30%)");
      expect(err.message).toContain('send {"confirmCount": 4} to approve it');
    }
    expect(status(above.id)).toBe("awaiting_review");
    approveRun(t.deps, { ctx: a, id: above.id, confirmDelete: true, confirmCount: 4 });
    expect(readRun(t.db, above.id)).toMatchObject({ status: "applying", anomalyConfirmed: true });

    // 3 of 10: exactly the threshold is not above it.
    const at = reviewed(a, { keep: 7, unsubscribe: 3, threshold: 0.3 });
    approveRun(t.deps, { ctx: a, id: at.id, confirmDelete: false });
    expect(readRun(t.db, at.id)).toMatchObject({ status: "applying", anomalyConfirmed: false });
  });

  it("an approval naming the plan revision it was shown is refused once the plan changed since; one naming none is not", () => {
    const edited = reviewed(a, { revision: 2 });
    for (const planRevision of [0, 1, 3]) {
      const err = refusal(() => approveRun(t.deps, { ctx: a, id: edited.id, confirmDelete: false, planRevision }));
      expect(err).toMatchObject({ code: "conflict", field: "planRevision" });
    }
    expect(status(edited.id)).toBe("awaiting_review");
    approveRun(t.deps, { ctx: a, id: edited.id, confirmDelete: false, planRevision: 2 });
    expect(status(edited.id)).toBe("applying");

    const unnamed = reviewed(a, { revision: 2 });
    approveRun(t.deps, { ctx: a, id: unnamed.id, confirmDelete: false });
    expect(status(unnamed.id)).toBe("applying");
    const nulled = reviewed(a, { revision: 2 });
    approveRun(t.deps, { ctx: a, id: nulled.id, confirmDelete: false, planRevision: null });
    expect(status(nulled.id)).toBe("applying");
    // Never edited: revision 0.
    const fresh = reviewed(a);
    approveRun(t.deps, { ctx: a, id: fresh.id, confirmDelete: false, planRevision: 0 });
    expect(status(fresh.id)).toBe("applying");
  });
});

describe("cancelRun", () => {
  it("refuses another workspace's run, leaving it as it was", () => {
    const mine = run(a, "running");
    expectNotFound(() => cancelRun(t.deps, { ctx: b, id: mine.id }));
    expect(status(mine.id)).toBe("running");
  });

  it("cancels a run that has changed nothing in AC yet", () => {
    for (const s of ["queued", "running", "paused_credits", "paused_dns", "awaiting_review"] as const) {
      const r = run(a, s);
      expect(cancelRun(t.deps, { ctx: a, id: r.id }).status).toBe("cancelled");
      expect(readRun(t.db, r.id)?.finishedAt).toEqual(new Date(clock.now()));
    }
  });

  it("refuses a run applying or finished, naming its status", () => {
    for (const s of ["applying", "completed", "failed", "cancelled"] as const) {
      const r = run(a, s);
      const err = refusal(() => cancelRun(t.deps, { ctx: a, id: r.id }));
      expect(err.code).toBe("conflict");
      expect(err.message).toBe(`This run is ${s}; it can no longer be cancelled`);
      expect(status(r.id)).toBe(s);
    }
  });
});

describe("retryRunActions", () => {
  const applied = (s: RunStatus, values: Partial<RunRow> = {}) => {
    const r = run(a, s, { approvedAt: new Date(clock.now()), finishedAt: new Date(clock.now()), actionsPlanned: 2, actionsDone: 1, actionsFailed: 1, ...values });
    action(r.id, "unsubscribe", "done");
    action(r.id, "unsubscribe", "failed");
    return r;
  };

  it("sends again the failed changes of a completed or failed run, and wakes the worker", () => {
    for (const s of ["completed", "failed"] as const) {
      const r = applied(s);
      work.mockClear();
      const view = retryRunActions(t.deps, { ctx: a, id: r.id });
      expect(view.status).toBe("applying");
      expect(work).toHaveBeenCalledTimes(1);
      expect(readRun(t.db, r.id)).toMatchObject({ actionsFailed: 0, finishedAt: null });
    }
  });

  it("sends again labels that failed when no change did", () => {
    const r = applied("completed", { actionsDone: 2, actionsFailed: 0, labelsPlanned: 2, labelsDone: 1, labelsFailed: 1 });
    statement(t.db, "UPDATE run_actions SET state = 'done' WHERE run_id = ?").run(r.id);
    statement(t.db, "INSERT INTO run_labels (run_id, contact_id, value, state) VALUES (?, 1, 'invalid', 'done'), (?, 2, 'invalid', 'failed')").run(r.id, r.id);
    expect(retryRunActions(t.deps, { ctx: a, id: r.id }).status).toBe("applying");
    expect(readRun(t.db, r.id)?.labelsFailed).toBe(0);
  });

  it("refuses another workspace's run", () => {
    const r = applied("completed");
    expectNotFound(() => retryRunActions(t.deps, { ctx: b, id: r.id }));
    expect(status(r.id)).toBe("completed");
  });

  it("refuses a run not applied: still in review or checking, applying, cancelled, or finished without an approval", () => {
    for (const s of ["queued", "running", "paused_credits", "paused_dns", "awaiting_review", "applying", "cancelled"] as const) {
      const r = applied(s);
      const err = refusal(() => retryRunActions(t.deps, { ctx: a, id: r.id }));
      expect(err.code).toBe("conflict");
      expect(err.message).toBe(`This run is ${s.replace("_", " ")}; only an applied run with changes that failed can retry them`);
      expect(status(r.id)).toBe(s);
    }
    for (const s of ["completed", "failed"] as const) {
      const r = applied(s, { approvedAt: null });
      expect(refusal(() => retryRunActions(t.deps, { ctx: a, id: r.id })).message).toContain(`This run is ${s};`);
      expect(status(r.id)).toBe(s);
    }
  });

  it("refuses a run whose connection was deleted, and one with nothing left to send", () => {
    const gone = applied("completed");
    t.db.update(schema.runs).set({ connectionId: null }).where(eq(schema.runs.id, gone.id)).run();
    expect(refusal(() => retryRunActions(t.deps, { ctx: a, id: gone.id })).code).toBe("conflict");
    expect(status(gone.id)).toBe("completed");

    const nothing = applied("completed", { actionsDone: 2, actionsFailed: 0 });
    statement(t.db, "UPDATE run_actions SET state = 'done' WHERE run_id = ?").run(nothing.id);
    const err = refusal(() => retryRunActions(t.deps, { ctx: a, id: nothing.id }));
    expect(err).toMatchObject({ code: "conflict", message: "This run has no failed changes to retry" });
    expect(status(nothing.id)).toBe("completed");
  });
});
