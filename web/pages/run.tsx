import type { FC } from "hono/jsx";
import type { RunStatus } from "../../db/schema/index.ts";
import { CHECKING, isCancellable, isLive } from "../../core/domain/run-status.ts";
import type { RunView } from "../../core/services/runs.ts";
import { VERIFICATION_STATUSES } from "../../verify/taxonomy.ts";
import { HealthBar, ReasonChart, StatusChart } from "../charts.tsx";
import { ButtonForm, CheckboxField, CsrfField, ErrorSummary } from "../components/form.tsx";
import { ScheduledTag, StatusBadge, Time } from "../components/inline.tsx";
import { PageHeader } from "../components/layout.tsx";
import { DataTable, type Column } from "../components/table.tsx";
import type { FieldErrors } from "../forms.ts";
import { labelOf } from "../../core/domain/scope-actions.ts";
import { actionLabel, duration, fmt, labelSettingsWords, plural, reasonLabel, RUN_STATUS_WORDS, scopeWords, STATUS_LABELS, statusLabel } from "../labels.ts";


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
    case "paused_credits": {
      const prefix = run.status === "paused_credits" ? "Paused. " : "";
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
      return { value: 1, max: 1, text: `Done: ${plural(verified, "contact")} checked, ${plural(applied, "change")} applied${failed ? `, ${fmt(failed)} failed` : ""}${labelText}.` };
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
  const verifiedTotal = VERIFICATION_STATUSES.reduce((a, s) => a + (run.counts.byStatus[s] ?? 0), 0);
  return (
    <>
      <section class="card" aria-labelledby="results-h">
        <h2 id="results-h">Results</h2>
        {verifiedTotal === 0 && !live ? (
          <p class="muted">{nothing}</p>
        ) : (
          <>
            {verifiedTotal > 0 ? (
              <HealthBar byStatus={run.counts.byStatus} label="Share of each result" />
            ) : (
              <p class="muted" data-until-results>
                Results appear here as addresses are checked.
              </p>
            )}
            <div class="charts">
              <StatusChart byStatus={run.counts.byStatus} live={live} />
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
      applied: fmt(run.progress.applied),
      planned: fmt(run.progress.planned),
      charged: fmt(run.credits.charged),
      refunded: fmt(run.credits.refunded),
      net: fmt(run.credits.net),
      requests: fmt(run.acRequests),
      rate: pace.rate,
      left: pace.left,
      waiting: waitingWords(run),
    },
    byStatus: run.counts.byStatus,
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
    <p class={run.status === "failed" ? "notice bad" : run.status === "paused_credits" ? "notice warn" : run.status === "completed" ? "notice ok" : "notice info"}>
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
  const listName = (id: number | string) => listNames?.get(String(id)) ?? `List #${id}`;
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
          <span>{scopeWords(run.scope, listNames ? { lists: listNames } : undefined)}</span>
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
          {hasPlan ? (
            <div>
              <dt>Changes made</dt>
              <dd>
                <span data-bind="applied">{text.applied}</span> / <span data-bind="planned">{text.planned}</span>
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

      {run.status === "awaiting_review" ? <Review run={run} listName={listName} errors={errors} csrfToken={csrfToken} /> : null}

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
          <dt>Mailbox probing</dt>
          <dd>{run.smtpProbe ? "On" : "Off"}</dd>
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
          <dt>Requests to ActiveCampaign</dt>
          <dd data-bind="requests">{text.requests}</dd>
          <dt>Net credits</dt>
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
  {
    label: "Contact",
    cell: (s) => {
      const fullName = `${s.firstName} ${s.lastName}`.trim();
      return (
        <div>
          <span class="break">{s.email}</span>
          {fullName ? <span class="sub-line">{fullName}</span> : null}
        </div>
      );
    },
  },
  {
    label: "Result",
    cell: (s) => (
      <div>
        <span class={`dot s-${s.status}`} aria-hidden="true"></span>
        {statusLabel(s.status)}
        <span class="sub-line">{reasonLabel(s.reason)}</span>
      </div>
    ),
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

const Review: FC<{ run: RunView; listName: (id: number) => string; errors: FieldErrors; csrfToken: string }> = ({ run, listName, errors, csrfToken }) => {
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
  const withAction = plan.unsubscribe.contacts + plan.delete.contacts + plan.nothingToDo;
  const label = labelOf(run.actions);
  return (
    <section class="card review" aria-labelledby="review-h" id="review">
      <h2 id="review-h">Review the changes</h2>
      <p>Nothing has changed in ActiveCampaign yet. Approve to apply these changes, or cancel the run.</p>
      <ErrorSummary errors={{ confirmDelete: errors.confirmDelete }} labels={{ confirmDelete: "Confirm deletes" }} />
      <ul class="plan">
        <li class="plan-keep">
          <strong>{fmt(plan.keep)}</strong> <span>{plan.label.contacts > 0 ? "kept on their lists" : "kept as they are"}</span>
        </li>
        <li class="plan-unsub">
          <strong>{fmt(plan.unsubscribe.contacts)}</strong>{" "}
          <span>
            unsubscribed{" "}
            <small>
              {plan.unsubscribe.contacts > 0 ? `from ${plural(plan.unsubscribe.requests, "list membership")}` : ""}
            </small>
          </span>
        </li>
        <li class="plan-delete">
          <strong>{fmt(plan.delete.contacts)}</strong> <span>deleted</span>
        </li>
        {plan.label.contacts > 0 ? (
          <li class="plan-label" id="plan-label">
            <strong>{fmt(plan.label.contacts)}</strong>{" "}
            <span>
              labelled in ActiveCampaign{" "}
              <small>
                “{label.fieldName}”:{" "}
                {Object.entries(plan.label.byValue)
                  .map(([value, n]) => `${value} ${fmt(n)}`)
                  .join(", ")}
              </small>
            </span>
          </li>
        ) : null}
        {plan.nothingToDo > 0 ? (
          <li class="plan-none">
            <strong>{fmt(plan.nothingToDo)}</strong>{" "}
            <span>
              nothing to do <small>not active on the lists concerned</small>
            </span>
          </li>
        ) : null}
      </ul>

      {plan.label.contacts > 0 ? (
        <p class="small muted" id="label-note">
          Labels change no subscription: each labelled contact gets its result in the field “{label.fieldName}”
          {label.reasonFieldName ? ` and its reason in “${label.reasonFieldName}”` : ""}
          {label.tagPrefix !== null ? `, and the tag ${label.tagPrefix}<result> (an earlier result’s tag is removed)` : ""}. Written in imports of up to 250
          contacts{label.runAutomations ? "; automations react to them" : ", without starting automations"}. Contacts whose e-mail changed since the check are left out.
        </p>
      ) : null}

      {plan.sample.length > 0 ? (
        <>
          <h3>Sample of the changes</h3>
          <DataTable rows={plan.sample} label="Sample of the changes" class="sample" columns={sampleColumns(listName)} />
          <p class="small muted">
            {withAction + plan.label.contacts > plan.sample.length
              ? `Showing ${fmt(plan.sample.length)} of the contacts with a change. The CSV report lists every contact.`
              : "These are all the contacts with a change."}
          </p>
        </>
      ) : null}

      <form method="post" action={`/runs/${run.id}/approve`} class="stack approve-form">
        <CsrfField token={csrfToken} />
        {plan.delete.contacts > 0 ? (
          <CheckboxField
            name="confirmDelete"
            class="confirm-delete"
            required
            error={errors.confirmDelete}
            label={`I understand that ${plural(plan.delete.contacts, "contact")} will be deleted from ActiveCampaign, and that ActiveCampaign can restore deleted contacts for 30 days only.`}
          />
        ) : null}
        <div class="actions">
          <button type="submit" class={plan.delete.contacts > 0 ? "danger" : "primary"}>
            {changes > 0 ? `Approve: ${verbs.join(" and ")}` : "Approve (nothing to change)"}
          </button>
        </div>
      </form>
      <CancelButton run={run} csrfToken={csrfToken} note="Nothing will change in ActiveCampaign." />
    </section>
  );
};
