import { and, eq } from "drizzle-orm";
import { setupServer } from "msw/node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { verifierOptionsFromConfig } from "../core/verification.ts";
import { schema } from "../db/index.ts";
import { createVerifier } from "../verify/index.ts";
import { createRunHarness, parseCsv } from "./support/runs.ts";
import { startSmtpServers, strictMailboxes, type FakeMxFleet } from "./support/smtp-servers.ts";

const server = setupServer();
const ACTIVE = 1;
const CONTACTS = 10;
/** test/support/world.ts routes ok.example.com to 127.0.0.2. */
const emailOf = (i: number) => `person${i}@ok.example.com`;

let fleet: FakeMxFleet;

beforeAll(async () => {
  server.listen({ onUnhandledRequest: "error" });
  fleet = await startSmtpServers([{ host: "127.0.0.2", rcpt: strictMailboxes({ mailboxes: Array.from({ length: CONTACTS }, (_, i) => emailOf(i)) }) }]);
});
afterEach(() => server.resetHandlers());
afterAll(async () => {
  server.close();
  await fleet.close();
});

describe("a run under the probe budget", () => {
  it("parks addresses over the budget (not failed, not counted as greylisting), says so in its progress, and finishes them as the budget frees up", async () => {
    const h = await createRunHarness(server, {
      config: {
        SMTP_PROBE: true,
        SMTP_PORT: fleet.port,
        SMTP_HELO: "probe.listwarden.test",
        SMTP_MAIL_FROM: "bounces@probe.listwarden.test",
        SMTP_CONNECT_TIMEOUT_MS: 2_000,
        SMTP_REPLY_TIMEOUT_MS: 2_000,
        SMTP_BUDGET_PER_MX_PER_MINUTE: 4,
      },
    });
    // The run's clock is the budget's clock, so the test moves time instead of waiting a minute.
    const options = verifierOptionsFromConfig(h.t.deps.config);
    const verifiers = { plain: createVerifier({ ...options, smtp: { ...options.smtp, enabled: false } }), smtp: createVerifier({ ...options, clock: h.clock }) };
    const list = h.fake.addList("Leads");
    h.fake.addContacts(CONTACTS, (i) => ({ email: emailOf(i), lists: { [list]: ACTIVE } }));
    const run = await h.startRun({ scope: { kind: "all" }, smtpProbe: true });

    await h.worker({ verifiers }).drain();
    const parked = await h.getRun(run.id);
    expect(parked.status).toBe("running");
    expect(parked.notes).toEqual([]);
    expect(parked.progress.verified).toBeLessThan(CONTACTS);
    expect(parked.progress.waiting.count).toBe(CONTACTS - parked.progress.verified);
    expect(parked.progress.waiting.forBudget).toBe(parked.progress.waiting.count);
    const rows = h.t.db
      .select({ attempts: schema.runContacts.verifyAttempts, why: schema.runContacts.retryWhy })
      .from(schema.runContacts)
      .where(and(eq(schema.runContacts.runId, run.id)))
      .all()
      .filter((r) => r.why !== null);
    expect(rows.length).toBe(parked.progress.waiting.count);
    expect(rows.every((r) => r.why === "budget" && r.attempts === 0)).toBe(true);

    // Each minute lets a few more through, until every address is checked.
    for (let minute = 0; minute < 5 && (await h.getRun(run.id)).status === "running"; minute++) {
      h.clock.advance(61_000);
      await h.worker({ verifiers }).drain();
    }
    const done = await h.getRun(run.id);
    expect(done.status).toBe("completed");
    expect(done.counts.byReason).toEqual({ accepted_email: CONTACTS });
    expect(done.credits.refunded).toBe(0);
    expect(fleet.get("127.0.0.2").recipients().filter((r) => !r.startsWith("lw")).sort()).toEqual(Array.from({ length: CONTACTS }, (_, i) => emailOf(i)).sort());
    const report = parseCsv(await (await h.t.request("GET", `/api/runs/${run.id}/report.csv`, { as: h.user })).text());
    expect(report.every((r) => r.provider === "")).toBe(true);
    await h.close();
  });
});
