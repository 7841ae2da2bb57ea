import type { FC } from "hono/jsx";
import type { ConnectionView } from "../../core/services/connections.ts";
import type { RunView } from "../../core/services/runs.ts";
import { TrendChart } from "../charts.tsx";
import { PageHeader } from "../components/layout.tsx";
import { namesOfRun, plural, scopeWords } from "../labels.ts";
import { RunHistoryTable } from "../components/run-history.tsx";

const TREND_RUNS = 12;

/** A connection's runs, newest first, with the trend of its list health. */
export const RunsPage: FC<{ connection: ConnectionView; runs: RunView[] }> = ({ connection, runs }) => {
  const checked = runs.filter((r) => r.progress.verified > 0 && r.status !== "cancelled" && r.status !== "failed");
  // Like with like (issue 14): only runs of the newest one's scope and checks (mailboxes
  // checked or not) are compared; the others would move the bars for reasons of their own.
  const newest = checked[0];
  const same = (r: RunView) => newest !== undefined && JSON.stringify(r.scope) === JSON.stringify(newest.scope) && (r.mailboxChecked ?? false) === (newest.mailboxChecked ?? false);
  const alike = checked.filter(same);
  const trend = alike.slice(0, TREND_RUNS).reverse();
  const leftOut = checked.length - alike.length;
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
            {newest ? (
              <p class="small muted" id="trend-scope">
                Runs on {scopeWords(newest.scope, namesOfRun(newest))}, {newest.mailboxChecked ? "with mailboxes checked" : "without mailbox checks"}
                {leftOut > 0 ? `; ${plural(leftOut, "run")} of another scope or with other checks left out, to compare like with like` : ""}.
              </p>
            ) : null}
            {trend.length >= 2 ? (
              <TrendChart points={trend.map((r) => ({ id: r.id, at: r.timings.createdAt, byClass: r.counts.byClass }))} />
            ) : (
              <p class="muted">The trend appears after two such runs with results. Run again in a month to see how the lists change.</p>
            )}
          </section>
          <section aria-labelledby="all-runs-h" class="section">
            <h2 id="all-runs-h">All runs</h2>
            <RunHistoryTable runs={runs} label="All runs" detail="shares" />
          </section>
        </>
      )}
    </>
  );
};
