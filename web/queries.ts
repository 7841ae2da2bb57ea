import { and, eq, inArray } from "drizzle-orm";
import { schema } from "../db/index.ts";
import type { Deps } from "../server/deps.ts";
import type { RunView } from "../server/services/runs.ts";

export interface ContactName {
  firstName: string;
  lastName: string;
}

/**
 * Names of the contacts in a run's review sample, for display only. `run` comes from getRun,
 * which already checked it belongs to the caller's workspace.
 * (RunPlanView.sample could carry the names itself; then this goes.)
 */
export function sampleNames(deps: Deps, run: RunView): Map<number, ContactName> {
  const ids = run.plan?.sample.map((s) => s.contactId) ?? [];
  if (ids.length === 0) return new Map();
  const rows = deps.db
    .select({ contactId: schema.runContacts.contactId, firstName: schema.runContacts.firstName, lastName: schema.runContacts.lastName })
    .from(schema.runContacts)
    .where(and(eq(schema.runContacts.runId, run.id), inArray(schema.runContacts.contactId, ids)))
    .all();
  return new Map(rows.map((r) => [r.contactId, { firstName: r.firstName, lastName: r.lastName }]));
}
