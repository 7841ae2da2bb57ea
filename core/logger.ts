import { pino, type DestinationStream, type Logger } from "pino";

export type { Logger };

/** Paths whose values never reach the log, whatever the caller passes. */
export const REDACTED_PATHS = [
  "apiKey",
  "*.apiKey",
  "*.*.apiKey",
  "password",
  "*.password",
  "token",
  "*.token",
  "*.*.token",
  "headers.cookie",
  "headers.authorization",
  'headers["api-token"]',
  "*.headers.cookie",
  "*.headers.authorization",
  '*.headers["api-token"]',
  "req.headers.cookie",
  "req.headers.authorization",
  "secret",
  "*.secret",
];

export function createLogger(opts: { level: string; destination?: DestinationStream }): Logger {
  return pino(
    {
      level: opts.level,
      redact: { paths: REDACTED_PATHS, censor: "[redacted]" },
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    opts.destination,
  );
}
