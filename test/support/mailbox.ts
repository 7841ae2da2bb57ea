import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { SMTPServer } from "smtp-server";

/** One e-mail as the relay received it: envelope, headers and body as sent on the wire. */
export interface ReceivedMail {
  from: string;
  to: string[];
  /** The whole message (headers and body), as sent in DATA. */
  raw: string;
  subject: string;
  /** The text body, soft line breaks of quoted-printable undone. */
  text: string;
  /** The AUTH user the client signed in with, if any. */
  user: string | null;
}

export interface Mailbox {
  url: string;
  mails: ReceivedMail[];
  /** Resolves when `count` mails have arrived. */
  waitFor(count: number): Promise<ReceivedMail[]>;
  close(): Promise<void>;
}

function decodeBody(raw: string): { subject: string; text: string } {
  const [head = "", ...rest] = raw.split(/\r?\n\r?\n/);
  const headers = head.replace(/\r?\n[ \t]+/g, " ");
  const subject = /^subject: (.*)$/im.exec(headers)?.[1] ?? "";
  let text = rest.join("\n\n");
  if (/content-transfer-encoding: quoted-printable/i.test(headers)) {
    text = text.replace(/=\r?\n/g, "").replace(/=([0-9A-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
    text = Buffer.from(text, "latin1").toString("utf8");
  } else if (/content-transfer-encoding: base64/i.test(headers)) {
    text = Buffer.from(text.replace(/\s+/g, ""), "base64").toString("utf8");
  }
  const decodedSubject = subject.replace(/=\?utf-8\?([QB])\?([^?]*)\?=/gi, (_, enc: string, data: string) =>
    enc.toUpperCase() === "B" ? Buffer.from(data, "base64").toString("utf8") : Buffer.from(data.replace(/_/g, " ").replace(/=([0-9A-F]{2})/gi, (_m, h: string) => String.fromCharCode(parseInt(h, 16))), "latin1").toString("utf8"),
  );
  return { subject: decodedSubject.replace(/\?=\s+=\?/g, ""), text };
}

/**
 * An SMTP relay on loopback that keeps what it is sent (no TLS, as a relay on the same host
 * would be): the tests' stand-in for the operator's MAIL_URL. With `credentials`, it requires
 * AUTH with them, so a test sees the relay's password used and never repeated in a message.
 */
export async function startMailbox(opts: { host?: string; credentials?: { user: string; pass: string } } = {}): Promise<Mailbox> {
  const host = opts.host ?? "127.0.0.1";
  const mails: ReceivedMail[] = [];
  const waiters: { count: number; resolve: (m: ReceivedMail[]) => void }[] = [];
  const server = new SMTPServer({
    disabledCommands: ["STARTTLS"],
    authOptional: !opts.credentials,
    allowInsecureAuth: true,
    logger: false,
    onAuth(auth, _session, cb) {
      if (opts.credentials && auth.username === opts.credentials.user && auth.password === opts.credentials.pass) cb(null, { user: auth.username });
      else cb(new Error("535 5.7.8 Authentication failed"));
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on("data", (c: Buffer) => chunks.push(c));
      stream.on("end", () => {
        const raw = Buffer.concat(chunks).toString("utf8");
        mails.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : "",
          to: session.envelope.rcptTo.map((r) => r.address),
          raw,
          ...decodeBody(raw),
          user: typeof session.user === "string" ? session.user : null,
        });
        for (const w of [...waiters]) {
          if (mails.length >= w.count) {
            waiters.splice(waiters.indexOf(w), 1);
            w.resolve([...mails]);
          }
        }
        cb();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.server.address() as AddressInfo;
  const auth = opts.credentials ? `${encodeURIComponent(opts.credentials.user)}:${encodeURIComponent(opts.credentials.pass)}@` : "";
  return {
    url: `smtp://${auth}${host}:${port}`,
    mails,
    waitFor(count) {
      if (mails.length >= count) return Promise.resolve([...mails]);
      return new Promise((resolve) => waiters.push({ count, resolve }));
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

export interface WebhookHit {
  path: string;
  headers: IncomingMessage["headers"];
  body: string;
  json: unknown;
}

export interface WebhookReceiver {
  url: string;
  hits: WebhookHit[];
  /** The status the receiver answers with (a test makes it fail). */
  status: number;
  waitFor(count: number): Promise<WebhookHit[]>;
  close(): Promise<void>;
}

/** An HTTP server on 127.0.0.1 that records every request: the tests' webhook (a Slack stand-in). */
export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const hits: WebhookHit[] = [];
  const waiters: { count: number; resolve: (h: WebhookHit[]) => void }[] = [];
  const receiver: WebhookReceiver = {
    url: "",
    hits,
    status: 200,
    waitFor(count) {
      if (hits.length >= count) return Promise.resolve([...hits]);
      return new Promise((resolve) => waiters.push({ count, resolve }));
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      let json: unknown = null;
      try {
        json = JSON.parse(body);
      } catch {
        json = null;
      }
      res.writeHead(receiver.status, { "content-type": "text/plain" }).end(receiver.status === 200 ? "ok" : "no");
      if (receiver.status !== 200) return;
      hits.push({ path: req.url ?? "", headers: req.headers, body, json });
      for (const w of [...waiters]) {
        if (hits.length >= w.count) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve([...hits]);
        }
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/services/T000/B000/hook`;
  return receiver;
}
