import { ConfigError, loadConfig } from "../core/config.ts";
import { createLogger } from "../core/logger.ts";
import { guardProcess } from "./process-guards.ts";
import { startListwarden } from "./start.ts";

/** `npm start`: the dashboard, the API and the worker in one process on an SQLite file. */
let config;
try {
  config = loadConfig();
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  console.error(err.message);
  process.exit(1);
}
const logger = createLogger({ level: config.LOG_LEVEL });
guardProcess(logger);
const lw = await startListwarden({ config, logger });
console.log(`Listwarden is running at ${lw.url}`);

let stopping = false;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "shutting down");
    setTimeout(() => process.exit(1), 15_000).unref();
    lw.close().then(() => process.exit(0));
  });
}
