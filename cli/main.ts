import { existsSync } from "node:fs";
import path from "node:path";
import { openDb, transaction } from "../db/index.ts";
import { eq } from "drizzle-orm";
import { schema } from "../db/index.ts";
import { ConfigError, loadConfig, parseConfig, processEnv } from "../core/config.ts";
import { systemClock } from "../core/lib/clock.ts";
import { findUserByEmail } from "../core/services/accounts.ts";
import { balanceOf, grantCredits } from "../core/services/credits.ts";

const USAGE = `Usage:
  listwarden credits grant [--create-database] <email> <amount> [reason]
                                                       add credits to a user's workspace
  listwarden admin grant|revoke <email>                give or take the operator's role (the /operator page)

Settings (DATA_DIR…) come from the environment and from .env in this directory, as for npm start.
  listwarden verify [--smtp] [--dns host:port] [FILE]  verify addresses, one per line`;

type Io = { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream; stdin: NodeJS.ReadableStream };
const defaultIo: Io = { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin };

/** `npx listwarden ...`; returns the exit code. */
/** `env` defaults to the process environment, read by the config module. */
export async function main(args: string[], io: Io = defaultIo, given?: Record<string, string | undefined>): Promise<number> {
  const [command, ...rest] = args;
  try {
    // The same settings as the server: the environment over .env in the working directory.
    const env = given ?? processEnv();
    if (command === "credits") return creditsCommand(rest, io, env);
    if (command === "admin") return adminCommand(rest, io, env);
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

/** The database the server with these settings uses, or null (said on stderr) when there is none. */
function databaseOf(io: Io, env: Record<string, string | undefined>, createDatabase: boolean): string | null {
  // A mistyped DATA_DIR must not quietly become a new, empty database with a new secret.
  const dbFile = path.join(path.resolve(parseConfig(env).DATA_DIR), "listwarden.db");
  if (!createDatabase && !existsSync(dbFile)) {
    io.stderr.write(`No database at ${dbFile}. Check DATA_DIR (in the environment or in .env), or pass --create-database to start a new one there.\n`);
    return null;
  }
  return dbFile;
}

function adminCommand(args: string[], io: Io, env: Record<string, string | undefined>): number {
  const [sub, email] = args;
  if ((sub !== "grant" && sub !== "revoke") || !email || !EMAIL.test(email)) {
    io.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const dbFile = databaseOf(io, env, false);
  if (!dbFile) return 1;
  loadConfig(env);
  const db = openDb(dbFile);
  try {
    const user = findUserByEmail(db, email);
    if (!user) {
      io.stderr.write(`No user with e-mail ${email} in ${dbFile}. They must sign up first.\n`);
      return 1;
    }
    db.update(schema.users).set({ role: sub === "grant" ? "admin" : "member" }).where(eq(schema.users.id, user.id)).run();
    io.stdout.write(sub === "grant" ? `${user.email} is now an operator: the Operator page is in their menu.\n` : `${user.email} is no longer an operator.\n`);
    return 0;
  } finally {
    db.$client.close();
  }
}

function creditsCommand(args: string[], io: Io, env: Record<string, string | undefined>): number {
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
  const dbFile = databaseOf(io, env, createDatabase);
  if (!dbFile) return 1;
  loadConfig(env);
  const db = openDb(dbFile);
  try {
    const user = findUserByEmail(db, email);
    if (!user) {
      io.stderr.write(`No user with e-mail ${email} in ${dbFile}. They must sign up first (or DATA_DIR points at another server's data).\n`);
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
    io.stdout.write(`Granted ${fmt(amount)} credits to ${user.email}. Balance: ${granted.balance} (database: ${dbFile})\n`);
    return 0;
  } finally {
    db.$client.close();
  }
}
