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
      New to Listwarden? <a href="/signup">Create an account</a>
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
