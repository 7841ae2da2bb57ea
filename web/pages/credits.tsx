import type { FC } from "hono/jsx";
import type { LedgerEntryView } from "../../core/services/credits.ts";
import { Time } from "../components/inline.tsx";
import { PageHeader } from "../components/layout.tsx";
import { DataTable, type Column } from "../components/table.tsx";
import { fmt, LEDGER_LABELS } from "../labels.ts";

const LEDGER_COLUMNS: Column<LedgerEntryView>[] = [
  { label: "Date", cell: (e) => <Time iso={e.createdAt} /> },
  { label: "What", cell: (e) => LEDGER_LABELS[e.kind] },
  { label: "Amount", num: true, cellClass: (e) => (e.amount < 0 ? "neg" : "pos"), cell: (e) => (e.amount > 0 ? `+${fmt(e.amount)}` : `−${fmt(-e.amount)}`) },
  {
    label: "Reason",
    cell: (e) => (
      <div>
        {e.reason}
        {e.runId ? (
          <>
            {" "}
            <a href={`/runs/${e.runId}`}>View run</a>
          </>
        ) : null}
      </div>
    ),
  },
];

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
        <DataTable rows={entries} label="Credit history" columns={LEDGER_COLUMNS} />
      )}
      {entries.length >= 50 ? <p class="small muted">Showing the 50 most recent entries.</p> : null}
    </section>
  </>
);
