import { stringify } from "csv-stringify";
import { Readable } from "node:stream";
import type { Deps, Principal } from "../deps.ts";
import { ledgerRows } from "./credits.ts";
import { neutralizeCell } from "./reports.ts";

/** The whole credit history as CSV (one row per ledger entry), cells safe from formula injection. */
export function creditHistoryCsv(deps: Deps, { ctx }: { ctx: Pick<Principal, "workspaceId"> }): ReadableStream<Uint8Array> {
  const csv = Readable.from(ledgerRows(deps, { ctx })).pipe(stringify({ bom: true, cast: { string: neutralizeCell } }));
  return Readable.toWeb(csv) as ReadableStream<Uint8Array>;
}
