// Mutation testing of the safety-critical code (issue 20): `npm run mutation`. Not part of
// `npm test` or CI: a full run takes hours on 2 cores; an incremental one, minutes. docs/testing.md
// says when to run it and how to read it.
import { readFileSync } from "node:fs";

/**
 * `file:from-to`, the lines from the one holding `start` up to (not including) the one holding
 * `end` (or to the end of the file). Spans are found by the code they name, so a merge that
 * moves lines moves them too; a renamed anchor stops the run here instead of mutating the wrong
 * lines.
 */
function span(file, start, end) {
  const lines = readFileSync(file, "utf8").split("\n");
  const from = lines.findIndex((l) => l.includes(start));
  if (from < 0) throw new Error(`stryker.config.mjs: "${start}" not found in ${file}`);
  if (end === undefined) return `${file}:${from + 1}-${lines.length}`;
  const to = lines.findIndex((l, i) => i > from && l.includes(end));
  if (to < 0) throw new Error(`stryker.config.mjs: "${end}" not found after "${start}" in ${file}`);
  return `${file}:${from + 1}-${to}`;
}

/** @type {import("@stryker-mutator/api/core").PartialStrykerOptions} */
export default {
  testRunner: "vitest",
  // Only the test files that exercise these modules (vitest.mutation.config.ts), not browsers,
  // the demo or the rate-limit timing test.
  vitest: { configFile: "vitest.mutation.config.ts", related: false },
  // Each mutant runs only the tests that reached it in the first (dry) run.
  coverageAnalysis: "perTest",
  // Other work shares this machine's 2 cores.
  concurrency: 2,
  // Integration tests wait on sockets (DNS, SMTP, the fake AC): allow for a busy machine.
  timeoutMS: 20_000,
  timeoutFactor: 2,
  dryRunTimeoutMinutes: 20,
  incremental: true,
  incrementalFile: "reports/mutation/stryker-incremental.json",
  reporters: ["html", "json", "clear-text", "progress"],
  htmlReporter: { fileName: "reports/mutation/index.html" },
  jsonReporter: { fileName: "reports/mutation/mutation.json" },
  // The per-file table (clear-text) is the score per module.
  clearTextReporter: { allowColor: false, logTests: false, reportMutants: false, reportScoreTable: true, skipFull: false },
  tempDirName: ".stryker-tmp",
  cleanTempDir: "always",
  thresholds: { high: 95, low: 90, break: null },
  plugins: ["@stryker-mutator/vitest-runner", "./test/mutation/ignorers.mjs"],
  ignorers: ["log-lines", "error-words"],
  mutate: [
    // Credits and the ledger: balance, the one append, grants, charges (idempotent, never past
    // the balance) and refunds. Not the history pages.
    span("core/services/credits.ts", "export function balanceOf", "export function getCredits"),
    // The run store: every status move (TRANSITIONS), leases, failing and cancelling with the
    // refund of what was charged and never verified, retrying failed changes.
    "core/runs/store.ts",
    // The attempt store: a page stored with its charge (as far as the balance covers), unknowns
    // refunded, the plan (only active memberships, only the chosen lists), actions recorded
    // before and after they are sent.
    "core/runs/attempt.ts",
    // The plan: rules by reason and status, hand exclusions, only active memberships, only the
    // chosen lists, the hold and anomaly thresholds (core/runs/planning.ts), and its stage.
    "core/runs/planning.ts",
    "worker/runs/plan.ts",
    // The apply stage, with the after-crash check `alreadyApplied`, weather and gone contacts.
    "worker/runs/apply.ts",
    // The AC client: building and sending a request (path check, key, method, retries only
    // where sending twice does no harm, redirects refused) and reading its answer.
    span("core/ac/client.ts", "  function request<", "async function read<"),
    // ... a contact's list memberships, which the after-crash check and the plan rest on.
    span("core/ac/client.ts", "async function getContactLists(", "async function pageContacts("),
    // ... unsubscribe (status 2 only, not resent blindly) and delete.
    span("core/ac/client.ts", "async unsubscribe(", "async listFields("),
    span("core/ac/client.ts", "async deleteContact(", "function assertId("),
    // ... one exchange, in this thread or the HTTP thread: the size cap, what the thread may
    // parse for the client, and errors as they cross from it.
    "core/ac/http.ts",
    // ... a bulk import's limits.
    span("core/ac/client.ts", "async bulkImport(", "async importInfo("),
    // ... ids, never resubscribe (`assertNeverResubscribes`), imports carry no list (`assertImportTouchesNoList`).
    span("core/ac/client.ts", "function assertId(", "/** Retry-After is seconds or an HTTP date. */"),
    // What counts as weather (never a final failure) and as a contact gone from AC.
    span("core/ac/errors.ts", "export const isWeather", "export const API_URL_HINT"),
    // URL normalisation and the SSRF guard: public hosts only, after DNS and at connect time.
    "core/ac/url.ts",
    // Sign-in sessions, API tokens, CSRF, the client address; JSON bodies (415, __proto__);
    // validation errors.
    "server/middleware/auth.ts",
    "server/middleware/body.ts",
    "server/middleware/validate.ts",
    // Workspace scoping in services: runs (create, read, list, approve with `confirmDelete`,
    // cancel, retry), connections, schedules, API tokens, sessions.
    span("core/services/runs.ts", "export function createRun(", "export interface RunView"),
    span("core/services/connections.ts", "export function listConnections(", "/** An AC client for a stored connection"),
    span("core/services/schedules.ts", "export function getScheduleRow("),
    "core/services/tokens.ts",
    span("core/services/accounts.ts", "export function principalFromSession(", "export function findUserByEmail("),
    // The report: what happened to each action, its run scoped to the workspace, and cells
    // safe from formula injection (also the credit history's CSV).
    span("core/services/reports.ts", "export function actionResult(", "interface LabelRow"),
    span("core/services/reports.ts", "const FORMULA_START", "export function reportSummary("),
    "core/services/credits-csv.ts",
    // Undo (only the run's own unsubscribes, only while AC shows them as the run left them) and
    // the backup kept before a delete (issue 14).
    "core/services/undo.ts",
    "worker/runs/undo.ts",
    "core/runs/backups.ts",
    // The plan edited at review: exclusions, overrides, planning again, the revision an approval names.
    span("core/services/plan.ts", "export function editPlan(", "// ---- the contacts of a run"),
    // Monitoring (issue 18) changes contacts without a review: the webhook's secret, the queue
    // of new contacts (claims, requeues, charges), and the change planned for each.
    span("core/services/monitors.ts", "export function authenticateHook(", "/** Records an authenticated delivery"),
    "core/monitors/store.ts",
    span("worker/monitor/check.ts", "function planFor(", "/** Sends the check's open changes in order"),
    // The verification classifier: SMTP replies, and the evidence combined into a result.
    "verify/classify.ts",
    span("verify/taxonomy.ts", "export function strongestReason("),
  ],
};
