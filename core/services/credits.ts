import { desc, eq, sql } from "drizzle-orm";
import { schema, statement, type Db } from "../../db/index.ts";
import { newId } from "../../db/ids.ts";
import type { LedgerKind } from "../../db/schema/index.ts";
import type { Deps, Principal } from "../deps.ts";
import { AppError } from "../errors.ts";
import type { Clock } from "../lib/clock.ts";

export interface LedgerEntryView {
  id: string;
  kind: LedgerKind;
  amount: number;
  reason: string;
  runId: string | null;
  createdAt: string;
}

/** The workspace's balance: SUM of its ledger, kept on the workspace row by every append. */
export function balanceOf(db: Db, workspaceId: string): number {
  const row = statement(db, "SELECT balance FROM workspaces WHERE id = ?").get(workspaceId) as { balance: number } | undefined;
  return Number(row?.balance ?? 0);
}

interface Entry {
  workspaceId: string;
  amount: number;
  reason: string;
  runId?: string;
  /** The same key is recorded at most once: a retried charge or refund is a no-op. */
  idempotencyKey?: string;
  /** Entries of one line of the history that is not a run's (a monitor's day). */
  groupKey?: string;
}

/**
 * Appends one ledger row and moves the balance (and the run's charged/refunded counters) with
 * it; returns false, changing nothing, when the idempotency key was already used. Call it inside
 * the caller's transaction (every caller here does), so the row and the sums land together.
 */
function append(db: Db, clock: Clock, kind: LedgerKind, signedAmount: number, e: Entry): boolean {
  if (!Number.isSafeInteger(signedAmount)) throw new Error("credit amounts are integers");
  const now = clock.now();
  const inserted = statement(
    db,
    "INSERT INTO credit_ledger (id, workspace_id, kind, amount, reason, run_id, idempotency_key, group_key, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (idempotency_key) DO NOTHING",
  ).run(newId("led", now), e.workspaceId, kind, signedAmount, e.reason, e.runId ?? null, e.idempotencyKey ?? null, e.groupKey ?? null, now);
  if (inserted.changes !== 1) return false;
  statement(db, "UPDATE workspaces SET balance = balance + ? WHERE id = ?").run(signedAmount, e.workspaceId);
  if (e.runId && kind === "charge") statement(db, "UPDATE runs SET credits_charged = credits_charged + ? WHERE id = ?").run(-signedAmount, e.runId);
  if (e.runId && kind === "refund") statement(db, "UPDATE runs SET credits_refunded = credits_refunded + ? WHERE id = ?").run(signedAmount, e.runId);
  return true;
}

/** Adds credits; a balance past Number.MAX_SAFE_INTEGER could not be counted exactly, so it is refused. */
export function grantCredits(db: Db, clock: Clock, e: Entry): boolean {
  if (!Number.isSafeInteger(e.amount) || e.amount <= 0) throw new AppError("invalid_input", "amount must be a positive whole number", "amount");
  if (balanceOf(db, e.workspaceId) + e.amount > Number.MAX_SAFE_INTEGER) {
    throw new AppError("invalid_input", `the balance would pass ${Number.MAX_SAFE_INTEGER}, which cannot be counted exactly`, "amount");
  }
  return append(db, clock, "grant", e.amount, e);
}

/**
 * Charges `amount` if the balance covers it. Call inside the transaction that records what
 * is paid for, so the charge and the work land together or not at all.
 */
export function chargeCredits(db: Db, clock: Clock, e: Entry & { idempotencyKey: string }): "charged" | "already_charged" | "insufficient" {
  if (e.amount <= 0) return "charged";
  if (statement(db, "SELECT 1 FROM credit_ledger WHERE idempotency_key = ?").get(e.idempotencyKey)) return "already_charged";
  if (balanceOf(db, e.workspaceId) < e.amount) return "insufficient";
  append(db, clock, "charge", -e.amount, e);
  return "charged";
}

export function refundCredits(db: Db, clock: Clock, e: Entry & { idempotencyKey: string }): boolean {
  if (e.amount <= 0) return false;
  return append(db, clock, "refund", e.amount, e);
}

export function getCredits(deps: Deps, { ctx, limit = 50 }: { ctx: Principal; limit?: number }) {
  const entries: LedgerEntryView[] = deps.db
    .select()
    .from(schema.creditLedger)
    .where(eq(schema.creditLedger.workspaceId, ctx.workspaceId))
    .orderBy(desc(schema.creditLedger.createdAt), desc(schema.creditLedger.id))
    .limit(limit)
    .all()
    .map((r) => ({
      id: r.id,
      kind: r.kind,
      amount: r.amount,
      reason: r.reason,
      runId: r.runId,
      createdAt: r.createdAt.toISOString(),
    }));
  return { balance: balanceOf(deps.db, ctx.workspaceId), entries };
}

/** One line of the credit history: a run's charges and refunds together, or one grant. */
export interface LedgerLine {
  /** The run's id, or the entry's id for a line that is not a run's. */
  id: string;
  /** run: a run's entries; monitor: a monitored connection's new contacts of one UTC day (issue 18). */
  kind: "run" | "monitor" | LedgerKind;
  runId: string | null;
  /** Net movement of the line: negative for what a run cost. */
  amount: number;
  charged: number;
  refunded: number;
  /** The run's connection and status, for a run's line. */
  connectionName: string | null;
  runStatus: string | null;
  /** A grant's reason, or what the run is. */
  reason: string;
  firstAt: string;
  lastAt: string;
  entries: LedgerEntryView[];
}

export interface LedgerPage {
  balance: number;
  lines: LedgerLine[];
  page: number;
  pages: number;
  totalLines: number;
}

export const HISTORY_PAGE_SIZE = 25;

/**
 * The credit history, one line per run (its charges and refunds summed, each entry listed
 * under it) and one per grant, newest first, paged through all of it: `page` from 1.
 */
export function getCreditHistory(deps: Deps, { ctx, page = 1, pageSize = HISTORY_PAGE_SIZE }: { ctx: Pick<Principal, "workspaceId">; page?: number; pageSize?: number }): LedgerPage {
  const ws = ctx.workspaceId;
  const totalLines = Number(
    (statement(deps.db, "SELECT count(DISTINCT coalesce(run_id, group_key, id)) AS n FROM credit_ledger WHERE workspace_id = ?").get(ws) as { n: number }).n,
  );
  const pages = Math.max(1, Math.ceil(totalLines / pageSize));
  const current = Math.min(Math.max(1, Math.trunc(page)), pages);
  const groups = statement(
    deps.db,
    `SELECT coalesce(l.run_id, l.group_key, l.id) AS grp, l.run_id AS run_id, max(l.group_key) AS group_key, sum(l.amount) AS net,
       sum(CASE WHEN l.kind = 'charge' THEN -l.amount ELSE 0 END) AS charged,
       sum(CASE WHEN l.kind = 'refund' THEN l.amount ELSE 0 END) AS refunded,
       min(l.kind) AS kind, min(l.reason) AS reason, min(l.created_at) AS first_at, max(l.created_at) AS last_at
     FROM credit_ledger l WHERE l.workspace_id = ? GROUP BY coalesce(l.run_id, l.group_key, l.id)
     ORDER BY min(l.created_at) DESC, coalesce(l.run_id, l.group_key, l.id) DESC LIMIT ? OFFSET ?`,
  ).all(ws, pageSize, (current - 1) * pageSize) as {
    grp: string;
    run_id: string | null;
    group_key: string | null;
    net: number;
    charged: number;
    refunded: number;
    kind: LedgerKind;
    reason: string;
    first_at: number;
    last_at: number;
  }[];
  const runIds = groups.flatMap((g) => (g.run_id ? [g.run_id] : []));
  const runs = new Map<string, { connection_name: string; status: string }>();
  const entries = new Map<string, LedgerEntryView[]>();
  if (runIds.length > 0) {
    const marks = runIds.map(() => "?").join(", ");
    for (const r of deps.db.$client.prepare(`SELECT id, connection_name, status FROM runs WHERE workspace_id = ? AND id IN (${marks})`).all(ws, ...runIds) as {
      id: string;
      connection_name: string;
      status: string;
    }[]) {
      runs.set(r.id, r);
    }
    for (const e of deps.db.$client
      .prepare(`SELECT id, kind, amount, reason, run_id, created_at FROM credit_ledger WHERE workspace_id = ? AND run_id IN (${marks}) ORDER BY created_at, id`)
      .all(ws, ...runIds) as { id: string; kind: LedgerKind; amount: number; reason: string; run_id: string; created_at: number }[]) {
      const list = entries.get(e.run_id) ?? [];
      list.push({ id: e.id, kind: e.kind, amount: e.amount, reason: e.reason, runId: e.run_id, createdAt: new Date(e.created_at).toISOString() });
      entries.set(e.run_id, list);
    }
  }
  const lines: LedgerLine[] = groups.map((g) => {
    const run = g.run_id ? runs.get(g.run_id) : undefined;
    // A monitor's day: its charges and refunds in one line ("Monitoring Acme: new contacts checked on 2026-11-02").
    const monitorDay = !g.run_id && g.group_key?.startsWith("monitor:") ? g.group_key.slice(-10) : null;
    return {
      id: g.grp,
      kind: g.run_id ? "run" : monitorDay ? "monitor" : g.kind,
      runId: g.run_id,
      amount: Number(g.net),
      charged: Number(g.charged),
      refunded: Number(g.refunded),
      connectionName: run?.connection_name ?? null,
      runStatus: run?.status ?? null,
      reason: g.run_id ? `Run on ${run?.connection_name ?? "a deleted connection"}` : monitorDay ? `${g.reason.split(":")[0]}: new contacts checked on ${monitorDay} (UTC)` : g.reason,
      firstAt: new Date(Number(g.first_at)).toISOString(),
      lastAt: new Date(Number(g.last_at)).toISOString(),
      entries: g.run_id ? (entries.get(g.run_id) ?? []) : [],
    };
  });
  return { balance: balanceOf(deps.db, ws), lines, page: current, pages, totalLines };
}

export const LEDGER_CSV_COLUMNS = ["date", "kind", "amount", "balance_after", "reason", "run_id", "connection"] as const;

/** Every ledger entry, oldest first, with the balance after it: the history as a spreadsheet reads it. */
export function* ledgerRows(deps: Deps, { ctx }: { ctx: Pick<Principal, "workspaceId"> }): Generator<(string | number)[]> {
  yield [...LEDGER_CSV_COLUMNS];
  let balance = 0;
  // In chunks by (created_at, id): the connection is free between them for other requests.
  let after: { at: number; id: string } = { at: -1, id: "" };
  for (;;) {
    const rows = statement(
      deps.db,
      "SELECT l.id, l.created_at, l.kind, l.amount, l.reason, l.run_id, r.connection_name FROM credit_ledger l LEFT JOIN runs r ON r.id = l.run_id WHERE l.workspace_id = ? AND (l.created_at > ? OR (l.created_at = ? AND l.id > ?)) ORDER BY l.created_at, l.id LIMIT 1000",
    ).all(ctx.workspaceId, after.at, after.at, after.id) as { id: string; created_at: number; kind: string; amount: number; reason: string; run_id: string | null; connection_name: string | null }[];
    if (rows.length === 0) return;
    for (const r of rows) {
      balance += r.amount;
      // Amounts stay numbers (a spreadsheet sums them); the text cells are escaped against formulas.
      yield [new Date(r.created_at).toISOString(), r.kind, r.amount, balance, r.reason, r.run_id ?? "", r.connection_name ?? ""];
    }
    const last = rows.at(-1)!;
    after = { at: last.created_at, id: last.id };
  }
}
