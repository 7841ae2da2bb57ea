import type { FC } from "hono/jsx";
import type { AcNamed } from "../../core/ac/index.ts";
import type { ConnectionView } from "../../core/services/connections.ts";
import type { MonitoredContactView, MonitorView } from "../../core/services/monitors.ts";
import { actionFor, labelsReason, type RunActions } from "../../core/domain/scope-actions.ts";
import { VERIFICATION_REASONS, VERIFICATION_STATUSES, STATUS_BY_REASON, type VerificationStatus } from "../../verify/taxonomy.ts";
import { ButtonForm, CheckboxField, FieldError, PostForm } from "../components/form.tsx";
import { Time } from "../components/inline.tsx";
import { PageHeader } from "../components/layout.tsx";
import { DataTable, type Column } from "../components/table.tsx";
import type { FieldErrors } from "../forms.ts";
import type { AcData } from "../loaders.ts";
import { fmt, plural, reasonLabel, statusLabel, STATUS_LABELS } from "../labels.ts";
import { ActionsFieldset, ListChecklist, RUN_OPTION_LABELS, SmtpFieldset, type RunOptionValues } from "../run-options.tsx";

export interface MonitorValues extends RunOptionValues {
  enabled: boolean;
  digest: boolean;
  confirmDelete: boolean;
}

const LABELS: Record<string, string> = {
  ...RUN_OPTION_LABELS,
  enabled: "Check new contacts",
  scope: "Lists to watch",
  listIds: "Lists to watch",
  digest: "Daily digest",
  confirmDelete: "Confirm deletes",
};

const WEBHOOK_WORDS: Record<MonitorView["webhook"]["state"], { badge: string; tone: string; sentence: string }> = {
  none: { badge: "Not registered", tone: "muted", sentence: "No webhook in ActiveCampaign: monitoring is off." },
  registering: { badge: "Registering", tone: "info", sentence: "The webhook is being registered in ActiveCampaign." },
  registered: { badge: "Registered", tone: "ok", sentence: "ActiveCampaign calls Listwarden when a contact subscribes or changes." },
  failed: { badge: "Not registered", tone: "bad", sentence: "ActiveCampaign did not register the webhook." },
  missing: { badge: "Gone from ActiveCampaign", tone: "bad", sentence: "ActiveCampaign no longer has the webhook (deleted or deactivated). Until you register it again, only the sweep finds new contacts." },
};

const OUTCOME_TONE: Record<string, string> = { unsubscribed: "warn", deleted: "bad", failed: "bad", kept: "ok", labelled: "ok", gone: "muted", skipped: "muted", waiting_credits: "warn", waiting_dns: "warn", held: "warn", retrying: "info", checking: "info" };

const OUTCOME_WORDS: Record<string, string> = {
  kept: "Kept",
  unsubscribed: "Unsubscribed",
  deleted: "Deleted",
  labelled: "Labelled",
  failed: "Refused by AC",
  gone: "Gone from AC",
  skipped: "Skipped",
  waiting_credits: "Waiting for credits",
  waiting_dns: "Waiting for DNS",
  held: "Held for review",
  retrying: "Retrying",
  checking: "Checking",
};
/** Outcomes the badge says all of; the others carry their words (why, what AC said) below it. */
const PLAIN_OUTCOMES = new Set(["kept", "unsubscribed", "gone", "waiting_credits"]);

const STATE_WORDS: Record<MonitoredContactView["state"], string> = { pending: "Queued", waiting_credits: "Waiting for credits", done: "Done", gone: "Gone from AC", skipped: "Skipped" };

function recentColumns(listNames: Map<string, string>): Column<MonitoredContactView>[] {
  return [
    { label: "Contact", cell: (r) => <span class="break">{r.email}</span> },
    {
      label: "Result",
      cell: (r) =>
        r.status ? (
          <div>
            <span class={`badge ${r.status === "undeliverable" ? "bad" : r.status === "deliverable" ? "ok" : r.status === "risky" ? "warn" : "muted"}`}>{statusLabel(r.status)}</span>
            {r.reason ? <span class="sub-line">{reasonLabel(r.reason)}</span> : null}
          </div>
        ) : (
          <span class="muted">{STATE_WORDS[r.state]}</span>
        ),
    },
    {
      label: "What was done",
      cell: (r) => (
        <div>
          {r.outcomeCode ? <span class={`badge ${OUTCOME_TONE[r.outcomeCode] ?? "muted"}`}>{OUTCOME_WORDS[r.outcomeCode] ?? r.outcomeCode}</span> : <span class="muted">{STATE_WORDS[r.state]}</span>}
          {r.unsubscribedFrom.length > 0 ? <span class="sub-line">From {r.unsubscribedFrom.map((l) => listNames.get(l) ?? `list ${l}`).join(", ")}</span> : null}
          {r.outcome && r.outcomeCode && !PLAIN_OUTCOMES.has(r.outcomeCode) ? <span class="sub-line">{r.outcome}</span> : null}
        </div>
      ),
    },
    { label: "Found by", cell: (r) => (r.source === "sweep" ? "Sweep" : "Webhook") },
    { label: "When", cell: (r) => <Time iso={r.checkedAt ?? r.updatedAt} /> },
  ];
}

/** What the chosen actions do to a new contact of each result, right away and without a review. */
export const ActionPreview: FC<{ actions: RunActions; confirmDelete: boolean }> = ({ actions, confirmDelete }) => {
  const verb = (a: string) => (a === "unsubscribe" ? "unsubscribed from the list it joined" : a === "delete" ? (confirmDelete ? "deleted from ActiveCampaign" : "deleted (once you confirm deletes)") : "kept");
  const byStatus = (s: VerificationStatus) => {
    const reasons = VERIFICATION_REASONS.filter((r) => STATUS_BY_REASON[r] === s);
    const parts = new Map<string, string[]>();
    for (const r of reasons) {
      const words = `${verb(actionFor(actions, r))}${labelsReason(actions, r) ? ", and labelled" : ""}`;
      parts.set(words, [...(parts.get(words) ?? []), r]);
    }
    return [...parts];
  };
  return (
    <div class="preview card-inset" id="preview" aria-live="polite">
      <h3 class="h4">What happens to a new contact</h3>
      <p class="hint">With the choices shown above as they were saved. Applied as soon as a contact is checked, without a review. Unsubscribes touch only lists where the contact is active; status “active” is never set.</p>
      <ul class="preview-list">
        {VERIFICATION_STATUSES.map((s) => {
          const parts = byStatus(s);
          return (
            <li>
              <strong>{STATUS_LABELS[s]}</strong>:{" "}
              {parts.length === 1
                ? parts[0]![0]
                : parts.map(([words, rs], i) => (
                    <span>
                      {i > 0 ? "; " : ""}
                      {rs.map(reasonLabel).join(", ")} → {words}
                    </span>
                  ))}
            </li>
          );
        })}
      </ul>
    </div>
  );
};

export interface MonitoringPageProps {
  connection: ConnectionView;
  monitor: MonitorView;
  ac: AcData;
  values: MonitorValues;
  errors: FieldErrors;
  smtpAllowed: boolean;
  balance: number;
  csrfToken: string;
}

const Counts: FC<{ title: string; c: MonitorView["today"] }> = ({ title, c }) => (
  <div class="counts">
    <h3 class="h4">{title}</h3>
    <dl class="stats">
      <div>
        <dt>Checked</dt>
        <dd>{fmt(c.checked)}</dd>
      </div>
      <div>
        <dt>Unsubscribed</dt>
        <dd>{fmt(c.unsubscribed)}</dd>
      </div>
      <div>
        <dt>Deleted</dt>
        <dd>{fmt(c.deleted)}</dd>
      </div>
      <div>
        <dt>Labelled</dt>
        <dd>{fmt(c.labelled)}</dd>
      </div>
    </dl>
  </div>
);

const ListsFieldset: FC<{ lists: AcNamed[]; values: MonitorValues; errors: FieldErrors }> = ({ lists, values, errors }) => (
  <fieldset class={errors.listIds || errors.scope ? "group has-error" : "group"} id="f-scope">
    <legend>2. Which lists</legend>
    <FieldError name="scope" error={errors.scope} />
    <div class="choice">
      <input type="radio" name="scope" value="all" id="scope-all" checked={values.scope === "all"} />
      <label for="scope-all">New subscribers of every list</label>
    </div>
    <div class="choice">
      <input type="radio" name="scope" value="lists" id="scope-lists" checked={values.scope !== "all"} disabled={lists.length === 0} />
      <label for="scope-lists">New subscribers of these lists</label>
    </div>
    <ListChecklist lists={lists} chosen={values.listIds} error={errors.listIds} />
  </fieldset>
);

export const MonitoringPage: FC<MonitoringPageProps> = (p) => {
  const c = p.connection;
  const m = p.monitor;
  const listNames = new Map((p.ac.ok ? p.ac.lists : []).map((l) => [l.id, l.name || `List ${l.id}`]));
  const hook = WEBHOOK_WORDS[m.webhook.state];
  const watching = m.scope.kind === "all" ? "every list" : m.scope.listIds.map((l) => listNames.get(l) ?? `list ${l}`).join(", ");
  const canRegister = m.enabled && m.webhook.available && p.ac.ok;
  return (
    <>
      <PageHeader title="Check new contacts" back={{ href: `/connections/${c.id}`, label: c.name }}>
        <p class="lead">
          Each contact that joins {m.enabled ? watching : "the lists you choose"} in “{c.name}” is checked as it arrives, charged 1 credit (results we cannot determine are
          refunded), and acted on right away.
        </p>
      </PageHeader>

      {!m.webhook.available ? (
        <div class="notice warn" role="status" id="public-url">
          <h2 class="h3">This server cannot be reached by ActiveCampaign yet</h2>
          <p>{m.webhook.problem}</p>
          <p class="small">Ask whoever runs Listwarden to set PUBLIC_URL and restart it; monitoring can be turned on then.</p>
        </div>
      ) : m.webhook.problem ? (
        <p class="notice warn" role="status">
          {m.webhook.problem}
        </p>
      ) : null}

      <section class="card monitor-status" aria-labelledby="status-h">
        <div class="section-head">
          <h2 id="status-h" class="h3">
            Status
          </h2>
          <p class="badges">
            {m.enabled ? <span class="badge ok">On</span> : <span class="badge muted">Off</span>}
            <span class={`badge ${hook.tone}`}>Webhook: {hook.badge}</span>
          </p>
        </div>
        <dl class="details">
          <dt>Webhook</dt>
          <dd>
            {hook.sentence}
            {m.webhook.error ? <span class="sub-line bad-text">{m.webhook.error}</span> : null}
          </dd>
          {m.held ? (
            <>
              <dt>Held</dt>
              <dd class="bad-text">
                {m.held.reason} <span class="sub-line">Since <Time iso={m.held.at} />. Save the settings below to go on.</span>
              </dd>
            </>
          ) : null}
          <dt>Last delivery</dt>
          <dd>{m.webhook.lastDeliveryAt ? <Time iso={m.webhook.lastDeliveryAt} /> : "None yet"}</dd>
          <dt>Catch-up sweep</dt>
          <dd>
            Every {plural(m.sweep.everyMinutes, "minute")}; {m.sweep.lastAt ? <>last <Time iso={m.sweep.lastAt} /></> : "none yet"}.
            {m.sweep.foundUnannounced > 0 ? <span class="sub-line">{plural(m.sweep.foundUnannounced, "contact")} found that no webhook announced (imports never do).</span> : null}
            {m.sweep.error ? <span class="sub-line bad-text">{m.sweep.error}</span> : null}
          </dd>
          <dt>Queue</dt>
          <dd>
            {plural(m.waiting.pending, "contact")} to check
            {m.waiting.credits > 0 ? (
              <span class="sub-line bad-text">
                {plural(m.waiting.credits, "contact")} waiting for credits (your balance: {plural(p.balance, "credit")}). <a href="/credits">Add credits</a>
              </span>
            ) : null}
            {m.waiting.dns > 0 ? (
              <span class="sub-line bad-text">
                {plural(m.waiting.dns, "contact")} held: this server cannot look up domain names right now, so nothing is checked, charged or changed until it can (tried again every few minutes).
              </span>
            ) : null}
          </dd>
        </dl>
        {canRegister ? (
          <div class="actions">
            <ButtonForm action={`/connections/${c.id}/monitoring/webhook`} csrfToken={p.csrfToken} formClass="inline" buttonClass={m.webhook.state === "registered" ? "secondary" : "primary"}>
              {m.webhook.state === "registered" ? "Rotate the webhook’s secret" : "Register the webhook again"}
            </ButtonForm>
          </div>
        ) : null}
      </section>

      <section class="section" aria-labelledby="activity-h">
        <h2 id="activity-h">Activity</h2>
        <div class="counts-grid">
          <Counts title="Today (UTC)" c={m.today} />
          <Counts title="This month" c={m.month} />
        </div>
        <h3 class="h4" id="recent-h">
          Recent contacts
        </h3>
        {m.recent.length === 0 ? (
          <p class="card muted">No new contact yet.</p>
        ) : (
          <div class="table-scroll">
            <DataTable rows={m.recent} labelledBy="recent-h" columns={recentColumns(listNames)} />
          </div>
        )}
      </section>

      {!p.ac.ok ? (
        <div class="notice bad" role="alert">
          <h2 class="h3">{p.ac.code === "ac_key_refused" ? "ActiveCampaign refused this account’s API key" : "Could not reach ActiveCampaign"}</h2>
          <p>{p.ac.code === "ac_key_refused" ? "Replace the key on the connection page first: monitoring needs the account’s lists." : p.ac.message}</p>
        </div>
      ) : (
        <section class="section" aria-labelledby="settings-h">
          <h2 id="settings-h">Settings</h2>
          <PostForm action={`/connections/${c.id}/monitoring`} class="card stack monitor-form" csrfToken={p.csrfToken} errors={p.errors} labels={LABELS} submit="Save">
            <fieldset class="group">
              <legend>1. On or off</legend>
              <CheckboxField
                name="enabled"
                label="Check new contacts of this account as they arrive"
                checked={p.values.enabled && m.webhook.available}
                error={p.errors.enabled}
              />
              <p class="hint indent">
                {m.webhook.available
                  ? "Turning it on registers a webhook in ActiveCampaign; turning it off removes it."
                  : "Needs PUBLIC_URL on this server (see above)."}
              </p>
            </fieldset>
            <ListsFieldset lists={p.ac.lists} values={p.values} errors={p.errors} />
            <ActionsFieldset
              legend="3. What to do with each result"
              intro="There is no review step for new contacts: what you choose here happens as soon as each one is checked."
              values={p.values}
              errors={p.errors}
              warning={
                <CheckboxField
                  name="confirmDelete"
                  class="confirm-delete"
                  label="I confirm that monitoring may delete new contacts from ActiveCampaign, without a review."
                  checked={p.values.confirmDelete}
                  error={p.errors.confirmDelete}
                />
              }
            />
            <ActionPreview actions={valuesAsActions(p.values)} confirmDelete={p.values.confirmDelete} />
            <SmtpFieldset legend="4. Mailbox probing" allowed={p.smtpAllowed} checked={p.values.smtpProbe} />
            <fieldset class="group">
              <legend>{p.smtpAllowed ? "5." : "4."} Digest</legend>
              <CheckboxField name="digest" label="Send me a daily digest of what was done" checked={p.values.digest} />
              <p class="hint indent">Through your notification channels (Settings), once a day, when something was checked.</p>
            </fieldset>
          </PostForm>
        </section>
      )}
    </>
  );
};

/** The form's values as actions, for the preview (what is posted is judged by the core). */
function valuesAsActions(v: MonitorValues): RunActions {
  const labelled = VERIFICATION_STATUSES.filter((s) => v.labels[s]);
  return {
    deliverable: v.deliverable,
    risky: v.risky,
    undeliverable: v.undeliverable,
    unknown: v.unknown,
    overrides: VERIFICATION_REASONS.flatMap((reason) => {
      const action = v.overrides[reason];
      const label = v.labelOverrides[reason];
      return action === undefined && label === undefined ? [] : [{ reason, ...(action ? { action } : {}), ...(label === undefined ? {} : { label }) }];
    }),
    ...(labelled.length > 0 ? { label: { statuses: labelled, fieldName: v.labelField, reasonFieldName: null, tagPrefix: null, runAutomations: false } } : {}),
  };
}

/** The connection page's line about monitoring. */
export const MonitoringSummary: FC<{ connection: ConnectionView; monitor: MonitorView }> = ({ connection, monitor: m }) => (
  <section class="section monitoring" id="monitoring" aria-labelledby="monitoring-h">
    <div class="section-head">
      <h2 id="monitoring-h">Check new contacts</h2>
      <a class="button secondary" href={`/connections/${connection.id}/monitoring`}>
        {m.enabled ? "Open monitoring" : "Set up"}
      </a>
    </div>
    <p class="card">
      {m.enabled ? (
        <>
          <span class="badge ok">On</span> {plural(m.today.checked, "new contact")} checked today, {fmt(m.month.checked)} this month ({fmt(m.month.unsubscribed)}{" "}
          unsubscribed).
          {m.webhook.state !== "registered" ? <span class="sub-line bad-text">The webhook needs attention: open monitoring.</span> : null}
        </>
      ) : (
        <>
          <span class="badge muted">Off</span> Check each new subscriber as it arrives, instead of waiting for the next run.
        </>
      )}
    </p>
  </section>
);
