import { and, eq, gt, lt } from "drizzle-orm";
import { schema, transaction, type Db } from "../../db/index.ts";
import { newId } from "../../db/ids.ts";
import type { Deps, Principal } from "../deps.ts";
import { AppError } from "../errors.ts";
import { randomBytes } from "node:crypto";
import { passwordProblem } from "../domain/passwords.ts";
import { hashPassword, randomToken, safeEqual, sha256, verifyPassword } from "../lib/crypto.ts";
import { networkOf } from "../lib/rate-limit.ts";
import { GateFull } from "../lib/work-gate.ts";
import { grantCredits } from "./credits.ts";

const SESSION_TTL_MS = 14 * 24 * 3600 * 1000;
/** Compared against when the e-mail is unknown, so response time does not reveal accounts. */
let dummyHash: Promise<string> | undefined;

export interface SignedIn {
  principal: Principal;
  sessionToken: string;
  expiresAt: Date;
  /** A new device cookie for the browser (see LoginThrottle). */
  deviceToken?: string;
}

export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

/** The answer to a sign-up for an e-mail that has an account: it neither confirms nor denies one (README, "Security"). */
export const SIGNUP_REFUSED = "We could not create an account with this e-mail address. If it is yours, sign in instead";

export interface SignupResult extends SignedIn {
  /** Free credits go to the first new accounts of a network each day; the rest start at 0. */
  creditsGranted: number;
}

/**
 * Creates a workspace and its first user, signed in. Throttled per client network (counted
 * before the e-mail is looked at), passwords checked against common ones, and the free
 * credits given to the first new accounts of a network each day only.
 */
export async function signup(deps: Deps, input: { email: string; password: string; ip?: string }): Promise<SignupResult> {
  const email = normalizeEmail(input.email);
  const ip = input.ip ?? "unknown";
  const problem = passwordProblem(input.password, email);
  if (problem) throw new AppError("invalid_input", problem, "password");
  const network = networkOf(ip);
  const throttle = deps.signupThrottle;
  const wait = throttle.attempts.retryAfter(network);
  if (wait > 0) {
    throw new AppError("rate_limited", `Too many sign-ups from your network; wait ${Math.ceil(wait / 60)} minute(s) and try again`, undefined, {
      "Retry-After": String(wait),
    });
  }
  throttle.attempts.hit(network);
  const passwordHash = await gated(deps, () => hashPassword(input.password));
  const now = deps.clock.now();
  const existing = deps.db.select({ id: schema.users.id }).from(schema.users).where(eq(schema.users.email, email)).get();
  if (existing) {
    deps.logger.info({ ip }, "sign-up for an existing account refused");
    throw new AppError("conflict", SIGNUP_REFUSED, "email");
  }
  const credits =
    deps.config.SIGNUP_CREDITS > 0 && throttle.freeCredits.retryAfter(network) === 0 && throttle.freeCreditsSite.retryAfter("site") === 0 ? deps.config.SIGNUP_CREDITS : 0;
  if (credits > 0) {
    throttle.freeCredits.hit(network);
    throttle.freeCreditsSite.hit("site");
  }
  const ids = transaction(deps.db, (tx) => {
    const workspaceId = newId("ws", now);
    const userId = newId("usr", now);
    tx.insert(schema.workspaces).values({ id: workspaceId, name: email, createdAt: new Date(now) }).run();
    tx.insert(schema.users).values({ id: userId, workspaceId, email, passwordHash, createdAt: new Date(now) }).run();
    if (credits > 0) {
      grantCredits(tx, deps.clock, { workspaceId, amount: credits, reason: "Sign-up credits", idempotencyKey: `signup:${workspaceId}` });
    }
    return { workspaceId, userId };
  });
  deps.logger.info({ userId: ids.userId, workspaceId: ids.workspaceId, creditsGranted: credits }, "account created");
  return { ...startSession(deps, { ...ids, email }), deviceToken: issueDeviceToken(deps, ids.userId), creditsGranted: credits };
}

/**
 * Signs in, within the limits of LoginThrottle: the attempt is counted before the password
 * is checked and given back when it was right; past a limit, a rate_limited error with
 * Retry-After. `deviceToken` is the browser's device cookie, proof it signed in here before.
 */
export async function login(deps: Deps, input: { email: string; password: string; ip: string; deviceToken?: string | null }): Promise<SignedIn> {
  const email = normalizeEmail(input.email);
  const user = findUserByEmail(deps.db, email);
  const deviceId = user && input.deviceToken ? deviceIdOf(deps, input.deviceToken, user.id) : null;
  const admission = deps.loginThrottle.admit({ email, ip: input.ip, deviceId });
  if (!admission.ok) {
    const message =
      admission.reason === "in_progress"
        ? "Another sign-in to this account is still being checked; wait a moment and try again"
        : `Too many failed sign-in attempts; for your safety, wait ${Math.ceil(admission.retryAfter / 60)} minute(s) and try again`;
    throw new AppError("rate_limited", message, undefined, { "Retry-After": String(admission.retryAfter) });
  }
  const { ticket } = admission;
  try {
    let ok: boolean;
    try {
      ok = await gated(deps, async () => verifyPassword(input.password, user?.passwordHash ?? (await (dummyHash ??= hashPassword(randomToken())))));
    } catch (err) {
      ticket.notChecked();
      throw err;
    }
    if (!user || !ok) {
      deps.logger.warn({ ip: input.ip }, "failed sign-in");
      throw new AppError("unauthenticated", "E-mail or password is wrong");
    }
    ticket.succeeded();
    return { ...startSession(deps, { userId: user.id, workspaceId: user.workspaceId, email: user.email }), deviceToken: issueDeviceToken(deps, user.id) };
  } finally {
    ticket.done();
  }
}

/** Password hashing through the process's small gate; a full gate answers "busy" at once. */
async function gated<T>(deps: Deps, work: () => Promise<T>): Promise<T> {
  try {
    return await deps.passwordWork.run(work);
  } catch (err) {
    if (!(err instanceof GateFull)) throw err;
    throw new AppError("rate_limited", "Signing in is busy right now; try again in a few seconds", undefined, { "Retry-After": "2" });
  }
}

/**
 * The device cookie: a random id and a MAC binding it to the user, so it proves "this browser
 * signed in to this account before" and nothing else. It outlives sessions on purpose.
 */
function issueDeviceToken(deps: Deps, userId: string): string {
  const id = randomBytes(12).toString("base64url");
  return `${id}.${deps.keyring.hmac("device", `${userId}.${id}`)}`;
}

function deviceIdOf(deps: Deps, token: string, userId: string): string | null {
  const [id, mac, extra] = token.split(".");
  if (!id || !mac || extra !== undefined || id.length > 32) return null;
  return safeEqual(mac, deps.keyring.hmac("device", `${userId}.${id}`)) ? id : null;
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
