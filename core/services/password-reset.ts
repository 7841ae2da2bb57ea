import { and, eq, gt, isNull } from "drizzle-orm";
import { schema, transaction } from "../../db/index.ts";
import type { Deps } from "../deps.ts";
import { passwordProblem } from "../domain/passwords.ts";
import { AppError } from "../errors.ts";
import { hashPassword, randomToken, sha256 } from "../lib/crypto.ts";
import { networkOf } from "../lib/rate-limit.ts";
import { findUserByEmail, normalizeEmail } from "./accounts.ts";

/** How long a reset link works. */
export const RESET_TTL_MS = 60 * 60_000;


/** What the page says after a reset was asked, whether the address has an account or not. */
export const RESET_SENT = "If an account uses this e-mail address, we have sent it a link to choose a new password. The link works once, for an hour.";

/**
 * Sends a reset link to the address if it has an account. The answer and its timing are the
 * same either way (the mail goes out in the background), so it reveals no account. The token
 * is 256 random bits; only its SHA-256 is stored; it works once, for RESET_TTL_MS.
 */
export function requestPasswordReset(deps: Deps, { email, ip }: { email: string; ip: string }): void {
  const address = normalizeEmail(email);
  const network = networkOf(ip);
  const wait = deps.resetThrottle.perNetwork.retryAfter(network);
  if (wait > 0) {
    throw new AppError("rate_limited", `Too many reset requests from your network; wait ${Math.ceil(wait / 60)} minute(s) and try again`, undefined, { "Retry-After": String(wait) });
  }
  deps.resetThrottle.perNetwork.hit(network);
  if (deps.resetThrottle.perEmail.retryAfter(address) > 0) return;
  deps.resetThrottle.perEmail.hit(address);
  const user = findUserByEmail(deps.db, address);
  if (!user) {
    deps.logger.info({ ip }, "password reset asked for an unknown address");
    return;
  }
  const token = randomToken();
  const now = deps.clock.now();
  deps.db
    .insert(schema.passwordResets)
    .values({ tokenHash: sha256(token), userId: user.id, expiresAt: new Date(now + RESET_TTL_MS), createdAt: new Date(now) })
    .run();
  const link = `${deps.publicUrl}/reset-password?token=${encodeURIComponent(token)}`;
  deps.mailer.sendLater(
    {
      to: user.email,
      subject: "Choose a new Listwarden password",
      text: `Someone (we hope you) asked to reset the password of your Listwarden account.\n\nChoose a new password here; the link works once, for an hour:\n${link}\n\nIf it was not you, ignore this e-mail: your password stays as it is.`,
    },
    "password reset",
  );
  deps.logger.info({ userId: user.id }, "password reset link sent");
}

const INVALID = "This reset link is not valid: it was used already, has expired or was mistyped. Ask for a new one.";

/** Whether a reset link still works (the page shows the form only then). */
export function resetTokenUsable(deps: Deps, token: string): boolean {
  const row = deps.db
    .select({ userId: schema.passwordResets.userId })
    .from(schema.passwordResets)
    .where(and(eq(schema.passwordResets.tokenHash, sha256(token)), isNull(schema.passwordResets.usedAt), gt(schema.passwordResets.expiresAt, new Date(deps.clock.now()))))
    .get();
  return Boolean(row);
}

/**
 * Sets a new password with a reset link's token: once (the token is spent in the same
 * transaction), before it expires. Every session of the account is signed out, and the
 * account's other reset links stop working.
 */
export async function resetPassword(deps: Deps, { token, password }: { token: string; password: string }): Promise<{ email: string }> {
  const hash = sha256(token);
  const now = new Date(deps.clock.now());
  const row = deps.db
    .select({ userId: schema.passwordResets.userId, email: schema.users.email })
    .from(schema.passwordResets)
    .innerJoin(schema.users, eq(schema.users.id, schema.passwordResets.userId))
    .where(and(eq(schema.passwordResets.tokenHash, hash), isNull(schema.passwordResets.usedAt), gt(schema.passwordResets.expiresAt, now)))
    .get();
  if (!row) throw new AppError("invalid_input", INVALID, "token");
  const problem = passwordProblem(password, row.email);
  if (problem) throw new AppError("invalid_input", problem, "password");
  const passwordHash = await deps.passwordWork.run(() => hashPassword(password));
  transaction(deps.db, (tx) => {
    // Spent here, in the transaction that changes the password: two uses at once cannot both land.
    const spent = tx
      .update(schema.passwordResets)
      .set({ usedAt: now })
      .where(and(eq(schema.passwordResets.tokenHash, hash), isNull(schema.passwordResets.usedAt)))
      .run().changes;
    if (spent !== 1) throw new AppError("invalid_input", INVALID, "token");
    tx.update(schema.passwordResets).set({ usedAt: now }).where(and(eq(schema.passwordResets.userId, row.userId), isNull(schema.passwordResets.usedAt))).run();
    tx.update(schema.users).set({ passwordHash }).where(eq(schema.users.id, row.userId)).run();
    tx.delete(schema.sessions).where(eq(schema.sessions.userId, row.userId)).run();
  });
  deps.logger.info({ userId: row.userId }, "password reset");
  return { email: row.email };
}
