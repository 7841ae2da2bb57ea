import type { FC } from "hono/jsx";
import type { CreditRequestView } from "../../core/services/topups.ts";
import { CsrfField, PostForm, TextField } from "../components/form.tsx";
import { Time } from "../components/inline.tsx";
import { PageHeader } from "../components/layout.tsx";
import type { FieldErrors } from "../forms.ts";
import { fmt, plural } from "../labels.ts";

const GRANT_LABELS = { email: "User's e-mail address", credits: "Credits", reason: "Reason (shown in their history)" };

/** The operator's page (admin role): credit requests to approve or decline, and granting credits by e-mail. */
export const OperatorPage: FC<{ pending: CreditRequestView[]; decided: CreditRequestView[]; grant: { values: Record<string, string>; errors: FieldErrors }; csrfToken: string }> = ({
  pending,
  decided,
  grant,
  csrfToken,
}) => (
  <>
    <PageHeader title="Operator" />
    <section class="card" aria-labelledby="requests-h">
      <h2 id="requests-h">Credit requests</h2>
      {pending.length === 0 ? (
        <p class="muted">No request waits for you.</p>
      ) : (
        <ul class="request-list">
          {pending.map((r) => (
            <li class="request" id={`request-${r.id}`}>
              <p>
                <strong>{r.email}</strong> asks for <strong>{plural(r.credits, "credit")}</strong> (<Time iso={r.createdAt} />; balance {fmt(r.balance)})
              </p>
              {r.note ? <p class="quote">{r.note}</p> : null}
              <form method="post" action={`/operator/requests/${r.id}/approve`} class="actions inline-form">
                <CsrfField token={csrfToken} />
                <label for={`grant-${r.id}`}>Grant</label>
                <input id={`grant-${r.id}`} name="credits" value={String(r.credits)} size={10} inputmode="numeric" />
                <button type="submit" class="primary">
                  Approve
                </button>
              </form>
              <form method="post" action={`/operator/requests/${r.id}/decline`} class="actions">
                <CsrfField token={csrfToken} />
                <button type="submit" class="secondary">
                  Decline
                </button>
              </form>
            </li>
          ))}
        </ul>
      )}
      {decided.length > 0 ? (
        <details>
          <summary>Answered requests</summary>
          <ul>
            {decided.map((r) => (
              <li>
                <Time iso={r.decidedAt} />: {r.email}, {plural(r.credits, "credit")} asked — {r.status === "approved" ? `${fmt(r.granted ?? 0)} granted` : "declined"}
              </li>
            ))}
          </ul>
        </details>
      ) : null}
    </section>
    <PostForm action="/operator/grant" class="card stack" heading={<h2>Grant credits</h2>} csrfToken={csrfToken} errors={grant.errors} labels={GRANT_LABELS} submit="Grant">
      <TextField name="email" label={GRANT_LABELS.email} type="email" value={grant.values.email} error={grant.errors.email} spellcheck={false} required />
      <TextField name="credits" label={GRANT_LABELS.credits} value={grant.values.credits} error={grant.errors.credits} required />
      <TextField name="reason" label={GRANT_LABELS.reason} value={grant.values.reason} error={grant.errors.reason} />
    </PostForm>
  </>
);
