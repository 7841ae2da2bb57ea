import type { Context } from "hono";
import { login, logout, signup, type SignedIn } from "../../core/services/accounts.ts";
import type { AppEnv } from "../env.ts";
import { clientIp, clearSessionCookie, csrfTokenFor, deviceCookie, principal, setSignInCookies } from "../middleware/auth.ts";
import { createRouter, type AppRouteHandler } from "../openapi.ts";
import * as routes from "./auth.routes.ts";
import { requestPasswordReset, resetPassword, RESET_SENT } from "../../core/services/password-reset.ts";

/** Sets the session cookie and answers with the user and the session's CSRF token. */
function startSession(c: Context<AppEnv>, signedIn: SignedIn) {
  setSignInCookies(c, signedIn);
  const { userId, workspaceId, email, sessionHash } = signedIn.principal;
  return { user: { id: userId, workspaceId, email }, csrfToken: csrfTokenFor(c.var.deps, sessionHash!) };
}

const signupHandler: AppRouteHandler<typeof routes.signup> = async (c) => {
  const created = await signup(c.var.deps, { ...c.req.valid("json"), ip: clientIp(c) });
  return c.json({ ...startSession(c, created), creditsGranted: created.creditsGranted }, 201);
};

const loginHandler: AppRouteHandler<typeof routes.login> = async (c) =>
  c.json(startSession(c, await login(c.var.deps, { ...c.req.valid("json"), ip: clientIp(c), deviceToken: deviceCookie(c) })), 200);

const logoutHandler: AppRouteHandler<typeof routes.logout> = (c) => {
  const p = principal(c);
  if (p.sessionHash) logout(c.var.deps, p.sessionHash);
  clearSessionCookie(c);
  return c.body(null, 204);
};

const meHandler: AppRouteHandler<typeof routes.me> = (c) => {
  const p = principal(c);
  return c.json(
    {
      user: { id: p.userId, workspaceId: p.workspaceId, email: p.email },
      csrfToken: p.sessionHash ? csrfTokenFor(c.var.deps, p.sessionHash) : null,
    },
    200,
  );
};

const requestResetHandler: AppRouteHandler<typeof routes.requestReset> = (c) => {
  requestPasswordReset(c.var.deps, { email: c.req.valid("json").email, ip: clientIp(c) });
  return c.json({ message: RESET_SENT }, 202);
};

const resetPasswordHandler: AppRouteHandler<typeof routes.resetPassword> = async (c) => {
  await resetPassword(c.var.deps, c.req.valid("json"));
  return c.body(null, 204);
};

export const authRoutes = createRouter()
  .openapi(routes.requestReset, requestResetHandler)
  .openapi(routes.resetPassword, resetPasswordHandler)
  .openapi(routes.signup, signupHandler)
  .openapi(routes.login, loginHandler)
  .openapi(routes.logout, logoutHandler)
  .openapi(routes.me, meHandler);
