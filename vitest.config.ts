import { availableParallelism } from "node:os";
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
    // At least two test files at once. Vitest's default, one fewer than the cores, runs one
    // file at a time on CI's 2 cores, but most files here wait on sockets, timers and Chromium
    // more than they compute.
    maxWorkers: Math.max(2, availableParallelism() - 1),
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
