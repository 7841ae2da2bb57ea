import { setFlagsFromString } from "node:v8";

/** How far V8's old generation may grow past what survived its last full collection. */
export const HEAP_GROWING_PERCENT = 50;

/**
 * Keeps the server's heap near what it holds alive. V8 lets the old generation grow to up to
 * four times what survived the last full collection before it collects again; a run storing
 * pages at 20,000 contacts/s promotes garbage fast, so the main thread's old space climbed to
 * about 140 MB around 35 MB alive, and that was most of the process's peak. At 1.5 times the
 * process peaks about 90 MB lower at 400,000 contacts and no longer grows with the run, for
 * little CPU: the main thread's µs per contact did not move at 400,000 contacts; 32 accounts
 * took 105-115 µs per contact against 98-108 without (2 runs each, within their spread, but
 * perhaps a few percent more collecting; README, "Capacity"). The flag is process-wide: the
 * AC HTTP thread's heap, whose old space V8 already held to 1.3 times (it is capped at 128 MB,
 * and V8 grows small heaps less), grows by 1.5 times too, still far below its cap (its live
 * data is the pages in flight, a few MB).
 *
 * An operator's own `node --heap-growing-percent=N` wins. V8 reads this flag at each full
 * collection, so setting it once the process runs takes effect (the benchmark measured it so).
 */
export function keepHeapNearLive(execArgv: readonly string[] = process.execArgv, setFlags: (flags: string) => void = setFlagsFromString): void {
  if (execArgv.some((arg) => /^--heap[-_]growing[-_]percent(=|$)/.test(arg))) return;
  setFlags(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
}
