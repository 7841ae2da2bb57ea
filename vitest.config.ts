import { defineConfig } from "vitest/config";

/**
 * `npm test` runs test/ac-rate.test.ts on its own after the rest: it asserts zero 429s against
 * a fake AC that counts arrivals in a 1 s window, and CPU contention from parallel test files
 * (browsers, the demo world) skews arrival times enough to make that flaky.
 */
export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    environment: "node",
    pool: "forks",
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
