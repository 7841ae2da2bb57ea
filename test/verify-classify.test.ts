// The verification classifier (verify/classify.ts, strongestReason in verify/taxonomy.ts), unit
// by unit: every wording it knows, every branch of an SMTP reply's code and enhanced status, and
// how the evidence about one address becomes its result.
import { describe, expect, it } from "vitest";
import { classifyRcptReply, classifySessionReply, decide, objectsToRecipients, refusesOurAddress, type Evidence } from "../verify/classify.ts";
import type { MailRoute } from "../verify/dns.ts";
import type { SmtpReply } from "../verify/smtp-session.ts";
import { checkSyntax } from "../verify/syntax.ts";
import { applyAcSignals, strongestReason, type VerificationReason, type VerificationResult } from "../verify/taxonomy.ts";

const reply = (code: number, text: string, enhanced: string | null = null): SmtpReply => ({ code, enhanced, text });

describe("classifyRcptReply: the words of a reply", () => {
  // A 4xx naming one of these refuses us, not the mailbox: "blocked", where other 4xx are "temporary".
  it.each([
    "Listed by Spamhaus",
    "listed at SpamCop",
    "Barracuda reputation check",
    "found in SORBS",
    "see our RBL",
    "DNSBL hit",
    "blacklisted",
    "black list hit",
    "blocklisted",
    "block list hit",
    "you are blocked",
    "sender banned",
    "access denied",
    "denied access",
    "not authorised",
    "not authorized",
    "unauthorised sender",
    "unauthorized sender",
    "local policy",
    "poor reputation",
    "Client host rejected",
    "no reverse DNS",
    "no reverse hostname",
    "no PTR record",
    "too many connections",
    "too many errors",
    "rate limit exceeded",
  ])("a 450 saying %j is blocked", (text) => {
    expect(classifyRcptReply(reply(450, text))).toBe("blocked");
    expect(classifySessionReply(reply(554, text))).toBe("blocked");
  });

  it.each(["rbls", "xrbl", "ptrs", "reverse lookup"])("a 450 saying %j is only temporary", (text) => {
    expect(classifyRcptReply(reply(450, text))).toBe("temporary");
  });

  // A 5xx without an enhanced status is "not found" only in these words; otherwise "blocked".
  it.each([
    "User unknown",
    "unknown user",
    "no such user",
    "no such mailbox",
    "no such recipient",
    "no such address",
    "user not found",
    "user doesnt exist",
    "user doesn't exist",
    "user does not exist",
    "mailbox not found",
    "mailbox does not exist",
    "mailbox doesnt exist",
    "mailbox doesn't exist",
    "recipient not found",
    "recipient unknown",
    "recipient does not exist",
    "unknown recipient",
    "invalid recipient",
    "address does not exist",
    "account does not exist",
    "The account that you tried to reach does not exist",
    "not our customer",
  ])("a 550 saying %j is not found", (text) => {
    expect(classifyRcptReply(reply(550, text))).toBe("not_found");
  });

  it.each([
    "mailbox disabled",
    "account is disabled",
    "mailbox has been deactivated",
    "account suspended",
    "mailbox is inactive",
    "account has been closed",
    "mailbox discontinued",
  ])("a 550 saying %j is disabled", (text) => {
    expect(classifyRcptReply(reply(550, text))).toBe("disabled");
  });

  it.each(["mailbox full", "mailbox is full", "over quota", "overquota", "quota exceeded", "exceeded its storage", "exceeded the storage", "insufficient storage", "insufficient system storage"])(
    "a 550 saying %j is full",
    (text) => {
      expect(classifyRcptReply(reply(550, text))).toBe("full");
    },
  );

  it.each(["greylisted by policy", "graylisted by policy", "grey listed by policy", "gray list policy", "policy: try again later"])(
    "a 450 saying %j is temporary (greylisting), not blocked",
    (text) => {
      expect(classifyRcptReply(reply(450, text))).toBe("temporary");
      expect(classifySessionReply(reply(451, text))).toBe("temporary");
    },
  );

  it("reads a 5xx whose words say nothing as blocked", () => {
    expect(classifyRcptReply(reply(550, "Requested action not taken"))).toBe("blocked");
  });
});

describe("classifyRcptReply: codes and enhanced status", () => {
  it.each([
    [199, "blocked"],
    [200, "accepted"],
    [250, "accepted"],
    [299, "accepted"],
    [300, "blocked"],
    [399, "blocked"],
  ] as const)("a bare %i is %s", (code, expected) => {
    expect(classifyRcptReply(reply(code, "ok"))).toBe(expected);
  });

  it.each([
    [400, "temporary"],
    [499, "temporary"],
    [500, "blocked"],
  ] as const)("a bare %i is %s", (code, expected) => {
    expect(classifyRcptReply(reply(code, "Try elsewhere"))).toBe(expected);
  });

  it("applies a provider's not-found wording to 5xx only", () => {
    const notFound = [/access denied\. .*recipient/i];
    const text = "5.4.1 Recipient address rejected: Access denied. AS(201806281) recipient";
    expect(classifyRcptReply(reply(550, text, "5.4.1"), notFound)).toBe("not_found");
    expect(classifyRcptReply(reply(500, text, "5.4.1"), notFound)).toBe("not_found");
    expect(classifyRcptReply(reply(550, text, "5.4.1"))).toBe("blocked");
    expect(classifyRcptReply(reply(499, text, "4.4.1"), notFound)).toBe("blocked");
    expect(classifyRcptReply(reply(550, "5.4.1 other words", "5.4.1"), notFound)).toBe("blocked");
  });

  it("reads 4.2.2 as full, and 4.2.1 as accepted only with Gmail's rate wording", () => {
    expect(classifyRcptReply(reply(452, "4.2.2 Try later", "4.2.2"))).toBe("full");
    expect(classifyRcptReply(reply(450, "4.2.1 Receiving mail at a rate that prevents more", "4.2.1"))).toBe("accepted");
    expect(classifyRcptReply(reply(450, "4.2.1 Try later", "4.2.1"))).toBe("temporary");
    expect(classifyRcptReply(reply(450, "4.2.0 receiving mail at a rate that prevents more", "4.2.0"))).toBe("temporary");
  });

  it("reads a 452's storage wording as full only without an enhanced status", () => {
    expect(classifyRcptReply(reply(452, "Mailbox full"))).toBe("full");
    expect(classifyRcptReply(reply(452, "4.3.1 Insufficient system storage", "4.3.1"))).toBe("temporary");
    expect(classifyRcptReply(reply(451, "Mailbox full"))).toBe("temporary");
  });

  it("reads 5.7.x as blocked whatever its words", () => {
    expect(classifyRcptReply(reply(550, "5.7.1 User unknown", "5.7.1"))).toBe("blocked");
    expect(classifyRcptReply(reply(550, "5.1.7 Sender rejected", "5.1.7"))).toBe("blocked");
  });

  it.each([
    ["5.1.1", "not_found"],
    ["5.1.10", "not_found"],
    ["5.2.1", "disabled"],
    ["5.2.2", "full"],
  ] as const)("reads %s alone as %s", (enhanced, expected) => {
    expect(classifyRcptReply(reply(550, `${enhanced} Rejected`, enhanced))).toBe(expected);
  });

  it("reads a 552 as full only without an enhanced status", () => {
    expect(classifyRcptReply(reply(552, "Requested action aborted"))).toBe("full");
    expect(classifyRcptReply(reply(552, "5.3.4 Message too big", "5.3.4"))).toBe("blocked");
  });

  it("reads the words of a 5xx only under no enhanced status, 5.1.x or 5.0.0", () => {
    expect(classifyRcptReply(reply(550, "5.1.2 No such mailbox", "5.1.2"))).toBe("not_found");
    expect(classifyRcptReply(reply(550, "5.0.0 User unknown", "5.0.0"))).toBe("not_found");
    expect(classifyRcptReply(reply(550, "5.0.0 Account disabled", "5.0.0"))).toBe("disabled");
    expect(classifyRcptReply(reply(550, "5.0.0 Mailbox full", "5.0.0"))).toBe("full");
    expect(classifyRcptReply(reply(550, "5.5.0 User unknown", "5.5.0"))).toBe("blocked");
    expect(classifyRcptReply(reply(550, "5.4.0 Mailbox full", "5.4.0"))).toBe("blocked");
  });
});

describe("objectsToRecipients", () => {
  it.each([
    reply(452, "4.5.3 Try fewer", "4.5.3"),
    reply(552, "5.5.3 Try fewer", "5.5.3"),
    reply(452, "Too many recipients"),
    reply(400, "Too many recipients"),
    reply(550, "Recipients limit reached"),
    reply(550, "Recipient limit reached"),
    reply(452, "too many RCPT commands"),
    reply(550, "The recipients belong to multiple regions"),
  ])("is true for %o", (r) => {
    expect(objectsToRecipients(r)).toBe(true);
  });

  it.each([
    reply(250, "Too many recipients, but taken"),
    reply(399, "Too many recipients"),
    reply(452, "4.5.30 Try fewer", "4.5.30"),
    reply(452, "4.4.3 Try fewer", "4.4.3"),
    reply(452, "Try fewer"),
  ])("is false for %o", (r) => {
    expect(objectsToRecipients(r)).toBe(false);
  });
});

describe("refusesOurAddress", () => {
  it.each([
    "Spamhaus",
    "SpamCop",
    "Barracuda",
    "SORBS",
    "RBL",
    "DNSBL",
    "blacklist",
    "black list",
    "blocklist",
    "block list",
    "blocked using zen",
    "client host",
    "your IP",
    "reputation",
  ])("is true for a refusal naming %j", (text) => {
    expect(refusesOurAddress(reply(550, text))).toBe(true);
    expect(refusesOurAddress(reply(400, text))).toBe(true);
  });

  it("is false for an acceptance, or for a refusal naming none of them", () => {
    expect(refusesOurAddress(reply(399, "Spamhaus"))).toBe(false);
    expect(refusesOurAddress(reply(550, "blocked by recipient policy"))).toBe(false);
    expect(refusesOurAddress(reply(550, "rbls"))).toBe(false);
  });
});

describe("classifySessionReply", () => {
  it.each([
    [reply(421, "4.7.0 Try again", "4.7.0"), "blocked"],
    [reply(554, "5.7.1 Go away", "5.7.1"), "blocked"],
    [reply(554, "5.3.7 Go away", "5.3.7"), "refused"],
    [reply(554, "Go away"), "refused"],
    [reply(500, "Go away"), "refused"],
    [reply(400, "Go away"), "temporary"],
    [reply(499, "Go away"), "temporary"],
    [reply(399, "Greylisted"), "refused"],
    [reply(554, "Greylisted"), "refused"],
  ] as const)("reads %o as %s", (r, expected) => {
    expect(classifySessionReply(r)).toBe(expected);
  });
});

describe("decide", () => {
  const syntax = checkSyntax(" Jo@Example.com ");
  const base: Evidence = { input: " Jo@Example.com ", syntax };

  it("answers an address that is not one as undeliverable invalid_syntax, and nothing else", () => {
    expect(decide({ input: " bad ", syntax: checkSyntax(" bad "), route: { kind: "mx", hosts: ["mx"] }, provider: "gmail" })).toEqual({
      email: " bad ",
      normalized: "bad",
      status: "undeliverable",
      reason: "invalid_syntax",
      flags: [],
      suggestion: null,
      provider: null,
    });
  });

  it("answers an address with no evidence as deliverable mail_domain_ok, as given and normalized", () => {
    expect(decide(base)).toEqual({
      email: " Jo@Example.com ",
      normalized: "Jo@example.com",
      status: "deliverable",
      reason: "mail_domain_ok",
      flags: [],
      suggestion: null,
      provider: null,
    });
  });

  it("flags a free address without making it a reason, and a role or disposable one as both", () => {
    expect(decide({ ...base, traits: { free: true, role: false, disposable: false } })).toMatchObject({ reason: "mail_domain_ok", flags: ["free"] });
    expect(decide({ ...base, traits: { free: false, role: true, disposable: false } })).toMatchObject({ reason: "role_account", status: "risky", flags: ["role"] });
    expect(decide({ ...base, traits: { free: false, role: false, disposable: true } })).toMatchObject({ reason: "disposable", status: "risky", flags: ["disposable"] });
    expect(decide({ ...base, traits: { free: true, role: true, disposable: true } })).toMatchObject({ reason: "disposable", flags: ["free", "role", "disposable"] });
  });

  it("flags accept_all and takes the SMTP verdict as a reason", () => {
    expect(decide({ ...base, smtp: "accept_all" })).toMatchObject({ reason: "accept_all", status: "risky", flags: ["accept_all"] });
    expect(decide({ ...base, smtp: "accepted_email" })).toMatchObject({ reason: "accepted_email", status: "deliverable", flags: [] });
    expect(decide({ ...base, smtp: "mailbox_not_found", route: { kind: "mx", hosts: ["mx"] } })).toMatchObject({ reason: "mailbox_not_found", status: "undeliverable" });
  });

  it.each<[MailRoute, VerificationReason]>([
    [{ kind: "mx", hosts: ["mx"] }, "mail_domain_ok"],
    [{ kind: "implicit_mx", hosts: ["a"] }, "mail_domain_ok"],
    [{ kind: "null_mx" }, "null_mx"],
    [{ kind: "not_found" }, "domain_not_found"],
    [{ kind: "no_mail_server" }, "no_mail_server"],
    [{ kind: "dangling_mx", names: ["mx"] }, "no_mail_server"],
    [{ kind: "error", code: "SERVFAIL" }, "dns_error"],
  ])("reads the mail route %o as %s", (route, reason) => {
    expect(decide({ ...base, route, smtp: "accepted_email" }).reason).toBe(reason === "mail_domain_ok" ? "accepted_email" : reason);
    expect(decide({ ...base, route }).reason).toBe(reason);
  });

  it("suggests any correction for a dead domain, without calling it a typo", () => {
    const result = decide({ ...base, route: { kind: "not_found" }, typo: { domain: "example.org", nearMajorProvider: false } });
    expect(result).toMatchObject({ reason: "domain_not_found", status: "undeliverable", suggestion: "Jo@example.org" });
    const nearGmail = decide({ ...base, route: { kind: "null_mx" }, typo: { domain: "gmail.com", nearMajorProvider: true } });
    expect(nearGmail).toMatchObject({ reason: "null_mx", suggestion: "Jo@gmail.com" });
  });

  it("suggests a major provider for a working domain one edit away, as possible_typo", () => {
    const result = decide({ ...base, route: { kind: "mx", hosts: ["mx"] }, smtp: "accepted_email", typo: { domain: "gmail.com", nearMajorProvider: true } });
    expect(result).toMatchObject({ reason: "possible_typo", status: "risky", suggestion: "Jo@gmail.com" });
  });

  it("suggests nothing for a working domain near a minor one, or without a route", () => {
    expect(decide({ ...base, route: { kind: "mx", hosts: ["mx"] }, typo: { domain: "example.org", nearMajorProvider: false } })).toMatchObject({
      reason: "mail_domain_ok",
      suggestion: null,
    });
    expect(decide({ ...base, typo: { domain: "gmail.com", nearMajorProvider: true } })).toMatchObject({ reason: "mail_domain_ok", suggestion: null });
    expect(decide({ ...base, route: { kind: "mx", hosts: ["mx"] }, typo: null })).toMatchObject({ suggestion: null });
  });

  it("reports the provider it was given", () => {
    expect(decide({ ...base, provider: "microsoft" }).provider).toBe("microsoft");
  });
});

describe("strongestReason", () => {
  it("is the reason ranked first, in whatever order they come, and none of none", () => {
    expect(strongestReason([])).toBeUndefined();
    expect(strongestReason(["accepted_email", "mailbox_not_found", "role_account"])).toBe("mailbox_not_found");
    expect(strongestReason(["role_account", "mailbox_not_found", "accepted_email"])).toBe("mailbox_not_found");
    expect(strongestReason(["mail_domain_ok"])).toBe("mail_domain_ok");
    expect(strongestReason(["greylisted", "greylisted"])).toBe("greylisted");
    expect(strongestReason(new Set(["smtp_timeout", "dns_error"] as const))).toBe("dns_error");
  });
});

describe("applyAcSignals", () => {
  const result = (status: VerificationResult["status"], reason: VerificationReason): VerificationResult => ({
    email: "jo@example.com",
    normalized: "jo@example.com",
    status,
    reason,
    flags: ["free"],
    suggestion: null,
    provider: "gmail",
  });

  it("makes a hard bounce AC recorded undeliverable hard_bounced, keeping the rest of the result", () => {
    expect(applyAcSignals(result("deliverable", "accepted_email"), { bouncedHard: true })).toEqual({
      ...result("deliverable", "accepted_email"),
      status: "undeliverable",
      reason: "hard_bounced",
    });
    expect(applyAcSignals(result("risky", "accept_all"), { bouncedHard: true })).toMatchObject({ status: "undeliverable", reason: "hard_bounced" });
  });

  it("keeps a more specific undeliverable reason, and the very same result without a bounce", () => {
    const dead = result("undeliverable", "mailbox_not_found");
    expect(applyAcSignals(dead, { bouncedHard: true })).toBe(dead);
    const fine = result("deliverable", "accepted_email");
    expect(applyAcSignals(fine, { bouncedHard: false })).toBe(fine);
  });
});
