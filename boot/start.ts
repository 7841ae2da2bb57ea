import { serve, type ServerType } from "@hono/node-server";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { openDb } from "../db/index.ts";
import { createRunVerifiers } from "../core/verification.ts";
import { createWorker, type Worker, type WorkerOptions } from "../worker/runs/worker.ts";
import { createScheduler, type Scheduler, type SchedulerOptions } from "../worker/schedules/scheduler.ts";
import { createMonitorProcessor, type MonitorProcessor, type MonitorProcessorOptions } from "../worker/monitor/processor.ts";
import { createSweeper, type Sweeper, type SweeperOptions } from "../worker/monitor/sweep.ts";
import { createDispatcher, type Dispatcher, type DispatcherOptions } from "../worker/notifications/dispatcher.ts";
import { createAcLimiters, type LookupAll } from "../core/ac/index.ts";
import { createAcHttpThread, SOURCE_ENTRY, type ThreadEntry } from "../core/ac/http-threads.ts";
import { createApp } from "./app.ts";
import type { Config } from "../core/config.ts";
import { createDeps, type Deps } from "../core/deps.ts";
import { systemClock, type Clock } from "../core/lib/clock.ts";
import type { Logger } from "../core/logger.ts";

export interface Listwarden {
  url: string;
  deps: Deps;
  worker: Worker | null;
  /** Runs beside the worker: off with WORKER=off. */
  scheduler: Scheduler | null;
  /** Sends notifications (e-mail, webhooks); runs in every process, WORKER=off too. */
  dispatcher: Dispatcher;
  /** Checks monitored connections' new contacts (issue 18); beside the worker, off with WORKER=off. */
  monitor: MonitorProcessor | null;
  /** The catch-up sweep of monitored connections; beside the worker. */
  sweeper: Sweeper | null;
  close(): Promise<void>;
}

export interface StartOptions {
  config: Config;
  logger: Logger;
  clock?: Clock;
  /** ":memory:" or a path; defaults to DATA_DIR/listwarden.db. */
  dbFile?: string;
  acLookup?: LookupAll;
  worker?: Partial<Omit<WorkerOptions, "verifiers">>;
  scheduler?: SchedulerOptions;
  dispatcher?: DispatcherOptions;
  monitor?: Partial<Omit<MonitorProcessorOptions, "verifiers">>;
  sweeper?: SweeperOptions;
  stripeApi?: Deps["stripeApi"];
}

/** Set by boot/build.mjs in the built server. */
declare const __LISTWARDEN_BUILT__: boolean | undefined;

/** The built server starts the built HTTP thread beside it; the sources (tsx) start theirs. */
const HTTP_THREAD: ThreadEntry = typeof __LISTWARDEN_BUILT__ === "boolean" ? { file: new URL("../dist/ac-http-thread.mjs", import.meta.url) } : SOURCE_ENTRY;

/** Opens the database, serves the dashboard and API, and starts the worker (unless WORKER=off). */
export async function startListwarden(opts: StartOptions): Promise<Listwarden> {
  const { config, logger } = opts;
  const dbFile = opts.dbFile ?? path.join(config.DATA_DIR, "listwarden.db");
  const db = openDb(dbFile);
  let acThread = config.AC_HTTP_THREAD ? createAcHttpThread({ entry: HTTP_THREAD, logger }) : null;
  try {
    // Started now: a broken build shows here, not as every run's "could not reach" later.
    await acThread?.ready();
  } catch (err) {
    logger.error({ err }, "the AC HTTP thread did not start; ActiveCampaign requests go from the main thread");
    await acThread?.close();
    acThread = null;
  }
  const deps = createDeps({
    db,
    config,
    clock: opts.clock ?? systemClock,
    logger,
    acLimiters: createAcLimiters({ requestsPerSecond: config.AC_REQUESTS_PER_SECOND, importsPerMinute: config.AC_IMPORTS_PER_MINUTE }),
    ...(opts.acLookup ? { acLookup: opts.acLookup } : {}),
    ...(acThread ? { acHttp: acThread.http } : {}),
    ...(opts.stripeApi ? { stripeApi: opts.stripeApi } : {}),
  });
  const app = createApp(deps);
  const server: ServerType = await new Promise((resolve) => {
    const s = serve({ fetch: app.fetch, port: config.PORT, hostname: config.HOST }, () => resolve(s));
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://${config.HOST === "0.0.0.0" || config.HOST === "127.0.0.1" ? "localhost" : config.HOST}:${port}`;
  if (!config.PUBLIC_URL) deps.publicUrl = url;
  // One engine and one set of caches for runs and monitoring.
  const verifiers = config.WORKER ? createRunVerifiers(config, logger) : null;
  const worker = verifiers ? createWorker(deps, { concurrency: config.WORKER_CONCURRENCY, ...opts.worker, verifiers }) : null;
  const scheduler = worker ? createScheduler(deps, opts.scheduler) : null;
  const monitor = verifiers ? createMonitorProcessor(deps, { ...opts.monitor, verifiers }) : null;
  const sweeper = monitor ? createSweeper(deps, opts.sweeper) : null;
  // A delivery that queued a contact wakes this process's processor (otherwise it polls).
  if (monitor) deps.onMonitorWork = () => monitor.wake();
  // ... and a run queued, approved or retried wakes the worker.
  if (worker) deps.onRunWork = () => worker.wake();
  const dispatcher = createDispatcher(deps, opts.dispatcher);
  worker?.start();
  scheduler?.start();
  monitor?.start();
  sweeper?.start();
  dispatcher.start();
  // The one line that says where to go: the URL in the message itself, JSON or pretty.
  logger.info({ url, dataDir: config.DATA_DIR, worker: Boolean(worker), mail: deps.mailer.configured }, `Listwarden is running at ${url}`);

  return {
    url,
    deps,
    worker,
    scheduler,
    dispatcher,
    monitor,
    sweeper,
    async close() {
      await sweeper?.stop();
      await monitor?.stop();
      await scheduler?.stop();
      await worker?.stop();
      await dispatcher.stop();
      await deps.mailer.idle();
      deps.mailer.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        (server as { closeAllConnections?: () => void }).closeAllConnections?.();
      });
      await acThread?.close();
      db.$client.close();
    },
  };
}
