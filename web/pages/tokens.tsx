import type { FC } from "hono/jsx";
import type { ApiTokenView } from "../../core/services/tokens.ts";
import { ButtonForm, PostForm, TextField } from "../components/form.tsx";
import { Time } from "../components/inline.tsx";
import { PageHeader } from "../components/layout.tsx";
import { DataTable, type Column } from "../components/table.tsx";
import type { FieldErrors } from "../forms.ts";

export interface TokensPageProps {
  tokens: ApiTokenView[];
  values: { name?: string };
  errors: FieldErrors;
  /** A token just created: its value is shown this once. */
  created: (ApiTokenView & { token: string }) | null;
  csrfToken: string;
}

const LABELS = { name: "Name" };

const TOKEN_COLUMNS: Column<ApiTokenView>[] = [
  { label: "Name", cell: (t) => <div class="break">{t.name}</div> },
  {
    label: "Token",
    cell: (t) => (
      <div>
        <code>lw_…{t.hint}</code>
      </div>
    ),
  },
  { label: "Created", cell: (t) => <Time iso={t.createdAt} /> },
  { label: "Last used", cell: (t) => (t.lastUsedAt ? <Time iso={t.lastUsedAt} /> : <span class="muted">Never</span>) },
  {
    label: "",
    header: <span class="visually-hidden">Actions</span>,
    cell: (t) => (
      <a class="button secondary danger-text compact" href={`/tokens/${t.id}/delete`} aria-label={`Delete token ${t.name}`}>
        Delete
      </a>
    ),
  },
];

export const TokensPage: FC<TokensPageProps> = (p) => (
  <>
    <PageHeader title="API tokens">
      <p class="lead">
        A token lets a program use the Listwarden API as you, without your password. Send it as <code class="break">Authorization: Bearer &lt;token&gt;</code>.
      </p>
      <p>
        Every route is described in the <a href="/api/reference">API reference</a> (OpenAPI: <a href="/api/openapi.json">/api/openapi.json</a>).
      </p>
    </PageHeader>

    {p.created ? (
      <section class="card token-created" aria-labelledby="created-h">
        <h2 id="created-h">Your new token “{p.created.name}”</h2>
        <p>
          <strong>Copy it now: it is shown only this once.</strong> We keep only a fingerprint of it; if you lose it, delete it and create another.
        </p>
        <div class="copy-field">
          <label for="new-token" class="visually-hidden">
            The new token
          </label>
          <input type="text" id="new-token" class="mono" value={p.created.token} readonly spellcheck={false} autocomplete="off" aria-describedby="new-token-hint" />
          <button type="button" class="secondary" data-copy="new-token" hidden>
            Copy
          </button>
        </div>
        <p class="hint" id="new-token-hint">
          Select it and copy it (Ctrl+C, or ⌘C on a Mac) into the program’s settings or a password manager.
        </p>
        <p class="small copy-status" role="status" aria-live="polite"></p>
      </section>
    ) : null}

    <div class="tokens-grid">
      <section aria-labelledby="tokens-h">
        <h2 id="tokens-h">Your tokens</h2>
        {p.tokens.length === 0 ? (
          <p class="card muted">No API tokens yet.</p>
        ) : (
          <DataTable rows={p.tokens} labelledBy="tokens-h" class="tokens" columns={TOKEN_COLUMNS} />
        )}
      </section>

      <section class="card" aria-labelledby="new-token-h">
        <h2 id="new-token-h">Create a token</h2>
        <PostForm action="/tokens" class="stack" csrfToken={p.csrfToken} errors={p.errors} labels={LABELS} submit="Create token">
          <TextField name="name" label={LABELS.name} value={p.values.name} error={p.errors.name} autocomplete="off" required hint="What uses it, e.g. “Monthly report script”." />
        </PostForm>
      </section>
    </div>
  </>
);

export const DeleteTokenPage: FC<{ token: ApiTokenView; csrfToken: string }> = ({ token, csrfToken }) => (
  <div class="narrow">
    <PageHeader title={`Delete the token “${token.name}”?`} back={{ href: "/tokens", label: "API tokens" }} />
    <div class="card stack">
      <p>
        Programs that use the token ending in <code>{token.hint}</code> can no longer reach Listwarden with it. This cannot be undone; you can create a new token
        at any time.
      </p>
      <ButtonForm
        action={`/tokens/${token.id}/delete`}
        csrfToken={csrfToken}
        buttonClass="danger"
        after={
          <a class="button secondary" href="/tokens">
            Keep it
          </a>
        }
      >
        Delete token
      </ButtonForm>
    </div>
  </div>
);
