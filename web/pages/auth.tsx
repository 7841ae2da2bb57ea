import type { FC } from "hono/jsx";
import { PostForm, TextField } from "../components/form.tsx";
import type { FieldErrors } from "../forms.ts";

interface AuthProps {
  values: { email?: string };
  errors: FieldErrors;
  next?: string;
  signupCredits?: number;
}

const LABELS = { email: "E-mail address", password: "Password" };

export const LoginPage: FC<AuthProps> = ({ values, errors, next }) => (
  <div class="narrow">
    <h1>Sign in</h1>
    <PostForm action={next && next !== "/" ? `/login?next=${encodeURIComponent(next)}` : "/login"} class="card stack" errors={errors} labels={LABELS} submit="Sign in">
      <TextField name="email" label={LABELS.email} type="email" autocomplete="email" value={values.email} error={errors.email} required spellcheck={false} autofocus={!values.email} />
      <TextField name="password" label={LABELS.password} type="password" autocomplete="current-password" error={errors.password} required autofocus={Boolean(values.email)} />
    </PostForm>
    <p class="center">
      <a href="/forgot-password">Forgot your password?</a> · New to Listwarden? <a href="/signup">Create an account</a>
    </p>
  </div>
);

export const SignupPage: FC<AuthProps> = ({ values, errors, signupCredits }) => (
  <div class="narrow">
    <h1>Create your account</h1>
    <p class="lead">
      Check your ActiveCampaign lists for dead, risky and mistyped addresses, and clean them up safely.
      {signupCredits ? ` You start with ${signupCredits} free credits: one per contact checked.` : ""}
    </p>
    <PostForm action="/signup" class="card stack" errors={errors} labels={LABELS} submit="Create account">
      <TextField name="email" label={LABELS.email} type="email" autocomplete="email" value={values.email} error={errors.email} required spellcheck={false} autofocus />
      <TextField name="password" label={LABELS.password} type="password" autocomplete="new-password" hint="At least 10 characters, and not a common password: a few unrelated words work well." error={errors.password} required />
    </PostForm>
    <p class="center">
      Already have an account? <a href="/login">Sign in</a>
    </p>
  </div>
);

const RESET_LABELS = { email: "E-mail address", password: "New password", token: "Reset link" };

export const ForgotPasswordPage: FC<{ values: { email?: string }; errors: FieldErrors; mailAvailable: boolean }> = ({ values, errors, mailAvailable }) => (
  <div class="narrow">
    <h1>Forgot your password?</h1>
    <p class="lead">Enter the e-mail address you signed up with; we send it a link to choose a new password.</p>
    {mailAvailable ? null : <p class="notice warn">This server cannot send e-mail yet: ask its operator to reset your password.</p>}
    <PostForm action="/forgot-password" class="card stack" errors={errors} labels={RESET_LABELS} submit="Send the link">
      <TextField name="email" label={RESET_LABELS.email} type="email" autocomplete="email" value={values.email} error={errors.email} required spellcheck={false} autofocus />
    </PostForm>
    <p class="center">
      <a href="/login">Back to sign in</a>
    </p>
  </div>
);

export const ResetPasswordPage: FC<{ token: string; usable: boolean; errors: FieldErrors }> = ({ token, usable, errors }) => (
  <div class="narrow">
    <h1>Choose a new password</h1>
    {usable ? (
      <form method="post" action="/reset-password" class="card stack" novalidate>
        <input type="hidden" name="token" value={token} />
        {errors._form || errors.token ? (
          <p class="notice bad" role="alert">
            {errors._form ?? errors.token}
          </p>
        ) : null}
        <TextField name="password" label={RESET_LABELS.password} type="password" autocomplete="new-password" error={errors.password} required autofocus hint="At least 10 characters, and not a common password." />
        <div class="actions">
          <button type="submit" class="primary">
            Save the new password
          </button>
        </div>
      </form>
    ) : (
      <div class="card stack">
        <p class="notice bad" role="alert">
          This reset link is not valid: it was used already, has expired or was mistyped.
        </p>
        <p>
          <a class="button primary" href="/forgot-password">
            Ask for a new link
          </a>
        </p>
      </div>
    )}
  </div>
);
