import { createHash, randomBytes } from "node:crypto";
import { isIP } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import PQueue from "p-queue";
import { TtlCache } from "./cache.ts";
import { classifyRcptReply, classifySessionReply, type ReplyClass, type SmtpReason } from "./classify.ts";
import type { DnsLookup, MailRoute } from "./dns.ts";
import type { ResolvedVerifierOptions, SmtpProbeOptions, VerifierLog } from "./options.ts";
import { SmtpError, SmtpSession, SmtpTimeoutError, type SmtpReply } from "./smtp-session.ts";

export interface ProbeTarget {
  local: string;
  domain: string;
  normalized: string;
}

export interface ProbeContext {
  /** Greylisting retries are only scheduled to start before this time (clock ms). */
  deadline: number;
  signal?: AbortSignal;
}

export type PreflightResult =
  | { ok: true; host: string; port: number; banner: string }
  | { ok: false; host: string | null; port: number; reason: "smtp_unavailable" | "smtp_timeout" | "smtp_blocked" | "dns_error"; detail: string };

/** What one probe attempt learnt. */
export type ProbeAttempt =
  | { kind: "final"; reason: SmtpReason }
  /** A 4xx (greylisting, a busy mailbox server): asking again later may get an answer. */
  | { kind: "temporary" }
  /** The MX address already has a long line of our probes: come back after `afterMs`. */
  | { kind: "busy"; afterMs: number };

export interface SmtpProber {
  /**
   * Asks the domain's MX about the mailbox: the real RCPT, then (once per domain) a made-up one.
   * Greylisting is retried here, after the configured delays, within the context's deadline.
   */
  probe(target: ProbeTarget, route: Extract<MailRoute, { hosts: string[] }>, context: ProbeContext): Promise<SmtpReason>;
  /**
   * One attempt and no waiting, for callers that schedule retries themselves (a run parks the
   * address and goes on with others). With `park`, a long line at the MX answers "busy".
   */
  attempt(target: ProbeTarget, route: Extract<MailRoute, { hosts: string[] }>, context: { signal?: AbortSignal; park?: boolean }): Promise<ProbeAttempt>;
  /** Whether outbound SMTP works at all: connects to `target` (an IP, host or mail domain) and reads the banner. */
  preflight(target: string, signal?: AbortSignal): Promise<PreflightResult>;
}

type SessionResult =
  | { kind: "final"; reason: SmtpReason }
  /** The real recipient was accepted; `catchAll` is undefined while another session probes the domain. */
  | { kind: "accepted"; catchAll: boolean | null | undefined; reply: SmtpReply }
  | { kind: "temporary"; reply: SmtpReply }
  | { kind: "unreachable"; timedOut: boolean; detail: string };

const ADDRESSES_PER_HOST = 2;
/** Bounds of the "come back later" a busy MX answers, around the time its line needs. */
const BUSY_MIN_MS = 250;
const BUSY_MAX_MS = 5 * 60_000;

const REJECTION_REASON = {
  not_found: "mailbox_not_found",
  disabled: "mailbox_disabled",
  full: "mailbox_full",
  blocked: "smtp_blocked",
} as const satisfies Record<Exclude<ReplyClass, "accepted" | "temporary">, SmtpReason>;

type ProberOptions = Pick<ResolvedVerifierOptions, "smtp" | "now" | "log">;

export function createSmtpProber(options: ProberOptions, dns: DnsLookup): SmtpProber {
  const { smtp, now, log } = options;
  const hostQueues = new Map<string, PQueue>();
  const catchAll = new TtlCache<boolean>(now);
  const catchAllProbes = new Map<string, Promise<boolean | null>>();
  const inflight = new Map<string, Promise<SmtpReason>>();
  /** Smoothed length of one session per MX address, to say how long a busy line needs. */
  const sessionMs = new Map<string, number>();
  /** The next free turn per MX address for probes turned away from its full line. */
  const nextTurn = new Map<string, number>();
  const probeSecret = randomBytes(16);

  /** The made-up mailbox for a domain; stable per verifier so greylisting sees one triplet. */
  const randomMailbox = (domain: string) =>
    `lw${createHash("sha256").update(probeSecret).update(domain).digest("hex").slice(0, 14)}@${domain}`;

  const queueFor = (ip: string) => {
    let queue = hostQueues.get(ip);
    if (!queue) hostQueues.set(ip, (queue = new PQueue({ concurrency: smtp.perMxConcurrency })));
    return queue;
  };

  async function session(ip: string, target: ProbeTarget, signal?: AbortSignal): Promise<SessionResult> {
    let conversation: SmtpSession;
    try {
      conversation = await SmtpSession.connect({ host: ip, port: smtp.port, connectTimeoutMs: smtp.connectTimeoutMs, replyTimeoutMs: smtp.replyTimeoutMs, signal });
    } catch (err) {
      if (!(err instanceof SmtpError)) throw err;
      return { kind: "unreachable", timedOut: err instanceof SmtpTimeoutError, detail: err.message };
    }

    let claim: ((verdict: boolean | null) => void) | null = null;
    try {
      const banner = await conversation.readReply();
      if (banner.code !== 220) {
        return classifySessionReply(banner) === "blocked"
          ? { kind: "final", reason: "smtp_blocked" }
          : { kind: "unreachable", timedOut: false, detail: `banner ${banner.code} ${banner.text}` };
      }
      let hello = await conversation.command(`EHLO ${smtp.helo}`);
      if (hello.code >= 500) hello = await conversation.command(`HELO ${smtp.helo}`);
      if (hello.code !== 250) return refused(hello);
      const mail = await conversation.command(`MAIL FROM:<${smtp.mailFrom}>`);
      if (mail.code !== 250) return refused(mail);

      const real = await conversation.command(`RCPT TO:<${target.normalized}>`);
      const realClass = classifyRcptReply(real);
      log("debug", "smtp rcpt", { ip, code: real.code, enhanced: real.enhanced, class: realClass });

      let verdict: boolean | null | undefined = catchAll.get(target.domain);
      if (verdict === undefined && (realClass === "accepted" || realClass === "temporary") && !catchAllProbes.has(target.domain)) {
        const probe = deferred<boolean | null>();
        catchAllProbes.set(target.domain, probe.promise);
        claim = probe.resolve;
        const made = await conversation.command(`RCPT TO:<${randomMailbox(target.domain)}>`);
        verdict = made.code < 300 ? true : made.code >= 500 ? false : null;
        settleCatchAll(target.domain, verdict, probe.resolve);
        claim = null;
      }
      await conversation.command("RSET").catch(() => undefined);
      await conversation.quit();

      if (realClass === "temporary") return { kind: "temporary", reply: real };
      if (realClass === "accepted") return { kind: "accepted", catchAll: verdict, reply: real };
      return { kind: "final", reason: REJECTION_REASON[realClass] };
    } catch (err) {
      if (err instanceof SmtpTimeoutError) return { kind: "final", reason: "smtp_timeout" };
      if (err instanceof SmtpError) return { kind: "unreachable", timedOut: false, detail: err.message };
      throw err;
    } finally {
      if (claim) settleCatchAll(target.domain, null, claim);
      conversation.close();
    }
  }

  /** EHLO/HELO or MAIL FROM refused: the server will not talk to this client about anyone. */
  function refused(reply: SmtpReply): SessionResult {
    return classifySessionReply(reply) === "temporary" ? { kind: "temporary", reply } : { kind: "final", reason: "smtp_blocked" };
  }

  function settleCatchAll(domain: string, verdict: boolean | null, resolve: (v: boolean | null) => void) {
    if (verdict !== null) catchAll.set(domain, verdict, smtp.catchAllTtlMs);
    catchAllProbes.delete(domain);
    resolve(verdict);
  }

  /** Runs one session in the MX address's line, timing it. */
  async function timedSession(ip: string, target: ProbeTarget, signal?: AbortSignal): Promise<SessionResult> {
    const started = now();
    try {
      return await session(ip, target, signal);
    } finally {
      const took = now() - started;
      const seen = sessionMs.get(ip);
      sessionMs.set(ip, seen === undefined ? took : seen * 0.7 + took * 0.3);
    }
  }

  /**
   * When a probe turned away from a full line at `ip` should come back: each gets its own
   * turn, one session-length ÷ concurrency after the last one handed out, starting when the
   * line is down to half its cap. So a popular MX's addresses come back about once each, in
   * step with how fast the server answers, instead of all polling at the same time.
   */
  function busyFor(ip: string, queue: PQueue): number {
    const each = sessionMs.get(ip) ?? Math.min(smtp.replyTimeoutMs, 2_000);
    const step = each / smtp.perMxConcurrency;
    const halfDrained = now() + Math.max(0, queue.size + queue.pending - smtp.maxWaitingPerMx / 2) * step;
    const turn = Math.max(halfDrained, nextTurn.get(ip) ?? 0);
    nextTurn.set(ip, turn + step);
    return Math.min(BUSY_MAX_MS, Math.max(BUSY_MIN_MS, Math.round(turn - now())));
  }

  /** One pass over the MX hosts in preference order, moving on when a host cannot be reached. */
  async function attempt(target: ProbeTarget, hosts: string[], signal?: AbortSignal, park = false): Promise<SessionResult | { kind: "busy"; afterMs: number }> {
    let timedOut = false;
    for (const host of hosts.slice(0, smtp.maxMxHosts)) {
      const addresses = isIP(host) ? { kind: "ok" as const, addresses: [host] } : await dns.hostAddresses(host);
      if (addresses.kind !== "ok") continue;
      for (const ip of addresses.addresses.slice(0, ADDRESSES_PER_HOST)) {
        const queue = queueFor(ip);
        if (park && queue.size >= smtp.maxWaitingPerMx) return { kind: "busy", afterMs: busyFor(ip, queue) };
        // With the caller's signal, a cancelled probe leaves the line at once instead of waiting its turn.
        const result = await queue.add(() => timedSession(ip, target, signal), { signal });
        if (result.kind !== "unreachable") return result;
        log("debug", "smtp host unreachable", { host, ip, detail: result.detail });
        timedOut ||= result.timedOut;
      }
    }
    return { kind: "final", reason: timedOut ? "smtp_timeout" : "smtp_unavailable" };
  }

  /** Accepted real recipient → deliverable, catch-all, or (made-up mailbox got a 4xx) retry. */
  async function settleAccepted(domain: string, result: Extract<SessionResult, { kind: "accepted" }>): Promise<SessionResult> {
    const verdict = result.catchAll ?? (await (catchAllProbes.get(domain) ?? catchAll.get(domain) ?? null));
    if (verdict === null) return { kind: "temporary", reply: result.reply };
    return { kind: "final", reason: verdict ? "accept_all" : "accepted_email" };
  }

  async function attemptOnce(target: ProbeTarget, hosts: string[], signal: AbortSignal | undefined, park: boolean): Promise<ProbeAttempt> {
    let result = await attempt(target, hosts, signal, park);
    if (result.kind === "busy") return result;
    if (result.kind === "accepted") result = await settleAccepted(target.domain, result);
    if (result.kind === "final") return result;
    if (result.kind === "temporary") {
      log("debug", "smtp temporary answer", { domain: target.domain, code: result.reply.code });
      return { kind: "temporary" };
    }
    return { kind: "final", reason: "smtp_unavailable" };
  }

  async function probeWithRetries(target: ProbeTarget, hosts: string[], context: ProbeContext): Promise<SmtpReason> {
    for (let retry = 0; ; retry++) {
      const result = await attemptOnce(target, hosts, context.signal, false);
      if (result.kind === "final") return result.reason;
      const wait = smtp.greylistRetryDelaysMs[retry];
      if (wait === undefined || now() + wait > context.deadline) return "greylisted";
      log("debug", "smtp greylisted, retrying", { domain: target.domain, waitMs: wait });
      await sleep(wait, undefined, { signal: context.signal });
    }
  }

  /** Probes of one address at once share one promise. */
  function shared<T>(map: Map<string, Promise<T>>, key: string, start: () => Promise<T>): Promise<T> {
    const running = map.get(key);
    if (running) return running;
    const promise = start().finally(() => map.delete(key));
    map.set(key, promise);
    return promise;
  }

  return {
    probe: (target, route, context) => shared(inflight, target.normalized, () => probeWithRetries(target, route.hosts, context)),
    // Not shared between callers: each has its own signal (a run's cancel must not end another run's probe).
    attempt: (target, route, context) => attemptOnce(target, route.hosts, context.signal, context.park ?? false),
    preflight: (target, signal) => preflight(target, smtp, dns, log, signal),
  };
}

function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

async function preflight(target: string, smtp: SmtpProbeOptions, dns: DnsLookup, log: VerifierLog, signal?: AbortSignal): Promise<PreflightResult> {
  const { port } = smtp;
  let ip = isIP(target) ? target : null;
  if (!ip) {
    const route = await dns.mailRoute(target.toLowerCase());
    const host = "hosts" in route ? route.hosts[0] : undefined;
    const addresses = host ? await dns.hostAddresses(host) : null;
    if (addresses?.kind !== "ok" || !addresses.addresses[0]) {
      return { ok: false, host: null, port, reason: "dns_error", detail: `no address found for ${target}` };
    }
    ip = addresses.addresses[0];
  }
  let conversation: SmtpSession | null = null;
  try {
    conversation = await SmtpSession.connect({ host: ip, port, connectTimeoutMs: smtp.connectTimeoutMs, replyTimeoutMs: smtp.replyTimeoutMs, signal });
    const banner = await conversation.readReply();
    await conversation.quit();
    if (banner.code === 220) return { ok: true, host: ip, port, banner: banner.text };
    const reason = classifySessionReply(banner) === "blocked" ? "smtp_blocked" : "smtp_unavailable";
    return { ok: false, host: ip, port, reason, detail: `${banner.code} ${banner.text}` };
  } catch (err) {
    if (!(err instanceof SmtpError)) throw err;
    log("info", "smtp preflight failed", { ip, port, error: err.message });
    return { ok: false, host: ip, port, reason: err instanceof SmtpTimeoutError ? "smtp_timeout" : "smtp_unavailable", detail: err.message };
  } finally {
    conversation?.close();
  }
}
