import type { FC } from "hono/jsx";
import type { RunStatus } from "../../db/schema/index.ts";
import { CHECKING, isCancellable, isLive } from "../../core/domain/run-status.ts";
import type { RunView } from "../../core/services/runs.ts";
import { CLASS_WORDS, RESULT_CLASSES } from "../../core/domain/results.ts";
import { STATUS_BY_REASON, VERIFICATION_STATUSES, type VerificationReason } from "../../verify/taxonomy.ts";
import { ClassChart, HealthBar, ReasonChart } from "../charts.tsx";
import { ButtonForm, CheckboxField, CsrfField, ErrorSummary, SelectField, TextField } from "../components/form.tsx";
import { ContactCell, ResultCell } from "../components/contact-cells.tsx";
import { ScheduledTag, StatusBadge, Time } from "../components/inline.tsx";
import { PageHeader } from "../components/layout.tsx";
import { DataTable, type Column } from "../components/table.tsx";
import type { FieldErrors } from "../forms.ts";
import { labelOf } from "../../core/domain/scope-actions.ts";
import { actionLabel, duration, fmt, labelSettingsWords, namesOfRun, plural, reasonLabel, RUN_STATUS_WORDS, scopeWords, STATUS_LABELS } from "../labels.ts";


export interface RunPageProps {
  run: RunView;
  listNames: Map<string, string> | null;
  errors: FieldErrors;
  csrfToken: string;
}

/** "about 3 min", "about 1 h 20 min", "under a minute". */
export function timeLeftWords(seconds: number): string {
  if (seconds < 60) return "under a minute";
  const m = Math.round(seconds / 60);
  if (m < 60) return `about ${m} min`;
  return `about ${Math.floor(m / 60)} h ${m % 60} min`;
}

/**
 * The progress bar's value, maximum (null: indeterminate) and sentence. Rendered here only:
 * the live page (web/static/run.js) receives it from GET /runs/:id/live.
 */
export function progressOf(run: RunView): { value: number; max: number | null; text: string } {
  const { total, totalEstimated, fetched, verified, applied, failed, planned, waiting, retrying, creditsStillNeeded } = run.progress;
  switch (run.status) {
    case "queued":
      return { value: 0, max: null, text: "Waiting to start…" };
    case "running":
    case "paused_credits":
    case "paused_dns": {
      const prefix = run.status === "running" ? "" : "Paused. ";
      if (total === null && fetched === 0) return { value: 0, max: null, text: `${prefix}Counting the contacts in ActiveCampaign…` };
      // An upload's run (issue 19) checks the unique addresses of a file, counted before it started.
      const of =
        total === null
          ? `${fmt(fetched)} fetched so far`
          : totalEstimated
            ? `about ${plural(total, "contact")} (an estimate until every contact is fetched: ${fmt(fetched)} so far)`
            : run.scope.kind === "upload"
              ? plural(total, "unique address", "unique addresses")
              : plural(total, "contact");
      const forServer = waiting.count - waiting.forBudget;
      const next = waiting.nextAt ? ` (next try ${waiting.nextAt.slice(11, 16)} UTC)` : "";
      const waits = (n: number) => `${plural(n, "address", "addresses")} ${n === 1 ? "waits" : "wait"}`;
      const wait = [
        forServer > 0 ? ` ${waits(forServer)} for a mail server that asked us to try again later.` : "",
        waiting.forBudget > 0 ? ` ${waits(waiting.forBudget)} for the probe budget (probes per mail server per minute, per sending IP per day).` : "",
      ].join("");
      const waitText = wait ? `${wait.replace(/\.$/, "")}${next}.` : "";
      const credits = run.status === "paused_credits" && creditsStillNeeded !== null ? ` Waiting for credits: about ${plural(creditsStillNeeded, "more credit")} to finish.` : "";
      return { value: verified, max: Math.max(total ?? fetched, verified, 1), text: `${prefix}Checked ${fmt(verified)} of ${of}.${waitText}${credits}` };
    }
    case "awaiting_review":
      return { value: 1, max: 1, text: `All ${plural(verified, "contact")} checked. Waiting for your review.` };
    case "applying": {
      const l = run.progress.labels;
      const labelled = l.done + l.skipped + l.failed;
      const labelText = l.planned > 0 ? ` Labelled ${fmt(labelled)} of ${plural(l.planned, "contact")} in ActiveCampaign.` : "";
      return {
        value: applied + failed + labelled,
        max: Math.max(planned + l.planned, 1),
        text: `Applied ${fmt(applied + failed)} of ${plural(planned, "change")}.${labelText}${retrying ? ` ${plural(retrying, "change")} will be sent again: ActiveCampaign was busy.` : ""}`,
      };
    }
    case "completed": {
      const l = run.progress.labels;
      const labelText = l.planned > 0 ? `, ${plural(l.done, "contact")} labelled${l.skipped ? ` (${fmt(l.skipped)} left out)` : ""}${l.failed ? `, ${fmt(l.failed)} not labelled` : ""}` : "";
      if (run.scope.kind === "upload") return { value: 1, max: 1, text: `Done: ${plural(verified, "unique address", "unique addresses")} checked.` };
      const k = run.progress.byKind;
      const done = [
        k.unsubscribe.done > 0 ? `${plural(k.unsubscribe.done, "list membership")} unsubscribed` : null,
        k.delete.done > 0 ? `${plural(k.delete.done, "contact")} deleted` : null,
      ].filter(Boolean);
      return {
        value: 1,
        max: 1,
        text: `Done: ${plural(verified, "contact")} checked${done.length ? `, ${done.join(", ")}` : applied === 0 ? ", nothing changed" : ""}${failed ? `, ${plural(failed, "change")} failed` : ""}${labelText}.`,
      };
    }
    case "failed":
    case "cancelled":
      return { value: verified, max: Math.max(total ?? fetched, verified, 1), text: `Stopped after checking ${plural(verified, "contact")}.` };
  }
}

/** The pace of the run and the time the rest takes, in words ("—" when not measurable). */
function paceWords(run: RunView): { rate: string; left: string } {
  const { perMinute, secondsLeft } = run.progress;
  const unit = run.status === "applying" ? "changes" : "contacts";
  if (run.status !== "running" && run.status !== "applying") return { rate: "—", left: run.status === "paused_credits" ? "Waiting for credits" : "—" };
  if (perMinute === null) return { rate: "Measuring…", left: "Measuring…" };
  return { rate: `${fmt(perMinute)} ${unit} a minute`, left: secondsLeft === null ? "—" : timeLeftWords(secondsLeft) };
}

/** What the run waits for, if anything: the user (review, credits) or mail servers. */
function waitingWords(run: RunView): string {
  if (run.status === "awaiting_review") return "Your review";
  if (run.status === "paused_credits") return run.progress.creditsStillNeeded === null ? "Credits" : `Credits: about ${plural(run.progress.creditsStillNeeded, "more")}`;
  const n = run.progress.waiting.count;
  if (n > 0) return `${plural(n, "address", "addresses")} (mail servers said “later”)`;
  if (run.progress.retrying > 0) return `${plural(run.progress.retrying, "change")} (ActiveCampaign busy)`;
  return "Nothing";
}

/** The sentence under the status badge of an upload's run: no ActiveCampaign, no review. */
export function uploadSentence(status: RunStatus): string {
  if (status === "running") return "Checking each address of the file.";
  if (status === "paused_credits") return "Paused because the balance does not cover the next addresses.";
  if (status === "completed") return "Every address is checked.";
  return RUN_STATUS_WORDS[status].sentence;
}

/** The sentence under the status badge, for the phase the run is in. */
function sentenceOf(run: RunView): string {
  if (run.scope.kind === "upload") return uploadSentence(run.status);
  if (run.status === "running") {
    if (run.progress.total === null && run.progress.fetched === 0) return "Counting the contacts in ActiveCampaign.";
    return run.progress.totalEstimated ? "Fetching contacts from ActiveCampaign and checking each address." : "Every contact is fetched; checking the last addresses.";
  }
  return RUN_STATUS_WORDS[run.status].sentence;
}

const STAGES: { key: string; label: string; statuses: readonly RunStatus[] }[] = [
  { key: "check", label: "Check", statuses: CHECKING },
  { key: "review", label: "Review", statuses: ["awaiting_review"] },
  { key: "apply", label: "Apply", statuses: ["applying"] },
  { key: "done", label: "Done", statuses: ["completed"] },
];

const Stages: FC<{ status: RunStatus }> = ({ status }) => {
  const current = STAGES.findIndex((s) => s.statuses.includes(status));
  const finished = status === "completed";
  return (
    <ol class="stages" aria-label="Stages">
      {STAGES.map((s, i) => (
        <li class={current === -1 ? "" : i < current || finished ? "done" : i === current ? "current" : ""} aria-current={i === current ? "step" : undefined}>
          {s.label}
        </li>
      ))}
    </ol>
  );
};

/**
 * The results by status and reason (filled in live while the run checks) and the run's notes:
 * the run page's, and an upload's.
 */
export const ResultsAndNotes: FC<{ run: RunView; nothing: string }> = ({ run, nothing }) => {
  const live = isLive(run.status);
  const verifiedTotal = RESULT_CLASSES.reduce((a, c) => a + (run.counts.byClass[c] ?? 0), 0);
  return (
    <>
      <section class="card" aria-labelledby="results-h">
        <h2 id="results-h">Results</h2>
        {verifiedTotal === 0 && !live ? (
          <p class="muted">{nothing}</p>
        ) : (
          <>
            {run.mailboxChecked === false && (run.counts.byClass.domain_ok ?? 0) > 0 ? (
              <p class="small muted" id="mailbox-note">
                Mailboxes were not checked in this run: “{CLASS_WORDS.domain_ok}” means the domain takes mail, not that the mailbox exists.
              </p>
            ) : null}
            {verifiedTotal > 0 ? (
              <HealthBar byClass={run.counts.byClass} label="Share of each result" />
            ) : (
              <p class="muted" data-until-results>
                Results appear here as addresses are checked.
              </p>
            )}
            <div class="charts">
              <ClassChart byClass={run.counts.byClass} live={live} />
              <ReasonChart byReason={run.counts.byReason} />
            </div>
          </>
        )}
      </section>

      {run.notes.length > 0 ? (
        <section class="card" aria-labelledby="notes-h">
          <h2 id="notes-h">Notes</h2>
          <ul class="notes">
            {run.notes.map((n) => (
              <li>{n}</li>
            ))}
          </ul>
        </section>
      ) : null}
    </>
  );
};

/** What the live page updates in place, computed here so the script holds no rules of its own: every figure of the page, together. */
export function liveView(run: RunView) {
  const pace = paceWords(run);
  return {
    status: run.status,
    live: isLive(run.status),
    progress: progressOf(run),
    text: {
      sentence: sentenceOf(run),
      total: run.progress.total === null ? "—" : `${run.progress.totalEstimated ? "about " : ""}${fmt(run.progress.total)}`,
      fetched: fmt(run.progress.fetched),
      verified: fmt(run.progress.verified),
      unsubscribed: fmt(run.progress.byKind.unsubscribe.done),
      unsubscribePlanned: fmt(run.progress.byKind.unsubscribe.planned),
      deleted: fmt(run.progress.byKind.delete.done),
      deletePlanned: fmt(run.progress.byKind.delete.planned),
      charged: fmt(run.credits.charged),
      refunded: fmt(run.credits.refunded),
      net: fmt(run.credits.net),
      requests: fmt(run.acRequests),
      rate: pace.rate,
      left: pace.left,
      waiting: waitingWords(run),
    },
    byClass: run.counts.byClass,
  };
}

type LiveText = ReturnType<typeof liveView>["text"];

/** A number web/static/run.js keeps up to date (data-bind), as GET /runs/:id/live words it. */
export const Stat: FC<{ label: string; bind: keyof LiveText; text: LiveText }> = ({ label, bind, text }) => (
  <div>
    <dt>{label}</dt>
    <dd data-bind={bind}>{text[bind]}</dd>
  </div>
);

/** The status badge and its sentence, which the live page keeps current. */
export const StatusLine: FC<{ run: RunView; sentence: string }> = ({ run, sentence }) => (
  <div class="status-line">
    <h2 id="status-h" class="h3">
      <StatusBadge status={run.status} />
      <span class="visually-hidden">: </span>
    </h2>
    <p class="status-sentence" data-bind="sentence">
      {sentence}
    </p>
  </div>
);

/** The run's reason for its status, in the tone of the status (with the way to credits when it waits for them). */
export const StatusReason: FC<{ run: RunView }> = ({ run }) =>
  run.statusReason ? (
    <p class={run.status === "failed" ? "notice bad" : run.status === "paused_credits" || run.status === "paused_dns" ? "notice warn" : run.status === "completed" ? "notice ok" : "notice info"}>
      {run.statusReason}
      {run.status === "paused_credits" ? (
        <>
          {" "}
          <a href="/credits#top-up">Add credits</a>
        </>
      ) : null}
    </p>
  ) : null;

/** The progress bar and its sentence (and the announcer screen readers hear a quarter at a time). */
export const ProgressBlock: FC<{ progress: ReturnType<typeof progressOf>; text?: string }> = ({ progress, text }) => (
  <div class="progress-block">
    {progress.max === null ? (
      <progress id="run-progress" aria-labelledby="progress-text"></progress>
    ) : (
      <progress id="run-progress" max={String(progress.max)} value={String(progress.value)} aria-labelledby="progress-text"></progress>
    )}
    <p id="progress-text" class="progress-text">
      {text ?? progress.text}
    </p>
    <p id="progress-announcer" class="visually-hidden" aria-live="polite" aria-atomic="true"></p>
  </div>
);

export const RunPage: FC<RunPageProps> = ({ run, listNames, errors, csrfToken }) => {
  const { progress, text } = liveView(run);
  // Changes exist once the plan does: "0 / 0" while checking would say nothing true.
  const hasPlan = run.plan !== null || run.progress.planned > 0 || run.status === "applying";
  const live = isLive(run.status);
  // Names as ActiveCampaign had them when the run fetched; for older runs, as it has them now.
  const names = namesOfRun(run) ?? (listNames ? { lists: listNames } : undefined);
  const listName = (id: number | string) => names?.lists.get(String(id)) ?? `List #${id}`;
  const back = run.connectionId ? { href: `/connections/${run.connectionId}`, label: run.connectionName } : { href: "/", label: "Home" };

  return (
    <>
      <PageHeader title={`Run on ${run.connectionName}`} back={back}>
        <p class="meta">
          {run.scheduleId ? (
            <span>
              <ScheduledTag scheduleId={run.scheduleId} />{" "}
              {run.connectionId ? <a href={`/connections/${run.connectionId}#schedule-${run.scheduleId}`}>Monthly schedule</a> : "Monthly schedule"}
            </span>
          ) : null}
          <span>{scopeWords(run.scope, names)}</span>
          <span>
            Created <Time iso={run.timings.createdAt} />
          </span>
          {run.connectionId ? <a href={`/connections/${run.connectionId}/runs`}>Run history</a> : <span>Connection deleted</span>}
        </p>
      </PageHeader>

      {errors._form ? (
        <p class="notice bad" role="alert">
          {errors._form}
        </p>
      ) : null}

      <section class="card run-status" id="run" data-run-id={run.id} data-status={run.status} data-live={live ? "yes" : "no"} aria-labelledby="status-h">
        <StatusLine run={run} sentence={text.sentence} />
        <Stages status={run.status} />
        <StatusReason run={run} />

        <ProgressBlock progress={progress} />

        <dl class="stats">
          <Stat label="Contacts" bind="total" text={text} />
          <Stat label="Fetched" bind="fetched" text={text} />
          <Stat label="Checked" bind="verified" text={text} />
          {/* Each count says what it counts (issue 14): list memberships, contacts. */}
          {hasPlan && run.progress.byKind.unsubscribe.planned > 0 ? (
            <div>
              <dt>List memberships unsubscribed</dt>
              <dd data-count-kind="unsubscribe">
                <span data-bind="unsubscribed">{text.unsubscribed}</span> of <span data-bind="unsubscribePlanned">{text.unsubscribePlanned}</span>
              </dd>
            </div>
          ) : null}
          {hasPlan && run.progress.byKind.delete.planned > 0 ? (
            <div>
              <dt>Contacts deleted</dt>
              <dd data-count-kind="delete">
                <span data-bind="deleted">{text.deleted}</span> of <span data-bind="deletePlanned">{text.deletePlanned}</span>
              </dd>
            </div>
          ) : null}
          <Stat label="Credits charged" bind="charged" text={text} />
          <Stat label="Refunded" bind="refunded" text={text} />
          {live ? (
            <>
              <Stat label="Pace" bind="rate" text={text} />
              <Stat label="Time left" bind="left" text={text} />
            </>
          ) : null}
          {live || run.status === "awaiting_review" ? <Stat label="Waiting for" bind="waiting" text={text} /> : null}
        </dl>
        {live ? (
          <p class="small muted" id="live-note">
            This page updates by itself. <a href={`/runs/${run.id}`}>Refresh</a>
          </p>
        ) : null}
        {run.canRetryActions ? (
          <ButtonForm
            action={`/runs/${run.id}/retry`}
            csrfToken={csrfToken}
            after={
              <span class="small muted">
                {plural(run.progress.planned - run.progress.applied, "change")} did not go through. They are sent again as planned; nothing is checked or
                charged again.
              </span>
            }
          >
            Retry the changes not made
          </ButtonForm>
        ) : null}
        {isCancellable(run.status) && run.status !== "awaiting_review" ? (
          <CancelButton run={run} csrfToken={csrfToken} note="Nothing has been changed in ActiveCampaign yet; unchecked contacts are refunded." />
        ) : null}
      </section>

      {run.status === "awaiting_review" ? <Review run={run} listName={listName} errors={errors} csrfToken={csrfToken} /> : <Outcome run={run} listName={listName} />}

      {run.undo.memberships > 0 && (run.status === "completed" || run.undo.state !== "none") ? <Undo run={run} csrfToken={csrfToken} error={errors.confirmUndo} /> : null}

      {run.progress.labels.planned > 0 && run.status !== "awaiting_review" ? <Labels run={run} /> : null}

      <ResultsAndNotes run={run} nothing="No contact was checked." />

      <section class="card" aria-labelledby="downloads-h">
        <h2 id="downloads-h">Report</h2>
        <p>
          One row per contact: the address, name, lists, result, reason and what was done.
          {live || run.status === "awaiting_review" ? " The run is not finished: the report shows what is known so far." : ""}
        </p>
        <p class="actions">
          <a class="button secondary" href={`/api/runs/${run.id}/report.csv`} download>
            Download CSV report
          </a>
          <a class="button secondary" href={`/api/runs/${run.id}/summary.json`} download>
            Download summary (JSON)
          </a>
        </p>
      </section>

      {run.progress.byKind.delete.done > 0 ? <Backup run={run} /> : null}

      <section class="card" aria-labelledby="details-h">
        <h2 id="details-h">Details</h2>
        <dl class="details">
          <dt>Actions chosen</dt>
          <dd>{chosenWords(run.actions)}</dd>
          {run.progress.labels.planned > 0 ? (
            <>
              <dt>Labels</dt>
              <dd>{labelSettingsWords(run.actions)}</dd>
            </>
          ) : null}
          <dt>Mailboxes checked</dt>
          <dd>{run.mailboxChecked ? "Yes" : run.smtpProbe ? "No: asked for, but not possible on this server (see the notes)" : "No: domains only"}</dd>
          <dt>Started</dt>
          <dd>
            <Time iso={run.timings.startedAt} />
          </dd>
          <dt>Finished</dt>
          <dd>
            <Time iso={run.timings.finishedAt} />
          </dd>
          <dt>Duration</dt>
          <dd>{duration(run.timings.durationMs)}</dd>
          <dt>Calls to ActiveCampaign</dt>
          <dd data-bind="requests">{text.requests}</dd>
          <dt>Credits used, after refunds</dt>
          <dd data-bind="net">{text.net}</dd>
        </dl>
      </section>
    </>
  );
};

/** "Deliverable: Keep · Risky: Keep + label · … · Disposable address: Delete": every choice, per result then per reason. */
function chosenWords(actions: RunView["actions"]): string {
  const labelled = labelOf(actions).statuses;
  const withLabel = (action: string, label: boolean | undefined) => `${actionLabel(action)}${label === true ? " + label" : label === false ? " (no label)" : ""}`;
  return [
    ...VERIFICATION_STATUSES.map((s) => `${STATUS_LABELS[s]}: ${withLabel(actions[s], labelled.includes(s) || undefined)}`),
    ...actions.overrides.map((o) => `${reasonLabel(o.reason)}: ${o.action ? withLabel(o.action, o.label) : o.label ? "Label" : "No label"}`),
  ].join(" · ");
}

/** Labels in ActiveCampaign: the field, what was written per value, and what was left out or failed. */
const Labels: FC<{ run: RunView }> = ({ run }) => {
  const l = run.progress.labels;
  const label = labelOf(run.actions);
  const pending = l.planned - l.done - l.skipped - l.failed;
  return (
    <section class="card" aria-labelledby="labels-h" id="labels">
      <h2 id="labels-h">Labels in ActiveCampaign</h2>
      <p>
        Field “<strong>{label.fieldName}</strong>”{label.reasonFieldName ? <> and “{label.reasonFieldName}” for the reason</> : null}
        {label.tagPrefix !== null ? <>; tags {label.tagPrefix}&lt;result&gt;</> : null}.
      </p>
      <dl class="stats">
        <div>
          <dt>Labelled</dt>
          <dd data-label="done">{fmt(l.done)}</dd>
        </div>
        <div>
          <dt>Left out (changed or gone)</dt>
          <dd data-label="skipped">{fmt(l.skipped)}</dd>
        </div>
        <div>
          <dt>Failed</dt>
          <dd data-label="failed">{fmt(l.failed)}</dd>
        </div>
        {pending > 0 ? (
          <div>
            <dt>Still to write</dt>
            <dd data-label="pending">{fmt(pending)}</dd>
          </div>
        ) : null}
      </dl>
      {run.plan && run.plan.label.contacts > 0 ? (
        <table class="label-values">
          <caption class="visually-hidden">Contacts per value of {label.fieldName}</caption>
          <thead>
            <tr>
              <th scope="col">{label.fieldName}</th>
              <th scope="col">Planned</th>
              <th scope="col">Labelled</th>
            </tr>
          </thead>
          <tbody>
            {Object.entries(run.plan.label.byValue).map(([value, n]) => (
              <tr>
                <td>
                  <span class={`dot s-${value}`} aria-hidden="true"></span>
                  <code>{value}</code>
                  {label.tagPrefix !== null ? <span class="sub-line">tag {label.tagPrefix + value}</span> : null}
                </td>
                <td>{fmt(n)}</td>
                <td>{fmt(l.byValue[value] ?? 0)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      <p class="small muted">The CSV report has the value written and the outcome of each contact’s batch (or why it was left out).</p>
    </section>
  );
};

const CancelButton: FC<{ run: RunView; csrfToken: string; note: string }> = ({ run, csrfToken, note }) => (
  <ButtonForm action={`/runs/${run.id}/cancel`} csrfToken={csrfToken} buttonClass="secondary" after={<span class="small muted">{note}</span>}>
    Cancel run
  </ButtonForm>
);

type SampleRow = NonNullable<RunView["plan"]>["sample"][number];

/** The review's sample: each contact with a change, its result, the action and the lists concerned. */
const sampleColumns = (listName: (id: number) => string): Column<SampleRow>[] => [
  { label: "Contact", cell: (s) => <ContactCell {...s} /> },
  {
    label: "Result",
    cell: (s) => <ResultCell status={s.status} reason={s.reason} />,
  },
  {
    label: "Action",
    cell: (s) => (
      <div>
        {s.action !== "keep" || !s.label ? <span class={`action a-${s.action}`}>{actionLabel(s.action)}</span> : null}
        {s.label ? (
          <span class="action a-label">
            Label “{s.label}”
          </span>
        ) : null}
        {s.action === "unsubscribe" && s.lists.length === 0 ? <span class="sub-line">Nothing to do: not active on these lists</span> : null}
      </div>
    ),
  },
  {
    label: "Lists",
    cell: (s) => <div>{s.action === "delete" ? "All (contact deleted)" : s.lists.length > 0 ? s.lists.map(listName).join(", ") : s.action === "keep" ? "Unchanged" : "—"}</div>,
  },
];

/**
 * The plan counted one way (docs/run-lifecycle.md): every contact checked is kept,
 * unsubscribed, deleted, or has nothing to do; unsubscribes also counted as list memberships.
 * `data-count` names each figure for the agreement test.
 */
const PlanCounts: FC<{ plan: NonNullable<RunView["plan"]>; labelField: string; done?: RunView["progress"]["byKind"] }> = ({ plan, labelField, done }) => (
  <>
    <p class="plan-of">
      Of <strong data-count="contacts">{fmt(plan.contacts)}</strong> {plan.contacts === 1 ? "contact" : "contacts"} checked:
    </p>
    <ul class="plan">
      <li class="plan-keep">
        <strong data-count="keep">{fmt(plan.keep)}</strong> <span>{plan.label.contacts > 0 ? "kept on their lists" : "kept as they are"}</span>
        {plan.excluded > 0 ? <small> ({fmt(plan.excluded)} taken out of the plan by hand)</small> : null}
      </li>
      <li class="plan-unsub">
        <strong data-count="unsubscribe">{fmt(plan.unsubscribe.contacts)}</strong>{" "}
        <span>
          {done ? "to unsubscribe" : "unsubscribed"}{" "}
          <small>
            from <span data-count="memberships">{fmt(plan.unsubscribe.requests)}</span> list {plan.unsubscribe.requests === 1 ? "membership" : "memberships"}
            {done && plan.unsubscribe.requests > 0 ? `: ${fmt(done.unsubscribe.done)} done${done.unsubscribe.failed ? `, ${fmt(done.unsubscribe.failed)} failed` : ""}` : ""}
          </small>
        </span>
      </li>
      <li class="plan-delete">
        <strong data-count="delete">{fmt(plan.delete.contacts)}</strong>{" "}
        <span>
          {done ? "to delete" : "deleted"}
          {done && plan.delete.contacts > 0 ? (
            <small>
              {" "}
              {fmt(done.delete.done)} done{done.delete.failed ? `, ${fmt(done.delete.failed)} failed` : ""}
            </small>
          ) : null}
        </span>
      </li>
      <li class="plan-none">
        <strong data-count="nothing">{fmt(plan.nothingToDo)}</strong>{" "}
        <span>
          with nothing to do <small>to unsubscribe, but already off the lists concerned</small>
        </span>
      </li>
      {plan.label.contacts > 0 ? (
        <li class="plan-label" id="plan-label">
          <strong data-count="label">{fmt(plan.label.contacts)}</strong>{" "}
          <span>
            labelled in ActiveCampaign{" "}
            <small>
              “{labelField}”:{" "}
              {Object.entries(plan.label.byValue)
                .map(([value, n]) => `${value} ${fmt(n)}`)
                .join(", ")}
            </small>
          </span>
        </li>
      ) : null}
    </ul>
  </>
);

/** Results and changes per list, for runs that touch several. */
const PerList: FC<{ plan: NonNullable<RunView["plan"]>; listName: (id: number | string) => string; applied: boolean }> = ({ plan, listName, applied }) =>
  plan.perList.length > 1 ? (
    <>
      <h3 id="per-list-h">Per list</h3>
      <DataTable
        rows={plan.perList}
        label="Results and changes per list"
        class="per-list"
        columns={[
          { label: "List", cell: (l) => l.name ?? listName(l.listId) },
          { label: "Contacts", num: true, cell: (l) => fmt(l.contacts) },
          { label: "Deliverable or domain OK", num: true, cell: (l) => fmt(l.byClass.deliverable + l.byClass.domain_ok) },
          { label: "Undeliverable", num: true, cell: (l) => fmt(l.byClass.undeliverable) },
          { label: applied ? "Unsubscribed" : "To unsubscribe", num: true, cell: (l) => (applied ? `${fmt(l.unsubscribe.done)} of ${fmt(l.unsubscribe.planned)}` : fmt(l.unsubscribe.planned)) },
          { label: applied ? "Deleted" : "To delete", num: true, cell: (l) => (applied ? `${fmt(l.delete.done)} of ${fmt(l.delete.planned)}` : fmt(l.delete.planned)) },
        ]}
      />
    </>
  ) : null;

const SampleSection: FC<{ plan: NonNullable<RunView["plan"]>; listName: (id: number) => string }> = ({ plan, listName }) => {
  if (plan.sample.length === 0) return null;
  const changed = plan.unsubscribe.contacts + plan.delete.contacts;
  const withChange = plan.sample.filter((s) => s.action !== "keep").length;
  return (
    <>
      <h3>Sample of the changes</h3>
      <DataTable rows={plan.sample} label="Sample of the changes" class="sample" columns={sampleColumns(listName)} />
      <p class="small muted" id="sample-note">
        {changed > withChange
          ? `Showing ${fmt(withChange)} of the ${plural(changed, "contact")} unsubscribed or deleted. The CSV report lists every contact.`
          : "These are all the contacts with a change."}
      </p>
    </>
  );
};

/** A run past its review keeps its story: what was done per kind and per list, AC's refusals, the sample. */
const Outcome: FC<{ run: RunView; listName: (id: number | string) => string }> = ({ run, listName }) => {
  const plan = run.plan;
  if (!plan || run.timings.approvedAt === null) return null;
  const label = labelOf(run.actions);
  return (
    <section class="card" aria-labelledby="outcome-h" id="outcome">
      <h2 id="outcome-h">What was done</h2>
      <PlanCounts plan={plan} labelField={label.fieldName} done={run.progress.byKind} />
      <PerList plan={plan} listName={listName} applied />
      {plan.failures.length > 0 ? (
        <>
          <h3>Changes ActiveCampaign refused</h3>
          <ul class="failures">
            {plan.failures.map((f) => (
              <li>
                <span class="break">{f.email}</span>: {f.kind === "delete" ? "delete" : `unsubscribe from ${listName(f.listId ?? 0)}`}: “{f.error}”
              </li>
            ))}
          </ul>
        </>
      ) : null}
      <SampleSection plan={plan} listName={listName} />
    </section>
  );
};

const ACTION_OPTIONS = (["keep", "unsubscribe", "delete"] as const).map((a) => ({ value: a, label: actionLabel(a) }));

/**
 * The review's edit of the plan: an action per result and per reason found in this run. The
 * results are stored: the plan is made again at once, nothing is checked or charged again.
 */
const ChangePlan: FC<{ run: RunView; csrfToken: string }> = ({ run, csrfToken }) => {
  const reasons = Object.keys(run.counts.byReason).sort((a, b) => (run.counts.byReason[b] ?? 0) - (run.counts.byReason[a] ?? 0));
  const override = (reason: string) => run.actions.overrides.find((o) => o.reason === reason)?.action;
  return (
    <details class="change-plan" id="change-plan">
      <summary>Change the plan</summary>
      <form method="post" action={`/runs/${run.id}/plan`} class="stack">
        <CsrfField token={csrfToken} />
        <p class="small muted">The results are kept: the plan is made again at once. Nothing is checked or charged again.</p>
        <fieldset>
          <legend>By result</legend>
          <div class="plan-grid">
            {VERIFICATION_STATUSES.map((status) => (
              <SelectField name={`status-${status}`} label={STATUS_LABELS[status]} value={run.actions[status]} options={ACTION_OPTIONS} />
            ))}
          </div>
        </fieldset>
        {reasons.length > 0 ? (
          <fieldset>
            <legend>By reason (found in this run)</legend>
            <div class="plan-grid">
              {reasons.map((reason) => {
                const status = STATUS_BY_REASON[reason as VerificationReason] ?? "unknown";
                return (
                  <SelectField
                    name={`reason-${reason}`}
                    label={`${reasonLabel(reason)} (${fmt(run.counts.byReason[reason] ?? 0)})`}
                    value={override(reason) ?? "same"}
                    options={[{ value: "same", label: `As ${STATUS_LABELS[status].toLowerCase()}: ${actionLabel(run.actions[status])}` }, ...ACTION_OPTIONS]}
                  />
                );
              })}
            </div>
          </fieldset>
        ) : null}
        <div class="actions">
          <button type="submit" class="secondary">
            Update the plan
          </button>
        </div>
      </form>
    </details>
  );
};

const Review: FC<{ run: RunView; listName: (id: number | string) => string; errors: FieldErrors; csrfToken: string }> = ({ run, listName, errors, csrfToken }) => {
  const plan = run.plan;
  if (!plan) {
    return (
      <section class="card review">
        <h2>Review</h2>
        <p>The plan is being prepared. <a href={`/runs/${run.id}`}>Refresh</a></p>
      </section>
    );
  }
  const changes = plan.unsubscribe.requests + plan.delete.contacts + plan.label.contacts;
  const verbs = [
    plan.unsubscribe.contacts > 0 ? `unsubscribe ${plural(plan.unsubscribe.contacts, "contact")}` : null,
    plan.delete.contacts > 0 ? `delete ${plural(plan.delete.contacts, "contact")}` : null,
    plan.label.contacts > 0 ? `label ${plural(plan.label.contacts, "contact")}` : null,
  ].filter(Boolean);
  const label = labelOf(run.actions);
  const anomaly = plan.anomaly;
  return (
    <section class="card review" aria-labelledby="review-h" id="review">
      <h2 id="review-h">Review the changes</h2>
      <p>Nothing has changed in ActiveCampaign yet. Approve to apply these changes, or cancel the run.</p>
      <ErrorSummary errors={{ confirmCount: errors.confirmCount, confirmDelete: errors.confirmDelete }} labels={{ confirmCount: "Confirm the number", confirmDelete: "Confirm deletes" }} />
      <PlanCounts plan={plan} labelField={label.fieldName} />
      {anomaly.needsConfirmation ? (
        <p class="notice warn" id="anomaly">
          This plan is unusual: it unsubscribes or deletes {plural(anomaly.count, "contact")}, {Math.round(anomaly.share * 100)}% of those checked (more than{" "}
          {Math.round(anomaly.threshold * 100)}%). If most of them are “Domain does not exist”, the server’s name lookups may have failed: cancel rather than approve.
        </p>
      ) : null}
      <a class="skip-to-decision" href="#decision">
        Go to Approve or Cancel
      </a>

      {plan.label.contacts > 0 ? (
        <p class="small muted" id="label-note">
          Labels change no subscription: each labelled contact gets its result in the field “{label.fieldName}”
          {label.reasonFieldName ? ` and its reason in “${label.reasonFieldName}”` : ""}
          {label.tagPrefix !== null ? `, and the tag ${label.tagPrefix}<result> (an earlier result’s tag is removed)` : ""}. Written in imports of up to 250
          contacts{label.runAutomations ? "; automations react to them" : ", without starting automations"}. Contacts whose e-mail changed since the check are left out.
        </p>
      ) : null}

      <ChangePlan run={run} csrfToken={csrfToken} />
      <PerList plan={plan} listName={listName} applied={false} />
      <SampleSection plan={plan} listName={listName} />
      <p>
        <a href={`/runs/${run.id}/contacts`} id="all-contacts">
          See every contact: filter, search, take single contacts out of the plan
        </a>
      </p>

      <div id="decision" class="decision">
      <form method="post" action={`/runs/${run.id}/approve`} class="stack approve-form">
        <CsrfField token={csrfToken} />
        <input type="hidden" name="planRevision" value={String(plan.revision)} />
        {anomaly.needsConfirmation ? (
          <TextField
            name="confirmCount"
            label={`Type ${anomaly.count} to confirm that ${plural(anomaly.count, "contact")} will be unsubscribed or deleted`}
            error={errors.confirmCount}
            required
            autocomplete="off"
            spellcheck={false}
          />
        ) : null}
        {plan.delete.contacts > 0 ? (
          <CheckboxField
            name="confirmDelete"
            class="confirm-delete"
            required
            error={errors.confirmDelete}
            label={`I understand that ${plural(plan.delete.contacts, "contact")} will be deleted from ActiveCampaign, with their fields, tags and history, and that ActiveCampaign can restore deleted contacts for 30 days only.`}
          />
        ) : null}
        <div class="actions">
          <button type="submit" class={plan.delete.contacts > 0 ? "danger" : "primary"}>
            {changes > 0 ? `Approve: ${verbs.join(" and ")}` : "Approve (nothing to change)"}
          </button>
        </div>
      </form>
      <CancelButton run={run} csrfToken={csrfToken} note="Nothing will change in ActiveCampaign. Credits spent on checking are not returned." />
      </div>
    </section>
  );
};

/** The backup of the contacts the run deleted (issue 14): a download while it is kept, else why it is not. */
const Backup: FC<{ run: RunView }> = ({ run }) => (
  <section class="card" aria-labelledby="backup-h" id="backup">
    <h2 id="backup-h">Backup of deleted contacts</h2>
    {run.backup.contacts > 0 ? (
      <>
        <p>
          Before deleting, Listwarden saved the whole record of the <span data-count="backup">{plural(run.backup.contacts, "contact")}</span> it deleted, as
          ActiveCampaign had it: fields, custom fields, lists and tags. The CSV imports into ActiveCampaign (Contacts → Import); the lists each contact was on
          are in their own columns, to choose while importing.
        </p>
        <p class="small muted">
          Kept until <Time iso={run.backup.expiresAt} />, then removed. ActiveCampaign itself can restore deleted contacts for 30 days.
        </p>
        <p class="actions">
          <a class="button secondary" id="backup-csv" href={`/api/runs/${run.id}/backup.csv`} download>
            Download backup of deleted contacts (CSV)
          </a>
          <a class="button secondary" href={`/api/runs/${run.id}/backup.json`} download>
            Download backup (JSON)
          </a>
        </p>
      </>
    ) : (
      <p class="muted">No backup is kept: backups are removed some days after the delete (and none is taken of a contact already gone from ActiveCampaign).</p>
    )}
  </section>
);

/**
 * Undoing the run's unsubscribes (issue 14): what it will do (counts) and a confirmation, then
 * its progress, then what it did: memberships re-subscribed, and those left as they are.
 */
const Undo: FC<{ run: RunView; csrfToken: string; error: string | undefined }> = ({ run, csrfToken, error }) => {
  const u = run.undo;
  return (
    <section class="card" aria-labelledby="undo-h" id="undo" data-undo={u.state}>
      <h2 id="undo-h">Undo unsubscribes</h2>
      {u.state === "done" ? (
        <>
          <p class="notice ok" id="undo-result">
            Undone: <strong data-count="undo-restored">{plural(u.restored, "list membership")}</strong> re-subscribed.
            {u.skipped > 0 ? (
              <>
                {" "}
                <span data-count="undo-skipped">{fmt(u.skipped)}</span> left as {u.skipped === 1 ? "it is" : "they are"}: changed since this run (the contact re-subscribed,
                unsubscribed again or bounced) or no longer in ActiveCampaign.
              </>
            ) : null}
            {u.failed > 0 ? ` ${fmt(u.failed)} refused by ActiveCampaign.` : null}
          </p>
        </>
      ) : u.state === "running" ? (
        <p id="undo-progress">
          Undoing: {fmt(u.restored)} re-subscribed, {fmt(u.skipped)} left as they are, {fmt(u.pending)} to go, at ActiveCampaign's pace. This page updates by itself.
        </p>
      ) : u.available ? (
        <form method="post" action={`/runs/${run.id}/undo`} class="undo-form">
          <CsrfField token={csrfToken} />
          <p>
            This run unsubscribed <strong data-count="undo-memberships">{plural(u.memberships, "list membership")}</strong> of{" "}
            <span data-count="undo-contacts">{plural(u.contacts, "contact")}</span>. Undoing re-subscribes each one only if it is still as this run left it: a
            contact who re-subscribed, unsubscribed again or bounced since is left as they are. Nothing else is touched, and deleted contacts are not brought
            back{run.backup.contacts > 0 ? " (see their backup below)" : ""}.
          </p>
          <p class="small muted">
            Possible until <Time iso={u.until} />.
          </p>
          <CheckboxField name="confirmUndo" label={`Yes, re-subscribe up to ${plural(u.memberships, "list membership")} this run unsubscribed`} error={error} required />
          <p class="actions">
            <button type="submit" class="secondary">
              Undo unsubscribes
            </button>
          </p>
        </form>
      ) : (
        <p class="muted">
          {run.connectionId === null
            ? "The ActiveCampaign connection of this run was deleted: its unsubscribes cannot be undone."
            : <>The unsubscribes of this run can no longer be undone{u.until ? <>: that was possible until <Time iso={u.until} /></> : ""}.</>}
        </p>
      )}
    </section>
  );
};
