import { defineConfig } from "vitest/config";
import base from "./vitest.config.ts";
import { LoadFailures } from "./test/mutation/load-failures.ts";

/**
 * The tests `npm run mutation` (stryker.config.mjs) runs against each mutant: those that
 * exercise the mutated modules. Left out: the browser tests, the demo, the rate-limit timing
 * test, and files whose subject is not mutated (sign-in throttling, the scheduler's calendar,
 * the verification stream, the CLI, the sandbox).
 */
const ALL = [
  // the AC client, the URL/SSRF guard
  "test/ac-client.test.ts",
  "test/ac-client-rules.test.ts",
  "test/ac-errors.test.ts",
  "test/ac-labels.test.ts",
  "test/ac-network.test.ts",
  "test/ac-http-thread.test.ts",
  "test/ac-paging.test.ts",
  "test/ac-url.test.ts",
  "test/security/address-guard.test.ts",
  "test/security/ac-responses.test.ts",
  // sessions, tokens, CSRF, bodies, workspace scoping
  "test/auth.test.ts",
  "test/security/auth-middleware.test.ts",
  "test/security/json-body.test.ts",
  "test/security/validation-errors.test.ts",
  "test/security/service-scoping.test.ts",
  "test/run-service.test.ts",
  "test/connections.test.ts",
  "test/forms.test.ts",
  "test/forms-labels.test.ts",
  "test/schedules-api.test.ts",
  "test/schedule-service.test.ts",
  "test/security.test.ts",
  "test/security/bodies.test.ts",
  "test/security/inputs.test.ts",
  "test/security/isolation.test.ts",
  "test/security/proxy.test.ts",
  // credits, the run store and stages
  "test/credits.test.ts",
  "test/credits-ledger.test.ts",
  "test/credits-rules.test.ts",
  "test/credits-topup.test.ts",
  "test/labels.test.ts",
  "test/plan-rules.test.ts",
  "test/run-engine.test.ts",
  "test/run-store.test.ts",
  "test/attempt-store.test.ts",
  "test/run-inline-verify.test.ts",
  "test/uploads.test.ts",
  "test/apply-rules.test.ts",
  "test/apply-loop.test.ts",
  "test/runs.test.ts",
  "test/runs-resilience.test.ts",
  "test/safety-rules.test.ts",
  // the plan edited at review, monitoring new contacts
  "test/run-plan-edit.test.ts",
  "test/run-undo.test.ts",
  "test/undo-rules.test.ts",
  "test/run-backup.test.ts",
  "test/monitoring-safety.test.ts",
  "test/run-counts.test.ts",
  "test/monitoring.test.ts",
  "test/security/webhooks.test.ts",
  "test/security/hook-secret.test.ts",
  "test/monitor-plan.test.ts",
  "test/monitor-store.test.ts",
  // the verification classifier
  "test/verify-rules.test.ts",
  "test/verify-classify.test.ts",
  "test/verify-providers.test.ts",
  "test/verify-sessions.test.ts",
  "test/verify-smtp.test.ts",
];

/**
 * `MUTATION_TESTS=test/runs.test.ts,test/credits.test.ts npm run mutation -- --mutate …` runs
 * fewer test files against each mutant: a scoped run on a busy machine (docs/testing.md).
 * Unset: all of the above.
 */
const only = process.env.MUTATION_TESTS?.split(",").map((f) => f.trim()).filter(Boolean);

export default defineConfig({
  ...base,
  test: {
    ...base.test,
    include: only?.length ? only : ALL,
    // A test file a mutant keeps from loading counts as a failed test (test/mutation/load-failures.ts).
    reporters: ["default", new LoadFailures()],
  },
});
