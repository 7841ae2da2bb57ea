import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { openDb, transaction } from "../db/index.ts";
import { main as cli } from "../cli/main.ts";
import { balanceOf, chargeCredits, grantCredits, refundCredits } from "../core/services/credits.ts";
import { FakeClock } from "./support/clock.ts";
import { answer, apiClient } from "./support/api.ts";
import { createTestApp, signUp } from "./support/app.ts";

function captureIo() {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const out: string[] = [];
  const err: string[] = [];
  stdout.on("data", (d) => out.push(String(d)));
  stderr.on("data", (d) => err.push(String(d)));
  return { io: { stdout, stderr, stdin: new PassThrough() }, out, err };
}

describe("credits ledger", () => {
  it("gives a new workspace SIGNUP_CREDITS and shows them at GET /api/credits", async () => {
    const t = createTestApp({ config: { SIGNUP_CREDITS: 250 } });
    const s = await signUp(t);
    const body = await answer(await apiClient(t, s).credits.$get(), 200);
    expect(body.balance).toBe(250);
    expect(body.entries).toEqual([expect.objectContaining({ kind: "grant", amount: 250 })]);
  });

  it("charges only what the balance covers, once per idempotency key, and refunds once", async () => {
    const t = createTestApp({ config: { SIGNUP_CREDITS: 100 } });
    const s = await signUp(t);
    const clock = new FakeClock();
    const ws = s.workspaceId;
    expect(chargeCredits(t.db, clock, { workspaceId: ws, amount: 60, reason: "run", idempotencyKey: "run1:p1" })).toBe("charged");
    expect(chargeCredits(t.db, clock, { workspaceId: ws, amount: 60, reason: "run", idempotencyKey: "run1:p1" })).toBe("already_charged");
    expect(chargeCredits(t.db, clock, { workspaceId: ws, amount: 41, reason: "run", idempotencyKey: "run1:p2" })).toBe("insufficient");
    expect(balanceOf(t.db, ws)).toBe(40);
    expect(refundCredits(t.db, clock, { workspaceId: ws, amount: 5, reason: "unknown", idempotencyKey: "run1:r1" })).toBe(true);
    expect(refundCredits(t.db, clock, { workspaceId: ws, amount: 5, reason: "unknown", idempotencyKey: "run1:r1" })).toBe(false);
    expect(balanceOf(t.db, ws)).toBe(45);
  });

  it("rolls a charge back with the transaction it belongs to", async () => {
    const t = createTestApp();
    const s = await signUp(t);
    const clock = new FakeClock();
    expect(() =>
      transaction(t.db, (tx) => {
        chargeCredits(tx, clock, { workspaceId: s.workspaceId, amount: 10, reason: "run", idempotencyKey: "k" });
        throw new Error("the page failed to store");
      }),
    ).toThrow();
    expect(balanceOf(t.db, s.workspaceId)).toBe(100);
    expect(() => grantCredits(t.db, clock, { workspaceId: s.workspaceId, amount: 0, reason: "x" })).toThrow(/positive/);
  });

  it("`listwarden credits grant <email> <amount>` adds credits to that user's workspace", async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), "lw-cli-"));
    const env = { DATA_DIR: dataDir, APP_SECRET: "y".repeat(40) };
    const t = createTestApp({ dbFile: path.join(dataDir, "listwarden.db") });
    const s = await signUp(t);
    t.db.$client.close();

    const ok = captureIo();
    expect(await cli(["credits", "grant", s.email, "500", "Bought", "pack"], ok.io, env)).toBe(0);
    expect(ok.out.join("")).toContain("Balance: 600");
    const db = openDb(path.join(dataDir, "listwarden.db"));
    expect(balanceOf(db, s.workspaceId)).toBe(600);
    db.$client.close();

    const unknown = captureIo();
    expect(await cli(["credits", "grant", "nobody@example.com", "5"], unknown.io, env)).toBe(1);
    expect(unknown.err.join("")).toContain("No user");
    const bad = captureIo();
    expect(await cli(["credits", "grant", s.email, "-3"], bad.io, env)).toBe(2);
    expect(bad.err.join("")).toContain("positive whole number");
  });
});
