import { serve } from "@hono/node-server";
import path from "node:path";
import { openDb } from "../db/index.ts";
import { createAcLimiters } from "./ac/index.ts";
import { createApp } from "./app.ts";
import { ConfigError, loadConfig } from "./config.ts";
import { createDeps } from "./deps.ts";
import { systemClock } from "./lib/clock.ts";
import { createLogger } from "./logger.ts";

/** `npm start`: the dashboard, the API and the worker in one process on an SQLite file. */
async function main() {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(1);
    }
    throw err;
  }
  const logger = createLogger({ level: config.LOG_LEVEL });
  const dbFile = path.join(config.DATA_DIR, "listwarden.db");
  const db = openDb(dbFile);
  const deps = createDeps({
    db,
    config,
    clock: systemClock,
    logger,
    acLimiters: createAcLimiters({ requestsPerSecond: config.AC_REQUESTS_PER_SECOND }),
  });
  const app = createApp(deps);
  const server = serve({ fetch: app.fetch, port: config.PORT, hostname: config.HOST }, (info) => {
    logger.info({ url: `http://${config.HOST === "0.0.0.0" ? "localhost" : config.HOST}:${info.port}`, dbFile }, "Listwarden is running");
  });

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "shutting down");
    const deadline = setTimeout(() => process.exit(1), 10_000);
    deadline.unref();
    server.close(() => {
      db.$client.close();
      process.exit(0);
    });
  };
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGTERM", () => stop("SIGTERM"));
}

await main();
