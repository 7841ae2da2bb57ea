// authenticateHook (core/services/monitors.ts), called directly: which delivery URLs name a
// monitor that may act. ActiveCampaign's webhook carries no session; its URL's secret is all.
import { beforeAll, describe, expect, it } from "vitest";
import { schema } from "../../db/index.ts";
import { sha256 } from "../../core/lib/crypto.ts";
import { signup } from "../../core/services/accounts.ts";
import { authenticateHook } from "../../core/services/monitors.ts";
import { createTestApp, storedConnection, uniqueEmail, type TestApp } from "../support/app.ts";

const ID = "mon_0123456789abcdefghijklmnop";
const OFF = "mon_0123456789abcdefghijklmnoq";
const SECRET = "A".repeat(21) + "_-" + "z9".repeat(10);
const OLD = "B".repeat(43);
const OTHER = "C".repeat(43);

let t: TestApp;
beforeAll(async () => {
  t = createTestApp();
  const { principal } = await signup(t.deps, { email: uniqueEmail("hook"), password: "correct horse battery" });
  const now = new Date(t.clock.now());
  // One monitor per connection.
  for (const id of ["conn_on", "conn_off"]) storedConnection(t, principal.workspaceId, id, id);
  const monitor = { workspaceId: principal.workspaceId, scope: "{}", actions: "{}", createdAt: now, updatedAt: now };
  t.db.insert(schema.monitors).values({ ...monitor, id: ID, connectionId: "conn_on", enabled: true, secretHash: sha256(SECRET), previousSecretHash: sha256(OLD) }).run();
  t.db.insert(schema.monitors).values({ ...monitor, id: OFF, connectionId: "conn_off", enabled: false, secretHash: sha256(SECRET), previousSecretHash: null }).run();
});

describe("authenticateHook", () => {
  it("names a monitor that is on for its current secret, and for the one a rotation replaced", () => {
    expect(SECRET).toHaveLength(43);
    expect(authenticateHook(t.db, ID, SECRET)).toEqual({ id: ID });
    expect(authenticateHook(t.db, ID, OLD)).toEqual({ id: ID });
  });

  it.each([
    ["a wrong secret", ID, OTHER],
    ["a monitor turned off", OFF, SECRET],
    ["an unknown monitor", "mon_zzzzzzzzzzzzzzzzzzzzzzzzzz", SECRET],
    ["a secret one character short", ID, SECRET.slice(1)],
    ["a secret one character long", ID, `${SECRET}A`],
    ["a secret with a character no secret has", ID, `${SECRET.slice(1)}.`],
    ["an id of another shape", `${ID}x`, SECRET],
    ["an id with another prefix", ID.replace("mon_", "run_"), SECRET],
    ["the stand-in compared for an unknown monitor", "mon_zzzzzzzzzzzzzzzzzzzzzzzzzz", "listwarden-no-such-monitor"],
  ])("names nobody for %s", (_label, id, secret) => {
    expect(authenticateHook(t.db, id, secret)).toBeNull();
  });

  it("names nobody for a monitor with no secret, whatever is sent", () => {
    t.db.update(schema.monitors).set({ secretHash: null, previousSecretHash: null }).run();
    expect(authenticateHook(t.db, ID, SECRET)).toBeNull();
    expect(authenticateHook(t.db, ID, OLD)).toBeNull();
  });
});
