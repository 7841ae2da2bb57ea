import { once } from "node:events";
import { createReadStream } from "node:fs";
import { access, constants } from "node:fs/promises";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { createVerifier, VerifierConfigError, type VerifierOptions } from "../verify/index.ts";
import { VERIFICATION_REASONS, VERIFICATION_STATUSES, type VerificationReason, type VerificationStatus } from "../verify/taxonomy.ts";

export interface VerifyCliIo {
  stdin: NodeJS.ReadableStream;
  stdout: NodeJS.WritableStream;
  /** Progress goes here too, when it is a terminal (`isTTY`). */
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  /** How often the progress line is redrawn; 500 ms. */
  progressEveryMs?: number;
}

export const VERIFY_USAGE = `Usage: listwarden verify [options] [FILE]

Verifies e-mail addresses, one per line, from FILE or standard input. Prints one JSON
object per input line on standard output, in input order (a blank line, or one that is not
valid UTF-8, gives invalid_syntax), and a summary on standard error, with progress while it
runs when standard error is a terminal. SMTP probes use the SMTP_* settings of the
environment too (proxies, budget, recipients per session).

Options:
  --dns HOST[:PORT]     DNS server to ask (repeatable; default: the system's)
  --smtp                probe mailboxes over SMTP (needs outbound port 25)
  --helo NAME           EHLO name for probes: a host name you own
  --mail-from ADDRESS   MAIL FROM for probes: a mailbox you own
  --smtp-port PORT      port of the MX hosts (default 25)
  --preflight TARGET    with --smtp, first check that TARGET (host or mail domain)
                        answers on the SMTP port; stop if it does not
  -h, --help            show this help`;

const PROBE_FAILURES = new Set<VerificationReason>(["smtp_unavailable", "smtp_timeout"]);

/** `listwarden verify ...`; resolves to the exit code (0 done, 1 failed, 2 usage). */
export async function verifyCli(args: string[], io: VerifyCliIo, defaults: Partial<VerifierOptions> = {}): Promise<number> {
  const fail = (message: string, code: number) => {
    io.stderr.write(`listwarden verify: ${message}\n`);
    return code;
  };

  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        dns: { type: "string", multiple: true },
        smtp: { type: "boolean", default: false },
        helo: { type: "string" },
        "mail-from": { type: "string" },
        "smtp-port": { type: "string" },
        preflight: { type: "string" },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (err) {
    return fail(`${(err as Error).message}\n\n${VERIFY_USAGE}`, 2);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    io.stdout.write(`${VERIFY_USAGE}\n`);
    return 0;
  }
  if (positionals.length > 1) return fail(`expected at most one FILE, got ${positionals.length}\n\n${VERIFY_USAGE}`, 2);

  const port = values["smtp-port"] === undefined ? undefined : Number(values["smtp-port"]);
  if (port !== undefined && !(Number.isInteger(port) && port > 0 && port <= 65535)) {
    return fail(`--smtp-port must be a port number (1-65535), got ${values["smtp-port"]}`, 2);
  }
  const smtp = { ...defaults.smtp };
  if (values.smtp) smtp.enabled = true;
  if (values.helo !== undefined) smtp.helo = values.helo;
  if (values["mail-from"] !== undefined) smtp.mailFrom = values["mail-from"];
  if (port !== undefined) smtp.port = port;
  if (smtp.enabled && (!smtp.helo || !smtp.mailFrom)) {
    return fail("--smtp needs --helo NAME and --mail-from ADDRESS (a host name and a mailbox you own)", 2);
  }

  let verifier;
  try {
    verifier = createVerifier({ ...defaults, dnsServers: values.dns ?? defaults.dnsServers, smtp });
  } catch (err) {
    if (err instanceof VerifierConfigError) return fail(err.message, 2);
    throw err;
  }

  if (values.preflight !== undefined) {
    if (!smtp.enabled) return fail("--preflight only makes sense with --smtp", 2);
    const check = await verifier.preflight(values.preflight);
    for (const path of check.paths) io.stderr.write(`SMTP preflight via ${path.path}: ${path.ok ? "works" : "fails"} (${path.detail})\n`);
    if (!check.ok) return fail(`SMTP preflight to ${values.preflight} failed (${check.reason}: ${check.detail}); outbound SMTP does not work from here`, 1);
    io.stderr.write(`SMTP preflight: ${check.host}:${check.port} answered\n`);
  }

  const file = positionals[0];
  let input: NodeJS.ReadableStream = io.stdin;
  if (file !== undefined && file !== "-") {
    try {
      await access(file, constants.R_OK);
    } catch (err) {
      return fail(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, 1);
    }
    input = createReadStream(file, { encoding: "utf8" });
  }

  const started = performance.now();
  const byStatus = new Map<VerificationStatus, number>();
  const byReason = new Map<VerificationReason, number>();
  let total = 0;
  // Every line gives a line out, so outputs join to inputs by position: a blank line, or one
  // whose bytes are not UTF-8 (decoded with U+FFFD), comes out as invalid_syntax.
  const lines = createInterface({ input, crlfDelay: Infinity });
  const progress = io.stderr.isTTY ? startProgress(io, verifier, () => total, started) : null;
  try {
    for await (const result of verifier.verifyStream(lines)) {
      total += 1;
      byStatus.set(result.status, (byStatus.get(result.status) ?? 0) + 1);
      byReason.set(result.reason, (byReason.get(result.reason) ?? 0) + 1);
      const { email, normalized, status, reason, flags, suggestion, provider } = result;
      if (!io.stdout.write(`${JSON.stringify({ email, normalized, status, reason, flags, suggestion, provider })}\n`)) {
        await once(io.stdout, "drain");
      }
    }
  } catch (err) {
    return fail(`reading input failed: ${(err as Error).message}`, 1);
  } finally {
    progress?.stop();
    lines.close();
  }

  const seconds = (performance.now() - started) / 1000;
  io.stderr.write(summary(total, seconds, byStatus, byReason));
  const probeFailures = [...PROBE_FAILURES].reduce((n, r) => n + (byReason.get(r) ?? 0), 0);
  if (smtp.enabled && total > 0 && probeFailures >= total / 2) {
    io.stderr.write("warning: most probes could not reach any MX host; outbound SMTP is probably blocked here (try --preflight)\n");
  }
  return 0;
}

/**
 * One line on standard error, redrawn in place: addresses done, in flight, and how many wait
 * for a greylisting retry or the probe budget (which can take minutes with nothing printed).
 */
function startProgress(io: VerifyCliIo, verifier: { activity(): { inFlight: number; waitingGreylisted: number; waitingBudget: number; sessions: number } }, done: () => number, started: number) {
  const draw = () => {
    const a = verifier.activity();
    const seconds = (performance.now() - started) / 1000;
    const parts = [`${done().toLocaleString("en-US")} done`, `${a.inFlight} in progress`];
    if (a.sessions > 0) parts.push(`${a.sessions} SMTP session${a.sessions === 1 ? "" : "s"}`);
    if (a.waitingGreylisted > 0) parts.push(`${a.waitingGreylisted} waiting for a greylisting retry`);
    if (a.waitingBudget > 0) parts.push(`${a.waitingBudget} waiting for the probe budget`);
    io.stderr.write(`\r\x1b[K${parts.join(", ")} (${seconds.toFixed(0)} s)`);
  };
  const timer = setInterval(draw, io.progressEveryMs ?? 500);
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      io.stderr.write("\r\x1b[K");
    },
  };
}

function summary(total: number, seconds: number, byStatus: Map<VerificationStatus, number>, byReason: Map<VerificationReason, number>): string {
  const rate = seconds > 0 ? Math.round(total / seconds) : total;
  const out = [`verified ${total} address${total === 1 ? "" : "es"} in ${seconds.toFixed(2)} s (${rate}/s)`];
  for (const status of VERIFICATION_STATUSES) {
    const count = byStatus.get(status);
    if (count) out.push(`  ${status.padEnd(14)} ${String(count).padStart(8)}`);
  }
  const reasons = VERIFICATION_REASONS.filter((r) => byReason.has(r)).map((r) => `${r} ${byReason.get(r)}`);
  if (reasons.length > 0) out.push(`  reasons: ${reasons.join(", ")}`);
  return `${out.join("\n")}\n`;
}
