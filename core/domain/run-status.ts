import { RUN_STATUSES, type RunStatus } from "../../db/schema/runs.ts";

/**
 * The statuses of a hygiene run, the sets every part of the product asks about, and the moves
 * between them. The run store refuses any move not listed here; the worker, the services, the
 * scheduler, the pages and (through the page) the browser script all read these sets.
 *
 *   queued ─► running ─► awaiting_review ─► applying ─► completed
 *               │  ▲  ╲                        ▲   ╲        │ (retry failed actions)
 *               ▼  │   ╲────────(auto-apply)───┘    ╲───────┘
 *     paused_credits, paused_dns   any unfinished ─► failed | cancelled (before applying)
 *
 * See docs/run-lifecycle.md.
 */
export { RUN_STATUSES, type RunStatus };

/** A worker may claim the run and move it on. */
export const CLAIMABLE = ["queued", "running", "paused_credits", "paused_dns", "applying"] as const satisfies readonly RunStatus[];
/** The run may still change: a schedule waits for it, the connection has a run in progress. */
export const ACTIVE = ["queued", "running", "paused_credits", "paused_dns", "awaiting_review", "applying"] as const satisfies readonly RunStatus[];
/** The user may cancel: nothing has been changed in ActiveCampaign yet. */
export const CANCELLABLE = ["queued", "running", "paused_credits", "paused_dns", "awaiting_review"] as const satisfies readonly RunStatus[];
/** The numbers move on their own: pages poll for progress. */
export const LIVE = CLAIMABLE;
export const FINISHED = ["completed", "failed", "cancelled"] as const satisfies readonly RunStatus[];

const among = (set: readonly RunStatus[]) => (status: RunStatus) => set.includes(status);
export const isClaimable = among(CLAIMABLE);
export const isActive = among(ACTIVE);
export const isCancellable = among(CANCELLABLE);
export const isLive = among(LIVE);
/** Still checking the contacts: a worker fetches and verifies them. */
export const CHECKING = ["queued", "running", "paused_credits", "paused_dns"] as const satisfies readonly RunStatus[];
export const isChecking = among(CHECKING);

/** Every allowed move. A run never goes back to checking once its plan exists. */
export const TRANSITIONS: Readonly<Record<RunStatus, readonly RunStatus[]>> = {
  queued: ["running", "failed", "cancelled"],
  running: ["running", "paused_credits", "paused_dns", "awaiting_review", "applying", "completed", "failed", "cancelled"],
  paused_credits: ["running", "failed", "cancelled"],
  // The resolver check failed: checked again once due, nothing verified meanwhile.
  paused_dns: ["running", "failed", "cancelled"],
  awaiting_review: ["applying", "failed", "cancelled"],
  applying: ["applying", "completed", "failed"],
  // Retrying the actions that failed (or, after a refused key, those never sent).
  completed: ["applying"],
  failed: ["applying"],
  cancelled: [],
};

export function canMove(from: RunStatus, to: RunStatus): boolean {
  return TRANSITIONS[from].includes(to);
}
