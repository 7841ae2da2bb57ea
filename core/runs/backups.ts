import { statement, type Db } from "../../db/index.ts";
import type { SecretBox } from "../lib/crypto.ts";

/**
 * A contact's whole ActiveCampaign record, read right before a run deleted it (issue 14):
 * its own fields, every list membership (with AC's status: 0 unconfirmed, 1 active,
 * 2 unsubscribed, 3 bounced), its custom field values and its tags, each with the name AC
 * had for it when the backup was taken.
 */
export interface BackupRecord {
  contactId: string;
  email: string;
  firstName: string;
  lastName: string;
  phone: string;
  /** AC's creation and last update dates, as AC sent them. */
  acCreated: string;
  acUpdated: string;
  lists: { id: string; name: string | null; status: number }[];
  fields: { id: string; title: string | null; value: string }[];
  tags: { id: string; name: string | null }[];
}

/** How a backup is bound to its row: the run and the contact (a row id would change on a re-taken backup). */
export const backupAad = (runId: string, contactId: number | string) => `backup:${runId}:${contactId}`;

/** What the attempt store needs to keep backups: the key they are sealed with and how long they are kept. */
export interface BackupKeeping {
  box: SecretBox;
  retentionMs: number;
}

export function sealBackup(box: SecretBox, runId: string, record: BackupRecord): string {
  return box.seal(JSON.stringify(record), backupAad(runId, record.contactId));
}

export function openBackup(box: SecretBox, runId: string, contactId: number, sealed: string): BackupRecord {
  return JSON.parse(box.open(sealed, backupAad(runId, contactId))) as BackupRecord;
}

/** How many contacts of a run are backed up (not yet purged), and when the first of them goes. */
export function backupSummary(db: Db, runId: string, now: number): { contacts: number; expiresAt: string | null } {
  const row = statement(db, "SELECT count(*) AS n, min(expires_at) AS first FROM run_backups WHERE run_id = ? AND expires_at > ?").get(runId, now) as {
    n: number;
    first: number | null;
  };
  return { contacts: Number(row.n), expiresAt: row.first === null ? null : new Date(Number(row.first)).toISOString() };
}
