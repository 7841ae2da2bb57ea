// Workspace scoping in the services themselves (core/services/{tokens,accounts,connections}.ts),
// called directly: two workspaces, and each function shown to see only its caller's rows.
import { eq } from "drizzle-orm";
import { beforeAll, describe, expect, it } from "vitest";
import { schema } from "../../db/index.ts";
import { AppError } from "../../core/errors.ts";
import type { Principal } from "../../core/deps.ts";
import { sha256 } from "../../core/lib/crypto.ts";
import { principalFromSession, signup } from "../../core/services/accounts.ts";
import { connectionRow, deleteConnection, getConnection, getConnectionRow, listConnections } from "../../core/services/connections.ts";
import { createApiToken, deleteApiToken, listApiTokens, principalFromApiToken } from "../../core/services/tokens.ts";
import { FakeClock } from "../support/clock.ts";
import { createTestApp, storedConnection, uniqueEmail, type TestApp } from "../support/app.ts";

let t: TestApp;
let clock: FakeClock;
let a: { principal: Principal; sessionToken: string };
let b: { principal: Principal; sessionToken: string };

beforeAll(async () => {
  clock = new FakeClock();
  t = createTestApp({ clock });
  a = await signup(t.deps, { email: uniqueEmail("scope-a"), password: "correct horse battery" });
  b = await signup(t.deps, { email: uniqueEmail("scope-b"), password: "correct horse battery" });
});

function expectNotFound(fn: () => unknown, what: string) {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe("not_found");
    expect((err as AppError).message).toContain(what);
    return;
  }
  throw new Error("expected not_found");
}

describe("API tokens", () => {
  it("are listed only in their own workspace, newest first, without their value", () => {
    const first = createApiToken(t.deps, { ctx: a.principal, input: { name: "first" } });
    clock.advance(1000);
    const second = createApiToken(t.deps, { ctx: a.principal, input: { name: "second" } });
    const other = createApiToken(t.deps, { ctx: b.principal, input: { name: "other" } });
    expect(first.id).toMatch(/^tok_/);
    const listed = listApiTokens(t.deps, { ctx: a.principal });
    expect(listed.map((v) => v.name)).toEqual(["second", "first"]);
    expect(listed[0]).toEqual({ id: second.id, name: "second", hint: second.token.slice(-4), createdAt: new Date(clock.now()).toISOString(), lastUsedAt: null });
    expect(JSON.stringify(listed)).not.toContain(first.token);
    expect(listApiTokens(t.deps, { ctx: b.principal }).map((v) => v.id)).toEqual([other.id]);
  });

  it("are deleted only from their own workspace", () => {
    const mine = createApiToken(t.deps, { ctx: a.principal, input: { name: "keep" } });
    expectNotFound(() => deleteApiToken(t.deps, { ctx: b.principal, id: mine.id }), "API token");
    expect(principalFromApiToken(t.deps, mine.token)).not.toBeNull();
    deleteApiToken(t.deps, { ctx: a.principal, id: mine.id });
    expect(principalFromApiToken(t.deps, mine.token)).toBeNull();
    expectNotFound(() => deleteApiToken(t.deps, { ctx: a.principal, id: mine.id }), "API token");
  });

  it("sign their owner in, via token, and record when they were last used", () => {
    const created = createApiToken(t.deps, { ctx: a.principal, input: { name: "used" } });
    clock.advance(5000);
    expect(principalFromApiToken(t.deps, created.token)).toEqual({
      userId: a.principal.userId,
      workspaceId: a.principal.workspaceId,
      email: a.principal.email,
      via: "token",
    });
    const used = listApiTokens(t.deps, { ctx: a.principal }).find((v) => v.id === created.id);
    expect(used?.lastUsedAt).toBe(new Date(clock.now()).toISOString());
  });

  it("sign nobody in when unknown, or without the lw_ prefix even if its hash is stored", () => {
    expect(principalFromApiToken(t.deps, "lw_not-a-token")).toBeNull();
    const created = createApiToken(t.deps, { ctx: a.principal, input: { name: "prefix" } });
    const unprefixed = created.token.slice("lw_".length);
    t.db.update(schema.apiTokens).set({ tokenHash: sha256(unprefixed) }).where(eq(schema.apiTokens.id, created.id)).run();
    expect(principalFromApiToken(t.deps, unprefixed)).toBeNull();
  });
});

describe("sessions", () => {
  it("sign in their own user, with the session's hash, until they expire", async () => {
    const s = await signup(t.deps, { email: uniqueEmail("scope-s"), password: "correct horse battery" });
    const p = principalFromSession(t.deps, s.sessionToken);
    expect(p).toEqual({ ...s.principal, via: "session" });
    expect(p?.sessionHash).toBe(s.principal.sessionHash);
    expect(principalFromSession(t.deps, `${s.sessionToken}x`)).toBeNull();
    clock.advance(s.expiresAt.getTime() - clock.now());
    expect(principalFromSession(t.deps, s.sessionToken)).toBeNull();
  });
});

describe("connections", () => {
  const insert = (workspaceId: string, name: string) => {
    const id = storedConnection(t, workspaceId, name, `conn_${name}`);
    clock.advance(1000);
    return id;
  };

  it("are listed, read and deleted only in their own workspace", () => {
    const older = insert(a.principal.workspaceId, "older");
    const newer = insert(a.principal.workspaceId, "newer");
    const theirs = insert(b.principal.workspaceId, "theirs");
    expect(listConnections(t.deps, { ctx: a.principal }).map((c) => c.id)).toEqual([newer, older]);
    expect(listConnections(t.deps, { ctx: b.principal }).map((c) => c.id)).toEqual([theirs]);
    expect(getConnection(t.deps, { ctx: a.principal, id: older })).toMatchObject({ id: older, name: "older", keyHint: "abcd" });
    expect(getConnectionRow(t.deps, { workspaceId: b.principal.workspaceId, id: theirs }).id).toBe(theirs);
    expectNotFound(() => getConnection(t.deps, { ctx: b.principal, id: older }), "Connection");
    expectNotFound(() => getConnectionRow(t.deps, { workspaceId: a.principal.workspaceId, id: theirs }), "Connection");
    expectNotFound(() => deleteConnection(t.deps, { ctx: b.principal, id: older }), "Connection");
    expect(listConnections(t.deps, { ctx: a.principal })).toHaveLength(2);
    deleteConnection(t.deps, { ctx: a.principal, id: older });
    expect(listConnections(t.deps, { ctx: a.principal }).map((c) => c.id)).toEqual([newer]);
    expectNotFound(() => deleteConnection(t.deps, { ctx: a.principal, id: older }), "Connection");
  });

  it("are found by id alone for the worker, in any workspace", () => {
    const theirs = insert(b.principal.workspaceId, "for-worker");
    expect(connectionRow(t.db, theirs)?.workspaceId).toBe(b.principal.workspaceId);
    expect(connectionRow(t.db, "conn_nope")).toBeUndefined();
  });
});
