import type { Child } from "hono/jsx";
import { classes } from "./form.tsx";

export interface Column<T> {
  /** The column's header, and its cells' label where the table stacks into cards (app.css, narrow screens: td::before shows data-label). */
  label: string;
  /** A header other than the label, e.g. one only screen readers hear. */
  header?: Child;
  /** Numbers, aligned to the right. */
  num?: boolean;
  /** A class of the cells, or of one row's cell. */
  cellClass?: string | ((row: T) => string);
  cell: (row: T) => Child;
}

export interface DataTableProps<T> {
  rows: T[];
  columns: Column<T>[];
  /** The scrolling region's name: a label, or the id of the heading that names it. */
  label?: string;
  labelledBy?: string;
  /** Classes besides "responsive". */
  class?: string;
}

/**
 * A table that scrolls sideways in its own region on a small screen or, where app.css stacks
 * it, shows each row as a card whose cells carry their column's label. Header and cell labels
 * come from the same column, so they cannot drift apart.
 */
export function DataTable<T>(p: DataTableProps<T>) {
  return (
    <div class="table-wrap" role="region" aria-label={p.label} aria-labelledby={p.labelledBy} tabindex={0}>
      <table class={classes("responsive", p.class)}>
        <thead>
          <tr>
            {p.columns.map((col) => (
              <th scope="col" class={col.num ? "num" : undefined}>
                {col.header ?? col.label}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {p.rows.map((row) => (
            <tr>
              {p.columns.map((col) => (
                <td class={classes(col.num && "num", typeof col.cellClass === "function" ? col.cellClass(row) : col.cellClass) || undefined} data-label={col.label}>
                  {col.cell(row)}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
