import { domainToASCII } from "node:url";
import emailAddresses from "email-addresses";

/**
 * Envelope-address syntax: what may appear in `RCPT TO:<...>` (RFC 5321 §4.1.2 Mailbox,
 * with RFC 6531 UTF-8), not the wider RFC 5322 header grammar. Comments, folding white
 * space, display names and obsolete forms are header syntax and rejected here.
 *
 * Policy beyond the RFCs, for addresses a marketer can send to:
 * - surrounding white space (including CR/LF from pasted or exported data) is trimmed;
 * - IP-literal domains (`user@[192.0.2.1]`) are rejected: valid SMTP, but no mailbox
 *   provider hands them out and they bypass every DNS check;
 * - the domain needs at least two labels and an alphabetic (or IDNA `xn--`) TLD;
 * - U+FFFD (what a decoder puts for bytes that are not UTF-8) is never part of an address.
 */

export type SyntaxProblem =
  | "empty"
  /** U+FFFD: the input was not valid text (bytes that are not UTF-8, decoded with replacements). */
  | "undecodable"
  | "not_an_address"
  | "local_part"
  | "local_part_too_long"
  | "ip_literal"
  | "domain"
  | "label_too_long"
  | "no_tld"
  | "too_long";

export type SyntaxCheck =
  | { ok: true; local: string; domain: string; normalized: string }
  | { ok: false; problem: SyntaxProblem; trimmed: string };

const MAX_LOCAL_OCTETS = 64;
const MAX_ADDRESS_OCTETS = 254;
const MAX_LABEL_OCTETS = 63;

const ATEXT = "A-Za-z0-9!#$%&'*+/=?^_`{|}~-";
const SIMPLE_ADDRESS = new RegExp(`^[${ATEXT}]+(?:\\.[${ATEXT}]+)*@([A-Za-z0-9-]+(?:\\.[A-Za-z0-9-]+)*)$`);

// RFC 6532 UTF8-non-ascii, minus controls, format characters and separators.
const UTF8_NON_ASCII = String.raw`[^\x00-\x7F\p{C}\p{Z}]`;
const DOT_STRING = new RegExp(`^(?:[${ATEXT}]|${UTF8_NON_ASCII})+(?:\\.(?:[${ATEXT}]|${UTF8_NON_ASCII})+)*$`, "u");
const QUOTED_STRING = new RegExp(String.raw`^"(?:[\x20\x21\x23-\x5B\x5D-\x7E]|${UTF8_NON_ASCII}|\\[\x20-\x7E])*"$`, "u");

const CONTROL = /[\x00-\x1F\x7F]/;
/** "local part"@domain with nothing else around: the local part is then checked as a quoted string. */
const QUOTED_ADDRESS = /^("(?:[^"\\]|\\.)*")@([^@"\s\\]+)$/;
const RAW_DOMAIN = /^(?:[A-Za-z0-9.-]|[^\x00-\x7F])+$/;
const LDH_LABEL = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/;
const TLD = /^(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})$/;

const utf8Length = (s: string) => Buffer.byteLength(s, "utf8");

function failed(problem: SyntaxProblem, trimmed: string): SyntaxCheck {
  return { ok: false, problem, trimmed };
}

export function checkSyntax(input: string): SyntaxCheck {
  const trimmed = input.trim();
  if (trimmed === "") return failed("empty", trimmed);
  if (trimmed.includes("\uFFFD")) return failed("undecodable", trimmed);

  const split = splitAddress(trimmed);
  if (!split) return failed("not_an_address", trimmed);
  const { local, domain: rawDomain, ascii } = split;

  if (rawDomain.startsWith("[")) return failed("ip_literal", trimmed);
  // A plain ASCII dot-atom (nearly every real address) is valid as matched: its octets are its
  // characters and the Unicode-aware patterns below (the costliest part) can be skipped.
  if ((ascii ? local.length : utf8Length(local)) > MAX_LOCAL_OCTETS) return failed("local_part_too_long", trimmed);
  if (!ascii && !DOT_STRING.test(local) && !QUOTED_STRING.test(local)) return failed("local_part", trimmed);

  const domain = toAsciiDomain(rawDomain);
  if (typeof domain !== "string") return failed(domain.problem, trimmed);
  const normalized = `${local}@${domain}`;
  if ((ascii ? normalized.length : utf8Length(normalized)) > MAX_ADDRESS_OCTETS) return failed("too_long", trimmed);
  return { ok: true, local, domain, normalized };
}

/**
 * Plain ASCII dot-atom addresses (nearly all real ones) are split by a regular expression
 * that accepts a strict subset of the RFC grammar; everything else (quoted local parts,
 * UTF-8, stray characters) goes through the `email-addresses` RFC 5322/6532 parser, and
 * only a bare addr-spec without comments or display name is kept.
 */
function splitAddress(address: string): { local: string; domain: string; ascii: boolean } | null {
  const simple = SIMPLE_ADDRESS.exec(address);
  if (simple) return { local: address.slice(0, address.length - simple[1]!.length - 1), domain: simple[1]!, ascii: true };
  if (CONTROL.test(address)) return null;
  // The RFC parser below costs about a hundred times the patterns above: what cannot be an
  // address at all, or a plain quoted local part, is settled without it.
  if (!address.includes("@")) return null;
  const quoted = QUOTED_ADDRESS.exec(address);
  if (quoted) return { local: quoted[1]!, domain: quoted[2]!, ascii: false };

  const parsed = emailAddresses.parseOneAddress({ input: address, rfc6532: true });
  if (!parsed || parsed.type !== "mailbox" || parsed.name !== null || parsed.parts.comments.length > 0) return null;
  if (parsed.parts.address.tokens !== address) return null;
  return { local: parsed.parts.local.tokens, domain: parsed.parts.domain.tokens, ascii: false };
}

function toAsciiDomain(raw: string): string | { problem: SyntaxProblem } {
  if (!RAW_DOMAIN.test(raw)) return { problem: "domain" };
  const ascii = /^[\x00-\x7F]*$/.test(raw) && !/(^|\.)xn--/i.test(raw) ? raw.toLowerCase() : domainToASCII(raw);
  if (ascii === "") return { problem: "domain" };

  const labels = ascii.split(".");
  for (const label of labels) {
    if (label.length > MAX_LABEL_OCTETS) return { problem: "label_too_long" };
    if (!LDH_LABEL.test(label)) return { problem: "domain" };
  }
  if (labels.length < 2 || !TLD.test(labels[labels.length - 1]!)) return { problem: "no_tld" };
  return ascii;
}
