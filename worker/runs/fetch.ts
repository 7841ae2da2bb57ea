import { setMaxListeners } from "node:events";
import type { AcScope } from "../../core/ac/index.ts";
import type { RunScope } from "../../core/domain/scope-actions.ts";
import { applyAcSignals } from "../../verify/index.ts";
import type { StorePage } from "../../core/runs/attempt.ts";
import type { RunRow } from "../../core/runs/store.ts";
import type { RunContext } from "./context.ts";

const PAGE_SIZE = 100;

/** Where fetching stands: the scope part, and each shard's keyset position within it. */
export interface FetchCursor {
  part: number;
  shards: Shard[] | null;
}

interface Shard {
  afterId: string | null;
  belowId: string | null;
  done: boolean;
}

export type FetchOutcome = { kind: "done" } | { kind: "paused"; needed: number };

function partsOf(scope: RunScope): AcScope[] {
  if (scope.kind === "lists") return scope.listIds.map((listId) => ({ kind: "list", listId }));
  if (scope.kind === "tag") return [{ kind: "tag", tagId: scope.tagId }];
  return [{ kind: "all" }];
}

/** Splits a part's id range (0, maxId] into `count` shards walked in parallel; the last is open-ended. */
function shardsFor(maxId: string, count: number): Shard[] {
  const top = BigInt(maxId) + 1n;
  const cuts = Array.from({ length: count + 1 }, (_, i) => (top * BigInt(i)) / BigInt(count));
  return cuts.slice(0, -1).map((lo, i) => ({
    afterId: lo === 0n ? null : String(lo),
    belowId: i === count - 1 ? null : String(cuts[i + 1]! + 1n),
    done: false,
  }));
}

/**
 * Pages every part of the scope (each chosen list, the tag, or all contacts) by keyset, with
 * the part's id range split into shards fetched in parallel, so the run is paced by the
 * account's rate limit rather than by one request's latency. Each page, its charge and the
 * shard's new position are stored in one transaction. When one shard fails, the others are
 * stopped and awaited before the error goes up: nothing of this attempt writes after it ends.
 */
export async function fetchContacts(ctx: RunContext, stored: () => void): Promise<FetchOutcome> {
  const start = ctx.store.run();
  if (start.fetchDone) return { kind: "done" };
  const scope = JSON.parse(start.scope) as RunScope;
  const parts = partsOf(scope);
  // The names of lists (and the tag) as AC has them now: what the run, its review and its
  // files call them, whatever AC calls them later. One request per 100 lists.
  if (start.names === null) ctx.store.update({ names: JSON.stringify(await namesOf(ctx, scope)) });
  const verify = verifyAtOnce(ctx, start);
  let cursor: FetchCursor = start.fetchCursor ? (JSON.parse(start.fetchCursor) as FetchCursor) : { part: 0, shards: null };
  if (start.estimatedTotal === null && parts.length > 1 && !start.fetchCursor) {
    // Several lists: count them all before the first page, so the total shown is an estimate
    // from the start (an upper bound: a contact on two lists is checked once), not a sum that
    // grows list by list. One request per list.
    const sizes = await Promise.all(parts.map((scope) => ctx.client.contactIdRange({ scope, signal: ctx.signal })));
    ctx.store.update({ estimatedTotal: sizes.reduce((a, s) => a + s.total, 0) });
  }

  while (cursor.part < parts.length) {
    ctx.signal.throwIfAborted();
    const scope = parts[cursor.part]!;
    if (!cursor.shards) {
      const range = await ctx.client.contactIdRange({ scope, signal: ctx.signal });
      const count = Math.max(1, Math.min(ctx.settings.fetchConcurrency, Math.ceil(range.total / (PAGE_SIZE * 2))));
      const next: FetchCursor = range.maxId ? { part: cursor.part, shards: shardsFor(range.maxId, count) } : { part: cursor.part + 1, shards: null };
      ctx.store.startPart(next, range.total, next.part >= parts.length);
      if (parts.length === 1) ctx.store.update({ estimatedTotal: range.total });
      cursor = next;
      continue;
    }
    const outcome = await fetchPart(ctx, { part: cursor.part, last: cursor.part === parts.length - 1, verify }, cursor.shards, scope, stored);
    if (outcome.kind === "paused") return outcome;
    cursor = JSON.parse(ctx.store.run().fetchCursor ?? "null") as FetchCursor;
  }
  return { kind: "done" };
}

async function namesOf(ctx: RunContext, scope: RunScope): Promise<{ lists: Record<string, string>; tags: Record<string, string> }> {
  const lists = await ctx.client.listLists({ signal: ctx.signal });
  const tags = scope.kind === "tag" ? await ctx.client.listTags({ signal: ctx.signal }) : [];
  const byId = (items: { id: string; name: string }[]) => Object.fromEntries(items.filter((i) => i.name !== "").map((i) => [i.id, i.name]));
  return { lists: byId(lists), tags: byId(tags.filter((t) => scope.kind === "tag" && t.id === scope.tagId)) };
}

/**
 * Contacts whose result needs nothing from the network (a malformed address, a domain whose
 * mail route is cached) are verified as their page is stored: one write per contact instead of
 * a write, a read and a second write, and no promise per contact. Only for DNS-level runs: a
 * run that asked for the mailbox probe leaves every address to the verify stage, which
 * chooses its verifier after a preflight. Null when the verifier cannot tell at once (test
 * doubles without `peek`).
 */
function verifyAtOnce(ctx: RunContext, run: RunRow): StorePage["verify"] | undefined {
  const verifier = ctx.verifiers.plain;
  if (run.smtpProbe || !verifier.peek) return undefined;
  // What the verify stage records when it chooses DNS-level checks (issue 14).
  if (run.mailboxChecked === null) ctx.store.update({ mailboxChecked: false });
  return (contact) => {
    const result = verifier.peek!(contact.email ?? "");
    return result && applyAcSignals(result, { bouncedHard: contact.bouncedHard });
  };
}

async function fetchPart(ctx: RunContext, { part, last, verify }: { part: number; last: boolean; verify: StorePage["verify"] }, shards: Shard[], scope: AcScope, stored: () => void): Promise<FetchOutcome> {
  const stop = new AbortController();
  const signal = AbortSignal.any([ctx.signal, stop.signal]);
  setMaxListeners(0, signal);
  // Set from the shards' callbacks; typed so the checks below are not narrowed away.
  let failure = null as { error: unknown } | null;
  let needed = null as number | null;

  const walk = async (initial: Shard, index: number) => {
    let shard = initial;
    while (!shard.done && needed === null) {
      signal.throwIfAborted();
      const page = await ctx.client.pageContacts({ scope, afterId: shard.afterId, belowId: shard.belowId, limit: PAGE_SIZE, includeLists: true, signal });
      signal.throwIfAborted();
      const moved: Shard = page.contacts.length < PAGE_SIZE || !page.lastId ? { ...shard, done: true } : { ...shard, afterId: page.lastId };
      const outcome = ctx.store.storePage({
        contacts: page.contacts,
        ...(verify ? { verify } : {}),
        cursor: (stored, upTo) => {
          const current = stored as FetchCursor | null;
          // Cut short by the balance: the shard resumes after the last contact paid for.
          const next: Shard = upTo === null ? moved : { ...shard, afterId: upTo };
          const all = (current?.part === part && current.shards ? current.shards : shards).map((s, i) => (i === index ? next : s));
          return all.every((s) => s.done) ? { cursor: { part: part + 1, shards: null }, done: last } : { cursor: { part, shards: all }, done: false };
        },
      });
      if ("needed" in outcome) {
        needed ??= outcome.needed;
        return;
      }
      ctx.emit({ type: "page_stored", runId: ctx.runId, contacts: outcome.stored, part, shard: index, afterId: shard.afterId });
      if (outcome.verified > 0) ctx.emit({ type: "results_stored", runId: ctx.runId, contacts: outcome.verified, parked: 0 });
      stored();
      if (outcome.short) {
        // The balance ran out within this page: what was paid for is stored; the run pauses.
        needed ??= 1;
        return;
      }
      shard = moved;
    }
  };

  await Promise.allSettled(
    shards.map((shard, index) =>
      walk(shard, index).catch((error: unknown) => {
        // The first failure stops the other shards; what they throw on the way out is not news.
        if (!failure && !stop.signal.aborted) failure = { error };
        stop.abort(error);
      }),
    ),
  );
  if (failure) throw failure.error;
  ctx.signal.throwIfAborted();
  return needed === null ? { kind: "done" } : { kind: "paused", needed };
}
