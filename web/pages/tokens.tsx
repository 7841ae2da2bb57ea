import type { FC } from "hono/jsx";
import type { ApiTokenView } from "../../core/services/tokens.ts";
import { CsrfField, ErrorSummary, PageHeader, TextField, Time } from "../components.tsx";
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
          <div class="table-wrap" role="region" aria-labelledby="tokens-h" tabindex={0}>
            <table class="responsive tokens">
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Token</th>
                  <th scope="col">Created</th>
                  <th scope="col">Last used</th>
                  <th scope="col">
                    <span class="visually-hidden">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {p.tokens.map((t) => (
                  <tr>
                    <td data-label="Name">
                      <div class="break">{t.name}</div>
                    </td>
                    <td data-label="Token">
                      <div>
                        <code>lw_…{t.hint}</code>
                      </div>
                    </td>
                    <td data-label="Created">
                      <Time iso={t.createdAt} />
                    </td>
                    <td data-label="Last used">{t.lastUsedAt ? <Time iso={t.lastUsedAt} /> : <span class="muted">Never</span>}</td>
                    <td data-label="">
                      <a class="button secondary danger-text compact" href={`/tokens/${t.id}/delete`} aria-label={`Delete token ${t.name}`}>
                        Delete
                      </a>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>

      <section class="card" aria-labelledby="new-token-h">
        <h2 id="new-token-h">Create a token</h2>
        <form method="post" action="/tokens" class="stack" novalidate>
          <CsrfField token={p.csrfToken} />
          <ErrorSummary errors={p.errors} labels={LABELS} />
          <TextField name="name" label={LABELS.name} value={p.values.name} error={p.errors.name} autocomplete="off" required hint="What uses it, e.g. “Monthly report script”." />
          <div class="actions">
            <button type="submit" class="primary">
              Create token
            </button>
          </div>
        </form>
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
      <form method="post" action={`/tokens/${token.id}/delete`} class="actions">
        <CsrfField token={csrfToken} />
        <button type="submit" class="danger">
          Delete token
        </button>
        <a class="button secondary" href="/tokens">
          Keep it
        </a>
      </form>
    </div>
  </div>
);
