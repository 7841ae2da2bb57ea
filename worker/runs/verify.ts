import { setMaxListeners } from "node:events";
import { applyAcSignals } from "../../verify/index.ts";
import type { ContactResult, DueContact, ParkedContact } from "../../core/runs/attempt.ts";
import type { AddressVerifier } from "../../core/verification.ts";
import { Waker, type RunContext } from "./context.ts";

/** Results stored together at most: one transaction each, and nothing more held in memory. */
const FLUSH_AT = 500;

export type VerifyOutcome =
  /** Every stored contact has its result. */
  | { kind: "done" }
  /** Only parked addresses are left, the first due at `nextAt`: too long to wait in this attempt. */
  | { kind: "waiting"; count: number; nextAt: number };

/** How the fetch beside it is doing: verification only ends once fetching has. */
export type FetchState = "running" | "done" | "paused";

/**
 * Verification as a stream: stored contacts flow through the verifier, `verifyWindow` at a
 * time, and each result is stored as soon as it is known (results finished in the same turn
 * of the event loop share a transaction). An address whose mail server says "later"
 * (greylisting, a long line at its MX) is parked with the time of its next try, and the rest
 * go on; it comes back when due. So a run pays one greylisting delay, not one per batch.
 */
export class VerifyStage {
  readonly #ctx: RunContext;
  readonly #news = new Waker();
  /** Contacts started and not yet stored: never handed out twice. */
  readonly #busy = new Set<number>();
  /** Where the keyset scan for due contacts goes on from. */
  #scanAfter = -1;
  #inFlight = 0;
  #results: ContactResult[] = [];
  #parked: ParkedContact[] = [];
  #flushQueued = false;
  #failure: { error: unknown } | null = null;
  #verifier: Promise<AddressVerifier> | null = null;
  readonly #tasks = new Set<Promise<void>>();
  /** Aborted when the stage fails, so addresses in flight stop instead of being waited for. */
  readonly #stop = new AbortController();
  readonly #signal: AbortSignal;

  constructor(ctx: RunContext) {
    this.#ctx = ctx;
    this.#signal = AbortSignal.any([ctx.signal, this.#stop.signal]);
    // Every SMTP session in flight listens to this one signal.
    setMaxListeners(0, this.#signal);
  }

  #fail(error: unknown): void {
    this.#failure ??= { error };
    this.#stop.abort(error);
    this.#news.notify();
  }

  /** New contacts were stored (or fetching changed state): look again. */
  wake(): void {
    this.#news.notify();
  }

  async run(fetchState: () => FetchState): Promise<VerifyOutcome> {
    const { settings, store, clock } = this.#ctx;
    const signal = this.#signal;
    try {
      for (;;) {
        if (this.#failure) throw this.#failure.error;
        signal.throwIfAborted();
        const room = settings.verifyWindow - this.#inFlight;
        // Refill when a quarter of the window is free, so a query fetches a useful number of rows.
        if (room >= Math.max(1, Math.floor(settings.verifyWindow / 4)) || this.#inFlight === 0) {
          // A full event loop goes to fetching first (worker/runs/loop-share.ts).
          const hold = this.#ctx.loopShare?.verifyWait() ?? 0;
          if (hold > 0) {
            await this.#news.wait(hold, signal);
            continue;
          }
          const due = this.#takeDue(room);
          if (due.length > 0) {
            const verifier = await this.#chooseVerifier(due);
            for (const contact of due) this.#start(verifier, contact);
            // Results from caches come back as microtasks: let I/O (the fetch's pages, the
            // dashboard) and the flush in before the next refill, or this loop would starve them.
            await new Promise((resolve) => setImmediate(resolve));
            continue;
          }
        }
        if (this.#inFlight > 0) {
          await this.#news.wait(60_000, signal);
          continue;
        }
        this.#flush();
        const state = fetchState();
        const waiting = store.waiting();
        if (state === "running") {
          // Sleep until a page is stored or the first parked address is due.
          await this.#news.wait(waiting.nextAt === null ? 60_000 : waiting.nextAt - clock.now(), signal);
          continue;
        }
        if (waiting.count === 0) {
          // Nothing due, nothing parked: unless a contact became due between the two reads, done.
          if (this.#takeDue(1).length === 0) return { kind: "done" };
          continue;
        }
        const wait = waiting.nextAt! - clock.now();
        if (state === "paused" || wait > settings.holdMs) return { kind: "waiting", count: waiting.count, nextAt: waiting.nextAt! };
        await this.#news.wait(wait, signal);
      }
    } catch (error) {
      this.#fail(error);
      throw error;
    } finally {
      // Nothing of this attempt may run on after it: stop and wait for every address in flight.
      await Promise.allSettled([...this.#tasks]);
      if (!signal.aborted && !this.#failure) this.#flush();
    }
  }

  /**
   * Up to `room` due contacts not already in hand, scanning by id from where the last scan
   * stopped and starting over once at the end (new pages and parked addresses that came due
   * may sit below it). It reads at most `room` rows plus those in hand.
   */
  #takeDue(room: number): DueContact[] {
    const taken: DueContact[] = [];
    const seen = new Set<number>();
    let wrapped = this.#scanAfter === -1;
    while (taken.length < room) {
      const want = room - taken.length;
      const rows = this.#ctx.store.dueContacts(this.#scanAfter, want);
      for (const row of rows) {
        if (this.#busy.has(row.contactId) || seen.has(row.contactId)) continue;
        seen.add(row.contactId);
        taken.push(row);
      }
      if (rows.length > 0) this.#scanAfter = rows.at(-1)!.contactId;
      if (rows.length < want) {
        this.#scanAfter = -1;
        if (wrapped) break;
        wrapped = true;
      }
    }
    return taken;
  }

  #start(verifier: AddressVerifier, contact: DueContact): void {
    const { clock } = this.#ctx;
    const signal = this.#signal;
    this.#busy.add(contact.contactId);
    this.#inFlight += 1;
    const task = verifier
      .attempt(contact.email, { signal, greylistRetries: contact.verifyAttempts })
      .then((attempt) => {
        if (attempt.kind === "done") {
          this.#results.push({ contactId: contact.contactId, result: applyAcSignals(attempt.result, { bouncedHard: contact.bouncedHard }) });
        } else {
          this.#parked.push({
            contactId: contact.contactId,
            retryAt: clock.now() + attempt.afterMs,
            verifyAttempts: contact.verifyAttempts + (attempt.why === "greylisted" ? 1 : 0),
            why: attempt.why,
          });
        }
        // A full batch is stored at once: results never pile up in memory behind a busy loop.
        if (this.#results.length + this.#parked.length >= FLUSH_AT) this.#flushOrFail();
        else this.#queueFlush();
      })
      .catch((error: unknown) => {
        if (!signal.aborted) this.#fail(error);
      })
      .finally(() => {
        this.#inFlight -= 1;
        this.#tasks.delete(task);
        this.#news.notify();
      });
    this.#tasks.add(task);
  }

  #flushOrFail(): void {
    if (this.#signal.aborted || this.#failure) return;
    try {
      this.#flush();
    } catch (error) {
      this.#fail(error);
    }
  }

  #queueFlush(): void {
    if (this.#flushQueued) return;
    this.#flushQueued = true;
    setImmediate(() => {
      this.#flushQueued = false;
      if (this.#signal.aborted || this.#failure) return;
      try {
        this.#flush();
      } catch (error) {
        this.#fail(error);
      }
    });
  }

  /** Stores what is known, in one transaction, and lets those contacts be handed out again if parked. */
  #flush(): void {
    if (this.#results.length === 0 && this.#parked.length === 0) return;
    const results = this.#results;
    const parked = this.#parked;
    this.#results = [];
    this.#parked = [];
    this.#ctx.store.saveVerification(results, parked);
    for (const r of results) this.#busy.delete(r.contactId);
    for (const p of parked) this.#busy.delete(p.contactId);
    this.#ctx.emit({ type: "results_stored", runId: this.#ctx.runId, contacts: results.length, parked: parked.length });
  }

  /**
   * SMTP probing only when the run asked for it, the server allows it, and a preflight to the
   * most common domain of the first contacts shows outbound SMTP works; otherwise the run says
   * so and uses DNS checks, instead of marking thousands of addresses unknown.
   */
  #chooseVerifier(first: DueContact[]): Promise<AddressVerifier> {
    this.#verifier ??= (async () => {
      const { store, verifiers } = this.#ctx;
      // Recorded with the run: whether its "deliverable" means a mailbox accepted, or only a domain (issue 14).
      const choose = (verifier: AddressVerifier, mailboxChecked: boolean) => {
        store.update({ mailboxChecked });
        return verifier;
      };
      if (!store.run().smtpProbe) return choose(verifiers.plain, false);
      const smtp = verifiers.smtp;
      if (!smtp) {
        store.note("Mailbox checks were asked for, but they are turned off on this server (SMTP_PROBE=off); results come from DNS and list checks");
        return choose(verifiers.plain, false);
      }
      const domains = new Map<string, number>();
      for (const { email } of first) {
        const domain = email.slice(email.lastIndexOf("@") + 1).trim().toLowerCase();
        if (domain) domains.set(domain, (domains.get(domain) ?? 0) + 1);
      }
      const target = [...domains.entries()].sort((a, b) => b[1] - a[1])[0]?.[0];
      if (!target) return choose(smtp, true);
      const check = await smtp.preflight(target, this.#signal);
      if (check.ok) return choose(smtp, true);
      store.note(`Mailbox checks were asked for, but this server cannot reach mail servers (${check.reason}: ${check.detail}); results come from DNS and list checks`);
      return choose(verifiers.plain, false);
    })();
    return this.#verifier;
  }
}
