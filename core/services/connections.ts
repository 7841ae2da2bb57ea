import { and, desc, eq } from "drizzle-orm";
import { schema, transaction, type Db } from "../../db/index.ts";
import { newId } from "../../db/ids.ts";
import { AcError, assertPublicHost, createAcClient, normalizeApiUrl, type AcClient } from "../ac/index.ts";
import type { Deps, Principal } from "../deps.ts";
import { AppError, notFound } from "../errors.ts";
import { recordKeyRefused } from "./notifications.ts";

type ConnectionRow = typeof schema.connections.$inferSelect;

export interface ConnectionView {
  id: string;
  name: string;
  apiUrl: string;
  keyHint: string;
  acAccountEmail: string | null;
  lastCheckedAt: string | null;
  lastError: string | null;
  /** What kind of failure `lastError` is (an error code such as "ac_key_refused"). */
  lastErrorCode: string | null;
  createdAt: string;
}

export function connectionView(row: ConnectionRow): ConnectionView {
  return {
    id: row.id,
    name: row.name,
    apiUrl: row.apiUrl,
    keyHint: row.keyHint,
    acAccountEmail: row.acAccountEmail,
    lastCheckedAt: row.lastCheckedAt?.toISOString() ?? null,
    lastError: row.lastError,
    lastErrorCode: row.lastErrorCode,
    createdAt: row.createdAt.toISOString(),
  };
}

/** Maps an AC failure to the input the user must fix. */
export function acErrorToAppError(err: unknown): AppError {
  if (!(err instanceof AcError)) throw err;
  switch (err.kind) {
    case "invalid_url":
      return new AppError("invalid_input", err.message, "apiUrl");
    case "auth":
      return new AppError("ac_key_refused", err.message, "apiKey");
    case "unreachable":
    case "timeout":
      return new AppError("ac_unreachable", err.message, "apiUrl");
    default:
      return new AppError("ac_error", `ActiveCampaign answered with an error: ${err.message}`);
  }
}

/** A person is waiting on these calls: fail fast rather than retry for minutes. */
const INTERACTIVE = { maxTries: 2, timeoutMs: 15_000 };

function acClient(deps: Deps, apiUrl: string, apiKey: string, interactive = false): AcClient {
  return createAcClient({
    apiUrl,
    apiKey,
    limiters: deps.acLimiters,
    timeoutMs: interactive ? Math.min(INTERACTIVE.timeoutMs, deps.config.AC_TIMEOUT_MS) : deps.config.AC_TIMEOUT_MS,
    ...(interactive ? { maxTries: INTERACTIVE.maxTries } : {}),
    allowPrivateHosts: deps.config.AC_ALLOW_PRIVATE_HOSTS,
    fetch: deps.acFetch,
    ...(deps.acHttp && !deps.acFetch ? { http: deps.acHttp } : {}),
    logger: deps.logger,
    ...deps.acClientOptions,
  });
}

function defaultName(apiUrl: string): string {
  return new URL(apiUrl).hostname.split(".")[0] ?? "ActiveCampaign";
}

/** Checks the credentials against AC (GET /users/me) before anything is stored. */
export async function createConnection(
  deps: Deps,
  { ctx, input }: { ctx: Principal; input: { name?: string; apiUrl: string; apiKey: string } },
): Promise<ConnectionView> {
  const allowPrivateHosts = deps.config.AC_ALLOW_PRIVATE_HOSTS;
  const apiKey = input.apiKey.trim();
  let me;
  let apiUrl: string;
  try {
    apiUrl = normalizeApiUrl(input.apiUrl, { allowPrivateHosts });
    await assertPublicHost(new URL(apiUrl).hostname, { allowPrivateHosts, lookup: deps.acLookup });
    me = await acClient(deps, apiUrl, apiKey, true).getMe();
  } catch (err) {
    throw acErrorToAppError(err);
  }
  const now = deps.clock.now();
  const id = newId("con", now);
  const row: ConnectionRow = {
    id,
    workspaceId: ctx.workspaceId,
    name: input.name?.trim() || defaultName(apiUrl),
    apiUrl,
    apiKeyCiphertext: deps.keyBox.seal(apiKey, id),
    keyHint: apiKey.slice(-4),
    acAccountEmail: me.email ?? null,
    lastCheckedAt: new Date(now),
    lastError: null,
    lastErrorCode: null,
    createdAt: new Date(now),
  };
  deps.db.insert(schema.connections).values(row).run();
  deps.logger.info({ connectionId: id, workspaceId: ctx.workspaceId, host: new URL(apiUrl).hostname }, "connection created");
  return connectionView(row);
}

/**
 * Renames a connection and/or replaces its API key (after AC accepts the new one), e.g. when
 * the old key was revoked and runs fail with "ActiveCampaign refused this API key".
 */
export async function updateConnection(
  deps: Deps,
  { ctx, id, input }: { ctx: Principal; id: string; input: { name?: string; apiKey?: string } },
): Promise<ConnectionView> {
  const row = getConnectionRow(deps, { workspaceId: ctx.workspaceId, id });
  const changes: Partial<ConnectionRow> = {};
  if (input.name !== undefined) changes.name = input.name.trim() || defaultName(row.apiUrl);
  if (input.apiKey !== undefined) {
    const apiKey = input.apiKey.trim();
    let me;
    try {
      me = await acClient(deps, row.apiUrl, apiKey, true).getMe();
    } catch (err) {
      throw acErrorToAppError(err);
    }
    Object.assign(changes, {
      apiKeyCiphertext: deps.keyBox.seal(apiKey, row.id),
      keyHint: apiKey.slice(-4),
      acAccountEmail: me.email ?? null,
      lastCheckedAt: new Date(deps.clock.now()),
      lastError: null,
      lastErrorCode: null,
    });
  }
  if (Object.keys(changes).length > 0) {
    transaction(deps.db, (tx) => {
      tx.update(schema.connections).set(changes).where(eq(schema.connections.id, row.id)).run();
      // A schedule whose last run failed on the old key would otherwise show that error until its next run.
      if (input.apiKey !== undefined) tx.update(schema.schedules).set({ lastError: null, lastErrorCode: null }).where(eq(schema.schedules.connectionId, row.id)).run();
    });
    deps.logger.info({ connectionId: id, workspaceId: ctx.workspaceId, keyReplaced: input.apiKey !== undefined }, "connection updated");
  }
  return getConnection(deps, { ctx, id });
}

export function listConnections(deps: Deps, { ctx }: { ctx: Principal }): ConnectionView[] {
  return deps.db
    .select()
    .from(schema.connections)
    .where(eq(schema.connections.workspaceId, ctx.workspaceId))
    .orderBy(desc(schema.connections.createdAt))
    .all()
    .map(connectionView);
}

/** The row of a connection in the caller's workspace; another workspace's id is "not found". */
export function getConnectionRow(deps: Deps, { workspaceId, id }: { workspaceId: string; id: string }): ConnectionRow {
  const row = deps.db
    .select()
    .from(schema.connections)
    .where(and(eq(schema.connections.id, id), eq(schema.connections.workspaceId, workspaceId)))
    .get();
  if (!row) throw notFound("Connection");
  return row;
}

/** A connection by id alone, for the worker (the run it serves already names its workspace). */
export function connectionRow(db: Db, id: string): ConnectionRow | undefined {
  return db.select().from(schema.connections).where(eq(schema.connections.id, id)).get();
}

export function getConnection(deps: Deps, { ctx, id }: { ctx: Principal; id: string }): ConnectionView {
  return connectionView(getConnectionRow(deps, { workspaceId: ctx.workspaceId, id }));
}

export function deleteConnection(deps: Deps, { ctx, id }: { ctx: Principal; id: string }): void {
  const result = deps.db
    .delete(schema.connections)
    .where(and(eq(schema.connections.id, id), eq(schema.connections.workspaceId, ctx.workspaceId)))
    .run();
  if (result.changes === 0) throw notFound("Connection");
  deps.logger.info({ connectionId: id, workspaceId: ctx.workspaceId }, "connection deleted");
}

/** An AC client for a stored connection, with its key decrypted for this use only. */
export function clientForConnection(deps: Deps, row: ConnectionRow, opts: { interactive?: boolean } = {}): AcClient {
  return acClient(deps, row.apiUrl, deps.keyBox.open(row.apiKeyCiphertext, row.id), opts.interactive);
}

function recordCheck(deps: Deps, id: string, failure: AppError | null): void {
  transaction(deps.db, (tx) => {
    const row = tx
      .update(schema.connections)
      .set({ lastCheckedAt: new Date(deps.clock.now()), lastError: failure?.message ?? null, lastErrorCode: failure?.code ?? null })
      .where(eq(schema.connections.id, id))
      .returning()
      .get();
    if (row && failure?.code === "ac_key_refused") recordKeyRefused(tx, row, deps.clock.now());
  });
}

async function readFromAc<T>(deps: Deps, ctx: Principal, id: string, read: (c: AcClient) => Promise<T>): Promise<T> {
  const row = getConnectionRow(deps, { workspaceId: ctx.workspaceId, id });
  try {
    const result = await read(clientForConnection(deps, row, { interactive: true }));
    if (row.lastError) recordCheck(deps, id, null);
    return result;
  } catch (err) {
    const appErr = acErrorToAppError(err);
    recordCheck(deps, id, appErr);
    throw appErr;
  }
}

export function listConnectionLists(deps: Deps, { ctx, id }: { ctx: Principal; id: string }) {
  return readFromAc(deps, ctx, id, (c) => c.listLists());
}

export function listConnectionTags(deps: Deps, { ctx, id }: { ctx: Principal; id: string }) {
  return readFromAc(deps, ctx, id, (c) => c.listTags());
}
