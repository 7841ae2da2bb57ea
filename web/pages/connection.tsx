import type { FC } from "hono/jsx";
import type { AcNamed } from "../../core/ac/index.ts";
import type { ConnectionView } from "../../core/services/connections.ts";
import type { RunView } from "../../core/services/runs.ts";
import type { ScheduleView } from "../../core/services/schedules.ts";
import { ButtonForm, PostForm, TextField } from "../components/form.tsx";
import { StatusBadge, Time } from "../components/inline.tsx";
import { PageHeader } from "../components/layout.tsx";
import type { FieldErrors } from "../forms.ts";
import type { AcData } from "../loaders.ts";
import { fmt, plural } from "../labels.ts";
import { ActionsFieldset, DEFAULT_RUN_OPTIONS, RUN_OPTION_LABELS, ScopeFieldset, SmtpFieldset, type RunOptionValues } from "../run-options.tsx";
import { ScheduleSection } from "./schedules.tsx";
import { MonitoringSummary } from "./monitoring.tsx";
import type { MonitorView } from "../../core/services/monitors.ts";
import type { RunEstimate, ScopeSizes } from "../../core/services/estimate.ts";
import { timeLeftWords } from "./run.tsx";

/** The cost box's words for an estimate: what the page shows and GET /connections/:id/estimate sends its script. */
export function estimateWords(estimate: RunEstimate | null, balance: number, chosen: boolean) {
  const balanceText = plural(balance, "credit");
  if (!chosen) return { contacts: "Choose what to check to see the estimate.", credits: "—", time: "—", balance: balanceText, verdict: "", short: false };
  if (!estimate) return { contacts: "Counting the contacts in ActiveCampaign…", credits: "—", time: "—", balance: balanceText, verdict: "", short: false };
  const contacts = estimate.upperBound
    ? `Up to ${plural(estimate.contacts, "contact")} (a contact on several of these lists is checked and charged once)`
    : `About ${plural(estimate.contacts, "contact")}`;
  const credits = `${estimate.upperBound ? "Up to " : ""}${plural(estimate.credits, "credit")}; results we cannot determine are refunded`;
  const time = `${timeLeftWords(estimate.seconds)} to fetch and check (${plural(estimate.requests, "request")} to ActiveCampaign at ${fmt(estimate.perSecond)} a second); changes are made after your review`;
  const verdict = estimate.covered
    ? "Your balance covers it."
    : `Your balance covers ${plural(balance, "contact")}: the run checks ${balance === 0 ? "none" : "those"}, then pauses until you add credits (about ${plural(estimate.credits - balance, "more credit")}).`;
  return { contacts, credits, time, balance: balanceText, verdict, short: !estimate.covered };
}

export type CleanValues = RunOptionValues;
export const DEFAULT_CLEAN_VALUES: CleanValues = DEFAULT_RUN_OPTIONS;


export interface ConnectionPageProps {
  connection: ConnectionView;
  ac: AcData;
  balance: number;
  /** Contact counts of the lists and tags (null: still being counted); null when AC could not be read. */
  sizes: ScopeSizes | null;
  /** The estimate of the scope chosen in `values`. */
  estimate: RunEstimate | null;
  /** Set when starting was asked and the balance falls short: the page asks to start anyway or add credits. */
  shortfall: RunEstimate | null;
  values: CleanValues;
  errors: FieldErrors;
  /** The rename / replace-key form: the name as typed and its errors. */
  settings: { name: string; errors: FieldErrors };
  smtpAllowed: boolean;
  activeRun: RunView | undefined;
  lastRun: RunView | undefined;
  schedules: ScheduleView[];
  /** "Check new contacts as they arrive" (issue 18). */
  monitor: MonitorView;
  csrfToken: string;
}

const SETTINGS_LABELS = { name: "Name", apiKey: "New API key" };

/**
 * Renames the connection and replaces its key (AC checks the new key first). When AC refused
 * the stored key this is the way forward, so the key is then required and the form is open.
 */
const SettingsForm: FC<{ connection: ConnectionView; refused: boolean; name: string; errors: FieldErrors; csrfToken: string }> = ({ connection: c, refused, name, errors, csrfToken }) => (
  <PostForm
    action={`/connections/${c.id}/settings`}
    class="stack settings-form"
    csrfToken={csrfToken}
    errors={errors}
    labels={SETTINGS_LABELS}
    submit={refused ? "Check and replace the key" : "Save"}
  >
    <TextField
      name="apiKey"
      label={refused ? "New API key" : "New API key (optional)"}
      type="password"
      autocomplete="off"
      spellcheck={false}
      required={refused}
      error={errors.apiKey}
      hint={
        refused
          ? "Copy the current key from Settings → Developer in ActiveCampaign. We check it with ActiveCampaign before saving it."
          : `Leave empty to keep the key ending in ${c.keyHint}. A new key is checked with ActiveCampaign before it is saved.`
      }
    />
    <TextField name="name" label={SETTINGS_LABELS.name} value={name} error={errors.name} autocomplete="off" hint="How this account is called in Listwarden." />
  </PostForm>
);

export const ConnectionPage: FC<ConnectionPageProps> = (p) => {
  const c = p.connection;
  const refused = !p.ac.ok && p.ac.code === "ac_key_refused";
  const listNames = p.ac.ok ? new Map(p.ac.lists.map((l) => [l.id, l.name])) : undefined;
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
          <a class="button secondary" href="#schedules">
            Schedules{p.schedules.length > 0 ? ` (${fmt(p.schedules.length)})` : ""}
          </a>
          <a class="button secondary" href={`/connections/${c.id}/monitoring`}>
            New contacts{p.monitor.enabled ? ": on" : ""}
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

      {refused ? (
        <section class="card key-refused" id="replace-key" aria-labelledby="replace-key-h">
          <div class="notice bad" role="alert">
            <h2 class="h3" id="replace-key-h">
              ActiveCampaign refused this account’s API key
            </h2>
            <p>
              The key ending in <code>{c.keyHint}</code> may have been changed or removed in ActiveCampaign (Settings → Developer). Paste the current key to carry on:
              runs and schedules of this account keep working with it.
            </p>
          </div>
          <SettingsForm connection={c} refused name={p.settings.name} errors={p.settings.errors} csrfToken={p.csrfToken} />
        </section>
      ) : !p.ac.ok ? (
        <div class="notice bad" role="alert">
          <h2 class="h3">Could not reach ActiveCampaign</h2>
          <p>{p.ac.message}</p>
          <p>
            <a href={`/connections/${c.id}`}>Try again</a> in a moment.
          </p>
        </div>
      ) : (
        <CleanForm {...p} lists={p.ac.lists} tags={p.ac.tags} />
      )}

      <ScheduleSection connection={c} schedules={p.schedules} listNames={listNames} canAdd={p.ac.ok} csrfToken={p.csrfToken} />

      <MonitoringSummary connection={c} monitor={p.monitor} />

      {refused ? null : (
        <details class="card settings" id="settings" open={Object.keys(p.settings.errors).length > 0}>
          <summary>
            <h2 class="h3">Rename or replace the API key</h2>
          </summary>
          <SettingsForm connection={c} refused={false} name={p.settings.name} errors={p.settings.errors} csrfToken={p.csrfToken} />
        </details>
      )}
    </>
  );
};

/** Counts and cost before starting: the estimate for the scope chosen, beside the balance. The page's script keeps it current as the choice changes. */
const CostBox: FC<ConnectionPageProps> = (p) => {
  const chosen = p.values.scope === "all" || (p.values.scope === "lists" && p.values.listIds.length > 0) || (p.values.scope === "tag" && p.values.tagId !== "");
  const words = estimateWords(p.estimate, p.balance, chosen);
  return (
    <div class="cost" id="cost" aria-live="polite" data-estimate-url={`/connections/${p.connection.id}/estimate`}>
      <h3 class="h4">Estimate</h3>
      <dl class="details">
        <dt>Contacts</dt>
        <dd data-bind="contacts">{words.contacts}</dd>
        <dt>Credits</dt>
        <dd data-bind="credits">{words.credits}</dd>
        <dt>Time</dt>
        <dd data-bind="time">{words.time}</dd>
        <dt>Your balance</dt>
        <dd>
          <strong data-bind="balance">{words.balance}</strong> <a href="/credits#top-up">Add credits</a>
        </dd>
      </dl>
      <p data-bind="verdict" class={words.short ? "notice warn" : "muted"} hidden={!words.verdict || p.shortfall !== null}>
        {words.verdict}
      </p>
      {p.lastRun?.progress.total ? (
        <p class="small muted">
          The last run on this account checked {plural(p.lastRun.progress.total, "contact")} (<Time iso={p.lastRun.timings.createdAt} />
          ).
        </p>
      ) : null}
      {p.shortfall ? (
        <div class="notice warn shortfall" role="alert" id="shortfall">
          <p>
            <strong>Your balance does not cover this run.</strong> It needs {p.shortfall.upperBound ? "up to " : "about "}
            {plural(p.shortfall.credits, "credit")} and you have {plural(p.shortfall.balance, "credit")}. If you start now, it checks{" "}
            {plural(p.shortfall.balance, "contact")} and pauses until you add credits; nothing is lost and nothing is charged twice.
          </p>
          <p class="actions">
            <button type="submit" name="startAnyway" value="on" class="primary">
              Start anyway (it will pause)
            </button>
            <a class="button secondary" href="/credits#top-up">
              Add credits first
            </a>
          </p>
        </div>
      ) : null}
    </div>
  );
};

const CleanForm: FC<ConnectionPageProps & { lists: AcNamed[]; tags: AcNamed[] }> = (p) => (
  <PostForm
    action={`/connections/${p.connection.id}/runs`}
    class="card stack clean-form"
    heading={<h2>Clean this account</h2>}
    csrfToken={p.csrfToken}
    errors={p.errors}
    labels={RUN_OPTION_LABELS}
    submit="Start checking"
    note={<p class="small muted">Nothing changes in ActiveCampaign until you review the results and approve.</p>}
  >

    <ScopeFieldset legend="1. What to check" lists={p.lists} tags={p.tags} values={p.values} errors={p.errors} sizes={p.sizes ?? undefined} />

    <ActionsFieldset
      legend="2. What to do with each result"
      intro="Every address ends in one of four results. Choose what happens to each; you review the changes before anything is applied."
      values={p.values}
      errors={p.errors}
      warning={<p>You will be asked to confirm deletes when you review the run.</p>}
    />

    <SmtpFieldset legend="3. Mailbox probing" allowed={p.smtpAllowed} checked={p.values.smtpProbe} />

    <CostBox {...p} />
  </PostForm>
);

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
      <ButtonForm
        action={`/connections/${connection.id}/delete`}
        csrfToken={csrfToken}
        buttonClass="danger"
        after={
          <a class="button secondary" href={`/connections/${connection.id}`}>
            Keep it
          </a>
        }
      >
        Delete connection
      </ButtonForm>
    </div>
  </div>
);
