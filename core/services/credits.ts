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
    "INSERT INTO credit_ledger (id, workspace_id, kind, amount, reason, run_id, idempotency_key, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (idempotency_key) DO NOTHING",
  ).run(newId("led", now), e.workspaceId, kind, signedAmount, e.reason, e.runId ?? null, e.idempotencyKey ?? null, now);
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
