import { describe, expect, it } from "vitest";
import { balanceOf, chargeCredits, getCreditHistory, grantCredits, refundCredits } from "../core/services/credits.ts";
import { createTestApp, signUp } from "./support/app.ts";
import { FakeClock } from "./support/clock.ts";

// The ledger's edges (issue 20, mutation testing): what exactly the balance covers, amounts of
// zero, and the largest balance that can still be counted exactly.

async function workspace(credits: number) {
  const t = createTestApp({ config: { SIGNUP_CREDITS: credits } });
  const s = await signUp(t);
  const rows = () => t.db.$client.prepare("SELECT kind, amount FROM credit_ledger WHERE workspace_id = ? ORDER BY rowid").all(s.workspaceId) as { kind: string; amount: number }[];
  return { t, ws: s.workspaceId, clock: new FakeClock(), rows };
}

describe("credits: the edges of the ledger", () => {
  it("a charge of exactly the balance is taken, to 0; one credit more is refused and takes nothing", async () => {
    const { t, ws, clock } = await workspace(50);
    expect(chargeCredits(t.db, clock, { workspaceId: ws, amount: 51, reason: "run", idempotencyKey: "a" })).toBe("insufficient");
    expect(balanceOf(t.db, ws)).toBe(50);
    expect(chargeCredits(t.db, clock, { workspaceId: ws, amount: 50, reason: "run", idempotencyKey: "b" })).toBe("charged");
    expect(balanceOf(t.db, ws)).toBe(0);
    expect(chargeCredits(t.db, clock, { workspaceId: ws, amount: 1, reason: "run", idempotencyKey: "c" })).toBe("insufficient");
    expect(balanceOf(t.db, ws)).toBe(0);
  });

  it("a charge or refund of 0 writes no ledger row and leaves its key unused", async () => {
    const { t, ws, clock, rows } = await workspace(10);
    expect(chargeCredits(t.db, clock, { workspaceId: ws, amount: 0, reason: "run", idempotencyKey: "zero" })).toBe("charged");
    expect(refundCredits(t.db, clock, { workspaceId: ws, amount: 0, reason: "unknown", idempotencyKey: "zero-r" })).toBe(false);
    expect(rows()).toEqual([{ kind: "grant", amount: 10 }]);
    // The keys were not spent: a real charge under them still happens once.
    expect(chargeCredits(t.db, clock, { workspaceId: ws, amount: 3, reason: "run", idempotencyKey: "zero" })).toBe("charged");
    expect(refundCredits(t.db, clock, { workspaceId: ws, amount: 2, reason: "unknown", idempotencyKey: "zero-r" })).toBe(true);
    expect(rows()).toEqual([
      { kind: "grant", amount: 10 },
      { kind: "charge", amount: -3 },
      { kind: "refund", amount: 2 },
    ]);
    expect(balanceOf(t.db, ws)).toBe(9);
  });

  it("a grant may bring the balance to Number.MAX_SAFE_INTEGER, not past it; amounts are positive whole numbers", async () => {
    const { t, ws, clock } = await workspace(1);
    for (const amount of [0, -1, 1.5, Number.NaN, Number.MAX_SAFE_INTEGER + 2]) {
      expect(() => grantCredits(t.db, clock, { workspaceId: ws, amount, reason: "x" }), String(amount)).toThrow(expect.objectContaining({ code: "invalid_input", field: "amount" }));
    }
    expect(() => grantCredits(t.db, clock, { workspaceId: ws, amount: Number.MAX_SAFE_INTEGER, reason: "x" })).toThrow(expect.objectContaining({ code: "invalid_input", field: "amount" }));
    expect(balanceOf(t.db, ws)).toBe(1);
    expect(grantCredits(t.db, clock, { workspaceId: ws, amount: Number.MAX_SAFE_INTEGER - 1, reason: "x" })).toBe(true);
    expect(balanceOf(t.db, ws)).toBe(Number.MAX_SAFE_INTEGER);
    expect(() => grantCredits(t.db, clock, { workspaceId: ws, amount: 1, reason: "x" })).toThrow(expect.objectContaining({ code: "invalid_input", field: "amount" }));
  });

  it("a charge that is not a whole number is refused before anything is written", async () => {
    const { t, ws, clock, rows } = await workspace(10);
    expect(() => chargeCredits(t.db, clock, { workspaceId: ws, amount: 1.5, reason: "run", idempotencyKey: "half" })).toThrow(/integers/);
    expect(() => refundCredits(t.db, clock, { workspaceId: ws, amount: 0.5, reason: "unknown", idempotencyKey: "half-r" })).toThrow(/integers/);
    expect(rows()).toEqual([{ kind: "grant", amount: 10 }]);
    expect(balanceOf(t.db, ws)).toBe(10);
  });

  it("a grant is recorded once per idempotency key; a workspace that does not exist has no balance", async () => {
    const { t, ws, clock, rows } = await workspace(0);
    expect(grantCredits(t.db, clock, { workspaceId: ws, amount: 7, reason: "purchase", idempotencyKey: "purchase:1" })).toBe(true);
    expect(grantCredits(t.db, clock, { workspaceId: ws, amount: 7, reason: "purchase", idempotencyKey: "purchase:1" })).toBe(false);
    expect(balanceOf(t.db, ws)).toBe(7);
    expect(rows().filter((r) => r.kind === "grant" && r.amount === 7)).toHaveLength(1);
    expect(balanceOf(t.db, "ws_nobody")).toBe(0);
  });

  it("entries of one group (a monitor's day) are one line of the history; a grant is a line of its own, its id a ledger id", async () => {
    const { t, ws, clock } = await workspace(20);
    const day = "monitor:mon_1:2026-11-30";
    expect(chargeCredits(t.db, clock, { workspaceId: ws, amount: 3, reason: "Monitoring Acme: 3 new contacts", idempotencyKey: "m1", groupKey: day })).toBe("charged");
    expect(chargeCredits(t.db, clock, { workspaceId: ws, amount: 2, reason: "Monitoring Acme: 2 new contacts", idempotencyKey: "m2", groupKey: day })).toBe("charged");
    expect(refundCredits(t.db, clock, { workspaceId: ws, amount: 1, reason: "Monitoring Acme: unknown", idempotencyKey: "m3", groupKey: day })).toBe(true);
    const history = getCreditHistory(t.deps, { ctx: { workspaceId: ws } });
    expect(history.totalLines).toBe(2);
    const monitor = history.lines.find((l) => l.kind === "monitor");
    expect(monitor).toMatchObject({ id: day, amount: -4, charged: 5, refunded: 1, reason: "Monitoring Acme: new contacts checked on 2026-11-30 (UTC)" });
    // The sign-up grant: ledger ids say what they are, like every id the API hands out.
    const grant = history.lines.find((l) => l.kind === "grant");
    expect(grant?.id).toMatch(/^led_[0-9a-z]{26}$/);
  });
});
