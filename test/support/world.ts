import type { Zone } from "./dns-server.ts";

/**
 * A small mail world for hygiene-run tests: domains served by the test DNS server, each
 * giving a known verification outcome without SMTP, and addresses built on them.
 */
export const WORLD_ZONE: Zone = {
  "ok.example.com": { mx: [{ priority: 10, exchange: "mx.ok.example.com" }] },
  "mx.ok.example.com": { a: ["127.0.0.2"] },
  "aonly.example.net": { a: ["127.0.0.3"] },
  "nullmx.example.org": { mx: "null" },
  "nomail.example.com": {},
  "broken.example.com": { rcode: "SERVFAIL" },
  "mailinator.com": { mx: [{ priority: 10, exchange: "mx.ok.example.com" }] },
};

export interface Expected {
  status: "deliverable" | "risky" | "undeliverable" | "unknown";
  reason: string;
}

/** Local part and domain → what the verifier must say about it (without SMTP probing). */
export const KINDS = {
  deliverable: { domain: "ok.example.com", expected: { status: "deliverable", reason: "mail_domain_ok" } },
  aOnly: { domain: "aonly.example.net", expected: { status: "deliverable", reason: "mail_domain_ok" } },
  nullMx: { domain: "nullmx.example.org", expected: { status: "undeliverable", reason: "null_mx" } },
  noDomain: { domain: "gone.example.com", expected: { status: "undeliverable", reason: "domain_not_found" } },
  noMail: { domain: "nomail.example.com", expected: { status: "undeliverable", reason: "no_mail_server" } },
  dnsError: { domain: "broken.example.com", expected: { status: "unknown", reason: "dns_error" } },
  disposable: { domain: "mailinator.com", expected: { status: "risky", reason: "disposable" } },
} as const satisfies Record<string, { domain: string; expected: Expected }>;

export type Kind = keyof typeof KINDS;

export function address(kind: Kind, local: string): string {
  return `${local}@${KINDS[kind].domain}`;
}
