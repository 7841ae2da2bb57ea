import { setupServer } from "msw/node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { balanceOf } from "../core/services/credits.ts";
import type { AddressVerifier, RunVerifiers } from "../core/verification.ts";
import type { RunEvent } from "../worker/runs/context.ts";
import { createRunHarness, expectCountersMatchRows, type RunHarness } from "./support/runs.ts";
import { address, KINDS, type Kind } from "./support/world.ts";

// Issue 13: an address whose result needs nothing from the network (a malformed one, a domain
// whose mail route is cached) is verified as its page is stored, in the page's transaction,
// instead of being stored, read back and stored again by the verify stage.

const server = setupServer();
beforeAll(() => server.listen({ onUnhandledRequest: "error" }));
afterEach(() => server.resetHandlers());
afterAll(() => server.close());

const KIND_NAMES = Object.keys(KINDS) as Kind[];

/** 3 contacts of every kind of the test world, 2 of them on both lists, and one malformed address. */
function seed(h: RunHarness): string[] {
  const a = h.fake.addList("A");
  const b = h.fake.addList("B");
  const emails: string[] = [];
  for (const kind of KIND_NAMES) {
    for (let i = 0; i < 3; i++) {
      const email = address(kind, `${kind}${i}`);
      emails.push(email);
      h.fake.addContact({ email, lists: i === 0 ? { [a]: 1, [b]: 1 } : { [i % 2 === 0 ? a : b]: 1 } });
    }
  }
  h.fake.addContact({ email: "not an address", lists: { [a]: 1 } });
  return [...emails, "not an address"];
}

/** The plain verifier of the harness with `attempt` counted per address, and `peek` as given. */
function verifiersWith(h: RunHarness, peek: AddressVerifier["peek"]) {
  const attempts: string[] = [];
  const plain: AddressVerifier = {
    attempt: (email, opts) => {
      attempts.push(email);
      return h.verifiers.plain.attempt(email, opts);
    },
    ...(peek ? { peek } : {}),
  };
  return { verifiers: { plain, smtp: null } satisfies RunVerifiers, attempts };
}

async function warm(h: RunHarness, emails: string[]): Promise<void> {
  for (const email of emails) await h.verifiers.plain.attempt(email);
}

describe("addresses verified as their page is stored", () => {
  it("with every mail route cached, the verify stage checks nothing: results, counters and the unknowns' refund are stored with the pages", async () => {
    const h = await createRunHarness(server, { signupCredits: 1_000 });
    const emails = seed(h);
    await warm(h, emails);
    const { verifiers, attempts } = verifiersWith(h, h.verifiers.plain.peek);
    const run = await h.startRun({ scope: { kind: "all" } });
    const events: RunEvent[] = [];
    await h.worker({ verifiers, fetchConcurrency: 1, onEvent: (e) => events.push(e) }).drain();

    const view = await h.getRun(run.id);
    expect(view.status).toBe("awaiting_review");
    expect(attempts).toEqual([]);
    const contacts = emails.length;
    expect(view.progress.verified).toBe(contacts);
    // Each result is the one the world says; none is left to verify.
    const rows = h.t.db.$client.prepare("SELECT email, status, reason, verified_at FROM run_contacts WHERE run_id = ? ORDER BY contact_id").all(run.id) as {
      email: string;
      status: string;
      reason: string;
      verified_at: number | null;
    }[];
    expect(rows).toHaveLength(contacts);
    for (const kind of KIND_NAMES) {
      for (const row of rows.filter((r) => r.email.endsWith(`@${KINDS[kind].domain}`))) expect({ status: row.status, reason: row.reason }, row.email).toEqual(KINDS[kind].expected);
    }
    expect(rows.find((r) => r.email === "not an address")).toMatchObject({ status: "undeliverable", reason: "invalid_syntax" });
    expect(rows.every((r) => r.verified_at !== null)).toBe(true);
    // The unknowns (DNS errors) are refunded, as the verify stage refunds them.
    const unknown = rows.filter((r) => r.status === "unknown").length;
    expect(unknown).toBe(3);
    expect(view.credits).toEqual({ charged: contacts, refunded: unknown, net: contacts - unknown });
    expect(balanceOf(h.t.db, h.user.workspaceId)).toBe(1_000 - contacts + unknown);
    // Told as results, from the pages that stored them.
    const told = events.filter((e) => e.type === "results_stored").reduce((n, e) => n + (e.type === "results_stored" ? e.contacts : 0), 0);
    expect(told).toBe(contacts);
    await expectCountersMatchRows(h, run.id);
    await h.close();
  });

  it("a contact on two chosen lists is verified once, with its first page", async () => {
    const h = await createRunHarness(server, { signupCredits: 1_000 });
    const emails = seed(h);
    await warm(h, emails);
    let peeks = 0;
    const { verifiers } = verifiersWith(h, (email) => {
      peeks += 1;
      return h.verifiers.plain.peek!(email);
    });
    const lists = [...h.fake.lists.keys()];
    const run = await h.startRun({ scope: { kind: "lists", listIds: lists } });
    await h.worker({ verifiers, fetchConcurrency: 1 }).drain();
    const view = await h.getRun(run.id);
    expect(view.status).toBe("awaiting_review");
    expect(view.progress.verified).toBe(emails.length);
    // 7 contacts are on both lists: each peeked once, not once per list.
    expect(peeks).toBe(emails.length);
    expect(view.credits.charged).toBe(emails.length);
    await expectCountersMatchRows(h, run.id);
    await h.close();
  });

  it("only addresses that need a lookup go to the verify stage", async () => {
    const h = await createRunHarness(server, { signupCredits: 1_000 });
    const emails = seed(h);
    // Only the deliverable domain is known beforehand.
    await warm(h, [address("deliverable", "warm")]);
    const { verifiers, attempts } = verifiersWith(h, h.verifiers.plain.peek);
    const run = await h.startRun({ scope: { kind: "all" } });
    await h.worker({ verifiers, fetchConcurrency: 1 }).drain();
    const view = await h.getRun(run.id);
    expect(view.status).toBe("awaiting_review");
    expect(view.progress.verified).toBe(emails.length);
    // Every address of every other domain is attempted (one page: none of their routes was cached when it was stored).
    expect(attempts.sort()).toEqual(emails.filter((e) => e.includes("@") && !e.endsWith(`@${KINDS.deliverable.domain}`)).sort());
    await expectCountersMatchRows(h, run.id);
    await h.close();
  });

  it("a run that asked for the mailbox probe leaves every address to the verify stage", async () => {
    const h = await createRunHarness(server, { signupCredits: 1_000, config: { SMTP_PROBE: true } });
    const emails = seed(h);
    await warm(h, emails);
    const { verifiers, attempts } = verifiersWith(h, () => {
      throw new Error("peek must not be used when the run asked for the mailbox probe");
    });
    const run = await h.startRun({ scope: { kind: "all" }, smtpProbe: true });
    await h.worker({ verifiers, fetchConcurrency: 1 }).drain();
    const view = await h.getRun(run.id);
    expect(view.status).toBe("awaiting_review");
    // The worker was given no SMTP verifier: the run says so and checks DNS, each address in the verify stage.
    expect(attempts.sort()).toEqual([...emails].sort());
    await expectCountersMatchRows(h, run.id);
    await h.close();
  });
});
