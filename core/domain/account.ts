import { z } from "zod";

/**
 * The rules of sign-up and sign-in input, defined once for the API and the dashboard's forms.
 * Whether a password is good enough (common, a sequence…) is checked by core/domain/passwords.ts.
 */
export const emailSchema = z
  .string({ error: "is required" })
  .trim()
  .min(1, "is required")
  .max(254, "is too long")
  .pipe(z.email("must be an e-mail address like you@example.com"));

export const PASSWORD_MIN = 10;
export const PASSWORD_MAX = 200;

export const newPasswordSchema = z
  .string({ error: "is required" })
  .min(PASSWORD_MIN, `must be at least ${PASSWORD_MIN} characters`)
  .max(PASSWORD_MAX, `must be at most ${PASSWORD_MAX} characters`);

export const passwordSchema = z.string({ error: "is required" }).min(1, "is required").max(PASSWORD_MAX, `must be at most ${PASSWORD_MAX} characters`);

export const signupSchema = z.object({ email: emailSchema, password: newPasswordSchema });
export const loginSchema = z.object({ email: emailSchema, password: passwordSchema });

/** Asking for a password reset link. */
export const resetRequestSchema = z.object({ email: emailSchema });
/** Choosing a new password with a reset link's token. */
export const resetPasswordSchema = z.object({ token: z.string({ error: "is required" }).min(1, "is required").max(200), password: newPasswordSchema });
