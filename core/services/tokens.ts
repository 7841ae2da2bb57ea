import { and, desc, eq } from "drizzle-orm";
import { schema } from "../../db/index.ts";
import { newId } from "../../db/ids.ts";
import type { Deps, Principal } from "../deps.ts";
import { notFound } from "../errors.ts";
import { randomToken, sha256 } from "../lib/crypto.ts";

const TOKEN_PREFIX = "lw_";

export interface ApiTokenView {
  id: string;
  name: string;
  hint: string;
  createdAt: string;
  lastUsedAt: string | null;
}

function view(row: typeof schema.apiTokens.$inferSelect): ApiTokenView {
  return {
    id: row.id,
    name: row.name,
    hint: row.hint,
    createdAt: row.createdAt.toISOString(),
    lastUsedAt: row.lastUsedAt?.toISOString() ?? null,
  };
}

/** Creates a token; its plain value is returned this once and only its hash is kept. */
export function createApiToken(deps: Deps, { ctx, input }: { ctx: Principal; input: { name: string } }) {
  const token = randomToken(TOKEN_PREFIX);
  const now = new Date(deps.clock.now());
  const row = {
    id: newId("tok", now.getTime()),
    workspaceId: ctx.workspaceId,
    userId: ctx.userId,
    name: input.name,
    tokenHash: sha256(token),
    hint: token.slice(-4),
    lastUsedAt: null,
    createdAt: now,
  };
  deps.db.insert(schema.apiTokens).values(row).run();
  return { ...view(row), token };
}

export function listApiTokens(deps: Deps, { ctx }: { ctx: Principal }): ApiTokenView[] {
  return deps.db
    .select()
    .from(schema.apiTokens)
    .where(eq(schema.apiTokens.workspaceId, ctx.workspaceId))
    .orderBy(desc(schema.apiTokens.createdAt))
    .all()
    .map(view);
}

export function deleteApiToken(deps: Deps, { ctx, id }: { ctx: Principal; id: string }): void {
  const result = deps.db
    .delete(schema.apiTokens)
    .where(and(eq(schema.apiTokens.id, id), eq(schema.apiTokens.workspaceId, ctx.workspaceId)))
    .run();
  if (result.changes === 0) throw notFound("API token");
}

export function principalFromApiToken(deps: Deps, token: string): Principal | null {
  if (!token.startsWith(TOKEN_PREFIX)) return null;
  const row = deps.db
    .select({
      id: schema.apiTokens.id,
      userId: schema.apiTokens.userId,
      workspaceId: schema.apiTokens.workspaceId,
      email: schema.users.email,
    })
    .from(schema.apiTokens)
    .innerJoin(schema.users, eq(schema.users.id, schema.apiTokens.userId))
    .where(eq(schema.apiTokens.tokenHash, sha256(token)))
    .get();
  if (!row) return null;
  deps.db.update(schema.apiTokens).set({ lastUsedAt: new Date(deps.clock.now()) }).where(eq(schema.apiTokens.id, row.id)).run();
  return { userId: row.userId, workspaceId: row.workspaceId, email: row.email, via: "token" };
}
