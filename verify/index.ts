import { decide, type SmtpReason } from "./classify.ts";
import { createDnsLookup, type MailRoute } from "./dns.ts";
import { createListChecks } from "./lists.ts";
import { providerTable } from "./providers.ts";
import { resolveOptions, type VerifierOptions } from "./options.ts";
import { createSmtpProber, type PreflightResult } from "./smtp.ts";
import { checkSyntax, type SyntaxCheck } from "./syntax.ts";
import type { VerificationResult } from "./taxonomy.ts";

export {
  applyAcSignals,
  isVerificationReason,
  REASON_PRECEDENCE,
  STATUS_BY_REASON,
  VERIFICATION_FLAGS,
  VERIFICATION_REASONS,
  VERIFICATION_STATUSES,
  type AcSignals,
  type VerificationFlag,
  type VerificationReason,
  type VerificationResult,
  type VerificationStatus,
} from "./taxonomy.ts";
export {
  DEFAULT_SMTP_OPTIONS,
  DEFAULT_VERIFIER_OPTIONS,
  VerifierConfigError,
  type SmtpProbeOptions,
  type VerifierLog,
  type VerifierLogLevel,
  type VerifierOptions,
} from "./options.ts";
export type { PathCheck, PreflightResult } from "./smtp.ts";
export { PROVIDER_RULES, parseProviderRules, type AcceptedMeans, type ProviderRule, type RejectedMeans } from "./providers.ts";
export type { SocksProxy } from "./smtp-session.ts";
export { checkSyntax, type SyntaxCheck } from "./syntax.ts";

export interface BatchOptions {
  signal?: AbortSignal;
  /** Called as each address finishes (in completion order), with its index in the input. */
  onResult?: (result: VerificationResult, index: number) => void;
}

export interface StreamOptions {
  signal?: AbortSignal;
  /** Addresses in flight at once; results still come out in input order. */
  window?: number;
}

/** One attempt at an address: its result, or when to ask again (a mail server said "later"). */
export type VerifyAttempt =
  | { kind: "done"; result: VerificationResult }
  /** `greylisted`: a 4xx answer, retried after the configured delays; `busy`: a long line at its MX. */
  /** `budget`: the probe budget for its MX server or for every sending path is spent until then (not a greylisting retry). */
  | { kind: "retry"; afterMs: number; why: "greylisted" | "busy" | "budget" };

/** What the verifier is doing now, for progress reports. */
export interface VerifierActivity {
  /** Addresses being verified (started and not finished). */
  inFlight: number;
  /** Of those, waiting out a greylisting delay, or for the probe budget. */
  waitingGreylisted: number;
  waitingBudget: number;
  /** SMTP sessions open. */
  sessions: number;
}

export interface Verifier {
  verify(address: string, options?: { signal?: AbortSignal }): Promise<VerificationResult>;
  /**
   * One attempt that never waits on a mail server: when the answer must wait (greylisting, a
   * busy MX) it says when to come back, and the caller decides (a run parks the address and
   * goes on with the others). `greylistRetries` is how many greylisting retries this address
   * has already had; after the last configured one, a 4xx gives the result `greylisted`.
   */
  attempt(address: string, options?: { signal?: AbortSignal; greylistRetries?: number }): Promise<VerifyAttempt>;
  /**
   * The result `attempt` would give, at once, when it needs nothing from the network: a
   * malformed address, or a domain whose mail route is cached and needs no probe. Null when it
   * would take a DNS lookup or an SMTP probe, and when the cached answer is a DNS error. A run verifies such addresses as their page is
   * stored, instead of storing them, reading them back and storing them again.
   */
  peek(address: string): VerificationResult | null;
  /** Verifies many addresses sharing DNS and catch-all caches and one greylisting budget; results in input order. */
  verifyBatch(addresses: readonly string[], options?: BatchOptions): Promise<VerificationResult[]>;
  /** Like verifyBatch for a source read as it goes (a file, a paged API), with bounded memory. */
  verifyStream(addresses: Iterable<string> | AsyncIterable<string>, options?: StreamOptions): AsyncGenerator<VerificationResult>;
  /**
   * Whether outbound SMTP works from here: connects to `target` (IP, host or mail domain) on the
   * configured port and reads the banner. Run it before a probing run so that a blocked port 25
   * is reported as such instead of as thousands of `smtp_unavailable` addresses.
   */
  preflight(target: string, signal?: AbortSignal): Promise<PreflightResult>;
  /**
   * Whether the resolver sees the world: asks afresh for each of `domains` (well-known ones
   * that exist), healthy when more than half of them resolve. A resolver that answers "does
   * not exist" for everything, or nothing at all, would otherwise make every address
   * `domain_not_found` or `dns_error`.
   */
  checkResolver(domains: readonly string[], signal?: AbortSignal): Promise<ResolverHealth>;
  activity(): VerifierActivity;
}

export interface ResolverHealth {
  ok: boolean;
  domains: { domain: string; ok: boolean; detail: string }[];
}

const DEFAULT_STREAM_WINDOW = 1_000;

export function createVerifier(options: VerifierOptions = {}): Verifier {
  const config = resolveOptions(options);
  const providers = providerTable(config.providerRules);
  const lists = createListChecks();
  const dns = createDnsLookup(config);
  const prober = createSmtpProber(config, dns);
  const probing = config.smtp.enabled;

  /** Syntax, list traits and DNS; and, when a probe is worth it, the mail route to probe. */
  async function inspect(input: string, signal?: AbortSignal) {
    signal?.throwIfAborted();
    const syntax = checkSyntax(input);
    if (!syntax.ok) return { kind: "decided", result: decide({ input, syntax }) } as const;
    const route = await dns.mailRoute(syntax.domain);
    signal?.throwIfAborted();
    return inspected(input, syntax, route);
  }

  /** What syntax, the lists and the mail route say of a well-formed address. */
  function inspected(input: string, syntax: Extract<SyntaxCheck, { ok: true }>, route: MailRoute) {
    const { local, domain } = syntax;
    const traits = { free: lists.isFree(domain), role: lists.isRole(local), disposable: lists.isDisposable(domain) };
    const rule = route.kind === "mx" ? providers.match(domain, route.hosts) : null;
    const evidence = { input, syntax, route, traits, typo: lists.suggestDomain(domain), provider: rule?.id ?? null };
    // Disposable domains are risky whatever their MX says; they are not worth a probe.
    const probeRoute = probing && "hosts" in route && !traits.disposable ? route : null;
    return { kind: "inspected", evidence, target: { ...syntax, rule }, probeRoute } as const;
  }

  /** The result `attempt` would give, when it needs nothing from the network and no DNS error; else null. */
  function peek(input: string): VerificationResult | null {
    const syntax = checkSyntax(input);
    if (!syntax.ok) return decide({ input, syntax });
    const route = dns.cachedMailRoute(syntax.domain);
    // A cached error (SERVFAIL, a timeout) says nothing of the address: the verify stage asks
    // again once it expires, instead of a page's worth of addresses becoming unknown at once.
    if (route === undefined || route.kind === "error") return null;
    const seen = inspected(input, syntax, route);
    return seen.probeRoute ? null : decide(seen.evidence);
  }

  const counts = { inFlight: 0, waitingGreylisted: 0, waitingBudget: 0 };
  const onWait = (why: "greylisted" | "budget", waiting: boolean) => {
    const key = why === "budget" ? "waitingBudget" : "waitingGreylisted";
    counts[key] += waiting ? 1 : -1;
  };

  async function verifyOne(input: string, deadline: number, signal?: AbortSignal): Promise<VerificationResult> {
    counts.inFlight += 1;
    try {
      const seen = await inspect(input, signal);
      if (seen.kind === "decided") return seen.result;
      // null: the budget stayed spent past the deadline; the result is what DNS says.
      const smtp = seen.probeRoute ? ((await prober.probe(seen.target, seen.probeRoute, { deadline, signal, onWait })) ?? undefined) : undefined;
      return decide({ ...seen.evidence, smtp });
    } finally {
      counts.inFlight -= 1;
    }
  }

  async function attemptOne(input: string, greylistRetries: number, signal?: AbortSignal): Promise<VerifyAttempt> {
    const seen = await inspect(input, signal);
    if (seen.kind === "decided") return { kind: "done", result: seen.result };
    let smtp: SmtpReason | undefined;
    if (seen.probeRoute) {
      const probe = await prober.attempt(seen.target, seen.probeRoute, { signal, park: true });
      if (probe.kind === "busy" || probe.kind === "budget") return { kind: "retry", afterMs: probe.afterMs, why: probe.kind };
      if (probe.kind === "temporary") {
        const wait = config.smtp.greylistRetryDelaysMs[greylistRetries];
        if (wait !== undefined) return { kind: "retry", afterMs: wait, why: "greylisted" };
        smtp = "greylisted";
      } else {
        smtp = probe.reason;
      }
    }
    return { kind: "done", result: decide({ ...seen.evidence, smtp }) };
  }

  const deadlineFromNow = () => config.now() + config.smtp.batchTimeBudgetMs;

  return {
    verify: (address, opts) => verifyOne(address, deadlineFromNow(), opts?.signal),
    attempt: (address, opts) => attemptOne(address, opts?.greylistRetries ?? 0, opts?.signal),
    peek,

    async verifyBatch(addresses, opts = {}) {
      const deadline = deadlineFromNow();
      const work = Promise.all(
        addresses.map(async (address, index) => {
          const result = await verifyOne(address, deadline, opts.signal);
          opts.onResult?.(result, index);
          return result;
        }),
      );
      return opts.signal ? abortable(work, opts.signal) : work;
    },

    async *verifyStream(addresses, opts = {}) {
      const deadline = deadlineFromNow();
      const window = opts.window ?? DEFAULT_STREAM_WINDOW;
      const pending: Promise<VerificationResult>[] = [];
      const start = (address: string) => {
        const promise = verifyOne(address, deadline, opts.signal);
        promise.catch(() => undefined);
        pending.push(promise);
      };
      for await (const address of addresses) {
        start(address);
        if (pending.length >= window) yield await pending.shift()!;
      }
      while (pending.length > 0) yield await pending.shift()!;
    },

    preflight: (target, signal) => prober.preflight(target, signal),
    async checkResolver(domains, signal) {
      const answers = await Promise.all(
        domains.map(async (domain) => {
          signal?.throwIfAborted();
          const answer = await dns.resolves(domain);
          return { domain, ok: answer.ok, detail: answer.ok ? "resolves" : answer.detail };
        }),
      );
      signal?.throwIfAborted();
      return { ok: answers.filter((a) => a.ok).length * 2 > answers.length, domains: answers };
    },
    activity: () => ({ ...counts, sessions: prober.activity().sessions }),
  };
}

function abortable<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    if (signal.aborted) onAbort();
    work.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}
