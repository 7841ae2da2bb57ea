import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Readable, Writable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { verifyCli } from "../cli/verify.ts";
import { createVerifier } from "../verify/index.ts";
import { startDnsServer, type TestDnsServer } from "./support/dns-server.ts";
import { greylisting, startSmtpServers, strictMailboxes, type FakeMxFleet } from "./support/smtp-servers.ts";

class Collector extends Writable {
  text = "";
  override _write(chunk: Buffer, _encoding: BufferEncoding, done: () => void): void {
    this.text += chunk.toString("utf8");
    done();
  }
}

function io(stdinText = "") {
  return { stdin: Readable.from([stdinText]), stdout: new Collector(), stderr: new Collector() };
}

const jsonLines = (text: string) => text.trim().split("\n").map((line) => JSON.parse(line) as Record<string, unknown>);

let dns: TestDnsServer;
let fleet: FakeMxFleet;
let dir: string;

beforeAll(async () => {
  fleet = await startSmtpServers([
    { host: "127.0.0.2", rcpt: strictMailboxes({ mailboxes: ["known@cli.test"] }) },
    { host: "127.0.0.3", refuse: true },
    { host: "127.0.0.4", rcpt: greylisting(strictMailboxes({ mailboxes: ["known@grey.cli.test"] })) },
  ]);
  dns = await startDnsServer({
    "cli.test": { mx: [{ priority: 10, exchange: "mx.cli.test" }] },
    "mx.cli.test": { a: ["127.0.0.2"] },
    "grey.cli.test": { mx: [{ priority: 10, exchange: "mx.grey.cli.test" }] },
    "mx.grey.cli.test": { a: ["127.0.0.4"] },
  });
  dir = mkdtempSync(path.join(tmpdir(), "lw-verify-cli-"));
});

afterAll(async () => {
  await fleet?.close();
  await dns?.close();
});

describe("listwarden verify", () => {
  it("verifies a file line by line, printing JSON per address and a summary", async () => {
    const file = path.join(dir, "list.txt");
    writeFileSync(file, "known@cli.test\r\n\r\nnot an address\r\nsomeone@missing.test\r\n");
    const streams = io();
    expect(await verifyCli(["--dns", dns.address, file], streams)).toBe(0);
    expect(jsonLines(streams.stdout.text)).toEqual([
      { email: "known@cli.test", normalized: "known@cli.test", status: "deliverable", reason: "mail_domain_ok", flags: [], suggestion: null, provider: null },
      // A blank line still gives a line out, so outputs join to inputs by position.
      { email: "", normalized: "", status: "undeliverable", reason: "invalid_syntax", flags: [], suggestion: null, provider: null },
      { email: "not an address", normalized: "not an address", status: "undeliverable", reason: "invalid_syntax", flags: [], suggestion: null, provider: null },
      { email: "someone@missing.test", normalized: "someone@missing.test", status: "undeliverable", reason: "domain_not_found", flags: [], suggestion: null, provider: null },
    ]);
    expect(streams.stderr.text).toMatch(/^verified 4 addresses in [\d.]+ s/);
    expect(streams.stderr.text).toMatch(/deliverable\s+1\n/);
    expect(streams.stderr.text).toMatch(/undeliverable\s+3\n/);
    expect(streams.stderr.text).toContain("reasons: mail_domain_ok 1, invalid_syntax 2, domain_not_found 1");
  });

  it("gives one line out per line in: white-space-only lines (U+2005, U+2028) and lines that are not UTF-8 are invalid_syntax", async () => {
    const file = path.join(dir, "mixed.txt");
    const bytes = Buffer.concat([
      Buffer.from("known@cli.test\n\u2005\n\u2028\n \t \n"),
      Buffer.from([0x6a, 0xf6, 0x72, 0x67, 0x40, 0x63, 0x6c, 0x69, 0x2e, 0x74, 0x65, 0x73, 0x74, 0x0a]), // "j\xF6rg@cli.test": Latin-1, not UTF-8
      Buffer.from([0xc3, 0x28, 0x0a]), // a broken UTF-8 sequence
      Buffer.from("jörg@cli.test\n"),
    ]);
    writeFileSync(file, bytes);
    const inputLines = bytes.toString("latin1").split("\n").length - 1;
    const streams = io();
    expect(await verifyCli(["--dns", dns.address, file], streams)).toBe(0);
    const out = jsonLines(streams.stdout.text);
    expect(out).toHaveLength(inputLines);
    expect(out.map((r) => r.reason)).toEqual(["mail_domain_ok", "invalid_syntax", "invalid_syntax", "invalid_syntax", "invalid_syntax", "invalid_syntax", "mail_domain_ok"]);
    expect(out[1]!.email).toBe("\u2005");
  });

  it("shows progress on standard error when it is a terminal, while greylisting retries wait", async () => {
    const streams = { ...io("known@grey.cli.test\n"), progressEveryMs: 10 };
    Object.assign(streams.stderr, { isTTY: true });
    const args = ["--dns", dns.address, "--smtp", "--helo", "probe.listwarden.test", "--mail-from", "bounces@probe.listwarden.test", "--smtp-port", String(fleet.port)];
    expect(await verifyCli(args, streams, { smtp: { greylistRetryDelaysMs: [300] } })).toBe(0);
    expect(jsonLines(streams.stdout.text).map((r) => r.reason)).toEqual(["accepted_email"]);
    expect(streams.stderr.text).toContain("1 waiting for a greylisting retry");
    expect(streams.stderr.text).toMatch(/\r\x1b\[K0 done, 1 in progress/);
  });

  it("prints no progress when standard error is not a terminal", async () => {
    const streams = { ...io("known@cli.test\n"), progressEveryMs: 1 };
    expect(await verifyCli(["--dns", dns.address], streams)).toBe(0);
    expect(streams.stderr.text).not.toContain("\x1b[K");
  });

  it("reads standard input when no file is given", async () => {
    const streams = io("known@cli.test\n");
    expect(await verifyCli(["--dns", dns.address], streams)).toBe(0);
    expect(jsonLines(streams.stdout.text)).toHaveLength(1);
  });

  it("probes over SMTP with --smtp", async () => {
    const streams = io("known@cli.test\nghost@cli.test\n");
    const args = ["--dns", dns.address, "--smtp", "--helo", "probe.listwarden.test", "--mail-from", "bounces@probe.listwarden.test", "--smtp-port", String(fleet.port)];
    expect(await verifyCli(args, streams)).toBe(0);
    expect(jsonLines(streams.stdout.text).map((r) => r.reason)).toEqual(["accepted_email", "mailbox_not_found"]);
  });

  it("stops when the SMTP preflight fails", async () => {
    const streams = io("known@cli.test\n");
    const args = ["--smtp", "--helo", "probe.listwarden.test", "--mail-from", "b@probe.listwarden.test", "--smtp-port", String(fleet.port), "--preflight", "127.0.0.3"];
    expect(await verifyCli(args, streams)).toBe(1);
    expect(streams.stderr.text).toContain("SMTP preflight to 127.0.0.3 failed (smtp_unavailable");
    expect(streams.stdout.text).toBe("");
  });

  it("explains a missing file, a bad flag and an incomplete --smtp", async () => {
    let streams = io();
    expect(await verifyCli([path.join(dir, "nope.txt")], streams)).toBe(1);
    expect(streams.stderr.text).toContain("cannot read");
    expect(streams.stderr.text).toContain("ENOENT");

    streams = io();
    expect(await verifyCli(["--fast"], streams)).toBe(2);
    expect(streams.stderr.text).toContain("Unknown option '--fast'");
    expect(streams.stderr.text).toContain("Usage: listwarden verify");

    streams = io();
    expect(await verifyCli(["--smtp"], streams)).toBe(2);
    expect(streams.stderr.text).toContain("--smtp needs --helo NAME and --mail-from ADDRESS");

    streams = io();
    expect(await verifyCli(["--smtp-port", "99999"], streams)).toBe(2);
  });

  it("prints help", async () => {
    const streams = io();
    expect(await verifyCli(["--help"], streams)).toBe(0);
    expect(streams.stdout.text).toContain("Usage: listwarden verify");
  });
});

describe("verifyStream", () => {
  it("yields results while the source is still being read", async () => {
    const verifier = createVerifier({ dnsServers: [dns.address] });
    let release!: () => void;
    const firstSeen = new Promise<void>((resolve) => (release = resolve));
    async function* source() {
      yield "known@cli.test";
      await firstSeen;
      yield "other@cli.test";
    }
    const emails: string[] = [];
    for await (const result of verifier.verifyStream(source(), { window: 1 })) {
      emails.push(result.email);
      release();
    }
    expect(emails).toEqual(["known@cli.test", "other@cli.test"]);
  });
});
