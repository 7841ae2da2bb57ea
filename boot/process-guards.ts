import type { Logger } from "../core/logger.ts";

/**
 * The last line of defence for a long-running server: a rejected promise nobody handled is
 * logged as an error and the process keeps serving, instead of Node's default of exiting and
 * taking the dashboard and every other run with it. Code paths are written so this never
 * fires; when it does, the log says where.
 */
export function guardProcess(logger: Logger, proc: NodeJS.Process = process): void {
  proc.on("unhandledRejection", (reason) => {
    logger.error({ err: reason }, "a promise was rejected and nobody handled it; the server keeps running");
  });
}
