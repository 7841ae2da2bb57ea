import type { AcNamed, AcScope } from "../ac/index.ts";
import type { Deps, Principal } from "../deps.ts";
import type { RunScope } from "../domain/scope-actions.ts";
import { balanceOf } from "./credits.ts";
export { SizeCache, SIZE_TTL_MS } from "../lib/size-cache.ts";
import { clientForConnection, getConnectionRow, acErrorToAppError } from "./connections.ts";

const PAGE_SIZE = 100;

const partKey = (connectionId: string, part: AcScope) =>
  `${connectionId}:${part.kind === "list" ? `list:${part.listId}` : part.kind === "tag" ? `tag:${part.tagId}` : "all"}`;

export function partsOfScope(scope: RunScope): AcScope[] {
  if (scope.kind === "lists") return scope.listIds.map((listId) => ({ kind: "list", listId }));
  if (scope.kind === "tag") return [{ kind: "tag", tagId: scope.tagId }];
  return [{ kind: "all" }];
}

export interface ScopeSizes {
  lists: Record<string, number | null>;
  tags: Record<string, number | null>;
  all: number | null;
  /** Every count is known. */
  complete: boolean;
}

/**
 * The contact counts of a connection's lists, tags and whole account. Counts not yet cached
 * are asked of AC (through the account's rate limiter); those not known within `waitMs` are
 * null (and keep coming in the background, for the next look).
 */
export async function scopeSizes(
  deps: Deps,
  {
    ctx,
    id,
    lists,
    tags,
    waitMs,
    throwOnError = false,
    withAll = true,
  }: { ctx: Principal; id: string; lists: AcNamed[]; tags: AcNamed[]; waitMs: number; throwOnError?: boolean; withAll?: boolean },
): Promise<ScopeSizes> {
  const row = getConnectionRow(deps, { workspaceId: ctx.workspaceId, id });
  const now = deps.clock.now();
  let client: ReturnType<typeof clientForConnection> | null = null;
  const entryOf = (part: AcScope) => {
    const key = partKey(row.id, part);
    return (
      deps.sizes.get(key, now) ??
      deps.sizes.set(
        key,
        now,
        (client ??= clientForConnection(deps, row, { interactive: true })).contactIdRange({ scope: part }).then(
          (r) => r.total,
          (err: unknown) => {
            throw acErrorToAppError(err);
          },
        ),
      )
    );
  };
  const parts: [kind: "lists" | "tags" | "all", id: string, AcScope][] = [
    ...(withAll ? [["all", "", { kind: "all" }] as ["all", string, AcScope]] : []),
    ...lists.map((l): ["lists", string, AcScope] => ["lists", l.id, { kind: "list", listId: l.id }]),
    ...tags.map((t): ["tags", string, AcScope] => ["tags", t.id, { kind: "tag", tagId: t.id }]),
  ];
  const entries = parts.map(([kind, pid, part]) => ({ kind, pid, entry: entryOf(part) }));
  const all = Promise.allSettled(entries.map((e) => e.entry.value));
  const settled = waitMs > 0 ? await Promise.race([all, new Promise<null>((resolve) => setTimeout(() => resolve(null), waitMs).unref())]) : null;
  const failed = settled?.find((r) => r.status === "rejected");
  if (throwOnError && failed) throw failed.reason;
  const out: ScopeSizes = { lists: {}, tags: {}, all: null, complete: true };
  for (const { kind, pid, entry } of entries) {
    const n = entry.settled;
    if (n === null) out.complete = false;
    if (kind === "all") out.all = n;
    else out[kind][pid] = n;
  }
  return out;
}

/**
 * The estimate of a run over `scope`, counting in AC only the parts not cached (one request
 * each); null when AC has not answered within `waitMs` (the counts keep coming for next time).
 */
export async function estimateScope(
  deps: Deps,
  { ctx, id, scope, waitMs, throwOnError = false }: { ctx: Principal; id: string; scope: RunScope; waitMs: number; throwOnError?: boolean },
): Promise<RunEstimate | null> {
  const sizes = await scopeSizes(deps, {
    ctx,
    id,
    lists: scope.kind === "lists" ? scope.listIds.map((l) => ({ id: l, name: "" })) : [],
    tags: scope.kind === "tag" ? [{ id: scope.tagId, name: "" }] : [],
    waitMs,
    throwOnError,
    withAll: scope.kind === "all",
  });
  return estimateFromSizes(deps, ctx, sizes, scope);
}

/** The cached count of every part of a scope, or null when one is not known (nothing is asked of AC). */
export function cachedScopeTotal(deps: Deps, connectionId: string, scope: RunScope): number | null {
  const now = deps.clock.now();
  let total = 0;
  for (const part of partsOfScope(scope)) {
    const n = deps.sizes.get(partKey(connectionId, part), now)?.settled ?? null;
    if (n === null) return null;
    total += n;
  }
  return total;
}

export interface RunEstimate {
  /** Contacts the run will check; for several lists an upper bound (a contact on two lists is checked once). */
  contacts: number;
  upperBound: boolean;
  /** 1 per contact; unknown results are refunded afterwards. */
  credits: number;
  balance: number;
  /** The balance covers the estimate. */
  covered: boolean;
  /** Requests to fetch the contacts (a count and 100 contacts a page, per list), and the time they take at the account's rate. */
  requests: number;
  seconds: number;
  /** The account's rate the time is counted at (AC_REQUESTS_PER_SECOND). */
  perSecond: number;
}

/** The estimate of a run over `scope`, from the counts; null when a count is missing. */
export function estimateRun(deps: Deps, { ctx, sizes, scope }: { ctx: Pick<Principal, "workspaceId">; sizes: (part: AcScope) => number | null; scope: RunScope }): RunEstimate | null {
  const parts = partsOfScope(scope);
  let contacts = 0;
  let requests = 0;
  for (const part of parts) {
    const n = sizes(part);
    if (n === null) return null;
    contacts += n;
    requests += 1 + Math.max(1, Math.ceil(n / PAGE_SIZE));
  }
  const balance = balanceOf(deps.db, ctx.workspaceId);
  return {
    contacts,
    upperBound: parts.length > 1,
    credits: contacts,
    balance,
    covered: balance >= contacts,
    requests,
    seconds: Math.ceil(requests / deps.config.AC_REQUESTS_PER_SECOND),
    perSecond: deps.config.AC_REQUESTS_PER_SECOND,
  };
}

/** The estimate from the counts `scopeSizes` found. */
export function estimateFromSizes(deps: Deps, ctx: Pick<Principal, "workspaceId">, sizes: ScopeSizes, scope: RunScope): RunEstimate | null {
  return estimateRun(deps, {
    ctx,
    scope,
    sizes: (part) => (part.kind === "list" ? (sizes.lists[part.listId] ?? null) : part.kind === "tag" ? (sizes.tags[part.tagId] ?? null) : sizes.all),
  });
}
