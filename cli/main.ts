import path from "node:path";
import { openDb } from "../db/index.ts";
import { ConfigError, loadConfig, parseConfig } from "../core/config.ts";
import { systemClock } from "../core/lib/clock.ts";
import { findUserByEmail } from "../core/services/accounts.ts";
import { balanceOf, grantCredits } from "../core/services/credits.ts";

const USAGE = `Usage:
  listwarden credits grant <email> <amount> [reason]   add credits to a user's workspace
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

function creditsCommand(args: string[], io: Io, env: Record<string, string | undefined> | undefined): number {
  const [sub, email, amountText, ...reasonWords] = args;
  const amount = Number(amountText);
  if (sub !== "grant" || !email || !Number.isSafeInteger(amount) || amount <= 0) {
    io.stderr.write(`${USAGE}\n<amount> must be a positive whole number.\n`);
    return 2;
  }
  const config = loadConfig(env);
  const db = openDb(path.join(config.DATA_DIR, "listwarden.db"));
  try {
    const user = findUserByEmail(db, email);
    if (!user) {
      io.stderr.write(`No user with e-mail ${email}. They must sign up first.\n`);
      return 1;
    }
    grantCredits(db, systemClock, { workspaceId: user.workspaceId, amount, reason: reasonWords.join(" ") || "Granted by an operator" });
    io.stdout.write(`Granted ${amount} credits to ${user.email}. Balance: ${balanceOf(db, user.workspaceId)}\n`);
    return 0;
  } finally {
    db.$client.close();
  }
}
