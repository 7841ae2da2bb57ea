import type { FC } from "hono/jsx";
import type { UploadView } from "../../core/services/uploads.ts";
import { isCancellable, isLive } from "../../core/domain/run-status.ts";
import { ENCODING_WORDS } from "../../core/uploads/encoding.ts";
import { ButtonForm, CheckboxField, CsrfField, FieldError } from "../components/form.tsx";
import { StatusBadge, Time } from "../components/inline.tsx";
import { PageHeader } from "../components/layout.tsx";
import { DataTable } from "../components/table.tsx";
import type { FieldErrors } from "../forms.ts";
import { fmt, plural, RUN_STATUS_WORDS, shortDate } from "../labels.ts";
import { liveView, ProgressBlock, ResultsAndNotes, Stat, StatusLine, StatusReason } from "./run.tsx";

const DELIMITER_WORDS: Record<string, string> = { ",": "commas", ";": "semicolons", "\t": "tabs" };

const size = (bytes: number) => (bytes < 1024 ? `${bytes} bytes` : bytes < 1024 * 1024 ? `${(bytes / 1024).toFixed(1)} kB` : `${(bytes / 1024 / 1024).toFixed(1)} MB`);

const days = (fromIso: string, toIso: string) => Math.round((Date.parse(toIso) - Date.parse(fromIso)) / 86_400_000);

/** Where the upload stands, in a word for lists. */
function stage(u: UploadView): string {
  if (u.deletedAt) return "Deleted";
  if (!u.run) return u.columnConfirmed ? "Ready to start" : "Confirm the column";
  return RUN_STATUS_WORDS[u.run.status].badge;
}

/** The list of uploads and the form to upload a file. */
export const UploadsPage: FC<{ uploads: UploadView[]; csrfToken: string; error?: string | undefined; maxMb: number; retentionDays: number }> = ({
  uploads,
  csrfToken,
  error,
  maxMb,
  retentionDays,
}) => (
  <>
    <PageHeader title="Verify a file" back={{ href: "/", label: "Home" }}>
      <p class="meta">Not only ActiveCampaign: any list of addresses, from another tool, an event or a spreadsheet.</p>
    </PageHeader>
    <section class="card" aria-labelledby="upload-h">
      <h2 id="upload-h">Upload a CSV file</h2>
      <p>
        A CSV file as Excel, Google Sheets or a CRM saves it (commas, semicolons or tabs; UTF-8, UTF-16 or Latin-1), or a plain list with one address a line.
        You choose the e-mail column and see the cost before anything is charged.
      </p>
      {error ? (
        <div class="error-summary" role="alert" tabindex={-1} id="error-summary">
          <h2>There is a problem with this file</h2>
          <ul>
            <li>
              <a href="#f-file">{error}</a>
            </li>
          </ul>
        </div>
      ) : null}
      <form method="post" action="/uploads" enctype="multipart/form-data" class="stack upload-form">
        {/* Before the file: the server checks it before it reads the file. */}
        <CsrfField token={csrfToken} />
        <div class={error ? "field has-error" : "field"}>
          <label for="f-file">File</label>
          <p class="hint" id="f-file-hint">
            Up to {maxMb} MB. Kept {retentionDays} days, then deleted with its results.
          </p>
          <FieldError name="file" error={error} />
          <input type="file" id="f-file" name="file" accept=".csv,.txt,.tsv,text/csv,text/plain" required aria-describedby={error ? "f-file-hint f-file-error" : "f-file-hint"} aria-invalid={error ? "true" : undefined} />
        </div>
        <div class="actions">
          <button type="submit" class="primary">
            Upload and read the file
          </button>
        </div>
      </form>
    </section>
    {uploads.length > 0 ? (
      <section class="card" aria-labelledby="uploads-h">
        <h2 id="uploads-h">Your files</h2>
        <DataTable
          rows={uploads}
          label="Your files"
          columns={[
            { label: "File", cell: (u) => <a href={`/uploads/${u.id}`} class="break">{u.fileName}</a> },
            { label: "Uploaded", cell: (u) => <Time iso={u.createdAt} /> },
            { label: "Rows", num: true, cell: (u) => fmt(u.rows) },
            { label: "Unique addresses", num: true, cell: (u) => fmt(u.uniqueAddresses) },
            { label: "Status", cell: (u) => (u.run && !u.deletedAt ? <StatusBadge status={u.run.status} /> : <span>{stage(u)}</span>) },
          ]}
        />
      </section>
    ) : null}
  </>
);

export interface UploadPageProps {
  upload: UploadView;
  csrfToken: string;
  errors: FieldErrors;
  smtpAvailable: boolean;
}

/** One upload, step by step: confirm the column, see the cost and start, watch it, download the results. */
export const UploadPage: FC<UploadPageProps> = ({ upload: u, csrfToken, errors, smtpAvailable }) => {
  const run = u.run;
  const live = run ? isLive(run.status) : false;
  return (
    <>
      <PageHeader title={u.fileName} back={{ href: "/uploads", label: "Files" }}>
        <p class="meta">
          <span>{size(u.bytes)}</span>
          <span>{ENCODING_WORDS[u.encoding]}</span>
          <span>Separated by {DELIMITER_WORDS[u.delimiter] ?? u.delimiter}</span>
          <span>{u.hasHeader ? "Header row on line 1" : "No header row"}</span>
          <span>
            Uploaded <Time iso={u.createdAt} />
          </span>
        </p>
      </PageHeader>

      <Retention upload={u} />

      {errors._form ? (
        <p class="notice bad" role="alert">
          {errors._form}
        </p>
      ) : null}

      {u.problemCount > 0 ? <Problems upload={u} /> : null}

      {!u.deletedAt && !run ? (u.columnConfirmed ? <Cost upload={u} csrfToken={csrfToken} smtpAvailable={smtpAvailable} errors={errors} /> : <ColumnStep upload={u} csrfToken={csrfToken} errors={errors} />) : null}

      {run ? <Verification upload={u} csrfToken={csrfToken} live={live} /> : null}
    </>
  );
};

const Retention: FC<{ upload: UploadView }> = ({ upload: u }) =>
  u.deletedAt ? (
    <p class="notice info" id="retention">
      The file and its results were deleted on {shortDate(u.deletedAt)}, {plural(days(u.createdAt, u.deletedAt), "day")} after the upload, as announced. The counts and
      credits below stay.
    </p>
  ) : (
    <p class="small muted" id="retention">
      This file and its results are kept until {shortDate(u.expiresAt)} ({plural(days(u.createdAt, u.expiresAt), "day")} after the upload), then deleted.
    </p>
  );

const Problems: FC<{ upload: UploadView }> = ({ upload: u }) => (
  <section class="card" aria-labelledby="problems-h">
    <h2 id="problems-h">{plural(u.problemCount, "row")} could not be read</h2>
    <p>They were left out; every other row is read. Fix them in the file and upload it again to include them.</p>
    <ul class="notes">
      {u.problems.map((p) => (
        <li>{p.message}</li>
      ))}
    </ul>
    {u.problemCount > u.problems.length ? <p class="small muted">And {fmt(u.problemCount - u.problems.length)} more.</p> : null}
  </section>
);

/** The first rows, with the chosen column marked. */
const Preview: FC<{ upload: UploadView }> = ({ upload: u }) => (
  <div class="table-wrap" role="region" aria-label="The first rows of the file" tabindex={0}>
    <table class="preview">
      <thead>
        <tr>
          {u.columns.map((name, i) => (
            <th scope="col" class={i === u.emailColumn ? "chosen" : undefined}>
              {name}
            </th>
          ))}
        </tr>
      </thead>
      <tbody>
        {u.preview.map((row) => (
          <tr>
            {u.columns.map((_, i) => (
              <td class={i === u.emailColumn ? "chosen break" : "break"}>{row[i] ?? ""}</td>
            ))}
          </tr>
        ))}
      </tbody>
    </table>
  </div>
);

const ColumnForm: FC<{ upload: UploadView; csrfToken: string; errors: FieldErrors; submit: string }> = ({ upload: u, csrfToken, errors, submit }) => (
  <form method="post" action={`/uploads/${u.id}/column`} class="stack column-form">
    <CsrfField token={csrfToken} />
    <fieldset class={errors.column ? "field has-error" : "field"} aria-describedby="f-column-hint">
      <legend>Which column holds the e-mail addresses?</legend>
      <p class="hint" id="f-column-hint">
        We picked the column whose cells look most like addresses. Change it if that is not the one.
      </p>
      <FieldError name="column" error={errors.column} />
      <ul class="choices">
        {u.columns.map((name, i) => (
          <li>
            <label>
              <input type="radio" name="column" value={String(i)} checked={i === u.emailColumn} id={i === u.emailColumn ? "f-column" : undefined} />{" "}
              <strong class="break">{name}</strong>{" "}
              <span class="muted small">{u.columnScores[i] ? `${Math.round(u.columnScores[i]! * 100)}% of the rows look like addresses` : "no addresses seen"}</span>
            </label>
          </li>
        ))}
      </ul>
    </fieldset>
    <div class="actions">
      <button type="submit" class="primary">
        {submit}
      </button>
    </div>
  </form>
);

const ColumnStep: FC<{ upload: UploadView; csrfToken: string; errors: FieldErrors }> = ({ upload: u, csrfToken, errors }) => (
  <section class="card" aria-labelledby="column-h" id="column-step">
    <h2 id="column-h">1. Confirm the e-mail column</h2>
    <p>
      {plural(u.rows, "row")} read. The first {plural(u.preview.length, "row")}:
    </p>
    <Preview upload={u} />
    <ColumnForm upload={u} csrfToken={csrfToken} errors={errors} submit="Confirm the column" />
  </section>
);

const Cost: FC<{ upload: UploadView; csrfToken: string; smtpAvailable: boolean; errors: FieldErrors }> = ({ upload: u, csrfToken, smtpAvailable, errors }) => {
  const short = u.cost.balance < u.cost.credits;
  return (
    <section class="card" aria-labelledby="cost-h" id="cost-step">
      <h2 id="cost-h">2. The cost</h2>
      <dl class="stats cost">
        <div>
          <dt>Rows</dt>
          <dd data-cost="rows">{fmt(u.rows)}</dd>
        </div>
        <div>
          <dt>Unique addresses</dt>
          <dd data-cost="unique">{fmt(u.uniqueAddresses)}</dd>
        </div>
        <div>
          <dt>Credits needed</dt>
          <dd data-cost="credits">{fmt(u.cost.credits)}</dd>
        </div>
        <div>
          <dt>Your balance</dt>
          <dd data-cost="balance">{fmt(u.cost.balance)}</dd>
        </div>
      </dl>
      <p>
        One credit per unique address, from the column <strong>{u.columns[u.emailColumn]}</strong>.
        {u.duplicates > 0 ? ` ${plural(u.duplicates, "row")} repeat an address of another row (compared without regard to case): checked and charged once.` : ""}
        {u.blankRows > 0 ? ` ${plural(u.blankRows, "row")} have no address: marked undeliverable, not charged.` : ""} Addresses we cannot check (unknown) are refunded.
      </p>
      {short ? (
        <p class="notice warn">
          Your balance covers {fmt(u.cost.balance)} of {fmt(u.cost.credits)}. Verification pauses when it runs out and goes on by itself when you <a href="/credits">add credits</a>.
        </p>
      ) : null}
      <form method="post" action={`/uploads/${u.id}/start`} class="stack">
        <CsrfField token={csrfToken} />
        {smtpAvailable ? <CheckboxField name="smtpProbe" label="Also probe each mailbox over SMTP (slower; finds addresses whose mailbox does not exist)" error={errors.smtpProbe} /> : null}
        <div class="actions">
          <button type="submit" class="primary">
            Start: verify {plural(u.uniqueAddresses, "address", "addresses")}
          </button>
        </div>
      </form>
      <details class="change-column">
        <summary>Change the e-mail column</summary>
        <Preview upload={u} />
        <ColumnForm upload={u} csrfToken={csrfToken} errors={errors} submit="Use this column" />
      </details>
    </section>
  );
};

const FILTERS = [
  { filter: "all", label: "All rows with results", help: "the whole file, in its order, with the result columns" },
  { filter: "deliverable", label: "Deliverable only", help: "the rows safe to mail" },
  { filter: "remove", label: "To remove", help: "the undeliverable rows" },
  { filter: "unknown", label: "Unknown", help: "rows we could not check (refunded)" },
] as const;

const Verification: FC<{ upload: UploadView; csrfToken: string; live: boolean }> = ({ upload: u, csrfToken, live }) => {
  const run = u.run!;
  const { progress, text } = liveView(run);
  const done = run.status === "completed";
  return (
    <>
      <section class="card run-status" id="run" data-run-id={run.id} data-status={run.status} data-live={live ? "yes" : "no"} aria-labelledby="status-h">
        <StatusLine run={run} sentence={text.sentence} />
        {done ? null : <StatusReason run={run} />}
        <ProgressBlock progress={progress} text={done ? `Done: ${plural(run.progress.verified, "unique address", "unique addresses")} checked for ${plural(u.rows, "row")}.` : undefined} />
        <dl class="stats">
          <div>
            <dt>Unique addresses</dt>
            <dd>{fmt(u.uniqueAddresses)}</dd>
          </div>
          <Stat label="Checked" bind="verified" text={text} />
          <Stat label="Credits charged" bind="charged" text={text} />
          <Stat label="Refunded" bind="refunded" text={text} />
        </dl>
        {live ? (
          <p class="small muted" id="live-note">
            This page updates by itself. <a href={`/uploads/${u.id}`}>Refresh</a>
          </p>
        ) : null}
        {isCancellable(run.status) ? (
          <ButtonForm action={`/runs/${run.id}/cancel`} csrfToken={csrfToken} buttonClass="secondary" after={<span class="small muted">Addresses not checked yet are refunded.</span>}>
            Cancel verification
          </ButtonForm>
        ) : null}
      </section>

      <ResultsAndNotes run={run} nothing="No address was checked." />

      {!u.deletedAt ? (
        <section class="card" aria-labelledby="downloads-h" id="downloads">
          <h2 id="downloads-h">Download</h2>
          <p>
            Your file as you uploaded it (same order, encoding and separator), with five columns added: status, reason, flags, suggestion and the normalized address.
            Cells a spreadsheet would run as formulas start with an apostrophe.
            {done ? "" : " Verification is not finished: rows not checked yet have empty result cells."}
          </p>
          <ul class="downloads">
            {FILTERS.map((f) => (
              <li>
                <a class="button secondary" href={`/api/uploads/${u.id}/results.csv?filter=${f.filter}`} download data-filter={f.filter}>
                  {f.label}
                </a>{" "}
                <span class="small muted">{f.help}</span>
              </li>
            ))}
          </ul>
          {/* Not built yet: sending the deliverable addresses to an ActiveCampaign list (README, "Verifying a file"). */}
        </section>
      ) : null}
    </>
  );
};
