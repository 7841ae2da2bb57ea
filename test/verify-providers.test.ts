import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createVerifier, PROVIDER_RULES, parseProviderRules, VerifierConfigError, type VerifierOptions } from "../verify/index.ts";
import { providerTable } from "../verify/providers.ts";
import { startDnsServer, type TestDnsServer } from "./support/dns-server.ts";
import {
  acceptAll,
  acceptAllUntilData,
  oneRecipientPerSession,
  recipientOkForAll,
  startSmtpServers,
  strictMailboxes,
  type FakeMxFleet,
  type RcptPolicy,
} from "./support/smtp-servers.ts";

/**
 * Loopback mail servers that behave like the big providers, each behind MX host names of
 * that provider, so the provider rules (verify/providers.ts) read their answers.
 */
const HOST = {
  yahoo: "127.0.0.2",
  m365Open: "127.0.0.3",
  m365Edge: "127.0.0.4",
  outlook: "127.0.0.5",
  google: "127.0.0.6",
  icloud: "127.0.0.7",
};

const mx = (exchange: string) => ({ mx: [{ priority: 10, exchange }] });
const rcptsPerSession = (fleet: FakeMxFleet, host: string) => fleet.get(host).sessions.map((s) => s.lines.filter((l) => /^RCPT TO:/i.test(l)).length);

let dns: TestDnsServer;
let fleet: FakeMxFleet;
let options: VerifierOptions;

beforeAll(async () => {
  // Google's servers: consumer Gmail knows its users; this Workspace domain routes every unknown recipient to a catch-all mailbox.
  const gmail = strictMailboxes({ mailboxes: ["known.person@gmail.com"] });
  const google: RcptPolicy = (rcpt) => (rcpt.recipient.toLowerCase().endsWith("@gmail.com") ? gmail(rcpt) : acceptAll()(rcpt));
  fleet = await startSmtpServers([
    { host: HOST.yahoo, rcpt: acceptAllUntilData(), dataReply: { code: 554, text: "delivery error: dd This user doesn't have a yahoo.com account" } },
    { host: HOST.m365Open, rcpt: recipientOkForAll() },
    { host: HOST.m365Edge, rcpt: recipientOkForAll({ known: ["known@fabrikam.test"] }) },
    {
      host: HOST.outlook,
      rcpt: oneRecipientPerSession(({ recipient }) =>
        recipient.toLowerCase().startsWith("alice") ? "accept" : { code: 550, text: "5.5.0 Requested action not taken: mailbox unavailable" },
      ),
    },
    { host: HOST.google, rcpt: google },
    { host: HOST.icloud, rcpt: strictMailboxes({ mailboxes: ["a@icloud-like.test", "b@icloud-like.test", "c@icloud-like.test", "d@icloud-like.test"] }), blockAfterSessions: 2 },
  ]);
  dns = await startDnsServer({
    "yahoo-like.test": mx("mta5.am0.yahoodns.net"),
    "mta5.am0.yahoodns.net": { a: [HOST.yahoo] },
    "contoso.test": mx("contoso-test.mail.protection.outlook.com"),
    "contoso-test.mail.protection.outlook.com": { a: [HOST.m365Open] },
    "fabrikam.test": mx("fabrikam-test.mail.protection.outlook.com"),
    "fabrikam-test.mail.protection.outlook.com": { a: [HOST.m365Edge] },
    "outlook-like.test": mx("outlook-like-test.olc.protection.outlook.com"),
    "outlook-like-test.olc.protection.outlook.com": { a: [HOST.outlook] },
    "gmail.com": mx("gmail-smtp-in.l.google.com"),
    "gmail-smtp-in.l.google.com": { a: [HOST.google] },
    "workspace.test": mx("aspmx.l.google.com"),
    "aspmx.l.google.com": { a: [HOST.google] },
    "icloud-like.test": mx("mx01.mail.icloud.com"),
    "mx01.mail.icloud.com": { a: [HOST.icloud] },
  });
  options = {
    dnsServers: [dns.address],
    dnsTimeoutMs: 1_000,
    dnsTries: 1,
    smtp: {
      enabled: true,
      helo: "probe.listwarden.test",
      mailFrom: "bounces@probe.listwarden.test",
      port: fleet.port,
      connectTimeoutMs: 2_000,
      replyTimeoutMs: 2_000,
      greylistRetryDelaysMs: [],
    },
  };
});

afterAll(async () => {
  await fleet?.close();
  await dns?.close();
});

const NEVER_FROM_AN_UNHONOURED_ANSWER = ["deliverable", "undeliverable"];

describe("provider rules read each provider's probe answers", () => {
  it("Yahoo/AOL (250 to every RCPT, refusal only at DATA): risky accept_all for real and dead mailboxes alike, without a made-up recipient", async () => {
    const verifier = createVerifier(options);
    const results = await verifier.verifyBatch(["real.person@yahoo-like.test", "long.gone@yahoo-like.test"]);
    for (const result of results) {
      expect(result).toMatchObject({ status: "risky", reason: "accept_all", flags: ["accept_all"], provider: "yahoo" });
      expect(NEVER_FROM_AN_UNHONOURED_ANSWER).not.toContain(result.status);
    }
    expect(fleet.get(HOST.yahoo).recipients().filter((r) => r.startsWith("lw"))).toEqual([]);
  });

  it('Microsoft 365 answering "2.1.5 Recipient OK" for users that do not exist: accept_all, never deliverable', async () => {
    const verifier = createVerifier(options);
    const results = await verifier.verifyBatch(["known@contoso.test", "no.such.user@contoso.test"]);
    for (const result of results) {
      expect(result).toMatchObject({ status: "risky", reason: "accept_all", provider: "microsoft365" });
      expect(NEVER_FROM_AN_UNHONOURED_ANSWER).not.toContain(result.status);
    }
    // The made-up recipient is what showed the tenant accepts anyone.
    expect(fleet.get(HOST.m365Open).recipients().filter((r) => r.startsWith("lw"))).toHaveLength(1);
  });

  it("Microsoft 365 with edge blocking: its 550 5.4.1 Access denied reads as mailbox_not_found, and its 250 as accepted_email", async () => {
    const verifier = createVerifier(options);
    const [known, ghost] = await verifier.verifyBatch(["known@fabrikam.test", "ghost@fabrikam.test"]);
    expect(known).toMatchObject({ status: "deliverable", reason: "accepted_email", provider: "microsoft365" });
    expect(ghost).toMatchObject({ status: "undeliverable", reason: "mailbox_not_found", provider: "microsoft365" });
  });

  it("Outlook.com (452 on a second RCPT, refusals that prove nothing): unknown provider_unverifiable, one recipient per session", async () => {
    const verifier = createVerifier(options);
    const addresses = ["alice@outlook-like.test", "alice.two@outlook-like.test", "bob@outlook-like.test", "carol@outlook-like.test"];
    const results = await verifier.verifyBatch(addresses);
    for (const result of results) {
      expect(result).toMatchObject({ status: "unknown", reason: "provider_unverifiable", provider: "outlook" });
    }
    const perSession = rcptsPerSession(fleet, HOST.outlook);
    expect(perSession).toHaveLength(addresses.length);
    expect(perSession.every((n) => n === 1)).toBe(true);
  });

  it("Gmail: a 5.1.1 is undeliverable, a 250 deliverable, and no made-up recipient is asked", async () => {
    const verifier = createVerifier(options);
    const [known, ghost] = await verifier.verifyBatch(["known.person@gmail.com", "no.one.here@gmail.com"]);
    expect(known).toMatchObject({ status: "deliverable", reason: "accepted_email", provider: "gmail" });
    expect(ghost).toMatchObject({ status: "undeliverable", reason: "mailbox_not_found", provider: "gmail" });
    expect(fleet.get(HOST.google).recipients().filter((r) => r.startsWith("lw") && r.endsWith("@gmail.com"))).toEqual([]);
  });

  it("Google Workspace on the same servers: the made-up recipient is asked, and a catch-all domain is accept_all", async () => {
    const verifier = createVerifier(options);
    const [someone] = await verifier.verifyBatch(["someone@workspace.test"]);
    expect(someone).toMatchObject({ status: "risky", reason: "accept_all", provider: "google_workspace" });
    expect(fleet.get(HOST.google).recipients().filter((r) => r.startsWith("lw") && r.endsWith("@workspace.test"))).toHaveLength(1);
  });

  it("a server that block-lists us after 2 sessions: later addresses are smtp_blocked (never undeliverable) and it is not asked again", async () => {
    const verifier = createVerifier({ ...options, smtp: { ...options.smtp, recipientsPerSession: 1 } });
    const results = [];
    for (const local of ["a", "b", "c", "d", "e"]) results.push(await verifier.verify(`${local}@icloud-like.test`));
    expect(results.map((r) => r.reason)).toEqual(["accepted_email", "accepted_email", "smtp_blocked", "smtp_blocked", "smtp_blocked"]);
    expect(results.every((r) => r.provider === "icloud")).toBe(true);
    expect(results.map((r) => r.status)).not.toContain("undeliverable");
    // Two sessions answered (the first with the made-up recipient in it), the third was refused; none after it.
    expect(fleet.get(HOST.icloud).sessions).toHaveLength(3);
  });

  it("carries the provider on DNS-only results too", async () => {
    const verifier = createVerifier({ ...options, smtp: { enabled: false } });
    expect(await verifier.verify("x@yahoo-like.test")).toMatchObject({ reason: "mail_domain_ok", provider: "yahoo" });
    expect(await verifier.verify("x@workspace.test")).toMatchObject({ reason: "mail_domain_ok", provider: "google_workspace" });
  });
});

describe("the provider rules table", () => {
  it("matches by MX host suffix on label boundaries, and by mail domain where a rule names domains", () => {
    const table = providerTable();
    expect(table.match("gmail.com", ["gmail-smtp-in.l.google.com"])?.id).toBe("gmail");
    expect(table.match("acme.test", ["aspmx.l.google.com"])?.id).toBe("google_workspace");
    expect(table.match("aol.com", ["mx-aol.mail.gm0.yahoodns.net."])?.id).toBe("yahoo");
    expect(table.match("hotmail.com", ["hotmail-com.olc.protection.outlook.com"])?.id).toBe("outlook");
    expect(table.match("acme.test", ["acme-test.mail.protection.outlook.com"])?.id).toBe("microsoft365");
    expect(table.match("acme.test", ["notgoogle.com"])).toBeNull();
    expect(table.match("acme.test", ["mx.acme.test", "alt.mail.icloud.com"])?.id).toBe("icloud");
  });

  it("takes added rules before the built-in ones", () => {
    const table = providerTable([{ id: "proofpoint", name: "Proofpoint", mx: ["pphosted.com"], accepted: "accepts_all", rejected: "no_mailbox", catchAllProbe: false, why: "test" }]);
    expect(table.match("acme.test", ["mx0a-001.pphosted.com"])?.id).toBe("proofpoint");
    expect(table.match("gmail.com", ["gmail-smtp-in.l.google.com"])?.id).toBe("gmail");
  });

  it("says for every built-in rule what an acceptance and a refusal prove, and why", () => {
    expect(PROVIDER_RULES.map((r) => r.id)).toEqual(["yahoo", "microsoft365", "outlook", "gmail", "google_workspace", "icloud"]);
    for (const rule of PROVIDER_RULES) {
      expect(["mailbox_exists", "accepts_all", "proves_nothing"]).toContain(rule.accepted);
      expect(["no_mailbox", "proves_nothing"]).toContain(rule.rejected);
      expect(rule.why.length).toBeGreaterThan(40);
    }
  });

  it("checks rules read from a file and names what is wrong", () => {
    expect(parseProviderRules([{ id: "mimecast", name: "Mimecast", mx: ["mimecast.com"], accepted: "proves_nothing", rejected: "proves_nothing", catchAllProbe: false, why: "x" }])).toHaveLength(1);
    expect(() => parseProviderRules([{ id: "x", name: "X", mx: ["x.com"], accepted: "maybe", rejected: "no_mailbox", catchAllProbe: false, why: "x" }], "rules.json")).toThrow(
      VerifierConfigError,
    );
    expect(() => parseProviderRules([{ id: "x", name: "X", mx: ["x.com"], accepted: "accepts_all", rejected: "no_mailbox", catchAllProbe: false, why: "x", notFound: ["("] }])).toThrow(
      /notFound: must be valid regular expressions/,
    );
  });
});
