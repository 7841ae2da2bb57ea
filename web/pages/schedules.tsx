import type { FC } from "hono/jsx";
import type { ConnectionView } from "../../core/services/connections.ts";
import type { OccurrenceView, ScheduleView } from "../../core/services/schedules.ts";
import { ButtonForm, CheckboxField, Field, PostForm, SelectField, type SelectOption } from "../components/form.tsx";
import { StatusBadge, Time } from "../components/inline.tsx";
import { PageHeader } from "../components/layout.tsx";
import { DataTable, type Column } from "../components/table.tsx";
import type { FieldErrors } from "../forms.ts";
import type { AcData } from "../loaders.ts";
import { actionsWords, isKeyRefused, OCCURRENCE_WORDS, scopeWords } from "../labels.ts";
import { ActionsFieldset, RUN_OPTION_LABELS, ScopeFieldset, SmtpFieldset, type RunOptionValues } from "../run-options.tsx";

export interface ScheduleValues extends RunOptionValues {
  dayOfMonth: string;
  hour: string;
  timeZone: string;
  autoApply: boolean;
  /** Percent, as typed. */
  holdThreshold: string;
  confirmDelete: boolean;
}

const LABELS: Record<string, string> = {
  ...RUN_OPTION_LABELS,
  dayOfMonth: "Day of the month",
  hour: "Time",
  timeZone: "Time zone",
  autoApply: "Apply automatically",
  holdThreshold: "Stop for review above",
  confirmDelete: "Confirm deletes",
};

const pad = (n: number) => String(n).padStart(2, "0");

/** "Applies automatically unless more than 30% would change" or "Stops for your review". */
export function applyWords(s: Pick<ScheduleView, "autoApply" | "holdThreshold">): string {
  return s.autoApply ? `Applies automatically unless more than ${Math.round(s.holdThreshold * 100)}% would change` : "Stops for your review";
}

/** Days 1 to 28, then the last day of each month (days 29 to 31 are not in every month). */
const DAYS: SelectOption[] = [...Array.from({ length: 28 }, (_, i) => ({ value: String(i + 1), label: String(i + 1) })), { value: "last", label: "Last day" }];
const HOURS: SelectOption[] = Array.from({ length: 24 }, (_, h) => ({ value: String(h), label: `${pad(h)}:00` }));

/** The time zones the form offers after UTC: every IANA zone, grouped by its region. */
function zoneGroups(current: string): { group: string; options: SelectOption[] }[] {
  const zones = Intl.supportedValuesOf("timeZone");
  if (current && current !== "UTC" && !zones.includes(current)) zones.push(current);
  const groups = new Map<string, { value: string; label: string }[]>();
  for (const zone of zones.sort()) {
    const slash = zone.indexOf("/");
    const region = slash === -1 ? "Other" : zone.slice(0, slash);
    const label = zone.replaceAll("_", " ");
    groups.set(region, [...(groups.get(region) ?? []), { value: zone, label }]);
  }
  return [...groups].map(([region, list]) => ({ group: region, options: list }));
}

/** A schedule's recent occurrences: when, what happened (started, waiting, skipped and why), its run. */
const OCCURRENCE_COLUMNS: Column<OccurrenceView>[] = [
  { label: "When", cell: (o) => <Time iso={o.occurrence.at} /> },
  {
    label: "What happened",
    cell: (o) => (
      <div>
        <span class={`badge ${OCCURRENCE_WORDS[o.state].tone}`}>{OCCURRENCE_WORDS[o.state].badge}</span>
        {o.reason ? <span class="sub-line">{o.reason}</span> : null}
      </div>
    ),
  },
  {
    label: "Run",
    cell: (o) =>
      o.run ? (
        <div>
          <a href={`/runs/${o.run.id}`}>View run</a> <StatusBadge status={o.run.status} />
        </div>
      ) : (
        <span class="muted">—</span>
      ),
  },
];

// ---- on the connection page -------------------------------------------------------------------

const ScheduleCard: FC<{ schedule: ScheduleView; listNames: Map<string, string> | undefined; acOk: boolean; csrfToken: string }> = ({ schedule: s, listNames, acOk, csrfToken }) => {
  const base = `/connections/${s.connectionId}/schedules/${s.id}`;
  return (
    <article class={s.paused ? "card schedule paused" : "card schedule"} id={`schedule-${s.id}`} aria-labelledby={`schedule-${s.id}-h`}>
      <div class="schedule-head">
        <h3 id={`schedule-${s.id}-h`}>{s.description}</h3>
        <p class="badges">
          {s.paused ? <span class="badge muted">Paused</span> : <span class="badge ok">Active</span>}
          {s.deleteConfirmed ? <span class="badge bad">deletes contacts (confirmed)</span> : null}
        </p>
      </div>
      <p class="next-run">
        {s.nextRun ? (
          <>
            Next run: <strong>{s.nextRun.label}</strong>
            <span class="your-time" data-your-time={s.nextRun.at} data-zone={s.timeZone} hidden></span>
          </>
        ) : (
          <>
            <strong>Paused</strong>: no run until you resume it.
          </>
        )}
      </p>
      <dl class="details schedule-facts">
        <dt>Checks</dt>
        <dd>
          {scopeWords(s.scope, listNames ? { lists: listNames } : undefined)}
          {s.smtpProbe ? ", with mailbox probing" : ""}
        </dd>
        <dt>Actions</dt>
        <dd>{actionsWords(s.actions)}</dd>
        <dt>Review</dt>
        <dd class="apply-mode">{applyWords(s)}</dd>
      </dl>
      {s.lastError ? (
        <p class="notice bad schedule-error" role="status">
          <strong>Last scheduled run:</strong> {s.lastError}
          {acOk && isKeyRefused(s.lastErrorCode) ? <span class="sub-line">ActiveCampaign accepts this account’s key now: the next run uses it.</span> : null}
        </p>
      ) : null}
      {s.recentOccurrences.length > 0 ? (
        <div class="occurrences">
          <h4 id={`schedule-${s.id}-occ`}>Recent occurrences</h4>
          <DataTable rows={s.recentOccurrences} labelledBy={`schedule-${s.id}-occ`} columns={OCCURRENCE_COLUMNS} />
        </div>
      ) : null}
      <div class="actions schedule-actions">
        {acOk ? (
          <a class="button secondary" href={base} aria-label={`Edit schedule: ${s.description}`}>
            Edit
          </a>
        ) : null}
        <ButtonForm
          action={`${base}/${s.paused ? "resume" : "pause"}`}
          csrfToken={csrfToken}
          formClass="inline"
          buttonClass={s.paused ? "primary" : "secondary"}
          ariaLabel={`${s.paused ? "Resume" : "Pause"} schedule: ${s.description}`}
        >
          {s.paused ? "Resume" : "Pause"}
        </ButtonForm>
        <ButtonForm action={`${base}/delete`} csrfToken={csrfToken} formClass="inline" buttonClass="secondary danger-text" ariaLabel={`Delete schedule: ${s.description}`}>
          Delete
        </ButtonForm>
      </div>
    </article>
  );
};

/** The connection page's schedule section. `canAdd` is false while AC cannot be read. */
export const ScheduleSection: FC<{ connection: ConnectionView; schedules: ScheduleView[]; listNames: Map<string, string> | undefined; canAdd: boolean; csrfToken: string }> = (p) => (
  <section class="section schedules" id="schedules" aria-labelledby="schedules-h">
    <div class="section-head">
      <h2 id="schedules-h">Monthly schedules</h2>
      {p.canAdd ? (
        <a class="button secondary" href={`/connections/${p.connection.id}/schedules/new`}>
          Add a schedule
        </a>
      ) : null}
    </div>
    {p.schedules.length === 0 ? (
      <p class="card muted">
        No schedule yet. A schedule checks this account once a month at the time you choose, and stops for your review before changing anything, unless you let it
        apply by itself.
      </p>
    ) : (
      <ul class="schedule-list">
        {p.schedules.map((s) => (
          <li>
            <ScheduleCard schedule={s} listNames={p.listNames} acOk={p.canAdd} csrfToken={p.csrfToken} />
          </li>
        ))}
      </ul>
    )}
    {!p.canAdd ? <p class="small muted">Schedules can be added or changed once ActiveCampaign answers for this account again.</p> : null}
  </section>
);

// ---- the form ---------------------------------------------------------------------------------

export interface ScheduleFormPageProps {
  connection: ConnectionView;
  /** The schedule being edited; none for a new one. */
  schedule?: ScheduleView | undefined;
  ac: AcData;
  values: ScheduleValues;
  errors: FieldErrors;
  smtpAllowed: boolean;
  /** A new form not yet sent: the page script may choose the browser's time zone. */
  fresh: boolean;
  csrfToken: string;
}

export const ScheduleFormPage: FC<ScheduleFormPageProps> = (p) => {
  const c = p.connection;
  const v = p.values;
  const title = p.schedule ? "Edit schedule" : "New monthly schedule";
  const back = { href: `/connections/${c.id}#schedules`, label: c.name };
  if (!p.ac.ok) {
    return (
      <>
        <PageHeader title={title} back={back} />
        <div class="notice bad" role="alert">
          <h2 class="h3">{p.ac.code === "ac_key_refused" ? "ActiveCampaign refused this account’s API key" : "Could not reach ActiveCampaign"}</h2>
          <p>{p.ac.code === "ac_key_refused" ? "Replace the key on the connection page first: a schedule needs the account’s lists and tags." : p.ac.message}</p>
          <p>
            <a href={`/connections/${c.id}`}>Back to {c.name}</a>
          </p>
        </div>
      </>
    );
  }
  const action = p.schedule ? `/connections/${c.id}/schedules/${p.schedule.id}` : `/connections/${c.id}/schedules`;
  return (
    <>
      <PageHeader title={title} back={back}>
        <p class="lead">
          {p.schedule ? p.schedule.description : `Check “${c.name}” once a month. Each run is charged like any other: 1 credit per contact checked.`}
        </p>
      </PageHeader>
      <PostForm
        action={action}
        class="card stack schedule-form"
        csrfToken={p.csrfToken}
        errors={p.errors}
        labels={LABELS}
        submit={p.schedule ? "Save schedule" : "Create schedule"}
        actions={
          <a class="button secondary" href={`/connections/${c.id}#schedules`}>
            Cancel
          </a>
        }
      >

        <fieldset class="group timing">
          <legend>1. When</legend>
          <div class="timing-fields">
            <SelectField name="dayOfMonth" label={LABELS.dayOfMonth} error={p.errors.dayOfMonth} describedBy="f-timing-hint" value={v.dayOfMonth} options={DAYS} />
            <SelectField name="hour" label={LABELS.hour} error={p.errors.hour} value={v.hour} options={HOURS} />
            <SelectField
              name="timeZone"
              label={LABELS.timeZone}
              error={p.errors.timeZone}
              class="zone-field"
              select={{ "data-browser-zone": p.fresh ? "" : undefined }}
              value={v.timeZone}
              options={[{ value: "UTC", label: "UTC" }, ...zoneGroups(v.timeZone)]}
            />
          </div>
          <p class="hint" id="f-timing-hint">
            Once a month. Days 29 to 31 are not in every month: choose <em>Last day</em> for the end of each month. Daylight-saving time is taken care of.
          </p>
        </fieldset>

        <ScopeFieldset legend="2. What to check" lists={p.ac.lists} tags={p.ac.tags} values={v} errors={p.errors} />

        <ActionsFieldset
          legend="3. What to do with each result"
          intro="Every address ends in one of four results. Choose what each run does with them."
          values={v}
          errors={p.errors}
          warning={
            <CheckboxField
              name="confirmDelete"
              class="confirm-delete"
              label="I confirm that this schedule’s runs may delete contacts from ActiveCampaign."
              checked={v.confirmDelete}
              error={p.errors.confirmDelete}
            />
          }
        />

        <SmtpFieldset legend="4. Mailbox probing" allowed={p.smtpAllowed} checked={v.smtpProbe} />

        <fieldset class="group">
          <legend>{p.smtpAllowed ? "5." : "4."} Review</legend>
          <div class="choice">
            <input type="checkbox" name="autoApply" value="on" id="f-autoApply" checked={v.autoApply} aria-describedby="f-autoApply-hint" />
            <label for="f-autoApply">Apply the changes without waiting for my review</label>
          </div>
          <p class="hint indent" id="f-autoApply-hint">
            Without this, each run stops once every address is checked, and nothing changes in ActiveCampaign until you approve.
          </p>
          <Field
            name="holdThreshold"
            label={LABELS.holdThreshold}
            error={p.errors.holdThreshold}
            class="indent threshold"
            box={{ "data-shown-by": "f-autoApply" }}
            hint="Even then, a run stops for your review when more than this share of its contacts would be unsubscribed or deleted: a share that high is a sign something is off, such as a list imported by mistake."
            control={(attrs) => (
              <div class="with-unit">
                <input {...attrs} type="text" inputmode="numeric" value={v.holdThreshold} size={3} maxlength={2} autocomplete="off" />
                <span>% of the contacts</span>
              </div>
            )}
          />
        </fieldset>

      </PostForm>
    </>
  );
};
