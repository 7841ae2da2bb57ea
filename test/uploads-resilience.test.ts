import { eq, sql } from "drizzle-orm";
import { setupServer } from "msw/node";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { openDb, schema } from "../db/index.ts";
import { createDeps } from "../core/deps.ts";
import { createWorker } from "../worker/runs/worker.ts";
import type { RunEvent } from "../worker/runs/context.ts";
import { createRunHarness, expectCountersMatchRows, type RunHarness } from "./support/runs.ts";
import { confirmAndStart, expectedResult, getUpload, readCsv, resultBytes, upload } from "./support/uploads.ts";
import { address, type Kind } from "./support/world.ts";

const server = setupServer();
beforeAll(() => server.listen({ onUnhandledRequest: "error" }));
afterEach(() => server.resetHandlers());
afterAll(() => server.close());

const LEASE_MS = 60_000;
const UNIQUE = 1_200;

/** 1,200 addresses over the test world, each twice (the second time in upper case): 2,400 rows. */
function file(): Buffer {
  const lines = ["email,name"];
  for (let i = 0; i < UNIQUE; i++) {
    const kind: Kind = i % 7 === 0 ? "noMail" : i % 11 === 0 ? "disposable" : i % 13 === 0 ? "dnsError" : "deliverable";
    lines.push(`${address(kind, `c${i}`)},Contact ${i}`);
  }
  for (let i = 0; i < UNIQUE; i++) lines.push(`${lines[i + 1]!.split(",")[0]!.toUpperCase()},Again ${i}`);
  return Buffer.from(lines.join("\n") + "\n");
}

/** A worker on its own connection to the same database file, as a restarted process would have. */
function freshWorker(h: RunHarness, dbFile: string, onEvent?: (e: RunEvent) => void) {
  const deps = createDeps({ ...h.t.deps, db: openDb(dbFile) });
  return { deps, worker: createWorker(deps, { verifiers: h.verifiers, leaseMs: LEASE_MS, pollMs: 10, verifyWindow: 50, holdMs: 0, ...(onEvent ? { onEvent } : {}) }) };
}

describe("an upload's run, crashed and resumed", () => {
  for (const [label, type, count] of [
    ["mid-fetch", "page_stored", 1],
    ["mid-verification", "results_stored", 3],
  ] as const) {
    it(`a worker killed ${label} is resumed by a fresh one: every address verified and charged once, every row with its result`, async () => {
      const dbFile = path.join(mkdtempSync(path.join(tmpdir(), "lw-upload-crash-")), "listwarden.db");
      const h = await createRunHarness(server, { dbFile, signupCredits: 10_000 });
      const stored = await upload(h.t, h.user, "contacts.csv", file());
      expect(stored).toMatchObject({ rows: 2 * UNIQUE, uniqueAddresses: UNIQUE, duplicates: UNIQUE });
      const started = await confirmAndStart(h.t, h.user, stored);
      const runId = started.run!.id;

      let seen = 0;
      let killed: Promise<void> | undefined;
      const first = freshWorker(h, dbFile, (e) => {
        if (e.type === type && ++seen === count) killed = first.worker.kill();
      });
      await first.worker.drain();
      await killed;
      first.deps.db.$client.close();
      const mid = await getUpload(h.t, h.user, stored.id);
      expect(mid.run?.status).toBe("running");
      expect(mid.run!.progress.verified).toBeLessThan(UNIQUE);
      // Killed after the first page of 1,000 addresses (mid-fetch), or a few batches of results in.
      if (type === "page_stored") expect(mid.run!.progress.fetched).toBe(1_000);
      else expect(mid.run!.progress.verified).toBeGreaterThan(0);

      h.clock.advance(LEASE_MS + 1);
      const second = freshWorker(h, dbFile);
      await second.worker.drain();
      second.deps.db.$client.close();

      const done = await getUpload(h.t, h.user, stored.id);
      expect(done.run?.status).toBe("completed");
      expect(done.run?.progress).toMatchObject({ fetched: UNIQUE, verified: UNIQUE });
      const contacts = h.t.db.select().from(schema.runContacts).where(eq(schema.runContacts.runId, runId)).all();
      expect(contacts).toHaveLength(UNIQUE);
      expect(contacts.every((c) => c.verifiedAt && c.status)).toBe(true);
      // Verified at least once each; only the addresses in flight at the crash (the window, 50) again.
      for (const c of contacts) expect(h.verifications.get(c.email) ?? 0).toBeGreaterThanOrEqual(1);
      expect([...h.verifications.values()].reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(UNIQUE + 50);
      // Charged once per unique address; each unknown refunded once.
      const ledger = h.t.db
        .select({ kind: schema.creditLedger.kind, total: sql<number>`sum(${schema.creditLedger.amount})` })
        .from(schema.creditLedger)
        .where(eq(schema.creditLedger.runId, runId))
        .groupBy(schema.creditLedger.kind)
        .all();
      const unknown = contacts.filter((c) => c.status === "unknown").length;
      expect(unknown).toBeGreaterThan(0);
      expect(Object.fromEntries(ledger.map((l) => [l.kind, Number(l.total)]))).toEqual({ charge: -UNIQUE, refund: unknown });
      await expectCountersMatchRows(h, runId);

      // Every row, the duplicates too, has its address's result.
      const rows = readCsv((await resultBytes(h.t, h.user, stored.id)).bytes, "utf-8", ",").slice(1);
      expect(rows).toHaveLength(2 * UNIQUE);
      for (const r of rows) expect([r[2], r[3]]).toEqual(Object.values(expectedResult(r[0]!)));
      await h.close();
    });
  }
});
