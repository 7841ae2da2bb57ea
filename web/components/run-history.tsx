import type { FC } from "hono/jsx";
import type { RunView } from "../../core/services/runs.ts";
import { CLASS_WORDS, RESULT_CLASSES } from "../../core/domain/results.ts";
import { HealthBar } from "../charts.tsx";
import { fmt, namesOfRun, percent, plural, scopeWords } from "../labels.ts";
import { ScheduledTag, StatusBadge, Time } from "./inline.tsx";
import { DataTable, type Column } from "./table.tsx";

const started: Column<RunView> = {
  label: "Started",
  cell: (r) => (
    <div>
      <a href={`/runs/${r.id}`}>
        <Time iso={r.timings.createdAt} />
      </a>{" "}
      <ScheduledTag scheduleId={r.scheduleId} />
    </div>
  ),
};
const account: Column<RunView> = { label: "Account", cell: (r) => r.connectionName };
const scope: Column<RunView> = { label: "Scope", cell: (r) => scopeWords(r.scope, namesOfRun(r)) };
const status: Column<RunView> = { label: "Status", cell: (r) => <StatusBadge status={r.status} /> };
const contacts: Column<RunView> = { label: "Contacts", num: true, cell: (r) => fmt(r.progress.fetched) };

const health: Column<RunView> = {
  label: "Health",
  cellClass: "health-cell",
  cell: (r) => (r.progress.verified > 0 ? <HealthBar byClass={r.counts.byClass} label={`${plural(r.progress.verified, "contact")} checked`} /> : <span class="muted">—</span>),
};

const verifiedOf = (r: RunView) => RESULT_CLASSES.reduce((a, c) => a + (r.counts.byClass[c] ?? 0), 0);
const shares: Column<RunView>[] = RESULT_CLASSES.map((c) => ({
  label: CLASS_WORDS[c],
  num: true,
  cell: (r) => (verifiedOf(r) > 0 ? percent(r.counts.byClass[c] ?? 0, verifiedOf(r)) : "—"),
}));
const credits: Column<RunView> = { label: "Credits", num: true, cell: (r) => fmt(r.credits.net) };

/**
 * Runs, newest first, a row each: when it started (a link to it), its account, scope, status
 * and contacts, then either a health bar (`health`) or each result's share and the credits
 * (`shares`).
 */
export const RunHistoryTable: FC<{ runs: RunView[]; label: string; showConnection?: boolean; detail: "health" | "shares" }> = (p) => (
  <DataTable
    rows={p.runs}
    label={p.label}
    columns={[started, ...(p.showConnection ? [account] : []), scope, status, contacts, ...(p.detail === "health" ? [health] : [...shares, credits])]}
  />
);
