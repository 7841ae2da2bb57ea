import { connect } from "node:net";
import type { VerifierLog } from "./options.ts";
import type { SocksProxy } from "./smtp-session.ts";

/**
 * The ways out to port 25: this host directly, or a set of SOCKS5 proxies (port 25 is blocked
 * on most clouds; a proxy elsewhere has it open). With proxies configured every probe goes
 * through one of them and nothing else does (DNS stays with the verifier's resolvers, the
 * proxy is handed an IP address). Each proxy carries at most `perProxyConcurrency` sessions;
 * one that fails is left alone for `recheckMs`, then given a health check (a SOCKS5
 * handshake) before it carries probes again, and its sessions fail over to the others.
 */
export interface SendingPath {
  /** "direct", or "socks5://host:port" (never the credentials). */
  id: string;
  proxy: SocksProxy | null;
}

export interface PathLease {
  path: SendingPath;
  release(): void;
}

export interface PathOptions {
  proxies: readonly SocksProxy[];
  perProxyConcurrency: number;
  recheckMs: number;
  connectTimeoutMs: number;
  now: () => number;
  log: VerifierLog;
}

interface ProxyState {
  path: SendingPath;
  active: number;
  downUntil: number;
  lastError: string | null;
  checking: Promise<boolean> | null;
}

export const DIRECT: SendingPath = { id: "direct", proxy: null };

export const proxyId = (proxy: SocksProxy) => `socks5://${proxy.host.includes(":") ? `[${proxy.host}]` : proxy.host}:${proxy.port}`;

export class SendingPaths {
  readonly #options: PathOptions;
  readonly #proxies: ProxyState[];
  readonly #waiting: (() => void)[] = [];
  #next = 0;

  constructor(options: PathOptions) {
    this.#options = options;
    this.#proxies = options.proxies.map((proxy) => ({ path: { id: proxyId(proxy), proxy }, active: 0, downUntil: 0, lastError: null, checking: null }));
  }

  get usesProxies(): boolean {
    return this.#proxies.length > 0;
  }

  all(): SendingPath[] {
    return this.#proxies.length === 0 ? [DIRECT] : this.#proxies.map((p) => p.path);
  }

  /** Paths that may carry probes now (proxies not marked down), and those whose recheck is due. */
  usable(): SendingPath[] {
    if (this.#proxies.length === 0) return [DIRECT];
    const now = this.#options.now();
    return this.#proxies.filter((p) => p.downUntil <= now).map((p) => p.path);
  }

  /**
   * A path for one session, skipping `exclude` (paths that just failed it) and paths `full`
   * says are out of budget; waits for a free proxy slot. Null when no path is left.
   */
  async acquire(exclude: ReadonlySet<string>, full: (path: SendingPath) => boolean): Promise<PathLease | null> {
    if (this.#proxies.length === 0) return exclude.has(DIRECT.id) || full(DIRECT) ? null : { path: DIRECT, release: () => {} };
    for (;;) {
      const now = this.#options.now();
      const candidates = this.#proxies.filter((p) => !exclude.has(p.path.id) && !full(p.path));
      if (candidates.length === 0) return null;
      const alive = candidates.filter((p) => p.downUntil === 0);
      const due = candidates.filter((p) => p.downUntil !== 0 && p.downUntil <= now);
      // A proxy whose rest is over earns its way back with a health check.
      for (const state of due) {
        if (await this.#recheck(state)) alive.push(state);
      }
      if (alive.length === 0 && candidates.every((p) => p.downUntil > now)) return null;
      const free = alive.filter((p) => p.active < this.#options.perProxyConcurrency);
      if (free.length > 0) {
        // Least busy first; ties go round the list so load spreads.
        const start = this.#next++ % this.#proxies.length;
        const order = (p: ProxyState) => (this.#proxies.indexOf(p) - start + this.#proxies.length) % this.#proxies.length;
        const state = free.sort((a, b) => a.active - b.active || order(a) - order(b))[0]!;
        state.active += 1;
        let released = false;
        return {
          path: state.path,
          release: () => {
            if (released) return;
            released = true;
            state.active -= 1;
            this.#waiting.shift()?.();
          },
        };
      }
      if (alive.length === 0) return null;
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    }
  }

  /** The proxy itself failed (down, refused, timed out): rest it and let sessions use others. */
  markDown(path: SendingPath, detail: string): void {
    const state = this.#proxies.find((p) => p.path.id === path.id);
    if (!state) return;
    state.downUntil = this.#options.now() + this.#options.recheckMs;
    state.lastError = detail;
    this.#options.log("warn", "smtp proxy down", { proxy: path.id, detail, recheckInMs: this.#options.recheckMs });
    // Sessions waiting for a slot may now have no proxy at all: let them look again.
    for (const wake of this.#waiting.splice(0)) wake();
  }

  markUp(path: SendingPath): void {
    const state = this.#proxies.find((p) => p.path.id === path.id);
    if (state) {
      state.downUntil = 0;
      state.lastError = null;
    }
  }

  #recheck(state: ProxyState): Promise<boolean> {
    state.checking ??= checkProxy(state.path.proxy!, this.#options.connectTimeoutMs)
      .then((result) => {
        if (result.ok) this.markUp(state.path);
        else this.markDown(state.path, result.detail);
        return result.ok;
      })
      .finally(() => (state.checking = null));
    return state.checking;
  }
}

/**
 * A SOCKS5 health check: connect, offer our authentication method and, with credentials,
 * log in (RFC 1928 §3, RFC 1929). It asks for no connection, so it says whether the proxy
 * works, not whether a mail server does. Hand-written because the `socks` client only
 * handshakes as part of a CONNECT.
 */
export function checkProxy(proxy: SocksProxy, timeoutMs: number): Promise<{ ok: true } | { ok: false; detail: string }> {
  return new Promise((resolve) => {
    const socket = connect({ host: proxy.host, port: proxy.port });
    const withAuth = proxy.username !== undefined;
    let buffer = Buffer.alloc(0);
    let stage: "method" | "auth" = "method";
    const done = (result: { ok: true } | { ok: false; detail: string }) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => done({ ok: false, detail: "SOCKS5 handshake timed out" }), timeoutMs);
    socket.once("error", (err) => done({ ok: false, detail: err.message }));
    socket.once("close", () => done({ ok: false, detail: "proxy closed the connection" }));
    socket.once("connect", () => socket.write(Buffer.from([5, 1, withAuth ? 2 : 0])));
    socket.on("data", (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      if (buffer.length < 2) return;
      if (stage === "method") {
        if (buffer[0] !== 5 || buffer[1] === 0xff) return done({ ok: false, detail: "proxy refused our SOCKS5 authentication method" });
        if (!withAuth) return done({ ok: true });
        stage = "auth";
        buffer = buffer.subarray(2);
        const user = Buffer.from(proxy.username ?? "");
        const pass = Buffer.from(proxy.password ?? "");
        socket.write(Buffer.concat([Buffer.from([1, user.length]), user, Buffer.from([pass.length]), pass]));
        return;
      }
      done(buffer[1] === 0 ? { ok: true } : { ok: false, detail: "proxy refused our SOCKS5 credentials" });
    });
  });
}
