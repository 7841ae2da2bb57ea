import type { FC } from "hono/jsx";
import type { LedgerEntryView } from "../../core/services/credits.ts";
import { PageHeader, Time } from "../components.tsx";
import { fmt, LEDGER_LABELS } from "../labels.ts";

export const CreditsPage: FC<{ balance: number; entries: LedgerEntryView[]; email: string }> = ({ balance, entries, email }) => (
  <>
    <PageHeader title="Credits" />
    <div class="credits-top">
      <section class="card balance" aria-labelledby="bal-h">
        <h2 id="bal-h">Balance</h2>
        <p class="big-number">{fmt(balance)}</p>
        <p class="small muted">credits</p>
      </section>
      <section class="card" aria-labelledby="how-h">
        <h2 id="how-h">How credits work</h2>
        <ul>
          <li>Each contact checked costs 1 credit, once per run, even if it is on several lists.</li>
          <li>Results we cannot determine (unknown) are refunded, and so are contacts not yet checked when you cancel a run.</li>
          <li>A run that runs out of credits pauses, and resumes by itself once credits are added.</li>
        </ul>
        <p>
          To add credits, ask the operator of this Listwarden to run <code class="break">{`npx listwarden credits grant ${email} <amount>`}</code>.
        </p>
      </section>
    </div>
    <section class="section" aria-labelledby="ledger-h">
      <h2 id="ledger-h">History</h2>
      {entries.length === 0 ? (
        <p class="muted">No credit movements yet.</p>
      ) : (
        <div class="table-wrap" role="region" aria-label="Credit history" tabindex={0}>
          <table class="responsive">
            <thead>
              <tr>
                <th scope="col">Date</th>
                <th scope="col">What</th>
                <th scope="col" class="num">
                  Amount
                </th>
                <th scope="col">Reason</th>
              </tr>
            </thead>
            <tbody>
              {entries.map((e) => (
                <tr>
                  <td data-label="Date">
                    <Time iso={e.createdAt} />
                  </td>
                  <td data-label="What">{LEDGER_LABELS[e.kind]}</td>
                  <td class={e.amount < 0 ? "num neg" : "num pos"} data-label="Amount">
                    {e.amount > 0 ? `+${fmt(e.amount)}` : `−${fmt(-e.amount)}`}
                  </td>
                  <td data-label="Reason">
                    <div>
                      {e.reason}
                      {e.runId ? (
                        <>
                          {" "}
                          <a href={`/runs/${e.runId}`}>View run</a>
                        </>
                      ) : null}
                    </div>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {entries.length >= 50 ? <p class="small muted">Showing the 50 most recent entries.</p> : null}
    </section>
  </>
);
