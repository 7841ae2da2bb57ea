import { statement, transaction, type Db } from "../../db/index.ts";
import { newId } from "../../db/ids.ts";
import type { Deps, Principal } from "../deps.ts";
import { AppError } from "../errors.ts";
import { plural } from "../lib/words.ts";
import { moveRun } from "../runs/store.ts";
import type { RunRow } from "../runs/store.ts";
import { getRun, getRunRow, type RunView } from "./runs.ts";

const DAY_MS = 86_400_000;

/**
 * Undoing a run's unsubscribes (issue 14). Asking for it makes one row per membership the run
 * itself unsubscribed (its done unsubscribes, not those of a contact already gone) and moves
 * the run back to `applying`, in one transaction that also sets `undo_requested_at`: a second
 * request, concurrent or later, finds it set and is refused, so an undo is made once. The
 * worker's undo stage (worker/runs/undo.ts) does the rest, under the run's lease.
 */
export function requestUndo(deps: Deps, { ctx, id }: { ctx: Pick<Principal, "workspaceId">; id: string }): RunView {
  const now = deps.clock.now();
  transaction(deps.db, (tx) => {
    const run = getRunRow(tx, { workspaceId: ctx.workspaceId, id });
    const refused = undoRefusal(deps, tx, run, now);
    if (refused) throw new AppError("conflict", refused);
    const memberships = statement(tx, "SELECT contact_id, list_id, ac_updated FROM run_actions WHERE run_id = ? AND kind = 'unsubscribe' AND state = 'done' AND result_code IS NULL ORDER BY contact_id, list_id").all(run.id) as {
      contact_id: number;
      list_id: number;
      ac_updated: string | null;
    }[];
    const insert = statement(tx, "INSERT INTO run_undos (id, run_id, contact_id, list_id, ac_updated, state, attempts, updated_at) VALUES (?, ?, ?, ?, ?, 'pending', 0, ?)");
    for (const m of memberships) insert.run(newId("und", now), run.id, m.contact_id, m.list_id, m.ac_updated, now);
    moveRun(tx, run, "applying", {
      undoRequestedAt: new Date(now),
      statusCode: null,
      notBefore: null,
      transientFailures: 0,
    });
  });
  deps.logger.info({ runId: id }, "undo of a run's unsubscribes asked for");
  deps.onRunWork?.();
  return getRun(deps, { ctx, id });
}

/** Why this run's unsubscribes cannot be undone now, in words for the user; null when they can. */
export function undoRefusal(deps: Pick<Deps, "config">, db: Db, run: RunRow, now: number): string | null {
  if (run.undoRequestedAt) return run.undoFinishedAt ? "This run's unsubscribes were undone already" : "This run's unsubscribes are being undone";
  if (run.status !== "completed") return "Only a finished run's unsubscribes can be undone";
  if (!run.connectionId) return "The ActiveCampaign connection of this run was deleted; its unsubscribes cannot be undone";
  if (!run.finishedAt || run.finishedAt.getTime() + deps.config.UNDO_DAYS * DAY_MS <= now) {
    return `A run's unsubscribes can be undone for ${plural(deps.config.UNDO_DAYS, "day")} after it finished; that time has passed`;
  }
  if (undoableCount(db, run.id) === 0) return "This run unsubscribed no one: there is nothing to undo";
  return null;
}

/** The memberships an undo would look at: the run's own unsubscribes that were done (not of a contact already gone). */
export function undoableCount(db: Db, runId: string): number {
  return Number(
    (statement(db, "SELECT count(*) AS n FROM run_actions WHERE run_id = ? AND kind = 'unsubscribe' AND state = 'done' AND result_code IS NULL").get(runId) as { n: number }).n,
  );
}
