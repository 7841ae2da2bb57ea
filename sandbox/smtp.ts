import { createServer, type Socket } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { SMTPServer } from "smtp-server";
import { isLoopback } from "./loopback.ts";

/** One RCPT TO as a policy sees it. */
export interface RcptContext {
  /** Recipient as sent (local part case kept). */
  recipient: string;
  mailFrom: string;
  remoteAddress: string;
  /** Aborted when the fleet closes, so slow policies stop waiting. */
  signal: AbortSignal;
  /** RCPT commands in this session so far, this one included (RSET does not reset it). */
  sessionRcpts: number;
}

/** "accept" answers 250; otherwise the reply code and its text (write the enhanced code into the text). */
export type RcptAnswer = "accept" | { code: number; text: string };
export type RcptPolicy = (rcpt: RcptContext) => RcptAnswer | Promise<RcptAnswer>;

const lower = (list: readonly string[] = []) => new Set(list.map((a) => a.toLowerCase()));

/** A mail host that knows its mailboxes: 250 for them, 550 5.1.1 for anyone else. */
export function strictMailboxes(spec: { mailboxes: readonly string[]; disabled?: readonly string[]; full?: readonly string[]; overQuota?: readonly string[] }): RcptPolicy {
  const mailboxes = lower(spec.mailboxes);
  const disabled = lower(spec.disabled);
  const full = lower(spec.full);
  const overQuota = lower(spec.overQuota);
  return ({ recipient }) => {
    const address = recipient.toLowerCase();
    if (disabled.has(address)) return { code: 550, text: "5.2.1 The email account that you tried to reach is disabled" };
    if (full.has(address)) return { code: 452, text: "4.2.2 The email account that you tried to reach is over quota" };
    if (overQuota.has(address)) return { code: 552, text: "5.2.2 Mailbox full" };
    if (mailboxes.has(address)) return "accept";
    return { code: 550, text: `5.1.1 <${recipient}>: Recipient address rejected: User unknown in virtual mailbox table` };
  };
}

/** Accepts every recipient (a catch-all domain). */
export const acceptAll = (): RcptPolicy => () => "accept";

/**
 * Greylisting as postgrey does it: 450 4.7.1 the first time a (client IP, sender, recipient)
 * triplet is seen, then whatever `next` says. `always` lists recipients greylisted forever.
 */
export function greylisting(next: RcptPolicy, options: { always?: readonly string[] } = {}): RcptPolicy {
  const seen = new Set<string>();
  const always = lower(options.always);
  return (rcpt) => {
    const triplet = `${rcpt.remoteAddress}|${rcpt.mailFrom}|${rcpt.recipient.toLowerCase()}`;
    if (always.has(rcpt.recipient.toLowerCase()) || !seen.has(triplet)) {
      seen.add(triplet);
      return { code: 450, text: "4.7.1 Recipient address rejected: Greylisted, try again later" };
    }
    return next(rcpt);
  };
}

/** Waits `delayMs` before letting `next` answer: a tarpit slower than the client's reply timeout. */
export function slowly(delayMs: number, next: RcptPolicy): RcptPolicy {
  return async (rcpt) => {
    try {
      await sleep(delayMs, undefined, { signal: rcpt.signal });
    } catch {
      return { code: 421, text: "4.3.2 Shutting down" };
    }
    return next(rcpt);
  };
}

/** Yahoo-like: 250 to every RCPT, whoever it names (unknown mailboxes are refused only after DATA). */
export const acceptAllUntilData = (): RcptPolicy => () => "accept";

/**
 * Microsoft 365 without directory-based edge blocking: "250 2.1.5 Recipient OK" for every
 * recipient, real or not. With `known`, the tenant blocks at the edge instead: 550 5.4.1
 * "Access denied" for anyone else.
 */
export function recipientOkForAll(options: { known?: readonly string[] } = {}): RcptPolicy {
  const known = options.known ? lower(options.known) : null;
  return ({ recipient }) => {
    if (!known || known.has(recipient.toLowerCase())) return { code: 250, text: "2.1.5 Recipient OK" };
    return { code: 550, text: "5.4.1 Recipient address rejected: Access denied. AS(201806281)" };
  };
}

/** Outlook-like: the second RCPT of a session (and any after it) gets 452 4.5.3, whatever it names. */
export function oneRecipientPerSession(next: RcptPolicy): RcptPolicy {
  return (rcpt) => (rcpt.sessionRcpts > 1 ? { code: 452, text: "4.5.3 Too many recipients" } : next(rcpt));
}

/** Refuses everyone because the client's IP is on a block list. */
export function blocklisting(text = "5.7.1 Service unavailable; Client host [127.0.0.1] blocked using zen.spamhaus.org"): RcptPolicy {
  return () => ({ code: 550, text });
}

export interface FakeMxSpec {
  /** A loopback address, 127.0.0.2 and up. */
  host: string;
  rcpt?: RcptPolicy;
  /** Leave the port closed on this host, so connections are refused. */
  refuse?: boolean;
  /**
   * Put the client on a block list after this many sessions from its address: later sessions
   * are refused at the greeting (554 5.7.1 ... blocked using zen.spamhaus.org).
   */
  blockAfterSessions?: number;
  /** The answer to DATA (never reached by the verifier, which never sends it). */
  dataReply?: { code: number; text: string };
}

/** What one client said in one session, line by line. */
export interface SmtpTranscript {
  remoteAddress: string;
  lines: string[];
}

export interface FakeMx {
  host: string;
  port: number;
  readonly sessions: readonly SmtpTranscript[];
  /** Most sessions open at the same time (a session ends at QUIT or when the connection closes). */
  readonly maxConcurrentSessions: number;
  /** Sessions open now. */
  readonly openSessions: number;
  /** Every RCPT TO recipient, in order. */
  recipients(): string[];
}

export interface FakeMxFleet {
  /** The one port every host listens on (the verifier's `smtp.port`). */
  port: number;
  get(host: string): FakeMx;
  /** Every client line any host received. */
  allLines(): string[];
  close(): Promise<void>;
}

/**
 * SMTP servers (smtp-server) on several loopback addresses sharing one free high port, as
 * the MX hosts of a sandbox or test zone. Each records what clients sent.
 */
export async function startSmtpServers(specs: readonly FakeMxSpec[], options: { attempts?: number } = {}): Promise<FakeMxFleet> {
  const outside = specs.find((spec) => !isLoopback(spec.host));
  if (outside) throw new Error(`sandbox SMTP servers only listen on loopback, not ${outside.host}`);
  const attempts = options.attempts ?? 5;
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnSharedPort(specs);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EADDRINUSE" || attempt >= attempts) throw err;
    }
  }
}

class RecordingMx implements FakeMx {
  readonly sessions: SmtpTranscript[] = [];
  maxConcurrentSessions = 0;
  #open = 0;
  get openSessions(): number {
    return this.#open;
  }
  readonly server: SMTPServer | null;
  port = 0;

  readonly host: string;
  readonly #spec: FakeMxSpec;
  readonly #rcptsBySession = new Map<string, number>();
  readonly #sessionsByClient = new Map<string, number>();

  constructor(spec: FakeMxSpec, signal: AbortSignal) {
    this.host = spec.host;
    this.#spec = spec;
    this.server = spec.refuse ? null : this.#create(spec.rcpt ?? acceptAll(), signal);
  }

  recipients(): string[] {
    return this.sessions.flatMap((s) => s.lines.filter((l) => /^RCPT TO:/i.test(l)).map((l) => l.replace(/^RCPT TO:\s*<(.*)>.*$/i, "$1")));
  }

  #create(policy: RcptPolicy, signal: AbortSignal): SMTPServer {
    const server = new SMTPServer({
      name: `mx.${this.host}`,
      authOptional: true,
      disabledCommands: ["AUTH", "STARTTLS"],
      hideENHANCEDSTATUSCODES: true,
      disableReverseLookup: true,
      logger: false,
      closeTimeout: 100,
      onConnect: (session, callback) => {
        const seen = (this.#sessionsByClient.get(session.remoteAddress) ?? 0) + 1;
        this.#sessionsByClient.set(session.remoteAddress, seen);
        const limit = this.#spec.blockAfterSessions;
        if (limit !== undefined && seen > limit) {
          return callback(Object.assign(new Error(`5.7.1 Service unavailable; Client host [${session.remoteAddress}] blocked using zen.spamhaus.org`), { responseCode: 554 }));
        }
        callback();
      },
      onRcptTo: (address, session, callback) => {
        const mailFrom = session.envelope.mailFrom ? session.envelope.mailFrom.address : "";
        const sessionRcpts = (this.#rcptsBySession.get(session.id) ?? 0) + 1;
        this.#rcptsBySession.set(session.id, sessionRcpts);
        Promise.resolve(policy({ recipient: address.address, mailFrom, remoteAddress: session.remoteAddress, signal, sessionRcpts })).then(
          (answer) => {
            if (answer === "accept") return callback();
            callback(Object.assign(new Error(answer.text), { responseCode: answer.code }));
          },
          (err: Error) => callback(err),
        );
      },
      onData: (stream, _session, callback) => {
        stream.resume();
        const reply = this.#spec.dataReply ?? { code: 554, text: "5.7.0 This test server refuses DATA" };
        stream.on("end", () => callback(Object.assign(new Error(reply.text), { responseCode: reply.code })));
      },
    });
    server.server.on("connection", (socket: Socket) => this.#record(socket));
    return server;
  }

  #record(socket: Socket): void {
    const transcript: SmtpTranscript = { remoteAddress: socket.remoteAddress ?? "", lines: [] };
    this.sessions.push(transcript);
    this.#open += 1;
    this.maxConcurrentSessions = Math.max(this.maxConcurrentSessions, this.#open);
    let ended = false;
    const end = () => {
      if (!ended) this.#open -= 1;
      ended = true;
    };
    let partial = "";
    socket.on("data", (chunk: Buffer) => {
      partial += chunk.toString("utf8");
      const lines = partial.split("\r\n");
      partial = lines.pop() ?? "";
      transcript.lines.push(...lines);
      if (lines.some((l) => /^QUIT\b/i.test(l))) end();
    });
    socket.once("close", end);
  }

  listen(port: number): Promise<number> {
    const server = this.server;
    if (!server) return Promise.resolve(port);
    return new Promise((resolve, reject) => {
      server.server.once("error", reject);
      server.listen(port, this.host, () => {
        server.server.off("error", reject);
        const address = server.server.address();
        resolve(typeof address === "object" && address ? address.port : port);
      });
    });
  }

  close(): Promise<void> {
    const server = this.server;
    if (!server || !server.server.listening) return Promise.resolve();
    return new Promise((resolve) => server.close(() => resolve()));
  }
}

async function startOnSharedPort(specs: readonly FakeMxSpec[]): Promise<FakeMxFleet> {
  const closing = new AbortController();
  const hosts = specs.map((spec) => new RecordingMx(spec, closing.signal));
  const close = async () => {
    closing.abort();
    await Promise.all(hosts.map((h) => h.close()));
  };
  try {
    const listening = hosts.filter((h) => h.server);
    const first = listening[0];
    const port = first ? await first.listen(0) : await freePortHint();
    for (const host of listening.slice(1)) await host.listen(port);
    for (const host of hosts) host.port = port;
    const byHost = new Map(hosts.map((h) => [h.host, h]));
    return {
      port,
      get(host) {
        const mx = byHost.get(host);
        if (!mx) throw new Error(`no fake MX on ${host}`);
        return mx;
      },
      allLines: () => hosts.flatMap((h) => h.sessions.flatMap((s) => s.lines)),
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

async function freePortHint(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const address = probe.address();
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return typeof address === "object" && address ? address.port : 0;
}
