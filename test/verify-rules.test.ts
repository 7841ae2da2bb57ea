import { describe, expect, it } from "vitest";
import { TtlCache } from "../verify/cache.ts";
import { classifyRcptReply, classifySessionReply } from "../verify/classify.ts";
import { createVerifier, REASON_PRECEDENCE, STATUS_BY_REASON, VERIFICATION_REASONS, VerifierConfigError } from "../verify/index.ts";
import { createListChecks, editDistance } from "../verify/lists.ts";
import { ReplyParser, SmtpProtocolError, type SmtpReply } from "../verify/smtp-session.ts";

describe("taxonomy", () => {
  it("has exactly the reason codes of docs/verification.md, each with its status", () => {
    expect(STATUS_BY_REASON).toEqual({
      accepted_email: "deliverable",
      mail_domain_ok: "deliverable",
      invalid_syntax: "undeliverable",
      domain_not_found: "undeliverable",
      no_mail_server: "undeliverable",
      null_mx: "undeliverable",
      mailbox_not_found: "undeliverable",
      mailbox_disabled: "undeliverable",
      hard_bounced: "undeliverable",
      accept_all: "risky",
      disposable: "risky",
      role_account: "risky",
      mailbox_full: "risky",
      possible_typo: "risky",
      dns_error: "unknown",
      smtp_timeout: "unknown",
      smtp_unavailable: "unknown",
      smtp_blocked: "unknown",
      greylisted: "unknown",
      provider_unverifiable: "unknown",
    });
  });

  it("ranks every reason once", () => {
    expect([...REASON_PRECEDENCE].sort()).toEqual([...VERIFICATION_REASONS].sort());
  });
});

const reply = (code: number, text: string, enhanced: string | null = /^\d\.\d+\.\d+/.exec(text)?.[0] ?? null): SmtpReply => ({ code, enhanced, text });

describe("reading RCPT replies", () => {
  it.each([
    [reply(250, "2.1.5 Ok"), "accepted"],
    [reply(251, "User not local; will forward"), "accepted"],
    [reply(550, "5.1.1 <x@y.test>: Recipient address rejected: User unknown in virtual mailbox table"), "not_found"],
    [reply(556, "5.1.10 Recipient address has null MX"), "not_found"],
    [reply(550, "No such user here"), "not_found"],
    [reply(550, "5.2.1 The email account that you tried to reach is disabled"), "disabled"],
    [reply(552, "5.2.2 Mailbox full"), "full"],
    [reply(452, "4.2.2 Over quota"), "full"],
    [reply(452, "Insufficient system storage"), "full"],
    [reply(550, "5.7.1 Service unavailable; client [192.0.2.1] blocked using zen.spamhaus.org"), "blocked"],
    [reply(554, "5.7.1 Recipient address rejected: Access denied"), "blocked"],
    [reply(550, "Rejected by RBL"), "blocked"],
    [reply(550, "5.1.1 Blocked by policy; user unknown"), "blocked"],
    [reply(550, "Requested action not taken: mailbox unavailable"), "blocked"],
    [reply(553, "5.3.0 Sorry"), "blocked"],
    [reply(450, "4.7.1 Recipient address rejected: Greylisted, try again later"), "temporary"],
    [reply(451, "4.7.1 Please try again later (greylisting policy)"), "temporary"],
    [reply(421, "4.7.0 Temporary rate limit, blocked"), "blocked"],
    [reply(450, "4.2.1 The user you are trying to contact is receiving mail at a rate that prevents additional messages"), "accepted"],
    [reply(451, "4.3.0 Local error"), "temporary"],
  ])("%o is %s", (r, expected) => {
    expect(classifyRcptReply(r)).toBe(expected);
  });

  it("tells a refused session apart from a blocked one", () => {
    expect(classifySessionReply(reply(554, "5.7.1 Client host rejected: listed at zen.spamhaus.org"))).toBe("blocked");
    expect(classifySessionReply(reply(554, "No SMTP service here"))).toBe("refused");
    expect(classifySessionReply(reply(451, "4.7.1 Greylisted"))).toBe("temporary");
    expect(classifySessionReply(reply(421, "Too busy"))).toBe("temporary");
  });
});

describe("SMTP reply parsing", () => {
  it("joins multi-line replies and reads enhanced codes, across chunk boundaries", () => {
    const parser = new ReplyParser();
    expect(parser.push("250-mx.test Hello\r\n250-PIPE")).toEqual([]);
    expect(parser.push("LINING\r\n250 8BITMIME\r\n550-5.1.1 The account")).toEqual([{ code: 250, enhanced: null, text: "mx.test Hello\nPIPELINING\n8BITMIME" }]);
    expect(parser.push(" does not exist.\n550 5.1.1 Try again\r\n")).toEqual([
      { code: 550, enhanced: "5.1.1", text: "5.1.1 The account does not exist.\n5.1.1 Try again" },
    ]);
  });

  it("accepts a bare code line and ignores enhanced codes of the wrong class", () => {
    const parser = new ReplyParser();
    expect(parser.push("220\r\n550 2.1.5 odd\r\n")).toEqual([
      { code: 220, enhanced: null, text: "" },
      { code: 550, enhanced: null, text: "2.1.5 odd" },
    ]);
  });

  it("rejects garbage, mixed codes and endless lines", () => {
    expect(() => new ReplyParser().push("HTTP/1.1 400 Bad Request\r\n")).toThrow(SmtpProtocolError);
    expect(() => new ReplyParser().push("250-a\r\n251 b\r\n")).toThrow(SmtpProtocolError);
    expect(() => new ReplyParser().push("2".repeat(5000))).toThrow(SmtpProtocolError);
  });
});

describe("lists", () => {
  const lists = createListChecks();

  it("finds disposable domains and their subdomains", () => {
    expect(lists.isDisposable("mailinator.com")).toBe(true);
    expect(lists.isDisposable("a.b.mailinator.com")).toBe(true);
    expect(lists.isDisposable("acme-widgets.com")).toBe(false);
    expect(lists.isDisposable("gmail.com")).toBe(false);
  });

  it("finds role accounts, ignoring case and a +tag", () => {
    expect(lists.isRole("info")).toBe(true);
    expect(lists.isRole("Support+tickets")).toBe(true);
    expect(lists.isRole("jane.doe")).toBe(false);
  });

  it("knows free providers", () => {
    expect(lists.isFree("gmail.com")).toBe(true);
    expect(lists.isFree("acme-widgets.com")).toBe(false);
  });

  it.each([
    ["gmial.com", { domain: "gmail.com", nearMajorProvider: true }],
    ["gmail.con", { domain: "gmail.com", nearMajorProvider: true }],
    ["hotmial.com", { domain: "hotmail.com", nearMajorProvider: true }],
    ["yaho.com", { domain: "yahoo.com", nearMajorProvider: true }],
    ["yahoo.con", { domain: "yahoo.com", nearMajorProvider: true }],
    ["gamil.com", { domain: "gmail.com", nearMajorProvider: true }],
    ["gmaill.con", { domain: "gmail.com", nearMajorProvider: false }],
    ["acme.cmo", { domain: "acme.com", nearMajorProvider: false }],
    ["gmail.com", null],
    ["ymail.com", null],
    ["mail.com", null],
    ["cloud.com", null],
    ["acme.com", null],
    ["mailo.com", { domain: "mail.com", nearMajorProvider: false }],
    ["acme.co", { domain: "acme.com", nearMajorProvider: false }],
    ["mac.com", null],
    ["gmx.net", null],
    ["example.io", null],
  ])("suggests for %s: %o", (domain, expected) => {
    expect(lists.suggestDomain(domain)).toEqual(expected);
  });

  it("measures edits, adjacent swaps counting as one", () => {
    expect(editDistance("gmial.com", "gmail.com")).toBe(1);
    expect(editDistance("gmai.com", "gmail.com")).toBe(1);
    expect(editDistance("gmaill.com", "gmail.com")).toBe(1);
    expect(editDistance("gnail.com", "gmail.com")).toBe(1);
    expect(editDistance("acme.com", "me.com")).toBe(2);
    expect(editDistance("gmx.com", "gmail.com")).toBe(3);
    expect(editDistance("", "abc")).toBe(3);
  });
});

describe("TtlCache", () => {
  it("shares one load among concurrent callers and expires by the clock", async () => {
    let now = 0;
    let loads = 0;
    const cache = new TtlCache<number>(() => now);
    const load = () => cache.load("k", async () => ++loads, () => 1_000);
    expect(await Promise.all([load(), load(), load()])).toEqual([1, 1, 1]);
    now = 999;
    expect(await load()).toBe(1);
    now = 1_000;
    expect(await load()).toBe(2);
  });

  it("does not keep failed loads", async () => {
    const cache = new TtlCache<string>(() => 0);
    await expect(cache.load("k", () => Promise.reject(new Error("boom")), () => 1_000)).rejects.toThrow("boom");
    expect(await cache.load("k", async () => "ok", () => 1_000)).toBe("ok");
  });
});

describe("options", () => {
  it("needs a HELO name and a sender of our own before probing", () => {
    expect(() => createVerifier({ smtp: { enabled: true } })).toThrow(VerifierConfigError);
    expect(() => createVerifier({ smtp: { enabled: true, helo: "localhost", mailFrom: "a@b.test" } })).toThrow(/helo/);
    expect(() => createVerifier({ smtp: { enabled: true, helo: "probe.example.com", mailFrom: "nope" } })).toThrow(/mailFrom/);
    expect(() => createVerifier({ smtp: { enabled: true, helo: "probe.example.com", mailFrom: "bounces@example.com" } })).not.toThrow();
  });

  it("names a bad DNS server", () => {
    expect(() => createVerifier({ dnsServers: ["not a server"] })).toThrow(/dnsServers/);
    expect(() => createVerifier({ dnsTimeoutMs: 0 })).toThrow(/dnsTimeoutMs/);
  });
});
