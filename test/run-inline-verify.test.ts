import { setupServer } from "msw/node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { balanceOf } from "../core/services/credits.ts";
import type { AddressVerifier, RunVerifiers } from "../core/verification.ts";
import type { RunEvent } from "../worker/runs/context.ts";
import { applyAcSignals } from "../verify/index.ts";
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
  // A role address (flagged), a near-miss of a provider (a suggestion), one AC saw bounce hard.
  const extra = [address("deliverable", "info"), "jane@gmial.com", address("deliverable", "bounced")];
  for (const email of extra) h.fake.addContact({ email, lists: { [a]: 1 }, ...(email.startsWith("bounced") ? { bouncedHard: true } : {}) });
  h.fake.addContact({ email: "not an address", lists: { [a]: 1 } });
  return [...emails, ...extra, "not an address"];
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
  it("with every mail route cached, only the addresses whose lookup failed reach the verify stage; the others are stored with their page exactly as it would store them", async () => {
    const h = await createRunHarness(server, { signupCredits: 1_000 });
    const emails = seed(h);
    await warm(h, emails);
    const { verifiers, attempts } = verifiersWith(h, h.verifiers.plain.peek);
    const run = await h.startRun({ scope: { kind: "all" } });
    const events: RunEvent[] = [];
    await h.worker({ verifiers, fetchConcurrency: 1, onEvent: (e) => events.push(e) }).drain();

    const view = await h.getRun(run.id);
    expect(view.status).toBe("awaiting_review");
    // A cached DNS error is asked again by the verify stage, never decided from the cache.
    const broken = emails.filter((e) => e.endsWith(`@${KINDS.dnsError.domain}`));
    expect(attempts.sort()).toEqual(broken.sort());
    const contacts = emails.length;
    expect(view.progress.verified).toBe(contacts);
    // Every column of each result is the one the verify stage stores (attempt, then AC's bounce signal).
    const rows = h.t.db.$client
      .prepare("SELECT email, bounced_hard, status, reason, flags, suggestion, normalized, provider, verified_at FROM run_contacts WHERE run_id = ? ORDER BY contact_id")
      .all(run.id) as { email: string; bounced_hard: number; status: string; reason: string; flags: string; suggestion: string | null; normalized: string | null; provider: string | null; verified_at: number | null }[];
    expect(rows).toHaveLength(contacts);
    for (const row of rows) {
      const attempt = await h.verifiers.plain.attempt(row.email);
      const expected = attempt.kind === "done" ? applyAcSignals(attempt.result, { bouncedHard: row.bounced_hard === 1 }) : null;
      expect(row, row.email).toMatchObject({ status: expected?.status, reason: expected?.reason, flags: expected?.flags.join(" "), suggestion: expected?.suggestion, normalized: expected?.normalized, provider: expected?.provider ?? null });
      expect(row.verified_at, row.email).not.toBeNull();
    }
    for (const kind of KIND_NAMES) {
      for (const row of rows.filter((r) => r.email.endsWith(`@${KINDS[kind].domain}`) && !/^(info|bounced)@/.test(r.email))) expect({ status: row.status, reason: row.reason }, row.email).toEqual(KINDS[kind].expected);
    }
    // What the cases above are there for: a flag, a suggestion, AC's hard bounce, a malformed address.
    expect(rows.find((r) => r.email.startsWith("info@"))).toMatchObject({ status: "risky", reason: "role_account", flags: "role" });
    expect(rows.find((r) => r.email === "jane@gmial.com")).toMatchObject({ suggestion: "jane@gmail.com" });
    expect(rows.find((r) => r.email.startsWith("bounced@"))).toMatchObject({ status: "undeliverable" });
    expect(rows.find((r) => r.email === "not an address")).toMatchObject({ status: "undeliverable", reason: "invalid_syntax" });
    // The unknowns (DNS errors, from the verify stage) are refunded.
    expect(view.credits).toEqual({ charged: contacts, refunded: broken.length, net: contacts - broken.length });
    expect(balanceOf(h.t.db, h.user.workspaceId)).toBe(1_000 - contacts + broken.length);
    // Told as results, from the pages that stored them and the stage.
    const told = events.reduce((n, e) => n + (e.type === "results_stored" ? e.contacts : 0), 0);
    expect(told).toBe(contacts);
    // The verify stage never chose a verifier for the peeked ones: the run still records that no mailbox was checked.
    expect(h.t.db.$client.prepare("SELECT mailbox_checked AS m FROM runs WHERE id = ?").get(run.id)).toEqual({ m: 0 });
    await expectCountersMatchRows(h, run.id);
    await h.close();
  });

  it("a run whose every address was verified with its page still records that no mailbox was checked", async () => {
    const h = await createRunHarness(server, { signupCredits: 1_000 });
    const list = h.fake.addList("A");
    const emails = Array.from({ length: 5 }, (_, i) => address("deliverable", `all${i}`));
    for (const email of emails) h.fake.addContact({ email, lists: { [list]: 1 } });
    await warm(h, emails);
    const { verifiers, attempts } = verifiersWith(h, h.verifiers.plain.peek);
    const run = await h.startRun({ scope: { kind: "all" } });
    await h.worker({ verifiers }).drain();
    expect((await h.getRun(run.id)).progress.verified).toBe(5);
    // The verify stage, which records it when it chooses DNS checks, never ran.
    expect(attempts).toEqual([]);
    expect(h.t.db.$client.prepare("SELECT mailbox_checked AS m FROM runs WHERE id = ?").get(run.id)).toEqual({ m: 0 });
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
