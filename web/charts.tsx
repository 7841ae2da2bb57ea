import type { FC } from "hono/jsx";
import { STATUS_BY_REASON, type VerificationStatus } from "../verify/taxonomy.ts";
import { CLASS_HELP, CLASS_WORDS, classOf, RESULT_CLASSES, type ResultClass } from "../core/domain/results.ts";
import { fmt, percent, reasonLabel, shortDate, shortDateTime } from "./labels.ts";

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
  /** The result class the row is coloured as. */
  status: ResultClass;
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

/**
 * Results by class: the four statuses, with "Domain OK, mailbox not checked" apart from
 * mailboxes that accepted a probe (issue 14). Classes with nothing are left out, except
 * while live (their rows fill in).
 */
export const ClassChart: FC<{ byClass: Record<string, number>; live?: boolean }> = ({ byClass, live }) => {
  const total = RESULT_CLASSES.reduce((a, c) => a + (byClass[c] ?? 0), 0);
  // Deliverable is split by what was checked: a half with nothing is left out (both empty: "Deliverable" stays).
  const none = (c: ResultClass) => (byClass[c] ?? 0) === 0;
  const shown = RESULT_CLASSES.filter((c) => live || !none(c) || (c !== "domain_ok" && c !== "deliverable") || (c === "deliverable" && none("domain_ok")));
  return (
    <Bars
      id="chart-status"
      caption="Results"
      total={total}
      live={live ?? false}
      rows={shown.map((c) => ({ key: c, label: CLASS_WORDS[c], help: CLASS_HELP[c], count: byClass[c] ?? 0, status: c }))}
    />
  );
};

export const ReasonChart: FC<{ byReason: Record<string, number> }> = ({ byReason }) => {
  const rows = Object.entries(byReason)
    .filter(([, n]) => n > 0)
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .map(([reason, count]) => ({ key: reason, label: reasonLabel(reason), count, status: classOf(statusOfReason(reason), reason) ?? "unknown" }));
  if (rows.length === 0) return null;
  const total = rows.reduce((a, r) => a + r.count, 0);
  return <Bars id="chart-reason" caption="Results by reason" total={total} rows={rows} />;
};

/** One 100% bar: the share of each result class. */
export const HealthBar: FC<{ byClass: Record<string, number>; label: string }> = ({ byClass, label }) => {
  const total = RESULT_CLASSES.reduce((a, c) => a + (byClass[c] ?? 0), 0);
  let x = 0;
  const parts = RESULT_CLASSES.map((c) => {
    const w = pct(byClass[c] ?? 0, total);
    const part = { c, x, w };
    x += w;
    return part;
  });
  const summary = RESULT_CLASSES.filter((c) => (byClass[c] ?? 0) > 0 || (c !== "domain_ok" && c !== "deliverable"))
    .map((c) => `${CLASS_WORDS[c]} ${percent(byClass[c] ?? 0, total)}`)
    .join(", ");
  return (
    <svg class="health" width="100%" height="12" role="img" aria-label={`${label}: ${summary}`}>
      <title>{summary}</title>
      <rect class="track" x="0" y="0" width="100%" height="12" rx="3" />
      {parts.map((p) => (p.w > 0 ? <rect class={`s-${p.c}`} x={len(p.x)} y="0" width={len(p.w)} height="12" /> : null))}
    </svg>
  );
};

export const Legend: FC<{ classes?: readonly ResultClass[] }> = ({ classes = RESULT_CLASSES }) => (
  <ul class="legend" aria-hidden="true">
    {classes.map((c) => (
      <li>
        <span class={`swatch s-${c}`}></span>
        {CLASS_WORDS[c]}
      </li>
    ))}
  </ul>
);

export interface TrendPoint {
  id: string;
  at: string | null;
  byClass: Record<string, number>;
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
        <svg class="trend-svg" width="100%" height="180" role="img" aria-label="Stacked columns of the share of each result per run; the table below has the numbers">
          <line class="grid" x1="0" x2="100%" y1="50%" y2="50%" />
          {points.map((p, i) => {
            const total = RESULT_CLASSES.reduce((a, c) => a + (p.byClass[c] ?? 0), 0);
            let y = 100;
            return (
              <g>
                {RESULT_CLASSES.map((c) => {
                  const h = pct(p.byClass[c] ?? 0, total);
                  y -= h;
                  return h > 0 ? (
                    <>
                      <rect class={`s-${c}`} x={len(i * slot + gap / 2)} width={len(slot - gap)} y={len(y)} height={len(h)}>
                        <title>{`${shortDate(p.at)}: ${CLASS_WORDS[c]} ${percent(p.byClass[c] ?? 0, total)} (${fmt(p.byClass[c] ?? 0)})`}</title>
                      </rect>
                      {/* Each segment tall enough carries its share. */}
                      {h >= 12 ? (
                        <text class="trend-value" x={len(i * slot + slot / 2)} y={len(y + h / 2)} text-anchor="middle" dominant-baseline="middle">
                          {percent(p.byClass[c] ?? 0, total)}
                        </text>
                      ) : null}
                    </>
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
