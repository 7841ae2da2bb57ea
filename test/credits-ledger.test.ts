import { setupServer } from "msw/node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { balanceOf, chargeCredits, grantCredits } from "../core/services/credits.ts";
import { creditHistoryCsv } from "../core/services/credits-csv.ts";
import { createTestApp, signUp } from "./support/app.ts";
import { FakeClock } from "./support/clock.ts";
import { answer, apiClient } from "./support/api.ts";
import { createRunHarness, expectCountersMatchRows, parseCsv } from "./support/runs.ts";
import { address } from "./support/world.ts";

const server = setupServer();
beforeAll(() => server.listen({ onUnhandledRequest: "error" }));
afterEach(() => server.resetHandlers());
afterAll(() => server.close());

const ACTIVE = 1;

describe("credits that follow the run", () => {
  it("a run on a small balance pauses with no credit unused, says what it still needs, resumes on each grant, and its ledger line reconciles with its report", async () => {
    const h = await createRunHarness(server, { signupCredits: 100 });
    const list = h.fake.addList("Big");
    for (let i = 0; i < 230; i++) h.fake.addContact({ email: address(i % 23 === 0 ? "dnsError" : "deliverable", `s${i}`), lists: { [list]: ACTIVE } });
    const run = await h.startRun({ scope: { kind: "lists", listIds: [list] } });
    const worker = h.worker();
    const api = apiClient(h.t, h.user);

    /** Works the run until it stops moving: refunds of unknowns come back as balance and are spent too. */
    async function settle() {
      for (let i = 0; i < 20; i++) {
        await worker.drain();
        const r = await h.getRun(run.id);
        if (r.status !== "paused_credits" || balanceOf(h.t.db, h.user.workspaceId) === 0) return r;
        h.clock.advance(5_000);
      }
      throw new Error("the run did not settle");
    }

    const grants = [0, 37, 1, 200];
    let paused = await settle();
    for (const grant of grants.slice(1)) {
      expect(paused.status).toBe("paused_credits");
      // Everything the balance covered was spent: not a whole page's worth held back.
      expect(balanceOf(h.t.db, h.user.workspaceId)).toBe(0);
      expect(paused.progress.fetched).toBe(paused.credits.charged);
      const still = 230 - paused.progress.fetched;
      expect(paused.statusReason).toContain(`About ${still} more credits are needed`);
      expect(paused.progress.creditsStillNeeded).toBe(still);
      grantCredits(h.t.db, h.clock, { workspaceId: h.user.workspaceId, amount: grant, reason: "top-up" });
      h.clock.advance(5_000);
      paused = await settle();
    }
    expect(paused.status).toBe("completed");
    const done = await h.getRun(run.id);
    const unknown = done.counts.byStatus.unknown!;
    expect(unknown).toBe(10);
    expect(done.credits).toEqual({ charged: 230, refunded: unknown, net: 230 - unknown });
    expect(balanceOf(h.t.db, h.user.workspaceId)).toBe(100 + 37 + 1 + 200 - 230 + unknown);
    await expectCountersMatchRows(h, run.id);

    // The history: one line for the run, whatever its number of charges and refunds.
    const history = await answer(await api.credits.history.$get({ query: { page: "1" } }), 200);
    const runLines = history.lines.filter((l) => l.runId === run.id);
    expect(runLines).toHaveLength(1);
    const line = runLines[0]!;
    expect(line.entries.length).toBeGreaterThan(3);
    const summary = (await (await h.t.request("GET", `/api/runs/${run.id}/summary.json`, { as: h.user })).json()) as { credits: { charged: number; refunded: number; net: number } };
    expect({ charged: line.charged, refunded: line.refunded, net: -line.amount }).toEqual(summary.credits);
    expect(line.entries.reduce((a, e) => a + e.amount, 0)).toBe(line.amount);
    expect(history.lines.map((l) => l.kind).sort()).toEqual(["grant", "grant", "grant", "grant", "run"]);
    expect(history.balance).toBe(balanceOf(h.t.db, h.user.workspaceId));

    // The export: every entry, the balance after each, ending at the balance.
    const csv = parseCsv(await (await h.t.request("GET", "/api/credits/history.csv", { as: h.user })).text());
    const entries = Number((h.t.db.$client.prepare("SELECT count(*) AS n FROM credit_ledger WHERE workspace_id = ?").get(h.user.workspaceId) as { n: number }).n);
    expect(csv).toHaveLength(entries);
    expect(Number(csv.at(-1)!.balance_after)).toBe(balanceOf(h.t.db, h.user.workspaceId));
    expect(csv.filter((r) => r.run_id === run.id).reduce((a, r) => a + Number(r.amount), 0)).toBe(line.amount);
    await h.close();
  });

  it("pages through all of the history, newest first, and the dashboard shows one line per run with its entries inside", async () => {
    const h = await createRunHarness(server, { signupCredits: 10 });
    for (let i = 1; i <= 30; i++) {
      h.clock.advance(1_000);
      grantCredits(h.t.db, h.clock, { workspaceId: h.user.workspaceId, amount: i, reason: `Grant number ${i}` });
    }
    const api = apiClient(h.t, h.user);
    const first = await answer(await api.credits.history.$get({ query: { page: "1" } }), 200);
    const second = await answer(await api.credits.history.$get({ query: { page: "2" } }), 200);
    expect(first).toMatchObject({ page: 1, pages: 2, totalLines: 31 });
    expect(first.lines).toHaveLength(25);
    expect(second.lines).toHaveLength(6);
    const reasons = [...first.lines, ...second.lines].map((l) => l.reason);
    expect(reasons[0]).toBe("Grant number 30");
    expect(reasons.at(-1)).toBe("Sign-up credits");
    expect(new Set(reasons).size).toBe(31);

    const page2 = await (await h.t.request("GET", "/credits?page=2", { headers: { cookie: h.user.cookie } })).text();
    expect(page2).toContain("Page 2 of 2");
    expect(page2).toContain("Sign-up credits");
    expect(page2).not.toContain("Grant number 30");
    await h.close();
  });
});

describe("the credit history's CSV", () => {
  it("starts with a BOM, keeps amounts as numbers and neutralizes text cells that a spreadsheet would run as formulas", async () => {
    const clock = new FakeClock();
    const t = createTestApp({ clock, config: { SIGNUP_CREDITS: 5 } });
    const s = await signUp(t);
    clock.advance(1_000);
    grantCredits(t.db, clock, { workspaceId: s.workspaceId, amount: 2, reason: "=HYPERLINK(\"http://x.test\")" });
    clock.advance(1_000);
    chargeCredits(t.db, clock, { workspaceId: s.workspaceId, amount: 3, reason: "@SUM(A1)", idempotencyKey: "csv" });
    const bytes = new Uint8Array(await new Response(creditHistoryCsv(t.deps, { ctx: { workspaceId: s.workspaceId } })).arrayBuffer());
    // UTF-8's BOM, so a spreadsheet reads the file as UTF-8.
    expect([...bytes.slice(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
    const rows = new TextDecoder("utf-8", { ignoreBOM: true }).decode(bytes.slice(3)).trim().split("\n");
    expect(rows[0]).toBe("date,kind,amount,balance_after,reason,run_id,connection");
    expect(rows.slice(1).map((r) => r.split(",").slice(1, 5).join(","))).toEqual(["grant,5,5,Sign-up credits", 'grant,2,7,"\'=HYPERLINK(""http://x.test"")"', "charge,-3,4,'@SUM(A1)"]);
  });
});
