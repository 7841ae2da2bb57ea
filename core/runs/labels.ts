import type { Database } from "better-sqlite3";
import { plural } from "../lib/words.ts";
import { statement, type Db } from "../../db/index.ts";
import type { LabelBatchMode, LabelBatchState } from "../../db/schema/index.ts";

/**
 * The attempt store's part for labels in ActiveCampaign (issue 17): planning which contacts
 * get a label, and the label batches, each a unit of work with its own key, recorded before
 * it is sent and after its outcome is known. Every write runs in the attempt's lease-checked
 * transaction and moves the run's label counters with the rows (labels_done, _skipped,
 * _failed). See worker/runs/label.ts for the stage that drives it.
 */

/** Where labels go in AC, found or created on first use and kept on the run. */
export interface LabelSetup {
  fieldId: string;
  reasonFieldId: string | null;
  /**
   * Tag name and AC id per status, when the run writes tags. A tag not in AC yet has no id: an
   * import creates it by name, a per-contact write creates it first.
   */
  tags: Record<string, { name: string; id: string | null }> | null;
}

export interface LabelBatchRow {
  id: string;
  seq: number;
  mode: LabelBatchMode;
  state: LabelBatchState;
  contacts: number;
  acBatchId: string | null;
  sends: number;
  failures: number;
  polls: number;
}

/** A contact of a batch as the stage needs it: the address fetched, what to write. */
export interface LabelContact {
  contactId: number;
  email: string;
  value: string;
  reason: string | null;
  /** Tags of an earlier verdict to remove (the contactTag's id, the tag's name), as found when the batch was prepared. */
  staleTags: StaleTag[];
  /** "written" (sent in the batch) or "already_current" (only stale tags to remove), once prepared. */
  resultCode: string | null;
}

export interface LabelCounts {
  planned: number;
  pending: number;
  done: number;
  skipped: number;
  failed: number;
}

/** How the re-read before a batch sorted its contacts. */
export interface PreparedBatch {
  mode: LabelBatchMode;
  /** Left out: e-mail changed, or gone from AC. Never written. */
  leftOut: { contactId: number; code: "email_changed" | "contact_gone" }[];
  /** Already labelled as wanted, nothing to remove: done without a write. */
  current: number[];
  /** To write (`write`), or only to clean up (stale tags of an earlier verdict). */
  work: { contactId: number; write: boolean; staleTags: StaleTag[] }[];
}

export interface StaleTag {
  /** The contactTag's id in AC (DELETE /contactTags/{id}). */
  id: string;
  name: string;
}

export interface LabelStore {
  labelCounts(): LabelCounts;
  labelSetup(): LabelSetup | null;
  saveLabelSetup(setup: LabelSetup): void;
  /**
   * The batches to prepare and send now: those left pending or sending (a crash, weather, a
   * retry), oldest first; else new batches of at most `batchSize` from the contacts not in one
   * yet, `maxContacts` in all. Recorded before anything is sent.
   */
  claimLabelBatches(maxContacts: number, batchSize: number, holding?: ReadonlySet<string>): LabelBatchRow[];
  /** When a batch waiting to be sent again (after a failure) is due, if any is. */
  nextLabelRetryAt(): number | null;
  labelBatchContacts(batchId: string): LabelContact[];
  /** Stores what the re-read found and marks the batch `sending` (one more send) in one transaction. */
  startLabelBatch(batchId: string, prepared: PreparedBatch): void;
  /** AC took the import: its batchId, polled from now on. */
  labelBatchQueued(batchId: string, acBatchId: string): void;
  labelBatchPolled(batchId: string): void;
  /** Batches AC is importing, oldest first. */
  queuedLabelBatches(): LabelBatchRow[];
  /** The batch ended: `failed` contacts with AC's words, the rest done (written or already current). */
  finishLabelBatch(batchId: string, outcome: { failed: { contactId: number; code: string; error: string }[]; gone?: number[]; removedTags?: Map<number, string[]> }): void;
  /**
   * AC said the batch failed: sent again once, then split in halves, down to one contact, which
   * is then failed with `error`. Returns what became of it.
   */
  labelBatchFailed(batchId: string, error: string, retryAt: number): "retry" | "split" | "failed";
  /** Fails every label not written yet (AC refused to create the field or a tag). */
  failPendingLabels(code: string, error: string): void;
  /** AC refused some contacts of the batch by name: those fail, the others go back for a new batch. */
  labelBatchRefused(batchId: string, refused: { contactId: number; error: string }[], error: string): void;
}

export interface LabelStoreContext {
  runId: string;
  client: Database;
  sql(source: string): import("better-sqlite3").Statement;
  /** A transaction on a run this attempt still holds (LeaseLost otherwise). */
  leased<T>(fn: () => T): T;
  now(): number;
}

interface BatchSqlRow {
  id: string;
  seq: number;
  mode: LabelBatchMode;
  state: LabelBatchState;
  contacts: number;
  ac_batch_id: string | null;
  sends: number;
  failures: number;
  polls: number;
}

const toBatch = (r: BatchSqlRow): LabelBatchRow => ({
  id: r.id,
  seq: r.seq,
  mode: r.mode,
  state: r.state,
  contacts: Number(r.contacts),
  acBatchId: r.ac_batch_id,
  sends: Number(r.sends),
  failures: Number(r.failures),
  polls: Number(r.polls),
});

/** The batch key: the run and the batch's place in it. */
export const labelBatchId = (runId: string, seq: number) => `lbl_${runId}_${seq}`;

const BATCH_COLUMNS = "id, seq, mode, state, contacts, ac_batch_id, sends, failures, polls";
/** AC failed it this many times: split it. */
const SPLIT_AFTER_FAILURES = 2;

export function labelMethods({ runId, client, sql, leased, now }: LabelStoreContext): LabelStore {
  const counters = (done: number, skipped: number, failed: number) => {
    if (done || skipped || failed) {
      sql("UPDATE runs SET labels_done = labels_done + ?, labels_skipped = labels_skipped + ?, labels_failed = labels_failed + ?, transient_failures = 0 WHERE id = ?").run(
        done,
        skipped,
        failed,
        runId,
      );
    }
  };
  /** Counts contacts labelled per value (run_counts "label_done"), from the rows just marked done. */
  const countDone = (values: { value: string }[]) => {
    const byValue = new Map<string, number>();
    for (const r of values) byValue.set(r.value, (byValue.get(r.value) ?? 0) + 1);
    const bump = sql("INSERT INTO run_counts (run_id, kind, key, n) VALUES (?, 'label_done', ?, ?) ON CONFLICT (run_id, kind, key) DO UPDATE SET n = n + excluded.n");
    for (const [value, n] of byValue) bump.run(runId, value, n);
    return values.length;
  };
  const nextSeq = () => Number((sql("SELECT coalesce(max(seq), 0) AS n FROM run_label_batches WHERE run_id = ?").get(runId) as { n: number }).n) + 1;
  const insertBatch = (seq: number, contacts: number, parentId: string | null) =>
    sql("INSERT INTO run_label_batches (id, run_id, seq, parent_id, mode, state, contacts, created_at, updated_at) VALUES (?, ?, ?, ?, 'import', 'pending', ?, ?, ?)").run(
      labelBatchId(runId, seq),
      runId,
      seq,
      parentId,
      contacts,
      now(),
      now(),
    );
  const readBatch = (id: string) => sql(`SELECT ${BATCH_COLUMNS} FROM run_label_batches WHERE id = ? AND run_id = ?`).get(id, runId) as BatchSqlRow | undefined;
  /** Contacts of a batch still to finish. */
  const openContacts = (batchId: string) =>
    (sql("SELECT contact_id FROM run_labels WHERE run_id = ? AND batch_id = ? AND state = 'pending' ORDER BY contact_id").all(runId, batchId) as { contact_id: number }[]).map(
      (r) => r.contact_id,
    );
  const failContacts = (list: { contactId: number; code: string; error: string }[]) => {
    const fail = sql("UPDATE run_labels SET state = 'failed', result_code = ?, error = ?, updated_at = ? WHERE run_id = ? AND contact_id = ? AND state = 'pending'");
    let n = 0;
    for (const f of list) n += fail.run(f.code, f.error, now(), runId, f.contactId).changes;
    return n;
  };

  return {
    labelCounts() {
      const row = sql("SELECT labels_planned AS planned, labels_done AS done, labels_skipped AS skipped, labels_failed AS failed FROM runs WHERE id = ?").get(runId) as {
        planned: number;
        done: number;
        skipped: number;
        failed: number;
      };
      const planned = Number(row.planned);
      return { planned, done: Number(row.done), skipped: Number(row.skipped), failed: Number(row.failed), pending: planned - Number(row.done) - Number(row.skipped) - Number(row.failed) };
    },

    labelSetup() {
      const row = sql("SELECT label_setup FROM runs WHERE id = ?").get(runId) as { label_setup: string | null };
      return row.label_setup ? (JSON.parse(row.label_setup) as LabelSetup) : null;
    },

    saveLabelSetup(setup) {
      leased(() => sql("UPDATE runs SET label_setup = ? WHERE id = ?").run(JSON.stringify(setup), runId));
    },

    claimLabelBatches(maxContacts, batchSize, holding = new Set()) {
      return leased(() => {
        const open = (
          sql(`SELECT ${BATCH_COLUMNS} FROM run_label_batches WHERE run_id = ? AND state IN ('pending', 'sending') AND (next_at IS NULL OR next_at <= ?) ORDER BY seq`).all(
            runId,
            now(),
          ) as BatchSqlRow[]
        ).filter((b) => !holding.has(b.id));
        const picked: BatchSqlRow[] = [];
        let contacts = 0;
        for (const b of open) {
          if (picked.length > 0 && contacts + Number(b.contacts) > maxContacts) break;
          picked.push(b);
          contacts += Number(b.contacts);
        }
        if (picked.length > 0) return picked.map(toBatch);
        const free = sql("SELECT contact_id FROM run_labels WHERE run_id = ? AND state = 'pending' AND batch_id IS NULL ORDER BY contact_id LIMIT ?").all(runId, maxContacts) as {
          contact_id: number;
        }[];
        const assign = sql("UPDATE run_labels SET batch_id = ?, updated_at = ? WHERE run_id = ? AND contact_id = ?");
        let seq = nextSeq();
        const created: LabelBatchRow[] = [];
        for (let i = 0; i < free.length; i += batchSize) {
          const part = free.slice(i, i + batchSize);
          insertBatch(seq, part.length, null);
          const id = labelBatchId(runId, seq);
          for (const c of part) assign.run(id, now(), runId, c.contact_id);
          created.push(toBatch(readBatch(id)!));
          seq += 1;
        }
        return created;
      });
    },

    nextLabelRetryAt() {
      const row = sql("SELECT min(next_at) AS next FROM run_label_batches WHERE run_id = ? AND state = 'pending' AND next_at IS NOT NULL").get(runId) as { next: number | null };
      return row.next === null ? null : Number(row.next);
    },

    labelBatchContacts(batchId) {
      const rows = sql(
        "SELECT l.contact_id, c.email, l.value, l.reason, l.stale_tags, l.result_code FROM run_labels l JOIN run_contacts c ON c.run_id = l.run_id AND c.contact_id = l.contact_id WHERE l.run_id = ? AND l.batch_id = ? AND l.state = 'pending' ORDER BY l.contact_id",
      ).all(runId, batchId) as { contact_id: number; email: string; value: string; reason: string | null; stale_tags: string | null; result_code: string | null }[];
      return rows.map((r) => ({
        contactId: r.contact_id,
        email: r.email,
        value: r.value,
        reason: r.reason,
        staleTags: r.stale_tags ? (JSON.parse(r.stale_tags) as StaleTag[]) : [],
        resultCode: r.result_code,
      }));
    },

    startLabelBatch(batchId, prepared) {
      leased(() => {
        const at = now();
        const skip = sql("UPDATE run_labels SET state = 'skipped', result_code = ?, updated_at = ? WHERE run_id = ? AND contact_id = ? AND batch_id = ? AND state = 'pending'");
        let skipped = 0;
        for (const l of prepared.leftOut) skipped += skip.run(l.code, at, runId, l.contactId, batchId).changes;
        const current = sql(
          "UPDATE run_labels SET state = 'done', result_code = 'already_current', stale_tags = NULL, updated_at = ? WHERE run_id = ? AND contact_id = ? AND batch_id = ? AND state = 'pending' RETURNING value",
        );
        const done = countDone(prepared.current.flatMap((id) => current.all(at, runId, id, batchId) as { value: string }[]));
        const work = sql("UPDATE run_labels SET result_code = ?, stale_tags = ?, updated_at = ? WHERE run_id = ? AND contact_id = ? AND batch_id = ? AND state = 'pending'");
        for (const w of prepared.work) work.run(w.write ? "written" : "already_current", w.staleTags.length ? JSON.stringify(w.staleTags) : null, at, runId, w.contactId, batchId);
        counters(done, skipped, 0);
        sql("UPDATE run_label_batches SET mode = ?, state = 'sending', contacts = ?, sends = sends + 1, sent_at = ?, next_at = NULL, updated_at = ? WHERE id = ? AND run_id = ?").run(
          prepared.mode,
          prepared.work.length,
          at,
          at,
          batchId,
          runId,
        );
      });
    },

    labelBatchQueued(batchId, acBatchId) {
      leased(() => sql("UPDATE run_label_batches SET state = 'queued', ac_batch_id = ?, updated_at = ? WHERE id = ? AND run_id = ?").run(acBatchId, now(), batchId, runId));
    },

    labelBatchPolled(batchId) {
      leased(() => sql("UPDATE run_label_batches SET polls = polls + 1, updated_at = ? WHERE id = ? AND run_id = ?").run(now(), batchId, runId));
    },

    queuedLabelBatches() {
      return (sql(`SELECT ${BATCH_COLUMNS} FROM run_label_batches WHERE run_id = ? AND state = 'queued' ORDER BY seq`).all(runId) as BatchSqlRow[]).map(toBatch);
    },

    finishLabelBatch(batchId, outcome) {
      leased(() => {
        const at = now();
        const failed = failContacts(outcome.failed);
        const goneStmt = sql("UPDATE run_labels SET state = 'skipped', result_code = 'contact_gone', updated_at = ? WHERE run_id = ? AND contact_id = ? AND batch_id = ? AND state = 'pending'");
        let skipped = 0;
        for (const id of outcome.gone ?? []) skipped += goneStmt.run(at, runId, id, batchId).changes;
        const removed = sql("UPDATE run_labels SET removed_tags = ? WHERE run_id = ? AND contact_id = ?");
        for (const [id, names] of outcome.removedTags ?? []) if (names.length) removed.run(names.join(" "), runId, id);
        const done = countDone(
          sql("UPDATE run_labels SET state = 'done', result_code = coalesce(result_code, 'written'), stale_tags = NULL, updated_at = ? WHERE run_id = ? AND batch_id = ? AND state = 'pending' RETURNING value").all(
            at,
            runId,
            batchId,
          ) as { value: string }[],
        );
        counters(done, skipped, failed);
        sql("UPDATE run_label_batches SET state = ?, error = ?, updated_at = ? WHERE id = ? AND run_id = ?").run(
          failed > 0 && done === 0 ? "failed" : "done",
          failed > 0 ? `${plural(failed, "contact")} not taken` : null,
          at,
          batchId,
          runId,
        );
      });
    },

    labelBatchFailed(batchId, error, retryAt) {
      return leased(() => {
        const at = now();
        const batch = readBatch(batchId);
        if (!batch) return "failed";
        const failures = Number(batch.failures) + 1;
        if (failures < SPLIT_AFTER_FAILURES) {
          sql("UPDATE run_label_batches SET state = 'pending', failures = ?, error = ?, next_at = ?, updated_at = ? WHERE id = ? AND run_id = ?").run(failures, error, retryAt, at, batchId, runId);
          return "retry";
        }
        const contacts = openContacts(batchId);
        if (contacts.length <= 1) {
          const n = failContacts(contacts.map((contactId) => ({ contactId, code: "import_failed", error })));
          counters(0, 0, n);
          sql("UPDATE run_label_batches SET state = 'failed', failures = ?, error = ?, updated_at = ? WHERE id = ? AND run_id = ?").run(failures, error, at, batchId, runId);
          return "failed";
        }
        // Halves, each a batch of its own with a fresh count of failures: the contact AC chokes on is found in log2(n) steps.
        const half = Math.ceil(contacts.length / 2);
        const move = sql("UPDATE run_labels SET batch_id = ?, updated_at = ? WHERE run_id = ? AND contact_id = ?");
        let seq = nextSeq();
        for (const part of [contacts.slice(0, half), contacts.slice(half)]) {
          insertBatch(seq, part.length, batchId);
          for (const id of part) move.run(labelBatchId(runId, seq), at, runId, id);
          seq += 1;
        }
        sql("UPDATE run_label_batches SET state = 'split', failures = ?, error = ?, updated_at = ? WHERE id = ? AND run_id = ?").run(failures, error, at, batchId, runId);
        return "split";
      });
    },

    failPendingLabels(code, error) {
      leased(() => {
        const n = sql("UPDATE run_labels SET state = 'failed', result_code = ?, error = ?, updated_at = ? WHERE run_id = ? AND state = 'pending'").run(code, error, now(), runId).changes;
        counters(0, 0, n);
      });
    },

    labelBatchRefused(batchId, refused, error) {
      leased(() => {
        const at = now();
        const failed = failContacts(refused.map((r) => ({ contactId: r.contactId, code: "import_refused", error: r.error })));
        counters(0, 0, failed);
        // The others were refused with them only because an import is all or nothing: a new batch takes them.
        sql("UPDATE run_labels SET batch_id = NULL, result_code = NULL, updated_at = ? WHERE run_id = ? AND batch_id = ? AND state = 'pending'").run(at, runId, batchId);
        sql("UPDATE run_label_batches SET state = 'failed', error = ?, updated_at = ? WHERE id = ? AND run_id = ?").run(error, at, batchId, runId);
      });
    },
  };
}

/**
 * Puts a finished run's failed labels back to pending, out of their batches, so a retry sends
 * them again in new ones; returns how many labels are left to write. Call it in the
 * transaction that reopens the run (core/services/runs.ts, retryRunActions).
 */
export function reopenFailedLabels(tx: Db, runId: string, at: number): number {
  const reopened = statement(tx, "UPDATE run_labels SET state = 'pending', batch_id = NULL, result_code = NULL, error = NULL, updated_at = ? WHERE run_id = ? AND state = 'failed'").run(
    at,
    runId,
  ).changes;
  if (reopened > 0) statement(tx, "UPDATE runs SET labels_failed = labels_failed - ? WHERE id = ?").run(reopened, runId);
  const row = statement(tx, "SELECT labels_planned - labels_done - labels_skipped - labels_failed AS n FROM runs WHERE id = ?").get(runId) as { n: number };
  return Number(row.n);
}
