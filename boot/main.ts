import { ConfigError, loadConfig, processEnv } from "../core/config.ts";
import { createLogger } from "../core/logger.ts";
import { keepHeapNearLive } from "./heap.ts";
import { guardProcess } from "./process-guards.ts";
import { startListwarden } from "./start.ts";

/** `npm start`: the dashboard, the API and the worker in one process on an SQLite file. */
keepHeapNearLive();
let config;
try {
  config = loadConfig(processEnv());
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  console.error(err.message);
  process.exit(1);
}
// JSON lines for machines; readable lines when a person watches the terminal.
const logger = createLogger({ level: config.LOG_LEVEL, pretty: process.stdout.isTTY === true });
guardProcess(logger);
const lw = await startListwarden({ config, logger });

let stopping = false;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "shutting down");
    setTimeout(() => process.exit(1), 15_000).unref();
    lw.close().then(
      () => logger.flush(() => process.exit(0)),
      (err: unknown) => {
        logger.error({ err }, "shutdown failed");
        logger.flush(() => process.exit(1));
      },
    );
  });
}
