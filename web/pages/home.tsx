import type { FC } from "hono/jsx";
import type { ConnectionView } from "../../core/services/connections.ts";
import type { RunView } from "../../core/services/runs.ts";
import type { ScheduleView } from "../../core/services/schedules.ts";
import { Legend } from "../charts.tsx";
import { RunHistoryTable } from "../components/run-history.tsx";
import { fmt, isKeyRefused, plural } from "../labels.ts";

/** The soonest next run of a connection's schedules, in its schedule's zone. */
function nextScheduled(schedules: ScheduleView[] | undefined): string | null {
  const next = (schedules ?? []).flatMap((s) => (s.nextRun ? [s.nextRun] : [])).sort((a, b) => a.at.localeCompare(b.at))[0];
  return next ? next.label : null;
}

/** A banner with every run that waits for the user, and what it waits for. */
const WaitingBanner: FC<{ runs: RunView[] }> = ({ runs }) =>
  runs.length === 0 ? null : (
    <section class="notice warn waiting-banner" role="status" aria-labelledby="waiting-h">
      <h2 id="waiting-h" class="h3">
        {runs.length === 1 ? "A run waits for you" : `${fmt(runs.length)} runs wait for you`}
      </h2>
      <ul>
        {runs.map((r) => (
          <li>
            <a href={`/runs/${r.id}`}>
              {r.scheduleId ? "Scheduled run" : "Run"} on {r.connectionName}
            </a>
            {": "}
            {r.status === "awaiting_review" ? (
              "review the changes; nothing changes in ActiveCampaign until you approve."
            ) : (
              <>
                out of credits after {plural(r.progress.verified, "contact")}
                {r.progress.creditsStillNeeded !== null ? `; about ${plural(r.progress.creditsStillNeeded, "more credit")} needed` : ""}. <a href="/credits#top-up">Add credits</a>
              </>
            )}
          </li>
        ))}
      </ul>
    </section>
  );

export const HomePage: FC<{ connections: ConnectionView[]; balance: number; runs: RunView[]; waiting: RunView[]; schedules: Map<string, ScheduleView[]> }> = ({
  connections,
  balance,
  runs,
  waiting,
  schedules,
}) => (
  <>
    <WaitingBanner runs={waiting} />
    <div class="page-header">
      <h1>{connections.length === 0 ? "Welcome to Listwarden" : "Your ActiveCampaign accounts"}</h1>
    </div>
    <div class="home-grid">
      <div class="home-main">
        {connections.length === 0 ? (
          <section class="card first-step" aria-labelledby="first-step-h">
            <h2 id="first-step-h">First step: connect ActiveCampaign</h2>
            <ol class="steps">
              <li>
                <strong>Connect</strong> your ActiveCampaign account with its API URL and key.
              </li>
              <li>
                <strong>Choose</strong> lists, a tag or all contacts, and what to do with bad addresses.
              </li>
              <li>
                <strong>Review and apply.</strong> Nothing changes in ActiveCampaign until you approve.
              </li>
            </ol>
            <p>
              <a class="button primary" href="/connections/new">
                Connect ActiveCampaign
              </a>
            </p>
          </section>
        ) : (
          <section aria-labelledby="connections-h">
            <h2 id="connections-h" class="visually-hidden">
              Connections
            </h2>
            <ul class="cards">
              {connections.map((c) => (
                <li class="card connection">
                  <h3>
                    <a href={`/connections/${c.id}`}>{c.name}</a>
                  </h3>
                  <p class="muted small break">{c.apiUrl}</p>
                  <p class="small">
                    Key ending in <code>{c.keyHint}</code>
                    {c.acAccountEmail ? <> · {c.acAccountEmail}</> : null}
                  </p>
                  {schedules.get(c.id)?.length ? (
                    <p class="small">
                      {nextScheduled(schedules.get(c.id)) ? (
                        <>
                          Next scheduled run: <a href={`/connections/${c.id}#schedules`}>{nextScheduled(schedules.get(c.id))}</a>
                        </>
                      ) : (
                        <a href={`/connections/${c.id}#schedules`}>Schedules paused</a>
                      )}
                    </p>
                  ) : null}
                  {c.lastError ? (
                    <p class="notice bad small">
                      <strong>Last check failed:</strong> {c.lastError}
                      {isKeyRefused(c.lastErrorCode) ? (
                        <>
                          {" "}
                          <a href={`/connections/${c.id}#replace-key`}>Replace the API key</a>
                        </>
                      ) : null}
                    </p>
                  ) : null}
                  <p class="card-actions">
                    <a class="button primary" href={`/connections/${c.id}`}>
                      Clean lists
                    </a>
                    <a class="button secondary" href={`/connections/${c.id}/runs`}>
                      Run history
                    </a>
                  </p>
                </li>
              ))}
            </ul>
            <p>
              <a class="button secondary" href="/connections/new">
                + Connect another account
              </a>
            </p>
          </section>
        )}
      </div>
      <aside class="card balance" aria-labelledby="balance-h">
        <h2 id="balance-h">Credits</h2>
        <p class="big-number">{fmt(balance)}</p>
        <p class="small muted">1 credit per contact checked. Unknown results are refunded.</p>
        <p>
          <a href="/credits">Balance and history</a> · <a href="/credits#top-up">Add credits</a>
        </p>
        <h2 id="file-h" class="h3">A list from elsewhere?</h2>
        <p class="small muted">Verify a CSV file from another tool, an event or a spreadsheet, and get it back with a result per row.</p>
        <p>
          <a href="/uploads">Verify a file</a>
        </p>
      </aside>
    </div>

    <section aria-labelledby="runs-h" class="section">
      <h2 id="runs-h">Recent runs</h2>
      {runs.length === 0 ? (
        <p class="muted">{connections.length === 0 ? "Your runs will show here once you have connected an account." : "No runs yet. Open a connection and start one."}</p>
      ) : (
        <>
          <RunHistoryTable runs={runs} label="Runs" showConnection detail="health" />
          <Legend />
        </>
      )}
    </section>
  </>
);
