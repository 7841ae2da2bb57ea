import type { Context, MiddlewareHandler } from "hono";
import { getConnInfo } from "@hono/node-server/conninfo";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import type { Deps, Principal } from "../../core/deps.ts";
import type { AppEnv } from "../env.ts";
import { AppError } from "../../core/errors.ts";
import { safeEqual } from "../../core/lib/crypto.ts";
import { principalFromSession } from "../../core/services/accounts.ts";
import { principalFromApiToken } from "../../core/services/tokens.ts";
import { isFileUpload, readForm } from "./body.ts";

export const SESSION_COOKIE = "lw_session";
/** Proof that this browser signed in to an account before (LoginThrottle); no authority of its own. */
export const DEVICE_COOKIE = "lw_device";
export const CSRF_HEADER = "x-csrf-token";
const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/** The CSRF token of a session: derived from it, so nothing more is stored. */
export function csrfTokenFor(deps: Deps, sessionHash: string): string {
  return deps.keyring.hmac("csrf", sessionHash);
}

function isHttps(c: Context<AppEnv>): boolean {
  const publicUrl = c.var.deps.config.PUBLIC_URL;
  return publicUrl ? publicUrl.startsWith("https:") : new URL(c.req.url).protocol === "https:";
}

/** The site's own origin: PUBLIC_URL's when set, else the request's. */
export function siteOrigin(c: Context<AppEnv>): string {
  const publicUrl = c.var.deps.config.PUBLIC_URL;
  return new URL(publicUrl ?? c.req.url).origin;
}

/**
 * The client's address. By default the peer's: no forwarded header is trusted. Behind
 * TRUST_PROXY reverse proxies (e.g. 1 for a TLS-terminating nginx), the address the nearest
 * trusted proxy saw: X-Forwarded-For's entry that many places from the right, which a client
 * cannot forge (it can only add entries on the left).
 */
export function clientIp(c: Context<AppEnv>): string {
  const hops = c.var.deps.config.TRUST_PROXY;
  // Stryker disable next-line ConditionalExpression,EqualityOperator: with 0 hops the entry read would be the one past the last, never there
  if (hops > 0) {
    const forwarded = (c.req.header("x-forwarded-for") ?? "").split(",").map((s) => s.trim()).filter(Boolean);
    const entry = forwarded[forwarded.length - hops];
    if (entry) return entry;
  }
  try {
    return getConnInfo(c).remote.address ?? "unknown";
  } catch {
    return "unknown";
  }
}

export function setSessionCookie(c: Context<AppEnv>, token: string, expiresAt: Date): void {
  setCookie(c, SESSION_COOKIE, token, {
    httpOnly: true,
    sameSite: "Lax",
    secure: isHttps(c),
    path: "/",
    expires: expiresAt,
  });
}

/** Sets the session cookie and, when the sign-in issued one, the device cookie (kept a year). */
export function setSignInCookies(c: Context<AppEnv>, signedIn: { sessionToken: string; expiresAt: Date; deviceToken?: string }): void {
  setSessionCookie(c, signedIn.sessionToken, signedIn.expiresAt);
  if (signedIn.deviceToken) {
    setCookie(c, DEVICE_COOKIE, signedIn.deviceToken, { httpOnly: true, sameSite: "Lax", secure: isHttps(c), path: "/", maxAge: 365 * 24 * 3600 });
  }
}

export function deviceCookie(c: Context<AppEnv>): string | null {
  return getCookie(c, DEVICE_COOKIE) ?? null;
}

export function clearSessionCookie(c: Context<AppEnv>): void {
  deleteCookie(c, SESSION_COOKIE, { path: "/", secure: isHttps(c) });
}

/** Resolves the caller from `Authorization: Bearer` or the session cookie; never rejects. */
export const identify: MiddlewareHandler<AppEnv> = async (c, next) => {
  const deps = c.var.deps;
  const auth = c.req.header("authorization");
  let principal: Principal | null = null;
  if (auth) {
    const match = /^Bearer\s+(\S+)$/i.exec(auth);
    principal = match?.[1] ? principalFromApiToken(deps, match[1]) : null;
    if (!principal) throw new AppError("unauthenticated", "That API token is not valid; create one at /api/tokens");
  } else {
    const cookie = getCookie(c, SESSION_COOKIE);
    if (cookie) principal = principalFromSession(deps, cookie);
  }
  c.set("principal", principal);
  await next();
};

/**
 * Rejects cross-site state-changing requests: a foreign Origin or Sec-Fetch-Site always,
 * and a cookie-authenticated request without the session's CSRF token (header or form field).
 * Bearer-token requests carry no ambient credentials, so they need no token.
 */
export const csrfProtection: MiddlewareHandler<AppEnv> = async (c, next) => {
  if (SAFE_METHODS.has(c.req.method)) return next();
  const origin = c.req.header("origin");
  const site = c.req.header("sec-fetch-site");
  const expectedOrigin = siteOrigin(c);
  if ((origin && origin !== expectedOrigin) || site === "cross-site") {
    throw new AppError("csrf_failed", "Cross-site request refused");
  }
  const principal = c.var.principal;
  if (principal?.via === "session" && principal.sessionHash) {
    let sent = c.req.header(CSRF_HEADER);
    if (!sent && isFileUpload(c)) {
      // Streamed, never parsed whole: its reader checks the form's first field (server/middleware/upload.ts).
      c.set("uploadCsrf", csrfTokenFor(c.var.deps, principal.sessionHash));
      return next();
    }
    // A form's field: readForm reads only form bodies (URL-encoded or multipart, by Hono's own
    // reading of the Content-Type) and gives no field for any other.
    if (!sent) {
      const field = (await readForm(c))["_csrf"];
      sent = typeof field === "string" ? field : undefined;
    }
    if (!sent || !safeEqual(sent, csrfTokenFor(c.var.deps, principal.sessionHash))) {
      throw new AppError("csrf_failed", "Missing or wrong CSRF token; reload the page and try again");
    }
  }
  await next();
};

export const requireAuth: MiddlewareHandler<AppEnv> = async (c, next) => {
  if (!c.var.principal) throw new AppError("unauthenticated", "Sign in first (or send Authorization: Bearer <API token>)");
  await next();
};

/** The signed-in principal of a route behind requireAuth. */
export function principal(c: Context<AppEnv>): Principal {
  const p = c.var.principal;
  if (!p) throw new AppError("unauthenticated", "Sign in first");
  return p;
}
