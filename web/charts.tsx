import type { FC } from "hono/jsx";
import { STATUS_BY_REASON, VERIFICATION_STATUSES, type VerificationStatus } from "../verify/taxonomy.ts";
import { fmt, percent, reasonLabel, shortDate, shortDateTime, STATUS_HELP, STATUS_LABELS } from "./labels.ts";

/**
 * Charts as server-rendered SVG. Geometry is in percentages of the SVG's own box, so a chart
 * keeps its shape from a phone to a desktop without a viewBox that would shrink its text;
 * the words live in HTML next to it, where they stay legible, selectable and read out.
 */

const pct = (part: number, whole: number) => (whole > 0 ? Math.max(0, Math.min(100, (part / whole) * 100)) : 0);
const len = (n: number) => `${n.toFixed(2)}%`;

export function statusOfReason(reason: string): VerificationStatus {
  return (STATUS_BY_REASON as Record<string, VerificationStatus>)[reason] ?? "unknown";
}

interface BarRow {
  key: string;
  label: string;
  help?: string;
  count: number;
  status: VerificationStatus;
}

/** Horizontal bars with their label and value; `live` rows carry data- hooks for run.js. */
const Bars: FC<{ rows: BarRow[]; total: number; live?: boolean; caption: string; id: string }> = ({ rows, total, live, caption, id }) => (
  <figure class="chart" aria-labelledby={`${id}-caption`}>
    <figcaption id={`${id}-caption`}>{caption}</figcaption>
    <ul class="bars" id={id}>
      {rows.map((r) => (
        <li class="bar-row">
          <span class="bar-label">
            <span class={`swatch s-${r.status}`} aria-hidden="true"></span>
            {r.label}
            {r.help ? <span class="bar-help">{r.help}</span> : null}
          </span>
          <svg class="bar-track" width="100%" height="14" aria-hidden="true" focusable="false">
            <rect class="track" x="0" y="0" width="100%" height="14" rx="3" />
            <rect class={`fill s-${r.status}`} x="0" y="0" width={len(pct(r.count, total))} height="14" rx="3" data-bar={live ? r.key : undefined} />
          </svg>
          <span class="bar-value">
            <span data-count={live ? r.key : undefined}>{fmt(r.count)}</span>{" "}
            <span class="muted" data-share={live ? r.key : undefined}>
              ({percent(r.count, total)})
            </span>
          </span>
        </li>
      ))}
    </ul>
  </figure>
);

export const StatusChart: FC<{ byStatus: Record<string, number>; live?: boolean }> = ({ byStatus, live }) => {
  const total = VERIFICATION_STATUSES.reduce((a, s) => a + (byStatus[s] ?? 0), 0);
  return (
    <Bars
      id="chart-status"
      caption="Results by status"
      total={total}
      live={live ?? false}
      rows={VERIFICATION_STATUSES.map((s) => ({ key: s, label: STATUS_LABELS[s], help: STATUS_HELP[s], count: byStatus[s] ?? 0, status: s }))}
    />
  );
};

export const ReasonChart: FC<{ byReason: Record<string, number> }> = ({ byReason }) => {
  const rows = Object.entries(byReason)
    .filter(([, n]) => n > 0)
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .map(([reason, count]) => ({ key: reason, label: reasonLabel(reason), count, status: statusOfReason(reason) }));
  if (rows.length === 0) return null;
  const total = rows.reduce((a, r) => a + r.count, 0);
  return <Bars id="chart-reason" caption="Results by reason" total={total} rows={rows} />;
};

/** One 100% bar: the share of each status. */
export const HealthBar: FC<{ byStatus: Record<string, number>; label: string }> = ({ byStatus, label }) => {
  const total = VERIFICATION_STATUSES.reduce((a, s) => a + (byStatus[s] ?? 0), 0);
  let x = 0;
  const parts = VERIFICATION_STATUSES.map((s) => {
    const w = pct(byStatus[s] ?? 0, total);
    const part = { s, x, w };
    x += w;
    return part;
  });
  const summary = VERIFICATION_STATUSES.map((s) => `${STATUS_LABELS[s]} ${percent(byStatus[s] ?? 0, total)}`).join(", ");
  return (
    <svg class="health" width="100%" height="12" role="img" aria-label={`${label}: ${summary}`}>
      <title>{summary}</title>
      <rect class="track" x="0" y="0" width="100%" height="12" rx="3" />
      {parts.map((p) => (p.w > 0 ? <rect class={`s-${p.s}`} x={len(p.x)} y="0" width={len(p.w)} height="12" /> : null))}
    </svg>
  );
};

export const Legend: FC = () => (
  <ul class="legend" aria-hidden="true">
    {VERIFICATION_STATUSES.map((s) => (
      <li>
        <span class={`swatch s-${s}`}></span>
        {STATUS_LABELS[s]}
      </li>
    ))}
  </ul>
);

export interface TrendPoint {
  id: string;
  at: string | null;
  byStatus: Record<string, number>;
}

/**
 * List health across runs: one 100%-stacked column per run, oldest on the left. The table
 * under it (rendered by the page) carries the same numbers for screen readers.
 */
export const TrendChart: FC<{ points: TrendPoint[] }> = ({ points }) => {
  // At least six slots, so two runs are two columns rather than two walls.
  const slots = Math.max(points.length, 6);
  const slot = 100 / slots;
  const gap = slot * 0.3;
  const days = points.map((p) => shortDate(p.at));
  const labels = new Set(days).size < days.length ? points.map((p) => shortDateTime(p.at)) : days;
  return (
    <figure class="chart trend" aria-labelledby="trend-caption">
      <figcaption id="trend-caption">Share of each result, run by run (oldest on the left)</figcaption>
      <div class="trend-plot">
        <div class="trend-axis" aria-hidden="true">
          <span>100%</span>
          <span>50%</span>
          <span>0%</span>
        </div>
        <svg class="trend-svg" width="100%" height="180" role="img" aria-label="Stacked columns of the share of deliverable, risky, undeliverable and unknown contacts per run; the table below has the numbers">
          <line class="grid" x1="0" x2="100%" y1="50%" y2="50%" />
          {points.map((p, i) => {
            const total = VERIFICATION_STATUSES.reduce((a, s) => a + (p.byStatus[s] ?? 0), 0);
            let y = 100;
            return (
              <g>
                {VERIFICATION_STATUSES.map((s) => {
                  const h = pct(p.byStatus[s] ?? 0, total);
                  y -= h;
                  return h > 0 ? (
                    <rect class={`s-${s}`} x={len(i * slot + gap / 2)} width={len(slot - gap)} y={len(y)} height={len(h)}>
                      <title>{`${shortDate(p.at)}: ${STATUS_LABELS[s]} ${percent(p.byStatus[s] ?? 0, total)} (${fmt(p.byStatus[s] ?? 0)})`}</title>
                    </rect>
                  ) : null;
                })}
              </g>
            );
          })}
        </svg>
      </div>
      <div class="trend-dates" aria-hidden="true">
        {Array.from({ length: slots }, (_, i) => (
          <span>{labels[i] ?? ""}</span>
        ))}
      </div>
      <Legend />
    </figure>
  );
};
