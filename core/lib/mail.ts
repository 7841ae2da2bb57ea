import nodemailer from "nodemailer";
import type { Logger } from "../logger.ts";

export interface Mail {
  to: string;
  subject: string;
  text: string;
}

/**
 * Outgoing e-mail through the operator's SMTP relay (MAIL_URL), with nodemailer. Mails sent
 * in the background (`sendLater`) are tracked, so a test or a shutdown can wait for them.
 */
export interface Mailer {
  readonly configured: boolean;
  /** Sends now; throws when the relay refuses or cannot be reached. */
  send(mail: Mail): Promise<void>;
  /** Sends in the background (a failure is logged): for answers that must not wait or tell. */
  sendLater(mail: Mail, what: string): void;
  /** Resolves when every background mail has been sent or has failed. */
  idle(): Promise<void>;
  close(): void;
}

export interface MailerOptions {
  url: string | undefined;
  from: string;
  logger: Logger;
  /** Per SMTP step; a relay that hangs does not hold a notification forever. */
  timeoutMs?: number;
}

export function createMailer(opts: MailerOptions): Mailer {
  const timeout = opts.timeoutMs ?? 20_000;
  const transport = opts.url ? nodemailer.createTransport({ ...smtpOptions(opts.url), connectionTimeout: timeout, greetingTimeout: timeout, socketTimeout: timeout, logger: false }) : null;
  const pending = new Set<Promise<void>>();
  const host = opts.url ? new URL(opts.url).host : null;

  async function send(mail: Mail): Promise<void> {
    if (!transport) throw new Error("e-mail is not set up on this server (MAIL_URL)");
    await transport.sendMail({ from: opts.from, to: mail.to, subject: mail.subject, text: mail.text });
  }

  return {
    configured: transport !== null,
    send,
    sendLater(mail, what) {
      if (!transport) {
        opts.logger.warn({ what }, "an e-mail was not sent: MAIL_URL is not set");
        return;
      }
      const p: Promise<void> = send(mail)
        .then(() => opts.logger.info({ what, relay: host }, "e-mail sent"))
        .catch((err: unknown) => opts.logger.error({ what, relay: host, reason: (err as Error).message }, "e-mail not sent"))
        .finally(() => pending.delete(p));
      pending.add(p);
    },
    async idle() {
      while (pending.size > 0) await Promise.all([...pending]);
    },
    close() {
      transport?.close();
    },
  };
}

/** smtp://user:password@host:587 (STARTTLS when the relay offers it) or smtps://…:465 (TLS from the start). */
function smtpOptions(text: string) {
  const url = new URL(text);
  const secure = url.protocol === "smtps:";
  return {
    host: url.hostname.replace(/^\[(.*)\]$/, "$1"),
    port: url.port ? Number(url.port) : secure ? 465 : 587,
    secure,
    ...(url.username ? { auth: { user: decodeURIComponent(url.username), pass: decodeURIComponent(url.password) } } : {}),
  };
}
