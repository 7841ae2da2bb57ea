// A vitest reporter for `npm run mutation` only (vitest.mutation.config.ts).
//
// A static mutant can stop a module from loading: emptying "::" in core/ac/url.ts's IPv6 parser
// throws while its block list is built, so every test file importing it fails before it holds a
// single test. Stryker's vitest runner builds a mutant's result from the tests it collects, and
// a file that collected none has no failed test: it scored such a mutant "survived", though the
// suite cannot even load with it (stryker-js#6150, open in 9.6.1 and 10.0.0). This gives each
// test file that failed without any test one failed test carrying the load error, so the runner
// sees the failure the suite shows. A file that loaded is left as it is.
import type { RunnerTestCase } from "vitest";
import { experimental_getRunnerTask, type Reporter, type TestModule } from "vitest/node";

export class LoadFailures implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    for (const file of testModules.map((m) => experimental_getRunnerTask(m))) {
      if (file.result?.state !== "fail" || file.tasks.length > 0) continue;
      const loadFailure = {
        type: "test",
        id: `${file.id}_load`,
        name: "(the test file loads)",
        fullName: `${file.name} (the test file loads)`,
        mode: "run",
        file,
        suite: file,
        meta: {},
        timeout: 0,
        annotations: [],
        artifacts: [],
        result: { state: "fail", errors: file.result.errors ?? [{ message: "the test file failed to load" }] },
        // The runner builds a test's context itself; nothing reads it once the run is over.
      } as unknown as RunnerTestCase;
      file.tasks.push(loadFailure);
    }
  }
}
