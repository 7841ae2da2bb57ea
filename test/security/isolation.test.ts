// Issue 11, test hole 2: removing the workspace filter from GET /api/runs went unnoticed by
// the whole suite. A second user must see none of the first user's items on any list route.
import { setupServer } from "msw/node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { grantCredits } from "../../core/services/credits.ts";
import { signUp, type Session } from "../support/app.ts";
import { createRunHarness, type RunHarness } from "../support/runs.ts";
import { address } from "../support/world.ts";

const server = setupServer();
beforeAll(() => server.listen({ onUnhandledRequest: "error" }));
afterEach(() => server.resetHandlers());
afterAll(() => server.close());

/** The first user's items, each with a marker no other item has. */
interface Owned {
  connectionId: string;
  connectionName: string;
  runId: string;
  scheduleId: string;
  tokenId: string;
  tokenName: string;
  ledgerIds: string[];
  ledgerReason: string;
}

let h: RunHarness;
let owned: Owned;
let second: Session;
let secondToken: string;

beforeAll(async () => {
  h = await createRunHarness(server);
  const as = h.user;
  const connectionName = "alpha-connection-7f3a";
  await h.t.request("PATCH", `/api/connections/${h.connectionId}`, { as, body: { name: connectionName } });
  h.fake.addContact({ email: address("deliverable", "anna") });
  const run = await h.startRun({ scope: { kind: "all" } });
  await h.worker().drain();
  const schedule = (await (
    await h.t.request("POST", "/api/schedules", { as, body: { connectionId: h.connectionId, scope: { kind: "all" }, dayOfMonth: 1, hour: 9, timeZone: "UTC", autoApply: false } })
  ).json()) as { id: string };
  const tokenName = "alpha-token-7f3a";
  const token = (await (await h.t.request("POST", "/api/tokens", { as, body: { name: tokenName } })).json()) as { id: string };
  const ledgerReason = "alpha-grant-7f3a";
  grantCredits(h.t.db, h.clock, { workspaceId: as.workspaceId, amount: 5, reason: ledgerReason });
  const credits = (await (await h.t.request("GET", "/api/credits", { as })).json()) as { entries: { id: string }[] };
  owned = {
    connectionId: h.connectionId,
    connectionName,
    runId: run.id,
    scheduleId: schedule.id,
    tokenId: token.id,
    tokenName,
    ledgerIds: credits.entries.map((e) => e.id),
    ledgerReason,
  };
  expect(credits.entries.length).toBeGreaterThanOrEqual(3); // sign-up grant, the run's charge, the grant above

  second = await signUp(h.t);
  const created = (await (await h.t.request("POST", "/api/tokens", { as: second, body: { name: "beta-token" } })).json()) as { token: string };
  secondToken = created.token;
});
afterAll(() => h.close());

const markers = () => [owned.connectionId, owned.connectionName, owned.runId, owned.scheduleId, owned.tokenId, owned.tokenName, owned.ledgerReason, ...owned.ledgerIds];
function expectNoneOfTheFirstUsers(text: string) {
  for (const marker of markers()) expect(text, `leaked ${marker}`).not.toContain(marker);
}

describe("the first user's items exist (so the checks below can fail)", () => {
  it("the first user sees them on every list route", async () => {
    const as = h.user;
    const text = (await Promise.all(["/api/runs", "/api/connections", "/api/schedules", "/api/tokens", "/api/credits"].map(async (p) => (await h.t.request("GET", p, { as })).text()))).join("\n");
    for (const marker of markers()) expect(text).toContain(marker);
    const pages = (await Promise.all(["/", "/tokens", "/credits"].map(async (p) => (await h.t.request("GET", p, { as })).text()))).join("\n");
    for (const marker of [owned.connectionName, owned.runId, owned.tokenName, owned.ledgerReason]) expect(pages).toContain(marker);
  });
});

describe("a second user, by session cookie and by API token", () => {
  const viaSession = (path: string) => h.t.request("GET", path, { as: second });
  const viaToken = (path: string) => h.t.request("GET", path, { bearer: secondToken });

  it.each(["/api/runs", "/api/runs?limit=200", `/api/runs?connectionId=${"CONN"}`, "/api/connections", "/api/schedules", `/api/schedules?connectionId=${"CONN"}`, "/api/tokens", "/api/credits"])(
    "GET %s shows none of the first user's items",
    async (pathTemplate) => {
      const path = pathTemplate.replace("CONN", owned.connectionId);
      for (const get of [viaSession, viaToken]) {
        const res = await get(path);
        expect(res.status).toBe(200);
        expectNoneOfTheFirstUsers(await res.text());
      }
    },
  );

  it("GET /api/runs, /api/connections and /api/schedules are empty for them, /api/tokens holds only their own", async () => {
    const json = async (p: string) => (await viaSession(p)).json();
    expect(await json("/api/runs")).toEqual({ runs: [] });
    expect(await json("/api/connections")).toEqual({ connections: [] });
    expect(await json("/api/schedules")).toEqual({ schedules: [] });
    expect(((await json("/api/tokens")) as { tokens: { name: string }[] }).tokens.map((t) => t.name)).toEqual(["beta-token"]);
  });

  it.each(["/", "/tokens", "/credits"])("the dashboard page %s lists none of the first user's runs, connections, schedules, tokens or credits", async (path) => {
    const res = await viaSession(path);
    expect(res.status).toBe(200);
    expectNoneOfTheFirstUsers(await res.text());
  });

  it("the first user's connection pages (its runs, schedules, settings) are not found for them", async () => {
    for (const path of [`/connections/${owned.connectionId}`, `/connections/${owned.connectionId}/runs`, `/connections/${owned.connectionId}/schedules/${owned.scheduleId}`, `/runs/${owned.runId}`]) {
      const res = await viaSession(path);
      expect({ path, status: res.status }).toEqual({ path, status: 404 });
      expectNoneOfTheFirstUsers(await res.text());
    }
  });
});
