import { setMaxListeners } from "node:events";
import { performance } from "node:perf_hooks";
import { AcError, IMPORT_MAX_CONTACTS, READ_MAX_IDS, type AcClient, type AcContactState, type AcImportContact } from "../../core/ac/index.ts";
import { labelOf, labelTag, type RunActions, type RunLabel } from "../../core/domain/scope-actions.ts";
import type { LabelBatchRow, LabelContact, LabelSetup, PreparedBatch, StaleTag } from "../../core/runs/labels.ts";
import { VERIFICATION_STATUSES } from "../../verify/index.ts";
import { sleepUnlessAborted, type RunContext } from "./context.ts";

/**
 * What writing labels needs besides a run: the account's client, the signal that stops it, and
 * where the label setup (field and tag ids found or created in AC) is kept. A run keeps it on the
 * run; monitoring (worker/monitor) on the monitor.
 */
export interface LabelIo {
  client: AcClient;
  signal: AbortSignal;
  saveSetup(setup: LabelSetup): void;
}

const runLabelIo = (ctx: RunContext): LabelIo => ({ client: ctx.client, signal: ctx.signal, saveSetup: (setup) => ctx.store.saveLabelSetup(setup) });

export type LabelOutcome =
  | { kind: "completed" }
  /** A batch AC failed waits to be sent again, at `nextAt`. */
  | { kind: "waiting"; pending: number; nextAt: number };

/**
 * Contacts re-read and sent per turn: five re-reads of 100, then two imports of 250, so that
 * 1,000 labelled contacts cost 10 re-reads and 4 imports (plus a status poll per import).
 */
const WINDOW = 2 * IMPORT_MAX_CONTACTS;
/** Imports AC has queued and we have not seen finish: past this many, look before sending more. */
const MAX_QUEUED = 50;
/** Windows prepared and sent at once. */
const LANES = 2;
/** Import statuses asked at once (the account's limiter paces them). */
const POLLS_AT_ONCE = 4;

/**
 * An import costs its request and at least one status poll (often two: AC does not know a
 * batch in its first second). A batch needing fewer single writes than this goes per contact.
 */
const IMPORT_COST = 3;

/**
 * Labels in ActiveCampaign (issue 17): writes each planned contact's status word into the
 * result field (and its reason, and its status tag, removing the tag of an earlier verdict),
 * in batches of up to 250 contacts per bulk import.
 *
 * Each batch is recorded before anything is sent. Right before it is sent its contacts are
 * re-read by id: one whose e-mail changed since the fetch, or that is gone, is left out (an
 * import matches by e-mail and would create or touch the wrong contact), and one already
 * labelled as wanted needs no write. The import's outcome is polled until AC says it is done;
 * a failed batch is sent again, then split, then reported per contact. A batch found `sending`
 * after a crash is re-read and sent once more; a `queued` one is only polled. Imports never
 * carry list subscriptions (the AC client refuses them).
 */
export async function labelRun(ctx: RunContext): Promise<LabelOutcome> {
  const { store, signal, settings, clock } = ctx;
  if (store.labelCounts().pending === 0) return { kind: "completed" };
  const actions = JSON.parse(store.run().actions) as RunActions;
  const label = labelOf(actions);
  let setup = store.labelSetup();
  if (!setup) {
    try {
      setup = await setUpLabels(runLabelIo(ctx), label);
    } catch (err) {
      if (signal.aborted || !(err instanceof AcError) || err.kind === "auth" || err.retryable || err.kind === "rate_limited") throw err;
      // AC refused the field or a tag (a plan's limit on custom fields, say): no label can be
      // written, which fails the labels, not the run's other changes.
      store.failPendingLabels("setup_refused", `ActiveCampaign refused to set up the labels: ${err.message}`);
      return { kind: "completed" };
    }
  }
  // Aborted when a lane or a poll fails, so the others' requests stop instead of running on.
  const stop = new AbortController();
  const phase: RunContext = { ...ctx, signal: AbortSignal.any([signal, stop.signal]) };
  setMaxListeners(0, phase.signal);
  /** When this attempt last sent or polled each queued batch, and how long until its next look. */
  const lastLook = new Map<string, number>();
  const delay = new Map<string, number>();
  /** Batches a lane has claimed and not yet recorded as sent: never claimed twice. */
  const holding = new Set<string>();
  const dueIn = (b: LabelBatchRow) => (lastLook.get(b.id) ?? -Infinity) + (delay.get(b.id) ?? settings.labelPollMs) - performance.now();

  /** One lane: claim a window, re-read it, send its batches; again, while AC's queue has room. */
  const lane = async () => {
    for (;;) {
      phase.signal.throwIfAborted();
      if (store.queuedLabelBatches().length >= MAX_QUEUED) return;
      const batches = store.claimLabelBatches(WINDOW, IMPORT_MAX_CONTACTS, holding);
      if (batches.length === 0) return;
      for (const b of batches) holding.add(b.id);
      try {
        for (const id of await sendBatches(phase, label, setup, batches)) lastLook.set(id, performance.now());
      } finally {
        for (const b of batches) holding.delete(b.id);
      }
    }
  };

  try {
    for (;;) {
      phase.signal.throwIfAborted();
      // Two lanes: one re-reads its window while the other's imports go, so requests keep AC's pace.
      await settleAll(Array.from({ length: LANES }, lane), stop);
      const queued = store.queuedLabelBatches();
      if (queued.length === 0) {
        const retryAt = store.nextLabelRetryAt();
        if (retryAt === null) break;
        const wait = retryAt - clock.now();
        if (wait > settings.holdMs) return { kind: "waiting", pending: store.labelCounts().pending, nextAt: retryAt };
        await sleepUnlessAborted(wait, phase.signal);
        continue;
      }
      // Batches queued by an earlier attempt are looked at at once; a few at a time, oldest first.
      const due = queued.filter((b) => dueIn(b) <= 0).slice(0, POLLS_AT_ONCE);
      if (due.length === 0) {
        await sleepUnlessAborted(Math.min(...queued.map(dueIn)), phase.signal);
        continue;
      }
      await settleAll(
        due.map(async (b) => {
          if (await pollBatch(phase, b)) return;
          lastLook.set(b.id, performance.now());
          delay.set(b.id, Math.min(settings.labelPollMaxMs, 2 * (delay.get(b.id) ?? settings.labelPollMs)));
        }),
        stop,
      );
    }
  } catch (err) {
    stop.abort(err);
    throw err;
  }
  return { kind: "completed" };
}

/**
 * Finds (or creates) the result field and the reason field by title, attached to all lists,
 * and finds the four status tags (a tag not there yet is created by the first import that
 * names it); stores their ids on the run. Safe to repeat after a crash: a field created just
 * before is found by its name.
 */
export async function setUpLabels(io: LabelIo, label: RunLabel): Promise<LabelSetup> {
  const { client, signal } = io;
  const fields = await client.listFields({ signal });
  const ensureField = async (title: string, description: string): Promise<string> => {
    let field = fields.find((f) => f.title.trim().toLowerCase() === title.toLowerCase());
    if (!field) {
      try {
        const { id } = await client.createField({ title, description }, { signal });
        field = { id, title, type: "text", perstag: "", lists: [] };
      } catch (err) {
        // Created by an earlier attempt whose answer was lost, or by someone else meanwhile.
        if (!(err instanceof AcError && err.kind === "validation")) throw err;
        field = (await client.listFields({ signal })).find((f) => f.title.trim().toLowerCase() === title.toLowerCase());
        if (!field) throw err;
      }
      fields.push(field);
    }
    if (!field.lists.includes("0")) await client.attachFieldToAllLists(field.id, { signal });
    return field.id;
  };
  const fieldId = await ensureField(label.fieldName, "Written by Listwarden: deliverable, risky, undeliverable or unknown, as the last verification found");
  const reasonFieldId = label.reasonFieldName ? await ensureField(label.reasonFieldName, "Written by Listwarden: why the last verification gave its result (e.g. accept_all)") : null;
  let tags: LabelSetup["tags"] = null;
  if (label.tagPrefix !== null) {
    const found = await client.findTags(label.tagPrefix, { signal });
    tags = {};
    for (const status of VERIFICATION_STATUSES) {
      const name = labelTag(label, status)!;
      const existing = found.find((t) => t.name.toLowerCase() === name.toLowerCase());
      tags[status] = existing ? { name: existing.name, id: existing.id } : { name, id: null };
    }
  }
  const setup: LabelSetup = { fieldId, reasonFieldId, tags };
  io.saveSetup(setup);
  return setup;
}

/**
 * Waits for every task; if one fails, aborts the others (through `stop`) and, once all have
 * settled, throws the first failure: nothing of the stage runs on after it returned.
 */
async function settleAll(tasks: Promise<unknown>[], stop: AbortController): Promise<void> {
  let failure: { error: unknown } | null = null;
  await Promise.all(
    tasks.map((t) =>
      t.catch((error: unknown) => {
        failure ??= { error };
        stop.abort(error);
      }),
    ),
  );
  if (failure) throw (failure as { error: unknown }).error;
}

/** What one contact needs, from its re-read state. */
export interface Need {
  field: { value: string; valueId: string | null } | null;
  reason: { value: string; valueId: string | null } | null;
  /** The status tag to add (its id is null while AC has no such tag). */
  tag: { name: string; id: string | null } | null;
  stale: StaleTag[];
}

export function needOf(c: Pick<LabelContact, "value" | "reason">, state: AcContactState, setup: LabelSetup): Need {
  const valueOf = (fieldId: string) => state.fieldValues?.find((v) => v.fieldId === fieldId);
  const current = valueOf(setup.fieldId);
  const field = current?.value === c.value ? null : { value: c.value, valueId: current?.id ?? null };
  let reason: Need["reason"] = null;
  if (setup.reasonFieldId && c.reason !== null) {
    const had = valueOf(setup.reasonFieldId);
    if (had?.value !== c.reason) reason = { value: c.reason, valueId: had?.id ?? null };
  }
  let tag: Need["tag"] = null;
  const stale: StaleTag[] = [];
  if (setup.tags) {
    const wanted = setup.tags[c.value];
    if (wanted && !(wanted.id !== null && state.tags?.some((t) => t.tagId === wanted.id))) tag = wanted;
    const others = new Map(Object.values(setup.tags).flatMap((t) => (t.id !== null && t.id !== wanted?.id ? [[t.id, t.name] as const] : [])));
    for (const t of state.tags ?? []) if (others.has(t.tagId)) stale.push({ id: t.id, name: others.get(t.tagId)! });
  }
  return { field, reason, tag, stale };
}

export const writesOf = (n: Need) => (n.field ? 1 : 0) + (n.reason ? 1 : 0) + (n.tag ? 1 : 0);
const sameAddress = (a: string, b: string) => a.trim().toLowerCase() === b.trim().toLowerCase();

/**
 * Prepares and sends a window of batches: re-reads their contacts by id (100 per request),
 * records per batch who is left out, who is already current and what is sent, then sends it
 * as one bulk import, or as per-contact writes when that takes fewer requests. Returns the
 * ids of the batches AC queued.
 */
async function sendBatches(ctx: RunContext, label: RunLabel, setup: LabelSetup, batches: LabelBatchRow[]): Promise<string[]> {
  const { client, store, signal } = ctx;
  const members = batches.map((batch) => ({ batch, contacts: store.labelBatchContacts(batch.id) }));
  const ids = members.flatMap((m) => m.contacts.map((c) => String(c.contactId)));
  const states = new Map<number, AcContactState>();
  // The pages at once: the account's limiter paces them. A failure stops the others first.
  const local = new AbortController();
  const readSignal = AbortSignal.any([signal, local.signal]);
  const pages: string[][] = [];
  for (let i = 0; i < ids.length; i += READ_MAX_IDS) pages.push(ids.slice(i, i + READ_MAX_IDS));
  await settleAll(
    pages.map(async (page) => {
      for (const s of await client.readContacts(page, { tags: setup.tags !== null, fieldValues: true, signal: readSignal })) states.set(Number(s.id), s);
    }),
    local,
  );
  // AC's sideloads are undocumented: when one is missing, ask per contact.
  await settleAll(
    [...states].map(async ([id, s]) => {
      if (setup.tags !== null && s.tags === null) s.tags = await client.getContactTags(String(id), { signal: readSignal });
      if (s.fieldValues === null) s.fieldValues = await client.getContactFieldValues(String(id), { signal: readSignal });
    }),
    local,
  );

  const queued: string[] = [];
  for (const { batch, contacts } of members) {
    // Stopped (cancelled, killed, lease lost): nothing more is recorded as about to be sent.
    signal.throwIfAborted();
    const needs = new Map<number, Need>();
    const prepared: PreparedBatch = { mode: "import", leftOut: [], current: [], work: [] };
    for (const c of contacts) {
      const state = states.get(c.contactId);
      if (!state) prepared.leftOut.push({ contactId: c.contactId, code: "contact_gone" });
      else if (!sameAddress(state.email, c.email)) prepared.leftOut.push({ contactId: c.contactId, code: "email_changed" });
      else {
        const need = needOf(c, state, setup);
        needs.set(c.contactId, need);
        if (writesOf(need) === 0 && need.stale.length === 0) prepared.current.push(c.contactId);
        else prepared.work.push({ contactId: c.contactId, write: writesOf(need) > 0, staleTags: need.stale });
      }
    }
    const singleWrites = [...needs.values()].reduce((n, need) => n + writesOf(need), 0);
    prepared.mode = singleWrites >= IMPORT_COST ? "import" : "direct";
    store.startLabelBatch(batch.id, prepared);
    ctx.emit({ type: "label_batch", runId: ctx.runId, batchId: batch.id, state: "sending" });
    if (prepared.work.length === 0) {
      store.finishLabelBatch(batch.id, { failed: [] });
      ctx.emit({ type: "label_batch", runId: ctx.runId, batchId: batch.id, state: "done" });
      continue;
    }
    const work = contacts.filter((c) => needs.has(c.contactId) && prepared.work.some((w) => w.contactId === c.contactId));
    if (prepared.mode === "direct") {
      await writeDirect(ctx, setup, batch, work, needs);
      continue;
    }
    const byContact = new Map(work.map((c) => [c.contactId, c]));
    const sent = prepared.work.filter((w) => w.write).map((w) => byContact.get(w.contactId)!);
    const payload: AcImportContact[] = sent.map((c) => importContact(c, states.get(c.contactId)!, setup));
    try {
      const { batchId } = await client.bulkImport({ contacts: payload, excludeAutomations: !label.runAutomations }, { signal });
      store.labelBatchQueued(batch.id, batchId);
      ctx.emit({ type: "label_batch", runId: ctx.runId, batchId: batch.id, state: "queued" });
      queued.push(batch.id);
    } catch (err) {
      if (signal.aborted || !(err instanceof AcError) || err.kind !== "validation") throw err;
      // AC refused the import itself (a 400 that is not its rate limit): by contact when it says which.
      const named = (err.details ?? []).flatMap((d) => {
        const at = /^\/contacts\/(\d+)$/.exec(d.pointer ?? "");
        const c = at ? sent[Number(at[1])] : undefined;
        return c ? [{ contactId: c.contactId, error: `ActiveCampaign refused this contact in the import: ${d.title}` }] : [];
      });
      if (named.length > 0) {
        store.labelBatchRefused(batch.id, named, err.message);
        ctx.emit({ type: "label_batch", runId: ctx.runId, batchId: batch.id, state: "refused" });
      } else {
        const what = store.labelBatchFailed(batch.id, err.message, ctx.clock.now() + ctx.settings.actionRetryBaseMs);
        ctx.emit({ type: "label_batch", runId: ctx.runId, batchId: batch.id, state: what });
      }
    }
  }
  return queued;
}

/** One contact of an import: its address as AC has it now, the field values, the status tag. Nothing else. */
function importContact(c: LabelContact, state: AcContactState, setup: LabelSetup): AcImportContact {
  const fields = [{ id: Number(setup.fieldId), value: c.value }];
  if (setup.reasonFieldId && c.reason !== null) fields.push({ id: Number(setup.reasonFieldId), value: c.reason });
  const tag = setup.tags?.[c.value]?.name;
  return { email: state.email, fields, ...(tag ? { tags: [tag] } : {}) };
}

/** A handful of writes: per contact, each safe to send again (a value set twice is the same value). */
async function writeDirect(ctx: RunContext, setup: LabelSetup, batch: LabelBatchRow, contacts: LabelContact[], needs: Map<number, Need>): Promise<void> {
  const { signal, store } = ctx;
  const failed: { contactId: number; code: string; error: string }[] = [];
  const gone: number[] = [];
  const removedTags = new Map<number, string[]>();
  const io = runLabelIo(ctx);
  for (const c of contacts) {
    try {
      const written = await writeOneLabel(io, setup, c, needs.get(c.contactId)!);
      if (written.gone) gone.push(c.contactId);
      else removedTags.set(c.contactId, written.removedTags);
    } catch (err) {
      if (signal.aborted || !(err instanceof AcError) || err.kind === "auth" || err.retryable || err.kind === "rate_limited") throw err;
      failed.push({ contactId: c.contactId, code: "write_refused", error: err.message });
    }
  }
  store.finishLabelBatch(batch.id, { failed, gone, removedTags });
  ctx.emit({ type: "label_batch", runId: ctx.runId, batchId: batch.id, state: "done" });
}

/**
 * One contact's label written with per-contact requests, each safe to send again (a value set
 * twice is the same value; the tag is added only when the re-read did not find it): the field,
 * the reason, the status tag, then the tags of an earlier verdict removed. Used for a handful of
 * a run's writes, and for each contact monitoring checks.
 */
export async function writeOneLabel(io: LabelIo, setup: LabelSetup, c: { contactId: number | string; value: string }, need: Need): Promise<{ gone: boolean; removedTags: string[] }> {
  const { client, signal } = io;
  const id = String(c.contactId);
  let gone = false;
  if (need.field) gone ||= (await client.setFieldValue({ contactId: id, fieldId: setup.fieldId, value: need.field.value, valueId: need.field.valueId }, { signal })).contactGone;
  if (!gone && need.reason && setup.reasonFieldId) {
    gone ||= (await client.setFieldValue({ contactId: id, fieldId: setup.reasonFieldId, value: need.reason.value, valueId: need.reason.valueId }, { signal })).contactGone;
  }
  if (!gone && need.tag) gone ||= (await client.addContactTag(id, need.tag.id ?? (await tagId(io, setup, c.value)), { signal })).contactGone;
  if (gone) return { gone, removedTags: [] };
  return { gone, removedTags: await removeStale(io, need.stale) };
}

/** The id of a status tag, creating the tag when AC has none yet (a per-contact write needs it). */
async function tagId(io: LabelIo, setup: LabelSetup, status: string): Promise<string> {
  const tag = setup.tags![status]!;
  if (tag.id !== null) return tag.id;
  try {
    tag.id = (await io.client.createTag(tag.name, `Listwarden: the address verified as ${status}`, { signal: io.signal })).id;
  } catch (err) {
    // Created meanwhile (by an import, or an attempt whose answer was lost): find it.
    if (!(err instanceof AcError && err.kind === "validation")) throw err;
    const found = (await io.client.findTags(tag.name, { signal: io.signal })).find((t) => t.name.toLowerCase() === tag.name.toLowerCase());
    if (!found) throw err;
    tag.id = found.id;
  }
  io.saveSetup(setup);
  return tag.id;
}

/** Removes the tags of an earlier verdict; one already gone is fine. Returns the names removed. */
async function removeStale(io: Pick<LabelIo, "client" | "signal">, stale: StaleTag[]): Promise<string[]> {
  for (const t of stale) await io.client.removeContactTag(t.id, { signal: io.signal });
  return stale.map((t) => t.name);
}

/** Looks at a queued import once; true when it is finished (done, or failed and dealt with). */
async function pollBatch(ctx: RunContext, batch: LabelBatchRow): Promise<boolean> {
  const { client, store, signal } = ctx;
  let info: Awaited<ReturnType<typeof client.importInfo>>;
  try {
    info = await client.importInfo(batch.acBatchId!, { signal });
  } catch (err) {
    if (signal.aborted || !(err instanceof AcError) || err.kind !== "not_found") throw err;
    // AC no longer knows the batch: as if it had failed (re-read, sent again, split if it keeps failing).
    const what = store.labelBatchFailed(batch.id, `ActiveCampaign no longer knows import ${batch.acBatchId}`, ctx.clock.now() + ctx.settings.actionRetryBaseMs);
    ctx.emit({ type: "label_batch", runId: ctx.runId, batchId: batch.id, state: what });
    return true;
  }
  store.labelBatchPolled(batch.id);
  if (info.status === "completed") {
    const contacts = store.labelBatchContacts(batch.id);
    const refused = new Set(info.failed.map((e) => e.trim().toLowerCase()));
    const failed = contacts
      .filter((c) => c.resultCode === "written" && refused.has(c.email.trim().toLowerCase()))
      .map((c) => ({ contactId: c.contactId, code: "import_refused", error: "ActiveCampaign's import did not take this address (it may be on the account's exclusion list)" }));
    if (info.created.length > 0) {
      // Safe matching exists so that this never happens; if AC says it did, the user must know.
      ctx.logger.error({ batchId: batch.acBatchId, created: info.created }, "a label import created contacts");
      store.note(`ActiveCampaign reports that label import ${batch.seq} created ${info.created.length} contact(s) (ids ${info.created.slice(0, 10).join(", ")}); please check them in ActiveCampaign`);
    }
    const removedTags = new Map<number, string[]>();
    const failedIds = new Set(failed.map((f) => f.contactId));
    for (const c of contacts) if (!failedIds.has(c.contactId) && c.staleTags.length > 0) removedTags.set(c.contactId, await removeStale(ctx, c.staleTags));
    store.finishLabelBatch(batch.id, { failed, removedTags });
    ctx.emit({ type: "label_batch", runId: ctx.runId, batchId: batch.id, state: "done" });
    return true;
  }
  if (info.status === "failed" || info.status === "interrupted") {
    const what = store.labelBatchFailed(batch.id, `ActiveCampaign's import of this batch ended as "${info.status}"`, ctx.clock.now() + ctx.settings.actionRetryBaseMs);
    ctx.emit({ type: "label_batch", runId: ctx.runId, batchId: batch.id, state: what });
    return true;
  }
  // waiting, claimed, active, or not known yet (AC answers false in the first second)
  return false;
}
