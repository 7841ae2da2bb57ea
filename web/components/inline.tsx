import type { FC } from "hono/jsx";
import type { RunStatus } from "../../db/schema/index.ts";
import { RUN_STATUS_WORDS, when } from "../labels.ts";

/** Small pieces that sit inside text and table cells. */

/** A date in UTC, which app.js rewrites into the reader's time zone. */
export const Time: FC<{ iso: string | null }> = ({ iso }) => (iso ? <time datetime={iso}>{when(iso)}</time> : <span>—</span>);

export const StatusBadge: FC<{ status: RunStatus }> = ({ status }) => {
  const words = RUN_STATUS_WORDS[status];
  return <span class={`badge ${words.tone}`}>{words.badge}</span>;
};

/** Marks a run a schedule started. */
export const ScheduledTag: FC<{ scheduleId: string | null }> = ({ scheduleId }) => (scheduleId ? <span class="tag">Scheduled</span> : null);
