import type { FC } from "hono/jsx";
import type { Action } from "../../db/schema/index.ts";
import type { AcNamed } from "../../server/ac/index.ts";
import type { ConnectionView } from "../../server/services/connections.ts";
import type { RunView } from "../../server/services/runs.ts";
import { DEFAULT_ACTIONS } from "../../worker/runs/options.ts";
import { VERIFICATION_STATUSES, type VerificationStatus } from "../../worker/verify/taxonomy.ts";
import { CsrfField, ErrorSummary, PageHeader, StatusBadge, Time } from "../components.tsx";
import type { FieldErrors } from "../forms.ts";
import { ACTION_LABELS, fmt, plural, STATUS_HELP, STATUS_LABELS } from "../labels.ts";

export interface CleanValues extends Record<VerificationStatus, Action> {
  scope: "lists" | "tag" | "all";
  listIds: string[];
  tagId: string;
  smtpProbe: boolean;
}

export const DEFAULT_CLEAN_VALUES: CleanValues = { scope: "lists", listIds: [], tagId: "", smtpProbe: false, ...DEFAULT_ACTIONS };

export type AcData = { ok: true; lists: AcNamed[]; tags: AcNamed[] } | { ok: false; code: string; message: string };

export interface ConnectionPageProps {
  connection: ConnectionView;
  ac: AcData;
  balance: number;
  values: CleanValues;
  errors: FieldErrors;
  smtpAllowed: boolean;
  activeRun: RunView | undefined;
  lastRun: RunView | undefined;
  csrfToken: string;
}

const LABELS: Record<string, string> = {
  scope: "What to check",
  listIds: "Lists",
  tagId: "Tag",
  deliverable: "Deliverable",
  risky: "Risky",
  undeliverable: "Undeliverable",
  unknown: "Unknown",
  smtpProbe: "Mailbox probing",
};

const ACTION_HELP: Record<Action, string> = {
  keep: "Leave the contact as it is.",
  unsubscribe: "Unsubscribe from the lists checked (only where the contact is active).",
  delete: "Delete the contact from ActiveCampaign.",
};

export const ConnectionPage: FC<ConnectionPageProps> = (p) => {
  const c = p.connection;
  const anyDelete = VERIFICATION_STATUSES.some((s) => p.values[s] === "delete");
  return (
    <>
      <PageHeader title={c.name} back={{ href: "/", label: "Home" }}>
        <p class="meta">
          <span class="break">{c.apiUrl}</span>
          <span>
            Key ending in <code>{c.keyHint}</code>
          </span>
          {c.acAccountEmail ? <span>{c.acAccountEmail}</span> : null}
        </p>
        <p class="header-actions">
          <a class="button secondary" href={`/connections/${c.id}/runs`}>
            Run history
          </a>
          <a class="button secondary danger-text" href={`/connections/${c.id}/delete`}>
            Delete connection
          </a>
        </p>
      </PageHeader>

      {p.activeRun ? (
        <p class="notice info">
          A run on this account is in progress (<StatusBadge status={p.activeRun.status} />).{" "}
          <a href={`/runs/${p.activeRun.id}`}>Open it</a>
        </p>
      ) : null}

      {!p.ac.ok ? (
        <div class="notice bad" role="alert">
          <h2 class="h3">{p.ac.code === "ac_key_refused" ? "ActiveCampaign refused this account’s API key" : "Could not reach ActiveCampaign"}</h2>
          {p.ac.code === "ac_key_refused" ? null : <p>{p.ac.message}</p>}
          <p>
            {p.ac.code === "ac_key_refused" ? (
              <>
                The key may have been changed or removed in ActiveCampaign (Settings → Developer). Delete this connection and{" "}
                <a href="/connections/new">connect again</a> with the current key.
              </>
            ) : (
              <>
                <a href={`/connections/${c.id}`}>Try again</a> in a moment.
              </>
            )}
          </p>
        </div>
      ) : (
        <form method="post" action={`/connections/${c.id}/runs`} class="card stack clean-form" novalidate>
          <h2>Clean this account</h2>
          <CsrfField token={p.csrfToken} />
          <ErrorSummary errors={p.errors} labels={LABELS} />

          <fieldset class={p.errors.listIds || p.errors.tagId || p.errors.scope ? "group has-error" : "group"} id="f-scope">
            <legend>1. What to check</legend>
            {p.errors.scope ? <p class="field-error">{p.errors.scope}</p> : null}

            <div class="choice">
              <input type="radio" name="scope" value="lists" id="scope-lists" checked={p.values.scope === "lists"} disabled={p.ac.lists.length === 0} />
              <label for="scope-lists">Contacts on these lists</label>
            </div>
            {p.ac.lists.length === 0 ? (
              <p class="hint indent">This account has no lists.</p>
            ) : (
              <fieldset class="indent sub" id="f-listIds" aria-describedby={p.errors.listIds ? "f-listIds-error" : undefined}>
                <legend class="visually-hidden">Lists</legend>
                {p.errors.listIds ? (
                  <p class="field-error" id="f-listIds-error">
                    {p.errors.listIds}
                  </p>
                ) : null}
                <div class="checklist">
                  {p.ac.lists.map((l) => (
                    <div class="choice">
                      <input type="checkbox" name="listIds" value={l.id} id={`list-${l.id}`} checked={p.values.listIds.includes(l.id)} data-scope="lists" />
                      <label for={`list-${l.id}`}>{l.name || `List ${l.id}`}</label>
                    </div>
                  ))}
                </div>
              </fieldset>
            )}

            <div class="choice">
              <input type="radio" name="scope" value="tag" id="scope-tag" checked={p.values.scope === "tag"} disabled={p.ac.tags.length === 0} />
              <label for="scope-tag">Contacts with a tag</label>
            </div>
            {p.ac.tags.length === 0 ? (
              <p class="hint indent">This account has no tags.</p>
            ) : (
              <div class={p.errors.tagId ? "indent field has-error" : "indent field"}>
                <label for="f-tagId" class="visually-hidden">
                  Tag
                </label>
                {p.errors.tagId ? (
                  <p class="field-error" id="f-tagId-error">
                    {p.errors.tagId}
                  </p>
                ) : null}
                <select name="tagId" id="f-tagId" data-scope="tag" aria-invalid={p.errors.tagId ? "true" : undefined} aria-describedby={p.errors.tagId ? "f-tagId-error" : undefined}>
                  <option value="">Choose a tag…</option>
                  {p.ac.tags.map((t) => (
                    <option value={t.id} selected={p.values.tagId === t.id}>
                      {t.name || `Tag ${t.id}`}
                    </option>
                  ))}
                </select>
              </div>
            )}

            <div class="choice">
              <input type="radio" name="scope" value="all" id="scope-all" checked={p.values.scope === "all"} />
              <label for="scope-all">All contacts in the account</label>
            </div>
          </fieldset>

          <fieldset class="group">
            <legend>2. What to do with each result</legend>
            <p class="hint">Every address ends in one of four results. Choose what happens to each; you review the changes before anything is applied.</p>
            <div class="action-grid">
              {VERIFICATION_STATUSES.map((s) => (
                <div class={p.errors[s] ? "action-row has-error" : "action-row"}>
                  <div>
                    <label for={`f-${s}`} class="action-label">
                      <span class={`swatch s-${s}`} aria-hidden="true"></span>
                      {STATUS_LABELS[s]}
                    </label>
                    <p class="hint" id={`f-${s}-hint`}>
                      {STATUS_HELP[s]}
                    </p>
                    {p.errors[s] ? <p class="field-error">{p.errors[s]}</p> : null}
                  </div>
                  <select name={s} id={`f-${s}`} aria-describedby={`f-${s}-hint`} data-action-select>
                    {(Object.keys(ACTION_LABELS) as Action[]).map((a) => (
                      <option value={a} selected={p.values[s] === a}>
                        {ACTION_LABELS[a]}
                      </option>
                    ))}
                  </select>
                </div>
              ))}
            </div>
            <p class="hint">
              <strong>Unsubscribe</strong>: {ACTION_HELP.unsubscribe} <strong>Delete</strong>: {ACTION_HELP.delete}
            </p>
            <div class="notice warn" id="delete-warning" role="note" hidden={!anyDelete}>
              <strong>Delete is permanent after 30 days.</strong> Deleted contacts disappear from every list, automation and report in ActiveCampaign.
              ActiveCampaign can restore them for 30 days only. Unsubscribe is the safer choice; you will be asked to confirm deletes at review.
            </div>
          </fieldset>

          {p.smtpAllowed ? (
            <fieldset class="group">
              <legend>3. Mailbox probing</legend>
              <div class="choice">
                <input type="checkbox" name="smtpProbe" id="f-smtpProbe" value="on" checked={p.values.smtpProbe} aria-describedby="f-smtpProbe-hint" />
                <label for="f-smtpProbe">Ask each mail server whether the mailbox exists (SMTP probe)</label>
              </div>
              <p class="hint indent" id="f-smtpProbe-hint">
                Finds mailboxes that no longer exist. Slower; no e-mail is sent. Without it we check syntax, the domain’s mail servers, disposable and role addresses
                and typos.
              </p>
            </fieldset>
          ) : (
            <p class="hint">We check syntax, the domain’s mail servers, disposable and role addresses, and typos. Mailbox probing (SMTP) is turned off on this server.</p>
          )}

          <div class="cost" aria-live="polite">
            <p>
              <strong>Cost:</strong> 1 credit per contact checked; a contact on several lists counts once. Results we cannot determine (unknown) are refunded.
              {p.lastRun?.progress.total ? (
                <>
                  {" "}
                  The last run on this account checked {plural(p.lastRun.progress.total, "contact")} (<Time iso={p.lastRun.timings.createdAt} />
                  ).
                </>
              ) : null}
            </p>
            <p>
              Your balance: <strong>{plural(p.balance, "credit")}</strong>. {p.balance === 0 ? "The run will wait until credits are added." : "If it runs out, the run pauses and resumes once credits are added."}{" "}
              <a href="/credits">Credits</a>
            </p>
          </div>

          <div class="actions">
            <button type="submit" class="primary">
              Start checking
            </button>
          </div>
          <p class="small muted">Nothing changes in ActiveCampaign until you review the results and approve.</p>
        </form>
      )}
    </>
  );
};

export const DeleteConnectionPage: FC<{ connection: ConnectionView; activeRuns: RunView[]; csrfToken: string }> = ({ connection, activeRuns, csrfToken }) => (
  <div class="narrow">
    <PageHeader title={`Delete “${connection.name}”?`} back={{ href: `/connections/${connection.id}`, label: connection.name }} />
    <div class="card stack">
      <p>Listwarden forgets this account and its API key. Nothing changes in ActiveCampaign. Past runs and their reports stay in your history.</p>
      {activeRuns.length > 0 ? (
        <p class="notice warn">
          {activeRuns.length === 1 ? "A run on this account is" : `${fmt(activeRuns.length)} runs on this account are`} still in progress. {activeRuns.length === 1 ? "It stops" : "They stop"} when
          the connection is deleted.
        </p>
      ) : null}
      <form method="post" action={`/connections/${connection.id}/delete`} class="actions">
        <CsrfField token={csrfToken} />
        <button type="submit" class="danger">
          Delete connection
        </button>
        <a class="button secondary" href={`/connections/${connection.id}`}>
          Keep it
        </a>
      </form>
    </div>
  </div>
);
