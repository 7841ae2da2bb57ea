import type { AcClient } from "../../core/ac/index.ts";
import type { RunContext } from "./context.ts";
import type { FetchOutcome } from "./fetch.ts";
import { plural } from "../../core/lib/words.ts";

/**
 * An upload as the source of a run (issue 19): the same verification stream, credits, leases
 * and crash-resume as a run on ActiveCampaign; only where the addresses come from differs, and
 * there is nothing to plan or apply after them.
 */

/** Addresses stored (and charged) per transaction. */
const PAGE = 1_000;

/**
 * The fetch stage of an upload: its unique addresses, page by page into the run's contacts,
 * each page with its charge; the verification stream beside it is woken after each.
 */
export async function fetchUpload(ctx: RunContext, stored: () => void): Promise<FetchOutcome> {
  if (ctx.store.run().fetchDone) return { kind: "done" };
  for (;;) {
    // Let the verification stream (and the dashboard) in between pages; the attempt is fully
    // started (the worker holds its controller) before the first one.
    await new Promise((resolve) => setImmediate(resolve));
    ctx.signal.throwIfAborted();
    const page = ctx.store.storeUploadPage(PAGE);
    if ("needed" in page) return { kind: "paused", needed: page.needed };
    if (page.stored > 0) {
      ctx.emit({ type: "page_stored", runId: ctx.runId, contacts: page.stored, part: 0, shard: 0, afterId: page.last === null ? null : String(page.last) });
      stored();
    }
    if (page.done) return { kind: "done" };
  }
}

/** Every address has its result: the upload's run is complete (its result file is ready). */
export function completeUpload(ctx: RunContext): { kind: "completed" } {
  const run = ctx.store.run();
  ctx.store.move("completed", {
    statusReason: `Done: ${plural(run.contactsVerified, "unique address", "unique addresses")} verified; the result file is ready`,
    finishedAt: new Date(ctx.clock.now()),
  });
  ctx.emit({ type: "finished", runId: ctx.runId, status: "completed" });
  return { kind: "completed" };
}

/** An upload's run talks to no ActiveCampaign account: any use of its client is a bug, and says so. */
export function noAcClient(runId: string): AcClient {
  const stats = { requests: 0, retries: 0, rateLimited: 0 };
  return new Proxy({ stats } as unknown as AcClient, {
    get(target, prop) {
      if (prop === "stats") return stats;
      if (prop === "then") return undefined;
      throw new Error(`run ${runId} verifies an upload: it has no ActiveCampaign client (${String(prop)})`);
    },
  });
}
