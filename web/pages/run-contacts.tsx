import type { FC } from "hono/jsx";
import { CLASS_WORDS, RESULT_CLASSES } from "../../core/domain/results.ts";
import type { ContactFilter, RunContactRow } from "../../core/services/plan.ts";
import type { RunView } from "../../core/services/runs.ts";
import { ContactCell, ResultCell } from "../components/contact-cells.tsx";
import { CsrfField, SelectField, TextField } from "../components/form.tsx";
import { PageHeader } from "../components/layout.tsx";
import { DataTable } from "../components/table.tsx";
import { fmt, namesOfRun, plural, reasonLabel, scopeWords } from "../labels.ts";

export const CONTACTS_PAGE_SIZE = 50;

const ACTION_WORDS: Record<RunContactRow["action"], string> = {
  keep: "Keep",
  unsubscribe: "Unsubscribe",
  delete: "Delete",
  nothing: "Nothing to do",
};

/** The filter as a query string (page, when given), for links, the pager and the CSV export. */
export function filterQuery(f: ContactFilter, page?: number): string {
  const q = new URLSearchParams();
  if (f.result) q.set("result", f.result);
  if (f.reason) q.set("reason", f.reason);
  if (f.action) q.set("action", f.action);
  if (f.list) q.set("list", f.list);
  if (f.q) q.set("q", f.q);
  if (f.excluded !== undefined) q.set("excluded", f.excluded ? "yes" : "no");
  if (page && page > 1) q.set("page", String(page));
  const s = q.toString();
  return s ? `?${s}` : "";
}

/**
 * Every contact of a run, filtered (result, reason, action, list, search by e-mail or name),
 * paged, exported as CSV; while the run awaits review, each can be taken out of the plan or
 * put back (issue 14).
 */
export const RunContactsPage: FC<{
  run: RunView;
  filter: ContactFilter;
  page: number;
  total: number;
  contacts: RunContactRow[];
  csrfToken: string;
}> = ({ run, filter, page, total, contacts, csrfToken }) => {
  const names = namesOfRun(run);
  const listName = (id: string) => names?.lists.get(id) ?? `List #${id}`;
  const editable = run.status === "awaiting_review";
  const from = total === 0 ? 0 : (page - 1) * CONTACTS_PAGE_SIZE + 1;
  const to = Math.min(total, page * CONTACTS_PAGE_SIZE);
  const pages = Math.max(1, Math.ceil(total / CONTACTS_PAGE_SIZE));
  const lists = Object.entries(run.names?.lists ?? {}).filter(([id]) => run.scope.kind !== "lists" || run.scope.listIds.includes(id));
  const reasons = Object.keys(run.counts.byReason).sort((a, b) => reasonLabel(a).localeCompare(reasonLabel(b)));
  const here = `/runs/${run.id}/contacts${filterQuery(filter, page)}`;
  return (
    <>
      <PageHeader title="Contacts of this run" back={{ href: `/runs/${run.id}`, label: `Run on ${run.connectionName}` }}>
        <p class="meta">
          <span>{scopeWords(run.scope, names)}</span>
          <span>{plural(run.progress.verified, "contact")} checked</span>
        </p>
      </PageHeader>

      <form method="get" action={`/runs/${run.id}/contacts`} class="card filters" aria-label="Filter the contacts">
        <TextField name="q" label="Search e-mail or name" value={filter.q ?? ""} spellcheck={false} />
        <SelectField
          name="result"
          label="Result"
          value={filter.result ?? ""}
          placeholder="Any result"
          options={RESULT_CLASSES.filter((c) => (run.counts.byClass[c] ?? 0) > 0).map((c) => ({ value: c, label: CLASS_WORDS[c] }))}
        />
        <SelectField name="reason" label="Reason" value={filter.reason ?? ""} placeholder="Any reason" options={reasons.map((r) => ({ value: r, label: reasonLabel(r) }))} />
        <SelectField
          name="action"
          label="Action"
          value={filter.action ?? ""}
          placeholder="Any action"
          options={(["keep", "unsubscribe", "delete", "nothing"] as const).map((a) => ({ value: a, label: ACTION_WORDS[a] }))}
        />
        {lists.length > 1 ? (
          <SelectField name="list" label="List" value={filter.list ?? ""} placeholder="Any list" options={lists.map(([id, name]) => ({ value: id, label: name }))} />
        ) : null}
        <SelectField
          name="excluded"
          label="Taken out of the plan"
          value={filter.excluded === undefined ? "" : filter.excluded ? "yes" : "no"}
          placeholder="Either"
          options={[
            { value: "yes", label: "Taken out" },
            { value: "no", label: "In the plan" },
          ]}
        />
        <div class="actions">
          <button type="submit" class="primary">
            Show
          </button>
          <a href={`/runs/${run.id}/contacts`}>Clear</a>
        </div>
      </form>

      <section class="card" aria-labelledby="contacts-h">
        <h2 id="contacts-h" class="h3">
          <span id="contacts-count">{total === 0 ? "No contact matches" : `Showing ${fmt(from)}–${fmt(to)} of ${plural(total, "contact")}`}</span>
        </h2>
        <p class="actions">
          <a class="button secondary" id="contacts-csv" href={`/api/runs/${run.id}/contacts.csv${filterQuery(filter)}`} download>
            Download these contacts (CSV)
          </a>
          {editable ? <a href={`/runs/${run.id}#review`}>Back to the review</a> : null}
        </p>
        {contacts.length > 0 ? (
          <DataTable
            rows={contacts}
            label="Contacts"
            class="contacts"
            columns={[
              { label: "Contact", cell: (c) => <ContactCell {...c} /> },
              { label: "Result", cell: (c) => <ResultCell status={c.status} reason={c.reason} /> },
              {
                label: "Action",
                cell: (c) => (
                  <div>
                    <span class={`action a-${c.action === "nothing" ? "keep" : c.action}`}>{ACTION_WORDS[c.action]}</span>
                    {c.excluded ? <span class="sub-line">Taken out of the plan</span> : null}
                    {c.changes.length > 0 ? <span class="sub-line">from {c.changes.map(listName).join(", ")}</span> : null}
                  </div>
                ),
              },
              { label: "Lists", cell: (c) => <div>{c.lists.map((l) => l.name ?? listName(l.id)).join(", ") || "—"}</div> },
              ...(editable
                ? [
                    {
                      label: "Plan",
                      cell: (c: RunContactRow) => (
                        <form method="post" action={`/runs/${run.id}/contacts/${c.contactId}/${c.excluded ? "include" : "exclude"}`} class="inline">
                          <CsrfField token={csrfToken} />
                          <input type="hidden" name="back" value={here} />
                          <button type="submit" class="secondary small" aria-label={`${c.excluded ? "Put back into the plan" : "Take out of the plan"}: ${c.email}`}>
                            {c.excluded ? "Put back" : "Take out"}
                          </button>
                        </form>
                      ),
                    },
                  ]
                : []),
            ]}
          />
        ) : null}
        {pages > 1 ? (
          <nav class="pager" aria-label="Pages">
            {page > 1 ? <a href={`/runs/${run.id}/contacts${filterQuery(filter, page - 1)}`}>← Previous</a> : <span></span>}
            <span>
              Page {fmt(page)} of {fmt(pages)}
            </span>
            {page < pages ? <a href={`/runs/${run.id}/contacts${filterQuery(filter, page + 1)}`}>Next →</a> : <span></span>}
          </nav>
        ) : null}
      </section>
    </>
  );
};
