import { createHash, randomBytes } from "node:crypto";
import { isIP } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { ProbeBudget } from "./budget.ts";
import { TtlCache } from "./cache.ts";
import { classifyRcptReply, classifySessionReply, objectsToRecipients, refusesOurAddress, type ReplyClass, type SmtpReason } from "./classify.ts";
import type { DnsLookup, MailRoute } from "./dns.ts";
import type { ResolvedVerifierOptions } from "./options.ts";
import { SendingPaths, type PathLease, type SendingPath } from "./paths.ts";
import type { CompiledRule } from "./providers.ts";
import { ProxyError, SmtpError, SmtpSession, SmtpTimeoutError, type SmtpReply } from "./smtp-session.ts";

export interface ProbeTarget {
  local: string;
  domain: string;
  normalized: string;
  /** The provider rule that reads this domain's answers (null: the plain reading). */
  rule: CompiledRule | null;
}

export interface ProbeContext {
  /** Greylisting retries (and waits for the probe budget) only start before this time (clock ms). */
  deadline: number;
  signal?: AbortSignal;
  /** Told when the probe starts and stops waiting (for greylisting retries or for the budget), for progress reports. */
  onWait?: (why: "greylisted" | "budget", waiting: boolean) => void;
}

export interface PathCheck {
  /** "direct" or "socks5://host:port". */
  path: string;
  ok: boolean;
  detail: string;
}

export type PreflightResult =
  | { ok: true; host: string; port: number; banner: string; paths: PathCheck[] }
  | {
      ok: false;
      host: string | null;
      port: number;
      reason: "smtp_unavailable" | "smtp_timeout" | "smtp_blocked" | "dns_error";
      detail: string;
      paths: PathCheck[];
    };

/** What one probe attempt learnt. */
export type ProbeAttempt =
  | { kind: "final"; reason: SmtpReason }
  /** A 4xx (greylisting, a busy mailbox server): asking again later may get an answer. */
  | { kind: "temporary" }
  /** The MX address already has a long line of our probes: come back after `afterMs`. */
  | { kind: "busy"; afterMs: number }
  /** The probe budget (per MX server per minute, per sending path per day) is spent until `afterMs` from now. */
  | { kind: "budget"; afterMs: number };

export interface SmtpProber {
  /**
   * Asks the domain's MX about the mailbox: the real RCPT, then (once per domain, where the
   * provider's rule wants it) a made-up one. Greylisting and the probe budget are waited
   * out here, within the context's deadline.
   */
  probe(target: ProbeTarget, route: Extract<MailRoute, { hosts: string[] }>, context: ProbeContext): Promise<SmtpReason | null>;
  /**
   * One attempt and no waiting, for callers that schedule retries themselves (a run parks the
   * address and goes on with others). With `park`, a long line at the MX answers "busy".
   */
  attempt(target: ProbeTarget, route: Extract<MailRoute, { hosts: string[] }>, context: { signal?: AbortSignal; park?: boolean }): Promise<ProbeAttempt>;
  /** Whether outbound SMTP works, and through which path: connects to `target` (an IP, host or mail domain) and reads the banner. */
  preflight(target: string, signal?: AbortSignal): Promise<PreflightResult>;
  /** Addresses queued or being asked, and sessions open, now. */
  activity(): { queued: number; sessions: number };
}

/** What one recipient's turn in a session gave. */
type JobResult =
  | { kind: "final"; reason: SmtpReason }
  /** The real recipient was accepted and the catch-all verdict decides; `catchAll` undefined while it is being asked. */
  | { kind: "accepted"; catchAll: boolean | null | undefined }
  | { kind: "temporary"; reply: SmtpReply }
  | { kind: "unreachable"; timedOut: boolean; detail: string };

interface Job {
  /** An address, or the made-up recipient of a domain asked on its own (when the server wants one recipient per session). */
  kind: "address" | "catch_all";
  target: ProbeTarget;
  settle: (result: JobResult) => void;
  /** Times the job went back in line because a server objected to several recipients. */
  requeued: number;
  /** Counts against the daily path budget when its RCPT is sent. */
  pathReserved: boolean;
  /** Its caller gave up (a cancelled run): skip it, or end the session asking it. */
  abandoned: boolean;
  /** Set by the session asking it now: closes that session. */
  onAbandon?: () => void;
}

/** Everything about one MX server (IP address): its line of jobs and its sessions. */
interface MxLine {
  ip: string;
  queue: Job[];
  sessions: number;
  /** Recipients the open sessions will still take. */
  capacity: number;
  /** Recipients per session: the configured cap, lowered by provider rules and by a server that objected. */
  cap: number;
  /**
   * The server takes one RCPT per session (it objected to a second, or its provider's rule
   * says so): the made-up recipient then goes in a session of its own too.
   */
  oneRcpt: boolean;
  blockedUntil: number;
  /** Smoothed time one recipient takes, session set-up included. */
  jobMs: number | undefined;
  /** When each probe turned away from the full line comes back (a queue, oldest first; `turnsHead` is its start). */
  turns: number[];
  turnsHead: number;
}

const ADDRESSES_PER_HOST = 2;
/** Bounds of the "come back later" a busy MX answers, around the time its line needs. */
const BUSY_MIN_MS = 50;
/** A recipient's time at a server not measured yet (a reused loopback session takes ~10 ms). */
const FIRST_GUESS_JOB_MS = 20;
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
  const lines = new Map<string, MxLine>();
  const catchAll = new TtlCache<boolean>(now);
  const catchAllProbes = new Map<string, Promise<boolean | null>>();
  const inflight = new Map<string, Promise<SmtpReason | null>>();
  const budget = new ProbeBudget({ perMxPerMinute: smtp.budgetPerMxPerMinute, perPathPerDay: smtp.budgetPerPathPerDay }, now);
  const paths = new SendingPaths({
    proxies: smtp.proxies,
    perProxyConcurrency: smtp.perProxyConcurrency,
    recheckMs: smtp.proxyRecheckMs,
    connectTimeoutMs: smtp.connectTimeoutMs,
    now,
    log,
  });
  /** Jobs admitted whose RCPT has not gone out yet: they hold a place in the daily path budget. */
  let pathReservations = 0;
  const probeSecret = randomBytes(16);

  /** The made-up mailbox for a domain; stable per verifier so greylisting sees one triplet. */
  const randomMailbox = (domain: string) =>
    `lw${createHash("sha256").update(probeSecret).update(domain).digest("hex").slice(0, 14)}@${domain}`;

  const lineFor = (ip: string) => {
    let line = lines.get(ip);
    if (!line) lines.set(ip, (line = { ip, queue: [], sessions: 0, capacity: 0, cap: smtp.recipientsPerSession, oneRcpt: false, blockedUntil: 0, jobMs: undefined, turns: [], turnsHead: 0 }));
    return line;
  };

  const pathFull = (path: SendingPath) => budget.pathWaitMs(path.id) > 0;

  /** 0 when some path still has room today for one more admitted probe, else about how long until one has. */
  function pathWaitMs(): number {
    if (smtp.budgetPerPathPerDay <= 0) return 0;
    const usable = paths.usable();
    const room = usable.reduce((sum, path) => sum + Math.max(0, smtp.budgetPerPathPerDay - budget.pathUse(path.id)), 0);
    if (room > pathReservations) return 0;
    const waits = usable.map((path) => budget.pathWaitMs(path.id)).filter((w) => w > 0);
    return waits.length > 0 ? Math.min(...waits) : 60_000;
  }

  // ---- the line: recipients wait per MX server; sessions take up to `cap` each -------------

  /** Lets go of a job's place in the daily path budget (its RCPT went out, or never will). */
  function unreserve(job: Job): void {
    if (!job.pathReserved) return;
    job.pathReserved = false;
    pathReservations -= 1;
  }

  function submit(line: MxLine, job: Pick<Job, "kind" | "target">, signal?: AbortSignal): Promise<JobResult> {
    return new Promise<JobResult>((resolve, reject) => {
      const reserve = job.kind === "address" && smtp.budgetPerPathPerDay > 0;
      if (reserve) pathReservations += 1;
      const entry: Job = {
        ...job,
        requeued: 0,
        pathReserved: reserve,
        abandoned: false,
        settle: (result) => {
          signal?.removeEventListener("abort", onAbort);
          unreserve(entry);
          resolve(result);
        },
      };
      // An abandoned address leaves the line; one already being asked finishes its turn unheard.
      function onAbort() {
        const at = line.queue.indexOf(entry);
        if (at >= 0) line.queue.splice(at, 1);
        entry.abandoned = true;
        entry.settle = () => unreserve(entry);
        unreserve(entry);
        reject(signal!.reason);
        // Nobody waits for this answer: stop the session asking for it (others get a new one).
        entry.onAbandon?.();
      }
      if (signal?.aborted) return onAbort();
      signal?.addEventListener("abort", onAbort, { once: true });
      if (job.kind === "catch_all") line.queue.unshift(entry);
      else line.queue.push(entry);
      pump(line);
    });
  }

  /**
   * Opens sessions while the line holds more recipients than the open sessions will take,
   * up to `perMxConcurrency` at once. Sessions end full or when the line is empty, so n
   * recipients arriving together need at most ⌈n / cap⌉ sessions.
   */
  function pump(line: MxLine): void {
    while (line.sessions < smtp.perMxConcurrency && line.queue.length > line.capacity) {
      const cap = line.cap;
      line.sessions += 1;
      line.capacity += cap;
      void runSession(line, cap).finally(() => {
        line.sessions -= 1;
        pump(line);
      });
    }
  }

  /** Every job still in line gets the same answer (the server refused us before any recipient). */
  function settleAll(line: MxLine, first: Job, result: JobResult): void {
    first.settle(result);
    for (const job of line.queue.splice(0)) job.settle(result);
  }

  async function connectSession(ip: string): Promise<{ conversation: SmtpSession; lease: PathLease } | { failure: JobResult }> {
    const tried = new Set<string>();
    let last: JobResult = { kind: "unreachable", timedOut: false, detail: "no sending path is available (every proxy is down or out of budget)" };
    for (;;) {
      const lease = await paths.acquire(tried, pathFull);
      if (!lease) return { failure: last };
      try {
        const conversation = await SmtpSession.connect({
          host: ip,
          port: smtp.port,
          connectTimeoutMs: smtp.connectTimeoutMs,
          replyTimeoutMs: smtp.replyTimeoutMs,
          via: lease.path.proxy ?? undefined,
        });
        return { conversation, lease };
      } catch (err) {
        lease.release();
        if (!(err instanceof SmtpError)) throw err;
        if (err instanceof ProxyError) {
          // The proxy, not the server: rest it and fail over to another path.
          paths.markDown(lease.path, err.message);
          tried.add(lease.path.id);
          last = { kind: "unreachable", timedOut: err.timedOut, detail: err.message };
          continue;
        }
        return { failure: { kind: "unreachable", timedOut: err instanceof SmtpTimeoutError, detail: err.message } };
      }
    }
  }

  async function runSession(line: MxLine, cap: number): Promise<void> {
    let served = 0;
    const endCapacity = () => {
      line.capacity -= cap - served;
      served = cap;
    };
    const first = line.queue.shift();
    if (!first) return endCapacity();
    served = 1;
    line.capacity -= 1;
    const started = now();

    const connected = await connectSession(line.ip).catch((err: unknown) => ({ failure: { kind: "unreachable", timedOut: false, detail: String(err) } as JobResult }));
    if ("failure" in connected) {
      endCapacity();
      return settleAll(line, first, connected.failure);
    }
    const { conversation, lease } = connected;
    let job: Job | undefined = first;
    let held: { job: Job; result: JobResult } | null = null;
    try {
      const banner = await conversation.readReply();
      if (banner.code !== 220) {
        const blocked = classifySessionReply(banner) === "blocked";
        if (blocked) markBlocked(line, banner);
        endCapacity();
        return settleAll(line, first, blocked ? { kind: "final", reason: "smtp_blocked" } : { kind: "unreachable", timedOut: false, detail: `banner ${banner.code} ${banner.text}` });
      }
      let hello = await conversation.command(`EHLO ${smtp.helo}`);
      if (hello.code >= 500) hello = await conversation.command(`HELO ${smtp.helo}`);
      if (hello.code !== 250) {
        endCapacity();
        return settleAll(line, first, refused(line, hello));
      }

      for (let turn = 1; job; turn++) {
        if (job.abandoned) {
          job = served < cap && line.cap > 1 ? line.queue.shift() : undefined;
          if (job) {
            served += 1;
            line.capacity -= 1;
          }
          continue;
        }
        const jobStarted = now();
        const asking: Job = job;
        asking.onAbandon = () => conversation.close();
        const outcome = await transaction(conversation, line, asking, lease.path, turn > 1).finally(() => (asking.onAbandon = undefined));
        line.jobMs = smooth(line.jobMs, (turn === 1 ? now() - started : now() - jobStarted));
        if (outcome.kind === "objection") {
          // Too many recipients for this server: one per session from now on; ask again alone.
          line.cap = 1;
          line.oneRcpt = true;
          job.requeued += 1;
          line.queue.unshift(job);
          log("info", "smtp server objects to several recipients per session; asking one per session", { ip: line.ip });
          job = undefined;
          break;
        }
        if (outcome.kind === "session_refused") {
          endCapacity();
          settleAll(line, job, outcome.result);
          job = undefined;
          break;
        }
        const next = served < cap && line.cap > 1 ? line.queue.shift() : undefined;
        if (!next) {
          // The last recipient of this session: its answer waits for QUIT, so a caller that
          // reads the server's transcript sees the whole session.
          held = { job, result: outcome.result };
          job = undefined;
          break;
        }
        job.settle(outcome.result);
        served += 1;
        line.capacity -= 1;
        job = next;
      }
      await conversation.quit();
    } catch (err) {
      if (!(err instanceof SmtpError)) log("warn", "smtp session failed unexpectedly", { ip: line.ip, error: String(err) });
      if (job) job.settle(err instanceof SmtpTimeoutError ? { kind: "final", reason: "smtp_timeout" } : { kind: "unreachable", timedOut: false, detail: (err as Error).message });
    } finally {
      endCapacity();
      conversation.close();
      lease.release();
      held?.job.settle(held.result);
    }
  }

  type TurnOutcome = { kind: "answered"; result: JobResult } | { kind: "objection" } | { kind: "session_refused"; result: JobResult };

  /** One recipient's turn: MAIL FROM, RCPT (and the made-up RCPT when due), RSET. */
  async function transaction(conversation: SmtpSession, line: MxLine, job: Job, path: SendingPath, later: boolean): Promise<TurnOutcome> {
    const { target } = job;
    const rule = target.rule;
    let mail: SmtpReply;
    try {
      mail = await conversation.command(`MAIL FROM:<${smtp.mailFrom}>`);
    } catch (err) {
      // A server that hangs up on a later recipient objects to several per session.
      if (later && !(err instanceof SmtpTimeoutError) && err instanceof SmtpError && job.requeued === 0) return { kind: "objection" };
      throw err;
    }
    if (mail.code !== 250) {
      if (later && objectsToRecipients(mail) && job.requeued === 0) return { kind: "objection" };
      return { kind: "session_refused", result: refused(line, mail) };
    }

    const recipient = job.kind === "catch_all" ? randomMailbox(target.domain) : target.normalized;
    spend(line, job, path);
    let real: SmtpReply;
    try {
      real = await conversation.command(`RCPT TO:<${recipient}>`);
    } catch (err) {
      if (later && !(err instanceof SmtpTimeoutError) && err instanceof SmtpError && job.requeued === 0) return { kind: "objection" };
      throw err;
    }
    if (later && objectsToRecipients(real) && job.requeued === 0) return { kind: "objection" };
    const realClass = classifyRcptReply(real, rule?.notFoundPatterns);
    log("debug", "smtp rcpt", { ip: line.ip, code: real.code, enhanced: real.enhanced, class: realClass, provider: rule?.id ?? null });

    if (realClass === "blocked" && refusesOurAddress(real)) {
      markBlocked(line, real);
      await conversation.command("RSET").catch(() => undefined);
      return { kind: "session_refused", result: { kind: "final", reason: "smtp_blocked" } };
    }

    if (job.kind === "catch_all") {
      const verdict = real.code < 300 ? true : real.code >= 500 ? false : null;
      settleCatchAll(target.domain, verdict);
      await conversation.command("RSET").catch(() => undefined);
      return { kind: "answered", result: { kind: "final", reason: "accept_all" } };
    }

    let verdict: boolean | null | undefined = catchAll.get(target.domain);
    const wantsCatchAll = readsMailbox(rule) && (rule?.catchAllProbe ?? true);
    if (verdict === undefined && wantsCatchAll && (realClass === "accepted" || realClass === "temporary") && !catchAllProbes.has(target.domain)) {
      if (!line.oneRcpt) {
        const probe = claimCatchAll(target.domain);
        try {
          budget.spendMx(line.ip);
          budget.spendPath(path.id);
          const made = await conversation.command(`RCPT TO:<${randomMailbox(target.domain)}>`);
          if (objectsToRecipients(made)) {
            // The made-up recipient was one too many: one per session, and ask it on its own.
            line.cap = 1;
            line.oneRcpt = true;
            settleCatchAll(target.domain, null, probe);
            queueCatchAll(line, target);
            verdict = undefined;
          } else {
            verdict = made.code < 300 ? true : made.code >= 500 ? false : null;
            settleCatchAll(target.domain, verdict, probe);
          }
        } catch (err) {
          settleCatchAll(target.domain, null, probe);
          throw err;
        }
      } else {
        queueCatchAll(line, target);
        verdict = undefined;
      }
    }
    await conversation.command("RSET").catch(() => undefined);
    return { kind: "answered", result: readAnswer(realClass, real, rule, verdict) };
  }

  /** Counts one RCPT against the path's day (the MX server's minute was counted at admission). */
  function spend(_line: MxLine, job: Job, path: SendingPath): void {
    unreserve(job);
    budget.spendPath(path.id);
  }

  /** Whether a 2xx from this provider can say the mailbox exists (so a catch-all verdict matters). */
  const readsMailbox = (rule: CompiledRule | null) => !rule || rule.accepted === "mailbox_exists";

  /** The real recipient's answer, read by the provider's rule. */
  function readAnswer(realClass: ReplyClass, reply: SmtpReply, rule: CompiledRule | null, verdict: boolean | null | undefined): JobResult {
    const acceptedOutcome = (): JobResult => {
      if (rule?.accepted === "accepts_all") return { kind: "final", reason: "accept_all" };
      if (rule?.accepted === "proves_nothing") return { kind: "final", reason: "provider_unverifiable" };
      if (rule && !rule.catchAllProbe) return { kind: "final", reason: "accepted_email" };
      return { kind: "accepted", catchAll: verdict };
    };
    switch (realClass) {
      case "accepted":
        return acceptedOutcome();
      case "temporary":
        return { kind: "temporary", reply };
      case "full":
        return readsMailbox(rule) ? { kind: "final", reason: "mailbox_full" } : acceptedOutcome();
      case "not_found":
      case "disabled":
        return rule?.rejected === "proves_nothing" ? { kind: "final", reason: "provider_unverifiable" } : { kind: "final", reason: REJECTION_REASON[realClass] };
      case "blocked":
        // An unexplained refusal from a provider whose refusals prove nothing is its usual non-answer.
        return rule?.rejected === "proves_nothing" && !refusesOurAddress(reply) ? { kind: "final", reason: "provider_unverifiable" } : { kind: "final", reason: "smtp_blocked" };
    }
  }

  /** EHLO/HELO or MAIL FROM refused: the server will not talk to this client about anyone. */
  function refused(line: MxLine, reply: SmtpReply): JobResult {
    if (classifySessionReply(reply) === "temporary") return { kind: "temporary", reply };
    markBlocked(line, reply);
    return { kind: "final", reason: "smtp_blocked" };
  }

  /** The server refused us as a client: leave it alone for a while rather than ask again and again. */
  function markBlocked(line: MxLine, reply: SmtpReply): void {
    line.blockedUntil = now() + smtp.blockedBackoffMs;
    log("warn", "smtp server refuses us; not probing it for a while", { ip: line.ip, code: reply.code, text: reply.text.slice(0, 200), backoffMs: smtp.blockedBackoffMs });
  }

  function claimCatchAll(domain: string): (verdict: boolean | null) => void {
    const probe = deferred<boolean | null>();
    catchAllProbes.set(domain, probe.promise);
    return probe.resolve;
  }

  function settleCatchAll(domain: string, verdict: boolean | null, resolve?: (v: boolean | null) => void): void {
    if (verdict !== null) catchAll.set(domain, verdict, smtp.catchAllTtlMs);
    if (resolve) {
      if (catchAllProbes.get(domain)) catchAllProbes.delete(domain);
      resolve(verdict);
    }
  }

  /** The made-up recipient in a session of its own (for servers that take one recipient per session). */
  function queueCatchAll(line: MxLine, target: ProbeTarget): void {
    if (catchAllProbes.has(target.domain)) return;
    const resolve = claimCatchAll(target.domain);
    budget.spendMx(line.ip);
    void submit(line, { kind: "catch_all", target }).then(
      (result) => {
        if (catchAllProbes.has(target.domain) && result.kind !== "final") settleCatchAll(target.domain, null, resolve);
        else if (catchAllProbes.has(target.domain)) settleCatchAll(target.domain, catchAll.get(target.domain) ?? null, resolve);
      },
      () => settleCatchAll(target.domain, null, resolve),
    );
  }

  // ---- one attempt: MX hosts in preference order ---------------------------------------------

  /**
   * When a probe turned away from a full line should come back: behind the line (down to half
   * its cap) and behind every probe turned away before it that has not come back yet, one
   * recipient's time ÷ the sessions at once apart. So a popular MX's addresses each come back
   * about once, in step with how fast it answers now, instead of all polling together.
   */
  function busyFor(line: MxLine): number {
    const at = now();
    while (line.turnsHead < line.turns.length && line.turns[line.turnsHead]! <= at) line.turnsHead += 1;
    if (line.turnsHead > 1024 && line.turnsHead * 2 > line.turns.length) {
      line.turns = line.turns.slice(line.turnsHead);
      line.turnsHead = 0;
    }
    // Before a time is measured, a quick guess: coming back early costs one more "busy", late costs idle time.
    const step = (line.jobMs ?? FIRST_GUESS_JOB_MS) / smtp.perMxConcurrency;
    const ahead = Math.max(0, line.queue.length - smtp.maxWaitingPerMx / 2) + (line.turns.length - line.turnsHead);
    const wait = Math.min(BUSY_MAX_MS, Math.max(BUSY_MIN_MS, Math.round(ahead * step)));
    line.turns.push(at + wait);
    return wait;
  }

  type Pass = JobResult | { kind: "busy"; afterMs: number } | { kind: "budget"; afterMs: number };

  /** One pass over the MX hosts in preference order, moving on when a host cannot be reached. */
  async function pass(target: ProbeTarget, hosts: string[], signal: AbortSignal | undefined, park: boolean): Promise<Pass> {
    let timedOut = false;
    let lastDetail = "";
    for (const host of hosts.slice(0, smtp.maxMxHosts)) {
      const addresses = isIP(host) ? { kind: "ok" as const, addresses: [host] } : await dns.hostAddresses(host);
      if (addresses.kind !== "ok") continue;
      for (const ip of addresses.addresses.slice(0, ADDRESSES_PER_HOST)) {
        const line = lineFor(ip);
        if (line.blockedUntil > now()) return { kind: "final", reason: "smtp_blocked" };
        const mxWait = budget.mxWaitMs(ip);
        const wait = Math.max(mxWait, pathWaitMs());
        if (wait > 0) return { kind: "budget", afterMs: wait };
        if (park && line.queue.length >= smtp.maxWaitingPerMx) return { kind: "busy", afterMs: busyFor(line) };
        if (target.rule?.maxRecipientsPerSession) {
          line.cap = Math.min(line.cap, target.rule.maxRecipientsPerSession);
          line.oneRcpt ||= line.cap === 1;
        }
        budget.spendMx(ip);
        const result = await submit(line, { kind: "address", target }, signal);
        if (result.kind !== "unreachable") return result;
        budget.refundMx(ip);
        log("debug", "smtp host unreachable", { host, ip, detail: result.detail });
        timedOut ||= result.timedOut;
        lastDetail = result.detail;
      }
    }
    if (lastDetail) log("debug", "smtp: no MX host answered", { domain: target.domain, detail: lastDetail });
    return { kind: "final", reason: timedOut ? "smtp_timeout" : "smtp_unavailable" };
  }

  /** Accepted real recipient → deliverable, catch-all, or (made-up mailbox got a 4xx) retry. */
  async function settleAccepted(domain: string, result: Extract<JobResult, { kind: "accepted" }>): Promise<JobResult> {
    const verdict = result.catchAll ?? (await (catchAllProbes.get(domain) ?? catchAll.get(domain) ?? null));
    if (verdict === null) return { kind: "temporary", reply: { code: 450, enhanced: null, text: "catch-all verdict unknown" } };
    return { kind: "final", reason: verdict ? "accept_all" : "accepted_email" };
  }

  async function attemptOnce(target: ProbeTarget, hosts: string[], signal: AbortSignal | undefined, park: boolean): Promise<ProbeAttempt> {
    let result = await pass(target, hosts, signal, park);
    if (result.kind === "busy" || result.kind === "budget") return result;
    if (result.kind === "accepted") result = await settleAccepted(target.domain, result);
    if (result.kind === "final") return result;
    if (result.kind === "temporary") {
      log("debug", "smtp temporary answer", { domain: target.domain, code: result.reply.code });
      return { kind: "temporary" };
    }
    return { kind: "final", reason: "smtp_unavailable" };
  }

  /** Null: the probe budget stayed spent past the deadline, so no probe ran. */
  async function probeWithRetries(target: ProbeTarget, hosts: string[], context: ProbeContext): Promise<SmtpReason | null> {
    for (let retry = 0; ; ) {
      const result = await attemptOnce(target, hosts, context.signal, false);
      if (result.kind === "final") return result.reason;
      if (result.kind === "budget" || result.kind === "busy") {
        if (now() + result.afterMs > context.deadline) {
          log("info", "smtp probe budget spent past the batch deadline; not probing", { domain: target.domain });
          return null;
        }
        await waitFor("budget", result.afterMs, context);
        continue;
      }
      const wait = smtp.greylistRetryDelaysMs[retry++];
      if (wait === undefined || now() + wait > context.deadline) return "greylisted";
      log("debug", "smtp greylisted, retrying", { domain: target.domain, waitMs: wait });
      await waitFor("greylisted", wait, context);
    }
  }

  async function waitFor(why: "greylisted" | "budget", ms: number, context: ProbeContext): Promise<void> {
    context.onWait?.(why, true);
    try {
      await sleep(ms, undefined, { signal: context.signal });
    } finally {
      context.onWait?.(why, false);
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

  async function preflight(target: string, signal?: AbortSignal): Promise<PreflightResult> {
    const { port } = smtp;
    let ip = isIP(target) ? target : null;
    const checks: PathCheck[] = [];
    if (!ip) {
      const route = await dns.mailRoute(target.toLowerCase());
      const host = "hosts" in route ? route.hosts[0] : undefined;
      const addresses = host ? await dns.hostAddresses(host) : null;
      if (addresses?.kind !== "ok" || !addresses.addresses[0]) {
        return { ok: false, host: null, port, reason: "dns_error", detail: `no address found for ${target}`, paths: checks };
      }
      ip = addresses.addresses[0];
    }
    let failure: Extract<PreflightResult, { ok: false }> | null = null;
    let success: Extract<PreflightResult, { ok: true }> | null = null;
    for (const path of paths.all()) {
      let conversation: SmtpSession | null = null;
      try {
        conversation = await SmtpSession.connect({ host: ip, port, connectTimeoutMs: smtp.connectTimeoutMs, replyTimeoutMs: smtp.replyTimeoutMs, via: path.proxy ?? undefined, signal });
        const banner = await conversation.readReply();
        await conversation.quit();
        if (path.proxy) paths.markUp(path);
        if (banner.code === 220) {
          checks.push({ path: path.id, ok: true, detail: `${ip}:${port} answered ${banner.code}` });
          success ??= { ok: true, host: ip, port, banner: banner.text, paths: checks };
          continue;
        }
        const reason = classifySessionReply(banner) === "blocked" ? "smtp_blocked" : "smtp_unavailable";
        checks.push({ path: path.id, ok: false, detail: `${banner.code} ${banner.text}` });
        failure ??= { ok: false, host: ip, port, reason, detail: `${banner.code} ${banner.text}`, paths: checks };
      } catch (err) {
        if (!(err instanceof SmtpError)) throw err;
        if (err instanceof ProxyError) paths.markDown(path, err.message);
        log("info", "smtp preflight failed", { ip, port, path: path.id, error: err.message });
        checks.push({ path: path.id, ok: false, detail: err.message });
        const timedOut = err instanceof SmtpTimeoutError || (err instanceof ProxyError && err.timedOut);
        failure ??= { ok: false, host: ip, port, reason: timedOut ? "smtp_timeout" : "smtp_unavailable", detail: err.message, paths: checks };
      } finally {
        conversation?.close();
      }
    }
    return success ?? failure!;
  }

  return {
    probe: (target, route, context) => shared(inflight, target.normalized, () => probeWithRetries(target, route.hosts, context)),
    // Not shared between callers: each has its own signal (a run's cancel must not end another run's probe).
    attempt: (target, route, context) => attemptOnce(target, route.hosts, context.signal, context.park ?? false),
    preflight,
    activity() {
      let queued = 0;
      let sessions = 0;
      for (const line of lines.values()) {
        queued += line.queue.length;
        sessions += line.sessions;
      }
      return { queued, sessions };
    },
  };
}

const smooth = (seen: number | undefined, took: number) => (seen === undefined ? took : seen * 0.7 + took * 0.3);

function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}
