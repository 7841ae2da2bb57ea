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
  "MAIL_URL",
  "*.MAIL_URL",
  "STRIPE_SECRET_KEY",
  "STRIPE_WEBHOOK_SECRET",
];

/**
 * One logger, one format on stdout: JSON lines, or (`pretty`, for a person at a terminal) the
 * same lines made readable by pino-pretty, which runs in pino's transport worker thread.
 */
export function createLogger(opts: { level: string; destination?: DestinationStream; pretty?: boolean }): Logger {
  const destination =
    opts.destination ??
    (opts.pretty ? (pino.transport({ target: "pino-pretty", options: { colorize: true, translateTime: "SYS:HH:MM:ss", ignore: "pid,hostname" } }) as DestinationStream) : undefined);
  return pino(
    {
      level: opts.level,
      redact: { paths: REDACTED_PATHS, censor: "[redacted]" },
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}
