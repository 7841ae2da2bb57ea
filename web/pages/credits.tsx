import type { FC } from "hono/jsx";
import type { LedgerLine, LedgerPage } from "../../core/services/credits.ts";
import type { CreditRequestView, TopUpOptions } from "../../core/services/topups.ts";
import { CsrfField, PostForm, TextField } from "../components/form.tsx";
import { Time } from "../components/inline.tsx";
import { PageHeader } from "../components/layout.tsx";
import type { FieldErrors } from "../forms.ts";
import { fmt, LEDGER_LABELS, plural, RUN_STATUS_WORDS } from "../labels.ts";
import type { RunStatus } from "../../db/schema/index.ts";

const signed = (n: number) => (n > 0 ? `+${fmt(n)}` : n < 0 ? `−${fmt(-n)}` : "0");

/** One line of the history: a run's charges and refunds in one (its entries in a disclosure), or a grant. */
const HistoryLine: FC<{ line: LedgerLine }> = ({ line }) => (
  <tr>
    <td>
      <Time iso={line.firstAt} />
    </td>
    <td>
      {line.kind === "run" ? (
        <details class="ledger-run">
          <summary>
            {line.reason}
            {line.runStatus ? <span class="muted small"> · {RUN_STATUS_WORDS[line.runStatus as RunStatus]?.badge ?? line.runStatus}</span> : null}
            <span class="sub-line">
              {plural(line.charged, "contact")} charged{line.refunded ? `, ${fmt(line.refunded)} refunded` : ""} · {plural(line.entries.length, "entry", "entries")}
            </span>
          </summary>
          <ul class="ledger-entries">
            {line.entries.map((e) => (
              <li>
                <Time iso={e.createdAt} /> · {LEDGER_LABELS[e.kind]} {signed(e.amount)} · {e.reason}
              </li>
            ))}
          </ul>
          {line.runId ? (
            <p class="small">
              <a href={`/runs/${line.runId}`}>Open the run</a>
            </p>
          ) : null}
        </details>
      ) : line.kind === "monitor" ? (
        <span>
          {line.reason}
          <span class="sub-line">
            {plural(line.charged, "new contact")} charged{line.refunded ? `, ${fmt(line.refunded)} refunded` : ""}
          </span>
        </span>
      ) : (
        <span>
          {LEDGER_LABELS[line.kind as keyof typeof LEDGER_LABELS] ?? line.kind}: {line.reason}
        </span>
      )}
    </td>
    <td class={line.amount < 0 ? "num neg" : "num pos"}>{signed(line.amount)}</td>
  </tr>
);

export interface CreditsPageProps {
  history: LedgerPage;
  topUp: TopUpOptions;
  requests: CreditRequestView[];
  values: { credits?: string; note?: string };
  errors: FieldErrors;
  csrfToken: string;
}

const REQUEST_LABELS = { credits: "Credits", note: "Note for the operator", pack: "Pack" };

export const CreditsPage: FC<CreditsPageProps> = ({ history, topUp, requests, values, errors, csrfToken }) => (
  <>
    <PageHeader title="Credits" />
    <div class="credits-top">
      <section class="card balance" aria-labelledby="bal-h">
        <h2 id="bal-h">Balance</h2>
        <p class="big-number" data-balance>
          {fmt(history.balance)}
        </p>
        <p class="small muted">credits</p>
      </section>
      <section class="card" aria-labelledby="how-h">
        <h2 id="how-h">How credits work</h2>
        <ul>
          <li>Each contact checked costs 1 credit, once per run, even if it is on several lists.</li>
          <li>Results we cannot determine (unknown) are refunded, and so are contacts not yet checked when you cancel a run.</li>
          <li>A run that runs out of credits checks as many contacts as the balance pays for, pauses, and resumes by itself once credits are added.</li>
        </ul>
      </section>
    </div>

    <section class="card" id="top-up" aria-labelledby="top-up-h">
      <h2 id="top-up-h">Add credits</h2>
      {topUp.mode === "checkout" ? (
        <>
          <p>Pay by card on Stripe’s secure page; the credits are added as soon as the payment goes through.</p>
          <form method="post" action="/credits/checkout" class="stack packs">
            <CsrfField token={csrfToken} />
            {errors.pack ? (
              <p class="notice bad" role="alert">
                {errors.pack}
              </p>
            ) : null}
            <div class="actions">
              {topUp.packs.map((p) => (
                <button type="submit" name="pack" value={String(p.index)} class="secondary">
                  {plural(p.credits, "credit")} for {p.price}
                </button>
              ))}
            </div>
          </form>
        </>
      ) : (
        <>
          <p>Ask the operator of this Listwarden for credits. They are told at once and approve on their operator page; you get an e-mail when they do.</p>
          <PostForm action="/credits/requests" class="stack request-form" csrfToken={csrfToken} errors={errors} labels={REQUEST_LABELS} submit="Request credits">
            <TextField name="credits" label={REQUEST_LABELS.credits} value={values.credits} error={errors.credits} required hint="How many credits you need: 1 per contact to check." />
            <TextField name="note" label={REQUEST_LABELS.note} value={values.note} error={errors.note} hint="Optional: which account or list, by when." />
          </PostForm>
        </>
      )}
      {requests.length > 0 ? (
        <>
          <h3 class="h4">Your requests</h3>
          <ul class="requests">
            {requests.map((r) => (
              <li>
                <Time iso={r.createdAt} />: {plural(r.credits, "credit")} —{" "}
                {r.status === "pending" ? "waiting for the operator" : r.status === "approved" ? `approved: ${plural(r.granted ?? 0, "credit")} added` : "declined"}
              </li>
            ))}
          </ul>
        </>
      ) : null}
    </section>

    <section class="section" aria-labelledby="ledger-h">
      <div class="section-head">
        <h2 id="ledger-h">History</h2>
        <a class="button secondary" href="/credits/history.csv" download>
          Export CSV
        </a>
      </div>
      {history.lines.length === 0 ? (
        <p class="muted">No credit movements yet.</p>
      ) : (
        <div class="table-wrap">
          <table class="data ledger" aria-label="Credit history">
            <thead>
              <tr>
                <th scope="col">Date</th>
                <th scope="col">What</th>
                <th scope="col" class="num">
                  Credits
                </th>
              </tr>
            </thead>
            <tbody>
              {history.lines.map((line) => (
                <HistoryLine line={line} />
              ))}
            </tbody>
          </table>
        </div>
      )}
      {history.pages > 1 ? (
        <nav class="pager" aria-label="History pages">
          {history.page > 1 ? <a href={`/credits?page=${history.page - 1}#ledger-h`}>← Newer</a> : <span />}
          <span>
            Page {fmt(history.page)} of {fmt(history.pages)} ({plural(history.totalLines, "line")})
          </span>
          {history.page < history.pages ? <a href={`/credits?page=${history.page + 1}#ledger-h`}>Older →</a> : <span />}
        </nav>
      ) : null}
    </section>
  </>
);
