import { and, eq, gt, lt } from "drizzle-orm";
import { schema, transaction, type Db } from "../../db/index.ts";
import { newId } from "../../db/ids.ts";
import type { Deps, Principal } from "../deps.ts";
import { AppError } from "../errors.ts";
import { hashPassword, randomToken, sha256, verifyPassword } from "../lib/crypto.ts";
import { grantCredits } from "./credits.ts";

const SESSION_TTL_MS = 14 * 24 * 3600 * 1000;
/** Compared against when the e-mail is unknown, so response time does not reveal accounts. */
let dummyHash: Promise<string> | undefined;

export interface SignedIn {
  principal: Principal;
  sessionToken: string;
  expiresAt: Date;
}

export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

export async function signup(deps: Deps, input: { email: string; password: string }): Promise<SignedIn> {
  const email = normalizeEmail(input.email);
  const passwordHash = await hashPassword(input.password);
  const now = deps.clock.now();
  const existing = deps.db.select({ id: schema.users.id }).from(schema.users).where(eq(schema.users.email, email)).get();
  if (existing) throw new AppError("conflict", "An account with this e-mail already exists; sign in instead", "email");
  const ids = transaction(deps.db, (tx) => {
    const workspaceId = newId("ws", now);
    const userId = newId("usr", now);
    tx.insert(schema.workspaces).values({ id: workspaceId, name: email, createdAt: new Date(now) }).run();
    tx.insert(schema.users).values({ id: userId, workspaceId, email, passwordHash, createdAt: new Date(now) }).run();
    if (deps.config.SIGNUP_CREDITS > 0) {
      grantCredits(tx, deps.clock, {
        workspaceId,
        amount: deps.config.SIGNUP_CREDITS,
        reason: "Sign-up credits",
        idempotencyKey: `signup:${workspaceId}`,
      });
    }
    return { workspaceId, userId };
  });
  deps.logger.info({ userId: ids.userId, workspaceId: ids.workspaceId }, "account created");
  return startSession(deps, { ...ids, email });
}

/**
 * Signs in unless this e-mail or client address failed too often lately: then a
 * rate_limited error with Retry-After.
 */
export async function login(deps: Deps, input: { email: string; password: string; ip: string }): Promise<SignedIn> {
  const throttle = deps.loginThrottle;
  const emailKey = normalizeEmail(input.email);
  const wait = Math.max(throttle.byEmail.retryAfter(emailKey), throttle.byIp.retryAfter(input.ip));
  if (wait > 0) {
    throw new AppError("rate_limited", `Too many failed sign-in attempts; for your safety, wait ${Math.ceil(wait / 60)} minute(s) and try again`, undefined, {
      "Retry-After": String(wait),
    });
  }
  try {
    const signedIn = await checkPassword(deps, input);
    throttle.byEmail.reset(emailKey);
    return signedIn;
  } catch (err) {
    if (err instanceof AppError && err.code === "unauthenticated") {
      throttle.byEmail.hit(emailKey);
      throttle.byIp.hit(input.ip);
      deps.logger.warn({ ip: input.ip }, "failed sign-in");
    }
    throw err;
  }
}

async function checkPassword(deps: Deps, input: { email: string; password: string }): Promise<SignedIn> {
  const email = normalizeEmail(input.email);
  const user = deps.db.select().from(schema.users).where(eq(schema.users.email, email)).get();
  const ok = await verifyPassword(input.password, user?.passwordHash ?? (await (dummyHash ??= hashPassword(randomToken()))));
  if (!user || !ok) throw new AppError("unauthenticated", "E-mail or password is wrong");
  return startSession(deps, { userId: user.id, workspaceId: user.workspaceId, email: user.email });
}

function startSession(deps: Deps, user: { userId: string; workspaceId: string; email: string }): SignedIn {
  const now = deps.clock.now();
  const sessionToken = randomToken();
  const tokenHash = sha256(sessionToken);
  const expiresAt = new Date(now + SESSION_TTL_MS);
  deps.db.delete(schema.sessions).where(lt(schema.sessions.expiresAt, new Date(now))).run();
  deps.db.insert(schema.sessions).values({ tokenHash, userId: user.userId, expiresAt, createdAt: new Date(now) }).run();
  return { principal: { ...user, via: "session", sessionHash: tokenHash }, sessionToken, expiresAt };
}

export function logout(deps: Deps, sessionHash: string): void {
  deps.db.delete(schema.sessions).where(eq(schema.sessions.tokenHash, sessionHash)).run();
}

export function principalFromSession(deps: Deps, sessionToken: string): Principal | null {
  const tokenHash = sha256(sessionToken);
  const row = deps.db
    .select({ userId: schema.users.id, workspaceId: schema.users.workspaceId, email: schema.users.email })
    .from(schema.sessions)
    .innerJoin(schema.users, eq(schema.users.id, schema.sessions.userId))
    .where(and(eq(schema.sessions.tokenHash, tokenHash), gt(schema.sessions.expiresAt, new Date(deps.clock.now()))))
    .get();
  return row ? { ...row, via: "session", sessionHash: tokenHash } : null;
}

export function findUserByEmail(db: Db, email: string) {
  return db.select().from(schema.users).where(eq(schema.users.email, normalizeEmail(email))).get();
}
