import type { Hono } from "hono";
import type { Deps } from "../../core/deps.ts";
import type { AppEnv } from "../../server/env.ts";
import { AppError } from "../../core/errors.ts";
import { clearSessionCookie, clientIp, deviceCookie, setSignInCookies, siteOrigin } from "../../server/middleware/auth.ts";
import { login, logout, signup } from "../../core/services/accounts.ts";
import { errorsFromAppError, loginForm, parseForm, resetPasswordForm, resetRequestForm, safeNext, signupForm, type FieldErrors } from "../forms.ts";
import { ForgotPasswordPage, LoginPage, ResetPasswordPage, SignupPage } from "../pages/auth.tsx";
import { requestPasswordReset, resetPassword, resetTokenUsable } from "../../core/services/password-reset.ts";
import { formBody, render, str } from "../render.tsx";

/** Creating an account, signing in and out. */
export function authPages(web: Hono<AppEnv>, deps: Deps): void {
  web.get("/signup", (c) => {
    if (c.var.principal) return c.redirect("/", 303);
    return render(c, { title: "Create account" }, <SignupPage values={{}} errors={{}} signupCredits={deps.config.SIGNUP_CREDITS} />);
  });

  web.post("/signup", async (c) => {
    const values = await formBody(c);
    const parsed = parseForm(signupForm, values);
    const again = (errors: FieldErrors, status: number) =>
      render(c, { title: "Create account" }, <SignupPage values={{ email: str(values.email) }} errors={errors} signupCredits={deps.config.SIGNUP_CREDITS} />, status);
    if (!parsed.ok) return again(parsed.errors, 400);
    try {
      const created = await signup(deps, { ...parsed.data, ip: clientIp(c) });
      setSignInCookies(c, created);
      return c.redirect(created.creditsGranted > 0 || deps.config.SIGNUP_CREDITS === 0 ? "/?notice=welcome" : "/?notice=welcome-no-credits", 303);
    } catch (err) {
      if (err instanceof AppError) for (const [k, v] of Object.entries(err.headers ?? {})) c.header(k, v);
      return again(errorsFromAppError(err), err instanceof AppError ? err.status : 400);
    }
  });

  web.get("/login", (c) => {
    if (c.var.principal) return c.redirect(safeNext(c.req.query("next"), siteOrigin(c)), 303);
    return render(c, { title: "Sign in" }, <LoginPage values={{}} errors={{}} next={safeNext(c.req.query("next"), siteOrigin(c))} />);
  });

  web.post("/login", async (c) => {
    const values = await formBody(c);
    const next = safeNext(c.req.query("next"), siteOrigin(c));
    const again = (errors: FieldErrors, status: number) =>
      render(c, { title: "Sign in" }, <LoginPage values={{ email: str(values.email) }} errors={errors} next={next} />, status);
    const parsed = parseForm(loginForm, values);
    if (!parsed.ok) return again(parsed.errors, 400);
    try {
      const signedIn = await login(deps, { ...parsed.data, ip: clientIp(c), deviceToken: deviceCookie(c) });
      setSignInCookies(c, signedIn);
      return c.redirect(next, 303);
    } catch (err) {
      if (!(err instanceof AppError)) throw err;
      if (err.code === "rate_limited") {
        for (const [k, v] of Object.entries(err.headers ?? {})) c.header(k, v);
        return again({ _form: `${err.message}.` }, 429);
      }
      if (err.code !== "unauthenticated") throw err;
      return again({ password: "The e-mail address or the password is wrong." }, 401);
    }
  });

  // Password reset: the same answer whether the address has an account or not.
  web.get("/forgot-password", (c) =>
    render(c, { title: "Forgot your password?" }, <ForgotPasswordPage values={{}} errors={{}} mailAvailable={deps.mailer.configured} />),
  );

  web.post("/forgot-password", async (c) => {
    const values = await formBody(c);
    const again = (errors: FieldErrors, status: number) =>
      render(c, { title: "Forgot your password?" }, <ForgotPasswordPage values={{ email: str(values.email) }} errors={errors} mailAvailable={deps.mailer.configured} />, status);
    const parsed = parseForm(resetRequestForm, values);
    if (!parsed.ok) return again(parsed.errors, 400);
    try {
      requestPasswordReset(deps, { email: parsed.data.email, ip: clientIp(c) });
    } catch (err) {
      if (!(err instanceof AppError) || err.code !== "rate_limited") throw err;
      for (const [k, v] of Object.entries(err.headers ?? {})) c.header(k, v);
      return again({ _form: `${err.message}.` }, 429);
    }
    return c.redirect("/login?notice=reset-sent", 303);
  });

  // The token is in the link; the page keeps it in the form, never in a log line or a redirect.
  web.get("/reset-password", (c) => {
    const token = c.req.query("token") ?? "";
    return render(c, { title: "Choose a new password" }, <ResetPasswordPage token={token} usable={token !== "" && resetTokenUsable(deps, token)} errors={{}} />);
  });

  web.post("/reset-password", async (c) => {
    const values = await formBody(c);
    const token = str(values.token);
    const again = (errors: FieldErrors, status: number) =>
      render(c, { title: "Choose a new password" }, <ResetPasswordPage token={token} usable={token !== "" && resetTokenUsable(deps, token)} errors={errors} />, status);
    const parsed = parseForm(resetPasswordForm, values);
    if (!parsed.ok) return again(parsed.errors, 400);
    try {
      await resetPassword(deps, parsed.data);
    } catch (err) {
      return again(errorsFromAppError(err), err instanceof AppError ? err.status : 400);
    }
    clearSessionCookie(c);
    return c.redirect("/login?notice=password-reset", 303);
  });

  web.post("/logout", (c) => {
    const p = c.var.principal;
    if (p?.sessionHash) logout(deps, p.sessionHash);
    clearSessionCookie(c);
    return c.redirect("/login?notice=signed-out", 303);
  });
}
