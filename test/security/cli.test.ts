// Issue 11, point 9: `listwarden credits grant` takes plain amounts, keeps balances exact, and never invents a database.
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Readable, Writable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { main } from "../../cli/main.ts";
import { openDb } from "../../db/index.ts";
import { balanceOf } from "../../core/services/credits.ts";
import { findUserByEmail } from "../../core/services/accounts.ts";
import { createTestApp, signUp } from "../support/app.ts";

class Collector extends Writable {
  text = "";
  override _write(chunk: Buffer, _enc: string, cb: () => void) {
    this.text += chunk.toString();
    cb();
  }
}
const io = () => ({ stdin: Readable.from([""]), stdout: new Collector(), stderr: new Collector() });

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A data directory with a database holding one user; returns it and the user's e-mail. */
async function dataDirWithUser(): Promise<{ dir: string; email: string }> {
  const dir = mkdtempSync(path.join(tmpdir(), "lw-cli-"));
  dirs.push(dir);
  const t = createTestApp({ dbFile: path.join(dir, "listwarden.db"), config: { SIGNUP_CREDITS: 100 } });
  const { email } = await signUp(t);
  t.db.$client.close();
  return { dir, email };
}

function balance(dir: string, email: string): number {
  const db = openDb(path.join(dir, "listwarden.db"));
  try {
    return balanceOf(db, findUserByEmail(db, email)!.workspaceId);
  } finally {
    db.$client.close();
  }
}

async function grant(dir: string, ...args: string[]) {
  const streams = io();
  const code = await main(["credits", "grant", ...args], streams, { DATA_DIR: dir, LOG_LEVEL: "silent" });
  return { code, out: streams.stdout.text, err: streams.stderr.text };
}

describe("listwarden credits grant", () => {
  it("grants a plain whole number and prints the new balance", async () => {
    const { dir, email } = await dataDirWithUser();
    const r = await grant(dir, email, "250", "paid", "invoice", "42");
    expect(r).toMatchObject({ code: 0, err: "" });
    expect(r.out).toContain("Balance: 350");
    expect(balance(dir, email)).toBe(350);
  });

  it.each(["1e3", "0x10", "0b11", "0o7", "1.5", "1.0", "-5", "0", "+10", " 10", "10 ", "1_000", "1,000", "10abc", "Infinity", "NaN", "", "007", "1000000001"])(
    "refuses the amount %j, says what it takes, and grants nothing",
    async (amount) => {
      const { dir, email } = await dataDirWithUser();
      const r = await grant(dir, email, amount);
      expect(r.code).toBe(2);
      expect(r.err).toMatch(/whole number from 1 to 1,000,000,000, in digits only/);
      expect(balance(dir, email)).toBe(100);
    },
  );

  it("grants the documented ceiling of 1,000,000,000 at once", async () => {
    const { dir, email } = await dataDirWithUser();
    expect((await grant(dir, email, "1000000000")).code).toBe(0);
    expect(balance(dir, email)).toBe(1_000_000_100);
  });

  it("refuses a grant that would take the balance past Number.MAX_SAFE_INTEGER, leaving it exact", async () => {
    const { dir, email } = await dataDirWithUser();
    // 9,007,199 grants of the ceiling would be slow: put the balance just under the limit directly.
    const db = openDb(path.join(dir, "listwarden.db"));
    const { grantCredits } = await import("../../core/services/credits.ts");
    const { systemClock } = await import("../../core/lib/clock.ts");
    grantCredits(db, systemClock, { workspaceId: findUserByEmail(db, email)!.workspaceId, amount: Number.MAX_SAFE_INTEGER - 100 - 10, reason: "test" });
    db.$client.close();
    expect((await grant(dir, email, "10")).code).toBe(0);
    expect(balance(dir, email)).toBe(Number.MAX_SAFE_INTEGER);
    const r = await grant(dir, email, "1");
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/more than 9,007,199,254,740,991/);
    expect(balance(dir, email)).toBe(Number.MAX_SAFE_INTEGER);
  });

  it("refuses to run on a DATA_DIR without a database, and creates nothing there", async () => {
    const parent = mkdtempSync(path.join(tmpdir(), "lw-cli-"));
    dirs.push(parent);
    const typo = path.join(parent, "dta");
    const r = await grant(typo, "someone@example.com", "10");
    expect(r.code).toBe(1);
    expect(r.err).toContain(path.join(typo, "listwarden.db"));
    expect(r.err).toMatch(/--create-database/);
    expect(existsSync(typo)).toBe(false);
    expect(readdirSync(parent)).toEqual([]);
  });

  it("creates the database when told to with --create-database", async () => {
    const parent = mkdtempSync(path.join(tmpdir(), "lw-cli-"));
    dirs.push(parent);
    const fresh = path.join(parent, "data");
    const r = await grant(fresh, "--create-database", "someone@example.com", "10");
    expect(existsSync(path.join(fresh, "listwarden.db"))).toBe(true);
    // A new database has no users yet: the grant itself is refused, with the reason.
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/No user with e-mail someone@example.com/);
  });

  it("refuses an e-mail argument that is not an e-mail address", async () => {
    const { dir } = await dataDirWithUser();
    const r = await grant(dir, "10", "someone@example.com");
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/<email>/);
  });
});
