import type { SetupServer } from "msw/node";
import type { Config } from "../../core/config.ts";
import { createRunVerifiers } from "../../core/verification.ts";
import type { AddressVerifier, RunVerifiers } from "../../core/verification.ts";
import { createWorker, type WorkerOptions } from "../../worker/runs/worker.ts";
import type { RunView } from "../../core/services/runs.ts";
import type { InferRequestType } from "hono/client";
import { answer, apiClient } from "./api.ts";
import { createTestApp, signUp, type Session, type TestApp } from "./app.ts";
import { FakeClock } from "./clock.ts";
import { startDnsServer, type TestDnsServer } from "./dns-server.ts";
import { FakeAc, fakeAcHandlers, type FakeAcOptions } from "./fake-ac.ts";
import { WORLD_ZONE } from "./world.ts";

export const AC_BASE = "https://hygiene.api-us1.com";
export const AC_KEY = "9c1e5b7a3d2f4e6c8a0b1d3f5e7a9c2b4d6f8e0a1c3e5a7b9d2f4c6e8a0b2d4f6a8c0e2b";
/** A contact's status on an AC list: subscribed, unsubscribed. */
export const ACTIVE = 1;
export const UNSUBSCRIBED = 2;
/** One day in milliseconds. */
export const DAY = 86_400_000;

/** The body of POST /api/runs, as its route defines it. */
export type NewRun = InferRequestType<ReturnType<typeof apiClient>["runs"]["$post"]>["json"];

export interface RunHarness {
  t: TestApp;
  fake: FakeAc;
  dns: TestDnsServer;
  clock: FakeClock;
  user: Session;
  connectionId: string;
  /** How many times each address got a result from a verifier, across every worker. */
  verifications: Map<string, number>;
  verifiers: RunVerifiers;
  worker(opts?: Partial<WorkerOptions>): ReturnType<typeof createWorker>;
  startRun(body: Omit<NewRun, "connectionId">): Promise<RunView>;
  getRun(id: string): Promise<RunView>;
  close(): Promise<void>;
}

function counting(verifier: AddressVerifier, seen: Map<string, number>): AddressVerifier {
  const counted = (address: string) => seen.set(address, (seen.get(address) ?? 0) + 1);
  return {
    async attempt(address, opts) {
      const attempt = await verifier.attempt(address, opts);
      if (attempt.kind === "done") counted(address);
      return attempt;
    },
    // A result known at once is stored with its page (worker/runs/fetch.ts): it counts the same.
    ...(verifier.peek
      ? {
          peek(address: string) {
            const result = verifier.peek!(address);
            if (result) counted(address);
            return result;
          },
        }
      : {}),
  };
}

/**
 * A signed-in user with a connection to a fake AC (through msw), a test DNS server serving
 * the mail world, a fake clock for leases, and workers to drive runs.
 */
export async function createRunHarness(
  server: SetupServer,
  opts: {
    acRequestsPerSecond?: number;
    fakeRequestsPerSecond?: number;
    signupCredits?: number;
    dbFile?: string;
    sideloadContactLists?: boolean;
    config?: Partial<Config>;
    /** Let the harness clock move with real time too (greylisting waits). */
    realTime?: boolean;
    /** More options of the fake AC (its clock, webhook delivery). */
    fakeAc?: Partial<FakeAcOptions>;
    /** The fake AC's dates (cdate, udate, its rate window) on the harness's clock. */
    fakeOnHarnessClock?: boolean;
  } = {},
): Promise<RunHarness> {
  const dns = await startDnsServer(WORLD_ZONE);
  const clock = new FakeClock();
  if (opts.realTime) clock.run();
  const t = createTestApp({
    clock,
    ...(opts.dbFile ? { dbFile: opts.dbFile } : {}),
    config: { DNS_SERVERS: [dns.address], DNS_TIMEOUT_MS: 300, SIGNUP_CREDITS: opts.signupCredits ?? 10_000, LOG_LEVEL: "warn", ...opts.config },
    acRequestsPerSecond: opts.acRequestsPerSecond ?? 1000,
    acClientOptions: { backoffBaseMs: 5, backoffMaxMs: 20, timeoutMs: 1_000, maxRetryAfterMs: 2_000 },
  });
  const fake = new FakeAc({
    baseUrl: AC_BASE,
    apiKeys: [AC_KEY],
    requestsPerSecond: opts.fakeRequestsPerSecond ?? 1000,
    ...(opts.sideloadContactLists === undefined ? {} : { sideloadContactLists: opts.sideloadContactLists }),
    ...(opts.fakeOnHarnessClock ? { now: () => clock.now() } : {}),
    ...opts.fakeAc,
  });
  server.use(...fakeAcHandlers(fake));
  const user = await signUp(t);
  const api = apiClient(t, user);
  const { id: connectionId } = await answer(await api.connections.$post({ json: { apiUrl: AC_BASE, apiKey: AC_KEY } }), 201);
  fake.clearRequests();

  const verifications = new Map<string, number>();
  const base = createRunVerifiers(t.deps.config);
  const verifiers: RunVerifiers = { plain: counting(base.plain, verifications), smtp: null, resolver: base.resolver ?? null };

  return {
    t,
    fake,
    dns,
    clock,
    user,
    connectionId,
    verifications,
    verifiers,
    // holdMs 0: with the fake clock nothing becomes due by waiting, so an attempt lets go of the
    // run at once and the test advances the clock instead.
    worker: (o = {}) => createWorker(t.deps, { verifiers, leaseMs: 60_000, pollMs: 10, verifyWindow: 50, creditsPollMs: 1_000, holdMs: 0, ...o }),
    async startRun(body) {
      return answer(await api.runs.$post({ json: { connectionId, ...body } }), 202);
    },
    async getRun(id) {
      return answer(await api.runs[":id"].$get({ param: { id } }), 200);
    },
    async close() {
      await dns.close();
      t.db.$client.close();
    },
  };
}

/** Parses the report CSV (RFC 4180 quoting) into objects keyed by the header row. */
export function parseCsv(text: string): Record<string, string>[] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = "";
  let quoted = false;
  const src = text.replace(/^\uFEFF/, "");
  for (let i = 0; i < src.length; i++) {
    const ch = src[i]!;
    if (quoted) {
      if (ch === '"' && src[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else cell += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ",") {
      row.push(cell);
      cell = "";
    } else if (ch === "\n" || ch === "\r") {
      if (ch === "\r" && src[i + 1] === "\n") i++;
      row.push(cell);
      rows.push(row);
      row = [];
      cell = "";
    } else cell += ch;
  }
  if (cell !== "" || row.length > 0) {
    row.push(cell);
    rows.push(row);
  }
  const [header, ...body] = rows;
  return body.map((r) => Object.fromEntries(header!.map((h, i) => [h, r[i] ?? ""])));
}

/**
 * The counters a run keeps (shown on every progress poll) agree with a count of the rows they
 * describe: contacts, results per status and reason, planned actions, ledger, sent changes.
 */
export async function expectCountersMatchRows(h: RunHarness, runId: string): Promise<void> {
  const { expect } = await import("vitest");
  const db = h.t.db.$client;
  const one = (sql: string) => Number((db.prepare(sql).get(runId) as { n: number }).n);
  const groups = (sql: string) => Object.fromEntries((db.prepare(sql).all(runId) as { k: string; n: number }[]).map((r) => [r.k, Number(r.n)]));
  const view = await h.getRun(runId);
  expect({
    fetched: view.progress.fetched,
    verified: view.progress.verified,
    planned: view.progress.planned,
    applied: view.progress.applied,
    failed: view.progress.failed,
    charged: view.credits.charged,
    refunded: view.credits.refunded,
    byReason: view.counts.byReason,
    byStatus: Object.fromEntries(Object.entries(view.counts.byStatus).filter(([, n]) => n > 0)),
  }).toEqual({
    fetched: one("SELECT count(*) AS n FROM run_contacts WHERE run_id = ?"),
    verified: one("SELECT count(verified_at) AS n FROM run_contacts WHERE run_id = ?"),
    planned: one("SELECT count(*) AS n FROM run_actions WHERE run_id = ?"),
    applied: one("SELECT count(*) AS n FROM run_actions WHERE run_id = ? AND state = 'done'"),
    failed: one("SELECT count(*) AS n FROM run_actions WHERE run_id = ? AND state = 'failed'"),
    charged: one("SELECT coalesce(-sum(amount), 0) AS n FROM credit_ledger WHERE run_id = ? AND kind = 'charge'"),
    refunded: one("SELECT coalesce(sum(amount), 0) AS n FROM credit_ledger WHERE run_id = ? AND kind = 'refund'"),
    byReason: groups("SELECT reason AS k, count(*) AS n FROM run_contacts WHERE run_id = ? AND reason IS NOT NULL GROUP BY reason"),
    byStatus: groups("SELECT status AS k, count(*) AS n FROM run_contacts WHERE run_id = ? AND status IS NOT NULL GROUP BY status"),
  });
  // Labels (issue 17): the counters and the per-value counts agree with the label rows.
  expect(view.progress.labels).toEqual({
    planned: one("SELECT count(*) AS n FROM run_labels WHERE run_id = ?"),
    done: one("SELECT count(*) AS n FROM run_labels WHERE run_id = ? AND state = 'done'"),
    skipped: one("SELECT count(*) AS n FROM run_labels WHERE run_id = ? AND state = 'skipped'"),
    failed: one("SELECT count(*) AS n FROM run_labels WHERE run_id = ? AND state = 'failed'"),
    byValue: groups("SELECT value AS k, count(*) AS n FROM run_labels WHERE run_id = ? AND state = 'done' GROUP BY value"),
  });
  const balance = (db.prepare("SELECT balance FROM workspaces WHERE id = ?").get(h.user.workspaceId) as { balance: number }).balance;
  expect(balance).toBe(one(`SELECT coalesce(sum(amount), 0) AS n FROM credit_ledger WHERE workspace_id = (SELECT workspace_id FROM runs WHERE id = ?)`));
}
