import { isIP, connect, type Socket } from "node:net";
import { SocksClient } from "socks";

/** One SMTP reply; `text` joins the lines' texts with "\n". */
export interface SmtpReply {
  code: number;
  /** RFC 3463 enhanced status code ("5.1.1") when the first line starts with one. */
  enhanced: string | null;
  text: string;
}

export class SmtpError extends Error {
  override name = "SmtpError";
}

export class SmtpTimeoutError extends SmtpError {
  override name = "SmtpTimeoutError";
  constructor(readonly phase: "connect" | "reply") {
    super(phase === "connect" ? "SMTP connect timed out" : "SMTP reply timed out");
  }
}

export class SmtpConnectionError extends SmtpError {
  override name = "SmtpConnectionError";
  constructor(
    message: string,
    readonly code?: string,
  ) {
    super(message);
  }
}

export class SmtpProtocolError extends SmtpError {
  override name = "SmtpProtocolError";
}

/**
 * The SOCKS5 proxy itself failed (down, refused our credentials or the port, timed out): the
 * path is at fault, not the mail server, so another path may work.
 */
export class ProxyError extends SmtpError {
  override name = "ProxyError";
  constructor(
    message: string,
    readonly timedOut: boolean,
  ) {
    super(message);
  }
}

/** A SOCKS5 proxy with port 25 open, used for nothing but the probe's connections. */
export interface SocksProxy {
  host: string;
  port: number;
  username?: string;
  password?: string;
}

/** SOCKS5 replies about the destination (RFC 1928 §6: 3 network, 4 host unreachable, 5 refused, 6 TTL expired). */
const DESTINATION_FAILURE = /rejected connection - (NetworkUnreachable|HostUnreachable|ConnectionRefused|TTLExpired)/;

const MAX_LINE = 4096;
const QUIT_WAIT_MS = 2_000;
const MAX_REPLY_LINES = 200;
const LINE = /^(\d{3})(?:([ -])(.*))?$/s;
const ENHANCED = /^([245])\.(\d{1,3})\.(\d{1,3})(?=\s|$)/;

/** Turns a byte stream into replies (RFC 5321 §4.2: "NNN-text" continues, "NNN text" ends). */
export class ReplyParser {
  #buffer = "";
  #code = 0;
  #texts: string[] = [];

  /** The replies completed by `chunk`; throws SmtpProtocolError on malformed input. */
  push(chunk: string): SmtpReply[] {
    this.#buffer += chunk;
    const replies: SmtpReply[] = [];
    let newline: number;
    while ((newline = this.#buffer.indexOf("\n")) >= 0) {
      const line = this.#buffer.slice(0, newline).replace(/\r$/, "");
      this.#buffer = this.#buffer.slice(newline + 1);
      const reply = this.#line(line);
      if (reply) replies.push(reply);
    }
    if (this.#buffer.length > MAX_LINE) throw new SmtpProtocolError("SMTP reply line too long");
    return replies;
  }

  #line(line: string): SmtpReply | null {
    const match = LINE.exec(line);
    if (!match) throw new SmtpProtocolError(`malformed SMTP reply line: ${JSON.stringify(line.slice(0, 80))}`);
    const code = Number(match[1]);
    if (this.#texts.length > 0 && code !== this.#code) throw new SmtpProtocolError("SMTP reply lines disagree on the code");
    this.#code = code;
    this.#texts.push(match[3] ?? "");
    if (this.#texts.length > MAX_REPLY_LINES) throw new SmtpProtocolError("SMTP reply has too many lines");
    if (match[2] === "-") return null;

    const texts = this.#texts;
    this.#texts = [];
    const enhanced = ENHANCED.exec(texts[0]!);
    return {
      code,
      enhanced: enhanced && enhanced[1] === String(code)[0] ? `${enhanced[1]}.${enhanced[2]}.${enhanced[3]}` : null,
      text: texts.join("\n"),
    };
  }
}

export interface SmtpConnectOptions {
  /** An IP address: names are resolved by the caller, through the verifier's own DNS. */
  host: string;
  port: number;
  connectTimeoutMs: number;
  replyTimeoutMs: number;
  signal?: AbortSignal;
  /** Connect through this SOCKS5 proxy instead of directly; the destination stays an IP address we resolved. */
  via?: SocksProxy;
}

/** A minimal SMTP client session: read replies, send commands; nothing else. */
export class SmtpSession {
  readonly #socket: Socket;
  readonly #replyTimeoutMs: number;
  readonly #parser = new ReplyParser();
  readonly #ready: SmtpReply[] = [];
  #waiter: { resolve: (r: SmtpReply) => void; reject: (e: Error) => void } | null = null;
  #failure: Error | null = null;

  private constructor(socket: Socket, replyTimeoutMs: number) {
    this.#socket = socket;
    this.#replyTimeoutMs = replyTimeoutMs;
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => {
      try {
        for (const reply of this.#parser.push(chunk)) this.#deliver(reply);
      } catch (err) {
        this.#fail(err as Error);
      }
    });
    socket.on("error", (err: NodeJS.ErrnoException) => this.#fail(new SmtpConnectionError(err.message, err.code)));
    socket.on("close", () => this.#fail(new SmtpConnectionError("connection closed by the server")));
  }

  static connect(options: SmtpConnectOptions): Promise<SmtpSession> {
    if (isIP(options.host) === 0) throw new TypeError(`SmtpSession.connect needs an IP address, got ${options.host}`);
    if (options.via) return SmtpSession.#connectVia(options, options.via);
    return new Promise((resolve, reject) => {
      options.signal?.throwIfAborted();
      const socket = connect({ host: options.host, port: options.port });
      const settle = (err: Error | null) => {
        clearTimeout(timer);
        socket.off("connect", onConnect);
        socket.off("error", onError);
        options.signal?.removeEventListener("abort", onAbort);
        if (err) {
          socket.destroy();
          reject(err);
        }
      };
      const onConnect = () => {
        settle(null);
        const session = new SmtpSession(socket, options.replyTimeoutMs);
        if (options.signal) {
          const abort = () => session.#fail(options.signal!.reason as Error);
          options.signal.addEventListener("abort", abort, { once: true });
          socket.once("close", () => options.signal!.removeEventListener("abort", abort));
        }
        resolve(session);
      };
      const onError = (err: NodeJS.ErrnoException) => settle(new SmtpConnectionError(err.message, err.code));
      const onAbort = () => settle(options.signal!.reason as Error);
      const timer = setTimeout(() => settle(new SmtpTimeoutError("connect")), options.connectTimeoutMs);
      socket.once("connect", onConnect);
      socket.once("error", onError);
      options.signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  /**
   * Through a SOCKS5 proxy (the `socks` package: a maintained client with SOCKS5
   * authentication; the SMTP conversation stays ours). The proxy is given the MX's IP address,
   * never a name, so DNS stays with the verifier's resolvers.
   */
  static async #connectVia(options: SmtpConnectOptions, proxy: SocksProxy): Promise<SmtpSession> {
    options.signal?.throwIfAborted();
    const pending = SocksClient.createConnection({
      command: "connect",
      proxy: { host: proxy.host, port: proxy.port, type: 5, userId: proxy.username, password: proxy.password },
      destination: { host: options.host, port: options.port },
      timeout: options.connectTimeoutMs,
    });
    let established;
    try {
      established = await abortable(pending, options.signal);
    } catch (err) {
      if (options.signal?.aborted) {
        pending.then((late) => late.socket.destroy(), () => undefined);
        throw options.signal.reason;
      }
      const message = (err as Error).message;
      if (DESTINATION_FAILURE.test(message)) throw new SmtpConnectionError(`via proxy ${proxy.host}:${proxy.port}: ${message}`);
      throw new ProxyError(`proxy ${proxy.host}:${proxy.port}: ${message}`, /timed out/i.test(message));
    }
    const session = new SmtpSession(established.socket, options.replyTimeoutMs);
    if (options.signal) {
      const abort = () => session.#fail(options.signal!.reason as Error);
      options.signal.addEventListener("abort", abort, { once: true });
      established.socket.once("close", () => options.signal!.removeEventListener("abort", abort));
    }
    return session;
  }

  /** The next reply (the banner, right after connecting). */
  readReply(timeoutMs = this.#replyTimeoutMs): Promise<SmtpReply> {
    const queued = this.#ready.shift();
    if (queued) return Promise.resolve(queued);
    if (this.#failure) return Promise.reject(this.#failure);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.#fail(new SmtpTimeoutError("reply")), timeoutMs);
      this.#waiter = {
        resolve: (reply) => {
          clearTimeout(timer);
          resolve(reply);
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      };
    });
  }

  command(line: string, timeoutMs = this.#replyTimeoutMs): Promise<SmtpReply> {
    if (/[\r\n]/.test(line)) return Promise.reject(new SmtpProtocolError("SMTP command contains a line break"));
    if (this.#failure) return Promise.reject(this.#failure);
    this.#socket.write(`${line}\r\n`);
    return this.readReply(timeoutMs);
  }

  /** Says QUIT and waits briefly for the answer; never throws. */
  async quit(): Promise<void> {
    try {
      await this.command("QUIT", Math.min(this.#replyTimeoutMs, QUIT_WAIT_MS));
    } catch {
      // The session is over either way.
    } finally {
      this.close();
    }
  }

  close(): void {
    this.#fail(new SmtpConnectionError("session closed"));
  }

  #deliver(reply: SmtpReply): void {
    const waiter = this.#waiter;
    this.#waiter = null;
    if (waiter) waiter.resolve(reply);
    else this.#ready.push(reply);
  }

  #fail(err: Error): void {
    if (this.#failure) return;
    this.#failure = err;
    this.#socket.destroy();
    const waiter = this.#waiter;
    this.#waiter = null;
    waiter?.reject(err);
  }
}

function abortable<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return work;
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}
