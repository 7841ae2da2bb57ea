import { Hono } from "hono";
import { getConnInfo } from "@hono/node-server/conninfo";
import { z } from "zod";
import type { AppEnv } from "../env.ts";
import { AppError } from "../errors.ts";
import { WindowLimiter } from "../lib/rate-limit.ts";
import { clearSessionCookie, csrfTokenFor, principal, requireAuth, setSessionCookie } from "../middleware/auth.ts";
import { validate } from "../middleware/validate.ts";
import { login, logout, normalizeEmail, signup } from "../services/accounts.ts";
import type { Deps } from "../deps.ts";

const credentials = z.object({
  email: z.string({ error: "is required" }).trim().max(254, "is too long").pipe(z.email("must be an e-mail address like you@example.com")),
  password: z.string().min(10, "must be at least 10 characters").max(200, "must be at most 200 characters"),
});
const loginBody = credentials.extend({ password: z.string().min(1, "is required").max(200) });

const FAILED_LOGINS_PER_EMAIL = 10;
const FAILED_LOGINS_PER_IP = 50;
const LOGIN_WINDOW_MS = 15 * 60 * 1000;

function clientIp(c: Parameters<typeof getConnInfo>[0]): string {
  try {
    return getConnInfo(c).remote.address ?? "unknown";
  } catch {
    return "unknown";
  }
}

export function authRoutes(deps: Deps) {
  const byEmail = new WindowLimiter(deps.clock, FAILED_LOGINS_PER_EMAIL, LOGIN_WINDOW_MS);
  const byIp = new WindowLimiter(deps.clock, FAILED_LOGINS_PER_IP, LOGIN_WINDOW_MS);

  return new Hono<AppEnv>()
    .post("/signup", validate("json", credentials), async (c) => {
      const signedIn = await signup(c.var.deps, c.req.valid("json"));
      setSessionCookie(c, signedIn.sessionToken, signedIn.expiresAt);
      const { userId, workspaceId, email } = signedIn.principal;
      return c.json({ user: { id: userId, workspaceId, email }, csrfToken: csrfTokenFor(c.var.deps, signedIn.principal.sessionHash!) }, 201);
    })
    .post("/login", validate("json", loginBody), async (c) => {
      const input = c.req.valid("json");
      const emailKey = normalizeEmail(input.email);
      const ip = clientIp(c);
      const wait = Math.max(byEmail.retryAfter(emailKey), byIp.retryAfter(ip));
      if (wait > 0) {
        throw new AppError("rate_limited", `Too many failed sign-in attempts; try again in ${Math.ceil(wait / 60)} minute(s)`, undefined, {
          "Retry-After": String(wait),
        });
      }
      try {
        const signedIn = await login(c.var.deps, input);
        byEmail.reset(emailKey);
        setSessionCookie(c, signedIn.sessionToken, signedIn.expiresAt);
        const { userId, workspaceId, email } = signedIn.principal;
        return c.json({ user: { id: userId, workspaceId, email }, csrfToken: csrfTokenFor(c.var.deps, signedIn.principal.sessionHash!) });
      } catch (err) {
        if (err instanceof AppError && err.code === "unauthenticated") {
          byEmail.hit(emailKey);
          byIp.hit(ip);
          c.var.log.warn({ ip }, "failed sign-in");
        }
        throw err;
      }
    })
    .post("/logout", requireAuth, (c) => {
      const p = principal(c);
      if (p.sessionHash) logout(c.var.deps, p.sessionHash);
      clearSessionCookie(c);
      return c.body(null, 204);
    })
    .get("/me", requireAuth, (c) => {
      const p = principal(c);
      return c.json({
        user: { id: p.userId, workspaceId: p.workspaceId, email: p.email },
        csrfToken: p.sessionHash ? csrfTokenFor(c.var.deps, p.sessionHash) : null,
      });
    });
}
