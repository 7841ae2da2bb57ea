import type { FC } from "hono/jsx";
import { PostForm, TextField } from "../components/form.tsx";
import { PageHeader } from "../components/layout.tsx";
import type { FieldErrors } from "../forms.ts";

const LABELS = { name: "Name", apiUrl: "API URL", apiKey: "API key" };

/** The connection form. The API key is never written back into the page, even after an error. */
export const ConnectPage: FC<{ values: { name?: string; apiUrl?: string }; errors: FieldErrors; csrfToken: string }> = ({ values, errors, csrfToken }) => (
  <div class="narrow wide-ish">
    <PageHeader title="Connect ActiveCampaign" back={{ href: "/", label: "Home" }}>
      <p class="lead">Listwarden reads your contacts and, only after you approve, unsubscribes or deletes the ones you choose.</p>
    </PageHeader>
    <div class="card help-box">
      <h2 class="h3">Where to find the URL and key</h2>
      <ol>
        <li>Sign in to ActiveCampaign.</li>
        <li>
          Open <strong>Settings</strong> (bottom left), then <strong>Developer</strong>.
        </li>
        <li>
          Copy the <strong>URL</strong> and the <strong>Key</strong> shown under “API Access”.
        </li>
      </ol>
    </div>
    <PostForm
      action="/connections"
      class="card stack"
      csrfToken={csrfToken}
      errors={errors}
      labels={LABELS}
      submit="Check and connect"
      actions={
        <a href="/" class="button secondary">
          Cancel
        </a>
      }
      note={<p class="small muted">We check the key with ActiveCampaign before saving anything.</p>}
    >
      <TextField
        name="apiUrl"
        label={LABELS.apiUrl}
        type="url"
        autocomplete="off"
        spellcheck={false}
        value={values.apiUrl}
        error={errors.apiUrl}
        required
        placeholder="https://youraccount.api-us1.com"
        hint={
          <>
            Looks like <code>https://youraccount.api-us1.com</code> (or <code>…activehosted.com</code>).
          </>
        }
      />
      <TextField
        name="apiKey"
        label={LABELS.apiKey}
        type="password"
        autocomplete="off"
        spellcheck={false}
        error={errors.apiKey}
        required
        hint="A long string of letters and digits. It is stored encrypted and never shown again: only its last 4 characters."
      />
      <TextField name="name" label={`${LABELS.name} (optional)`} value={values.name} error={errors.name} autocomplete="off" hint="How this account is called in Listwarden, e.g. “Main newsletter”. Defaults to the account name in the URL." />
    </PostForm>
  </div>
);
