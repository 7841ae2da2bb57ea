import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { schema, statement } from "../db/index.ts";
import { newId } from "../db/ids.ts";
import { balanceOf, grantCredits } from "../core/services/credits.ts";
import {
  addNote,
  cancelRunRow,
  claimRun,
  failRun,
  insertRun,
  LeaseLost,
  moveRun,
  readRun,
  releaseForWeather,
  releaseLease,
  renewLease,
  reopenActions,
  RunMoveRefused,
  updateLeasedRun,
  type Lease,
  type RunRow,
} from "../core/runs/store.ts";
import type { RunStatus } from "../core/domain/run-status.ts";
import { createTestApp, signUp } from "./support/app.ts";
import { FakeClock } from "./support/clock.ts";

// The run store's own rules (issue 20, mutation testing), on the store itself rather than
// through a whole run: which run a worker may claim, what a lease guards, what a release or a
// spell of weather writes, the refunds of failing and cancelling, reopening failed changes.

const CLAIM = { owner: "w1", leaseMs: 60_000, exclude: [] as string[], pollMs: 5_000 };

async function storeWorld(credits = 0) {
  const clock = new FakeClock();
  const t = createTestApp({ clock, config: { SIGNUP_CREDITS: credits, LOG_LEVEL: "warn" } });
  const user = await signUp(t);
  const db = t.db;
  let age = 1_000;
  /** A run in `status`; each one is created later than the one before (older runs are claimed first). */
  const run = (status: RunStatus = "queued", values: Partial<RunRow> = {}): RunRow => {
    age -= 1;
    const row = insertRun(db, {
      id: newId("run", clock.now()),
      workspaceId: user.workspaceId,
      connectionId: null,
      connectionName: "Main",
      scope: JSON.stringify({ kind: "all" }),
      actions: JSON.stringify({ deliverable: "keep", risky: "keep", undeliverable: "unsubscribe", unknown: "keep", overrides: [] }),
      createdAt: new Date(clock.now() - age),
    });
    return db.update(schema.runs).set({ status, ...values }).where(eq(schema.runs.id, row.id)).returning().get()!;
  };
  /** Contacts of the run fetched (and charged) but not verified yet. */
  const unverified = (runId: string, n: number) => {
    for (let i = 1; i <= n; i++) statement(db, "INSERT INTO run_contacts (run_id, contact_id, email) VALUES (?, ?, ?)").run(runId, i, `c${i}@example.com`);
  };
  const reread = (id: string) => readRun(db, id)!;
  const balance = () => balanceOf(db, user.workspaceId);
  const grant = (amount: number) => grantCredits(db, clock, { workspaceId: user.workspaceId, amount, reason: "top-up" });
  const claim = (opts: Partial<typeof CLAIM> = {}) => claimRun(db, clock, { ...CLAIM, ...opts });
  return { db, clock, user, run, unverified, reread, balance, grant, claim };
}

describe("leases", () => {
  it("addNote adds each text once, after the notes already there", async () => {
    const w = await storeWorld();
    w.run("running");
    const { lease } = w.claim()!;
    addNote(w.db, lease, "first");
    addNote(w.db, lease, "second");
    addNote(w.db, lease, "first");
    expect(JSON.parse(w.reread(lease.runId).notes!)).toEqual(["first", "second"]);
  });
});
