import { existsSync } from "node:fs";
import path from "node:path";
import { openDb, transaction } from "../db/index.ts";
import { ConfigError, loadConfig, parseConfig } from "../core/config.ts";
import { systemClock } from "../core/lib/clock.ts";
import { findUserByEmail } from "../core/services/accounts.ts";
import { balanceOf, grantCredits } from "../core/services/credits.ts";

const USAGE = `Usage:
  listwarden credits grant [--create-database] <email> <amount> [reason]
                                                       add credits to a user's workspace
  listwarden verify [--smtp] [--dns host:port] [FILE]  verify addresses, one per line`;

type Io = { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream; stdin: NodeJS.ReadableStream };
const defaultIo: Io = { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin };

/** `npx listwarden ...`; returns the exit code. */
/** `env` defaults to the process environment, read by the config module. */
export async function main(args: string[], io: Io = defaultIo, env?: Record<string, string | undefined>): Promise<number> {
  const [command, ...rest] = args;
  try {
    if (command === "credits") return creditsCommand(rest, io, env);
    if (command === "verify") {
      const { verifyCli } = await import("./verify.ts");
      const { verifierOptionsFromConfig } = await import("../core/verification.ts");
      const { smtp, ...defaults } = verifierOptionsFromConfig(parseConfig(env));
      return await verifyCli(rest, io, { ...defaults, smtp: { ...smtp, enabled: false } });
    }
    io.stderr.write(`${USAGE}\n`);
    return command === undefined || command === "help" || command === "--help" ? 0 : 2;
  } catch (err) {
    if (err instanceof ConfigError) {
      io.stderr.write(`${err.message}\n`);
      return 1;
    }
    throw err;
  }
}

/** The most one `credits grant` adds: larger grants are typos more often than not. */
export const MAX_GRANT = 1_000_000_000;
const AMOUNT = /^[1-9][0-9]{0,9}$/;
const EMAIL = /^[^\s@]+@[^\s@]+$/;
const fmt = (n: number) => n.toLocaleString("en-US");

function creditsCommand(args: string[], io: Io, env: Record<string, string | undefined> | undefined): number {
  const createDatabase = args.includes("--create-database");
  const [sub, email, amountText, ...reasonWords] = args.filter((a) => a !== "--create-database");
  if (sub !== "grant" || !email || !EMAIL.test(email)) {
    io.stderr.write(`${USAGE}\n<email> must be the e-mail address the user signed up with.\n`);
    return 2;
  }
  const amount = AMOUNT.test(amountText ?? "") ? Number(amountText) : NaN;
  if (!(amount >= 1 && amount <= MAX_GRANT)) {
    io.stderr.write(`${USAGE}\n<amount> must be a positive whole number from 1 to ${fmt(MAX_GRANT)}, in digits only (got ${JSON.stringify(amountText ?? "")}).\n`);
    return 2;
  }
  // A mistyped DATA_DIR must not quietly become a new, empty database with a new secret.
  const dbFile = path.join(path.resolve(parseConfig(env).DATA_DIR), "listwarden.db");
  if (!createDatabase && !existsSync(dbFile)) {
    io.stderr.write(`No database at ${dbFile}. Check DATA_DIR, or pass --create-database to start a new one there.\n`);
    return 1;
  }
  const config = loadConfig(env);
  const db = openDb(path.join(config.DATA_DIR, "listwarden.db"));
  try {
    const user = findUserByEmail(db, email);
    if (!user) {
      io.stderr.write(`No user with e-mail ${email}. They must sign up first.\n`);
      return 1;
    }
    const granted = transaction(db, (tx) => {
      const balance = balanceOf(tx, user.workspaceId);
      if (balance + amount > Number.MAX_SAFE_INTEGER) return { ok: false as const, balance };
      grantCredits(tx, systemClock, { workspaceId: user.workspaceId, amount, reason: reasonWords.join(" ") || "Granted by an operator" });
      return { ok: true as const, balance: balance + amount };
    });
    if (!granted.ok) {
      io.stderr.write(
        `Not granted: ${user.email} has ${fmt(granted.balance)} credits, and ${fmt(amount)} more would make more than ${fmt(Number.MAX_SAFE_INTEGER)}, which cannot be counted exactly.\n`,
      );
      return 1;
    }
    io.stdout.write(`Granted ${fmt(amount)} credits to ${user.email}. Balance: ${granted.balance}\n`);
    return 0;
  } finally {
    db.$client.close();
  }
}
