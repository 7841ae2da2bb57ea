import type { FC } from "hono/jsx";
import type { ConnectionView } from "../../core/services/connections.ts";
import type { RunView } from "../../core/services/runs.ts";
import { VERIFICATION_STATUSES } from "../../verify/taxonomy.ts";
import { TrendChart } from "../charts.tsx";
import { PageHeader, ScheduledTag, StatusBadge, Time } from "../components.tsx";
import { fmt, percent, scopeWords, STATUS_LABELS } from "../labels.ts";

const TREND_RUNS = 12;

/** A connection's runs, newest first, with the trend of its list health. */
export const RunsPage: FC<{ connection: ConnectionView; runs: RunView[] }> = ({ connection, runs }) => {
  const checked = runs.filter((r) => r.progress.verified > 0 && r.status !== "cancelled" && r.status !== "failed");
  const trend = checked.slice(0, TREND_RUNS).reverse();
  return (
    <>
      <PageHeader title={`Run history: ${connection.name}`} back={{ href: `/connections/${connection.id}`, label: connection.name }}>
        <p class="header-actions">
          <a class="button primary" href={`/connections/${connection.id}`}>
            Start a new run
          </a>
        </p>
      </PageHeader>
      {runs.length === 0 ? (
        <p class="card">
          No runs on this account yet. <a href={`/connections/${connection.id}`}>Start one</a>.
        </p>
      ) : (
        <>
          <section class="card" aria-labelledby="trend-h">
            <h2 id="trend-h">List health over time</h2>
            {trend.length >= 2 ? (
              <TrendChart points={trend.map((r) => ({ id: r.id, at: r.timings.createdAt, byStatus: r.counts.byStatus }))} />
            ) : (
              <p class="muted">The trend appears after two runs with results. Run again in a month to see how the lists change.</p>
            )}
          </section>
          <section aria-labelledby="all-runs-h" class="section">
            <h2 id="all-runs-h">All runs</h2>
            <div class="table-wrap" role="region" aria-label="All runs" tabindex={0}>
              <table class="responsive">
                <thead>
                  <tr>
                    <th scope="col">Started</th>
                    <th scope="col">Scope</th>
                    <th scope="col">Status</th>
                    <th scope="col" class="num">
                      Contacts
                    </th>
                    {VERIFICATION_STATUSES.map((s) => (
                      <th scope="col" class="num">
                        {STATUS_LABELS[s]}
                      </th>
                    ))}
                    <th scope="col" class="num">
                      Credits
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {runs.map((r) => {
                    const total = VERIFICATION_STATUSES.reduce((a, s) => a + (r.counts.byStatus[s] ?? 0), 0);
                    return (
                      <tr>
                        <td data-label="Started">
                          <div>
                            <a href={`/runs/${r.id}`}>
                              <Time iso={r.timings.createdAt} />
                            </a>{" "}
                            <ScheduledTag scheduleId={r.scheduleId} />
                          </div>
                        </td>
                        <td data-label="Scope">{scopeWords(r.scope)}</td>
                        <td data-label="Status">
                          <StatusBadge status={r.status} />
                        </td>
                        <td class="num" data-label="Contacts">
                          {fmt(r.progress.fetched)}
                        </td>
                        {VERIFICATION_STATUSES.map((s) => (
                          <td class="num" data-label={STATUS_LABELS[s]}>
                            {total > 0 ? percent(r.counts.byStatus[s] ?? 0, total) : "—"}
                          </td>
                        ))}
                        <td class="num" data-label="Credits">
                          {fmt(r.credits.net)}
                        </td>
                      </tr>
                    );
                  })}
                </tbody>
              </table>
            </div>
          </section>
        </>
      )}
    </>
  );
};
