import { Hono, type Context } from "hono";
import { loginSchema, signupSchema } from "../../core/domain/account.ts";
import type { AppEnv } from "../env.ts";
import { clientIp, clearSessionCookie, csrfTokenFor, deviceCookie, principal, requireAuth, setSignInCookies } from "../middleware/auth.ts";
import { validate } from "../middleware/validate.ts";
import { login, logout, signup, type SignedIn } from "../../core/services/accounts.ts";

const credentials = signupSchema.strict();
const loginBody = loginSchema.strict();

/** Sets the session cookie and answers with the user and the session's CSRF token. */
function startSession(c: Context<AppEnv>, signedIn: SignedIn) {
  setSignInCookies(c, signedIn);
  const { userId, workspaceId, email, sessionHash } = signedIn.principal;
  return { user: { id: userId, workspaceId, email }, csrfToken: csrfTokenFor(c.var.deps, sessionHash!) };
}

export const authRoutes = new Hono<AppEnv>()
  .post("/signup", validate("json", credentials), async (c) => {
    const created = await signup(c.var.deps, { ...c.req.valid("json"), ip: clientIp(c) });
    return c.json({ ...startSession(c, created), creditsGranted: created.creditsGranted }, 201);
  })
  .post("/login", validate("json", loginBody), async (c) =>
    c.json(startSession(c, await login(c.var.deps, { ...c.req.valid("json"), ip: clientIp(c), deviceToken: deviceCookie(c) }))),
  )
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
