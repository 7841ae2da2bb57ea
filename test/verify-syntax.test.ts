import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { checkSyntax } from "../verify/syntax.ts";

interface CorpusCase {
  id: string;
  address: string;
  category: string;
  diagnosis: string;
}

const readJson = <T>(name: string): T => JSON.parse(readFileSync(new URL(`./data/${name}`, import.meta.url), "utf8")) as T;
const corpus = readJson<{ cases: CorpusCase[] }>("isemail-tests.json");
const expectation = readJson<{ cases: number; agreements: number; disagreements: Record<string, string> }>("isemail-disagreements.json");

/** isemail writes control characters as U+2400 Control Pictures. */
const decode = (address: string) => address.replace(/[\u2400-\u2420]/g, (c) => String.fromCharCode(c.charCodeAt(0) - 0x2400));
const expectedValid = (c: CorpusCase) => c.category === "ISEMAIL_VALID_CATEGORY" || c.category === "ISEMAIL_RFC5321";

describe("syntax against the isemail corpus", () => {
  const cases = corpus.cases.filter((c) => c.category !== "ISEMAIL_DNSWARN");
  const disagreeing = cases.filter((c) => checkSyntax(decode(c.address)).ok !== expectedValid(c));
  const agreements = cases.length - disagreeing.length;
  console.log(`isemail corpus: ${cases.length} cases, ${agreements} agreements, ${disagreeing.length} disagreements (explained in test/data/isemail-disagreements.json)`);

  it("agrees with the committed expectation, so regressions fail", () => {
    expect(corpus.cases).toHaveLength(164);
    expect(cases).toHaveLength(expectation.cases);
    expect(agreements).toBe(expectation.agreements);
  });

  it("explains every disagreement, and only those", () => {
    expect(disagreeing.map((c) => c.id).sort()).toEqual(Object.keys(expectation.disagreements).sort());
  });
});

describe("syntax and normalisation", () => {
  it.each([
    ["plain", "john.doe@example.com", "john.doe@example.com"],
    ["trims and lowercases only the domain", "  John.Doe@Example.COM\t", "John.Doe@example.com"],
    ["subaddress", "john+news@example.com", "john+news@example.com"],
    ["quoted local part with a space", '"john doe"@example.com', '"john doe"@example.com'],
    ["quoted local part with an @", '"a@b"@example.com', '"a@b"@example.com'],
    ["IDN domain to ASCII", "jörg@Bücher.de", "jörg@xn--bcher-kva.de"],
    ["ideographic full stop in an IDN domain", "user@例え。テスト", "user@xn--r8jz45g.xn--zckzah"],
    ["64-octet local part", `${"a".repeat(64)}@example.com`, `${"a".repeat(64)}@example.com`],
    ["hyphens inside labels", "x@mason-dixon.co.uk", "x@mason-dixon.co.uk"],
  ])("accepts %s", (_name, input, normalized) => {
    expect(checkSyntax(input)).toMatchObject({ ok: true, normalized });
  });

  it.each([
    ["empty", "   ", "empty"],
    ["no @", "john.example.com", "not_an_address"],
    ["two @", "a@b@example.com", "not_an_address"],
    ["display name", "John <john@example.com>", "not_an_address"],
    ["angle brackets", "<john@example.com>", "not_an_address"],
    ["comment", "john(work)@example.com", "not_an_address"],
    ["leading dot", ".john@example.com", "not_an_address"],
    ["trailing dot", "john.@example.com", "not_an_address"],
    ["consecutive dots", "jo..hn@example.com", "not_an_address"],
    ["obsolete quoted word mix", '"john".doe@example.com', "local_part"],
    ["IPv4 literal", "john@[192.0.2.1]", "ip_literal"],
    ["IPv6 literal", "john@[IPv6:2001:db8::1]", "ip_literal"],
    ["65-octet local part", `${"a".repeat(65)}@example.com`, "local_part_too_long"],
    ["64-character label", `x@${"a".repeat(64)}.com`, "label_too_long"],
    ["no TLD", "john@localhost", "no_tld"],
    ["numeric TLD", "john@example.123", "no_tld"],
    ["trailing dot in domain", "john@example.com.", "not_an_address"],
    ["empty label", "john@example..com", "not_an_address"],
    ["label starting with a hyphen", "john@-example.com", "domain"],
    ["underscore in domain", "john@ex_ample.com", "domain"],
    ["comma typo", "john@example,com", "not_an_address"],
    ["space inside", "john doe@example.com", "not_an_address"],
    ["over 254 octets", `${"a".repeat(64)}@${Array.from({ length: 4 }, () => "b".repeat(60)).join(".")}.com`, "too_long"],
  ])("rejects %s", (_name, input, problem) => {
    expect(checkSyntax(input)).toMatchObject({ ok: false, problem });
  });
});
