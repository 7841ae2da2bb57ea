import type { VerificationReason, VerificationStatus } from "../verify/taxonomy.ts";
import type { Zone, ZoneEntry } from "./dns.ts";
import type { FakeAc } from "./fake-ac.ts";
import { acceptAll, blocklisting, greylisting, slowly, strictMailboxes, type FakeMxSpec } from "./smtp.ts";

/**
 * The demo's mail world: an ActiveCampaign account (4 lists, 3 tags, contacts) whose
 * addresses sit on made-up domains served by the sandbox DNS and SMTP servers, chosen so
 * that together they produce every verification outcome (docs/verification.md) that DNS, SMTP, the
 * lists and AC's hard-bounce flag can give. Each contact carries its ground truth: the
 * status and reason the verifier must report, with and without SMTP probing.
 *
 * Everything is deterministic: the same `contacts` count gives the same world.
 */

export interface Outcome {
  status: VerificationStatus;
  reason: VerificationReason;
}

/**
 * Companies whose mail servers know exactly their mailboxes (550 5.1.1 for anyone else), each
 * on its own loopback address: smtp-server waits 100 ms before its greeting and the verifier
 * opens at most 2 sessions per address, so spreading them keeps probing quick.
 * umbrella.test has no MX: its A record receives mail (RFC 5321 §5.1).
 */
const COMPANIES = [
  { domain: "acme.test", host: "127.0.0.2", mx: "mx1.acme.test" },
  { domain: "globex.test", host: "127.0.0.3", mx: "mail.globex.test" },
  { domain: "initech.test", host: "127.0.0.4", mx: "mx.initech.test" },
  { domain: "umbrella.test", host: "127.0.0.5", mx: null },
  { domain: "stark.test", host: "127.0.0.6", mx: "mx.stark.test" },
  { domain: "wayne.test", host: "127.0.0.7", mx: "inbound.wayne.test" },
  { domain: "wonka.test", host: "127.0.0.8", mx: "mx.wonka.test" },
  { domain: "tyrell.test", host: "127.0.0.9", mx: "mx.tyrell.test" },
  { domain: "cyberdyne.test", host: "127.0.0.10", mx: "mx.cyberdyne.test" },
  { domain: "soylent.test", host: "127.0.0.11", mx: "mx.soylent.test" },
] as const;

/** The loopback addresses of the other mail hosts; every host listens on the same port. */
export const MAIL_HOSTS = {
  catchAll: "127.0.0.12",
  greylisting: "127.0.0.13",
  tarpit: "127.0.0.14",
  offline: "127.0.0.15",
  blocking: "127.0.0.16",
} as const;

/** Every mail host's address, in order. */
export const MAIL_HOST_ADDRESSES: readonly string[] = [...COMPANIES.map((c) => c.host), ...Object.values(MAIL_HOSTS)];

const mx = (exchange: string) => ({ mx: [{ priority: 10, exchange }] });

/** Every name the world's DNS answers; anything else (vanished.test) is NXDOMAIN. */
export const WORLD_ZONE: Zone = {
  ...Object.fromEntries(
    COMPANIES.flatMap((c): [string, ZoneEntry][] => (c.mx ? [[c.domain, mx(c.mx)], [c.mx, { a: [c.host] }]] : [[c.domain, { a: [c.host] }]])),
  ),
  "hooli.test": mx("mx.hooli.test"),
  "mx.hooli.test": { a: [MAIL_HOSTS.catchAll] },
  "gmaill.com": mx("mx.gmaill.com"),
  "mx.gmaill.com": { a: [MAIL_HOSTS.catchAll] },
  "mailinator.com": mx("mail.mailinator.com"),
  "mail.mailinator.com": { a: [MAIL_HOSTS.catchAll] },
  "piedpiper.test": mx("mx.piedpiper.test"),
  "mx.piedpiper.test": { a: [MAIL_HOSTS.greylisting] },
  "tarpit.test": mx("mx.tarpit.test"),
  "mx.tarpit.test": { a: [MAIL_HOSTS.tarpit] },
  "offline.test": mx("mx.offline.test"),
  "mx.offline.test": { a: [MAIL_HOSTS.offline] },
  "fortress.test": mx("mx.fortress.test"),
  "mx.fortress.test": { a: [MAIL_HOSTS.blocking] },
  // A consumer Outlook.com-style domain: the provider rules say its answers prove nothing.
  "hotmail-like.test": mx("hotmail-like-test.olc.protection.outlook.com"),
  "hotmail-like-test.olc.protection.outlook.com": { a: [MAIL_HOSTS.catchAll] },
  "parked.test": { mx: "null" },
  "dormant.test": {},
  // A dangling MX: its host name does not exist.
  "adrift.test": mx("mx.gone.adrift.test"),
  "brokendns.test": { rcode: "SERVFAIL" },
  "silentdns.test": { silent: true },
};

const deliverable = (reason: VerificationReason): Outcome => ({ status: "deliverable", reason });
const risky = (reason: VerificationReason): Outcome => ({ status: "risky", reason });
const undeliverable = (reason: VerificationReason): Outcome => ({ status: "undeliverable", reason });
const unknown = (reason: VerificationReason): Outcome => ({ status: "unknown", reason });
const DOMAIN_OK = deliverable("mail_domain_ok");

interface KindSpec {
  /** What the address is, for people reading the demo's report. */
  about: string;
  domains: readonly string[];
  /** Share of the world's contacts, and the fewest there are (so small worlds still cover it). */
  share: number;
  min: number;
  smtp: Outcome;
  /** Without an SMTP probe (or when it cannot run). */
  dns: Outcome;
}

const STRICT_DOMAINS = COMPANIES.map((c) => c.domain);

/** The kinds of address in the world; `accepted` takes whatever share the others leave. */
export const KINDS = {
  accepted: { about: "a mailbox that exists", domains: [STRICT_DOMAINS[0]!, ...STRICT_DOMAINS], share: 0, min: 8, smtp: deliverable("accepted_email"), dns: DOMAIN_OK },
  greylistedThenAccepted: { about: "a mailbox behind greylisting that accepts on retry", domains: ["piedpiper.test"], share: 0.01, min: 1, smtp: deliverable("accepted_email"), dns: DOMAIN_OK },
  role: { about: "a role mailbox (info@, sales@...) that exists", domains: STRICT_DOMAINS, share: 0.01, min: 2, smtp: risky("role_account"), dns: risky("role_account") },
  hardBounced: { about: "a mailbox AC already recorded a hard bounce for", domains: STRICT_DOMAINS, share: 0.01, min: 2, smtp: undeliverable("hard_bounced"), dns: undeliverable("hard_bounced") },
  notFound: { about: "no such mailbox (550 5.1.1)", domains: STRICT_DOMAINS, share: 0.03, min: 2, smtp: undeliverable("mailbox_not_found"), dns: DOMAIN_OK },
  disabled: { about: "a disabled mailbox (550 5.2.1)", domains: STRICT_DOMAINS, share: 0.008, min: 2, smtp: undeliverable("mailbox_disabled"), dns: DOMAIN_OK },
  fullTemporary: { about: "a full mailbox (452 4.2.2)", domains: STRICT_DOMAINS, share: 0.006, min: 1, smtp: risky("mailbox_full"), dns: DOMAIN_OK },
  fullPermanent: { about: "a mailbox over quota (552 5.2.2)", domains: STRICT_DOMAINS, share: 0.006, min: 1, smtp: risky("mailbox_full"), dns: DOMAIN_OK },
  acceptAll: { about: "a catch-all domain", domains: ["hooli.test"], share: 0.06, min: 2, smtp: risky("accept_all"), dns: DOMAIN_OK },
  greylisted: { about: "greylisted on every try", domains: ["piedpiper.test"], share: 0.004, min: 1, smtp: unknown("greylisted"), dns: DOMAIN_OK },
  blocked: { about: "a server that refuses us (5.7.1 block list)", domains: ["fortress.test"], share: 0.02, min: 1, smtp: unknown("smtp_blocked"), dns: DOMAIN_OK },
  timeout: { about: "a server slower than the reply timeout", domains: ["tarpit.test"], share: 0.002, min: 1, smtp: unknown("smtp_timeout"), dns: DOMAIN_OK },
  unavailable: { about: "an MX that refuses connections", domains: ["offline.test"], share: 0.015, min: 1, smtp: unknown("smtp_unavailable"), dns: DOMAIN_OK },
  nullMx: { about: "a domain with a null MX (RFC 7505)", domains: ["parked.test"], share: 0.01, min: 1, smtp: undeliverable("null_mx"), dns: undeliverable("null_mx") },
  providerUnverifiable: {
    about: "an Outlook.com-style mailbox: its answers prove nothing",
    domains: ["hotmail-like.test"],
    share: 0.01,
    min: 1,
    smtp: unknown("provider_unverifiable"),
    dns: DOMAIN_OK,
  },
  noMailServer: { about: "a domain with no MX and no A/AAAA, or a dangling MX", domains: ["dormant.test", "adrift.test"], share: 0.01, min: 1, smtp: undeliverable("no_mail_server"), dns: undeliverable("no_mail_server") },
  domainNotFound: { about: "a domain that does not exist (NXDOMAIN)", domains: ["vanished.test"], share: 0.015, min: 2, smtp: undeliverable("domain_not_found"), dns: undeliverable("domain_not_found") },
  dnsServfail: { about: "a domain whose DNS answers SERVFAIL", domains: ["brokendns.test"], share: 0.01, min: 1, smtp: unknown("dns_error"), dns: unknown("dns_error") },
  dnsTimeout: { about: "a domain whose DNS never answers", domains: ["silentdns.test"], share: 0.003, min: 1, smtp: unknown("dns_error"), dns: unknown("dns_error") },
  disposable: { about: "a disposable-address domain", domains: ["mailinator.com"], share: 0.03, min: 2, smtp: risky("disposable"), dns: risky("disposable") },
  typo: { about: "a likely typo of a major provider (gmaill.com)", domains: ["gmaill.com"], share: 0.01, min: 1, smtp: risky("possible_typo"), dns: risky("possible_typo") },
  invalidSyntax: { about: "not an e-mail address", domains: ["acme.test"], share: 0.005, min: 1, smtp: undeliverable("invalid_syntax"), dns: undeliverable("invalid_syntax") },
} as const satisfies Record<string, KindSpec>;

export type Kind = keyof typeof KINDS;

export const LIST_NAMES = ["Newsletter", "Customers", "Webinar leads", "Partners"] as const;
export const TAG_NAMES = ["VIP", "Imported 2019", "Trade show"] as const;

export interface WorldContact {
  /** The AC id it is seeded with. */
  id: string;
  email: string;
  kind: Kind;
  firstName: string;
  lastName: string;
  phone: string;
  /** List id → status (0 unconfirmed, 1 active, 2 unsubscribed, 3 bounced). */
  lists: Record<string, number>;
  tagIds: string[];
  bouncedHard: boolean;
  bouncedSoft: boolean;
}

export interface World {
  lists: { id: string; name: string }[];
  tags: { id: string; name: string }[];
  contacts: WorldContact[];
  /** The ground truth: what the verifier must say about a seeded address. */
  expected(email: string, opts: { smtpProbe: boolean }): Outcome;
  /** How many contacts of each kind the world holds. */
  counts: Record<Kind, number>;
}

/** Mulberry32: a small seeded PRNG, so every world of a size is the same. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const FIRST = ["Ana", "Ben", "Chloe", "Dev", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kemi", "Liam", "Maya", "Noor", "Oscar", "Priya", "Quinn", "Rosa", "Sami", "Tara", "Umar", "Vera", "Wen", "Ximena", "Yusuf", "Zoe"];
const LAST = ["Lopez", "Smith", "Okafor", "Nguyen", "Rossi", "Khan", "Muller", "Tanaka", "Silva", "Dubois", "Novak", "Haddad", "Berg", "Costa", "Ivanova", "Kowalski", "Moreau", "Singh", "Walsh", "Yilmaz"];
const ROLES = ["info", "sales", "support", "admin", "billing", "marketing", "office", "contact", "hello", "team", "jobs", "noreply"];
const BROKEN = [(l: string, d: string) => `${l}.${d}`, (l: string, d: string) => `${l}@@${d}`, (l: string) => `${l}@`, (l: string, d: string) => `${l} at ${d}`];

/** How many contacts of each kind a world of `total` holds: each its share (at least its minimum), the rest accepted. */
function kindCounts(total: number): Record<Kind, number> {
  const kinds = Object.keys(KINDS) as Kind[];
  const counts = Object.fromEntries(kinds.map((k) => [k, Math.max(KINDS[k].min, Math.round(KINDS[k].share * total))])) as Record<Kind, number>;
  const others = kinds.filter((k) => k !== "accepted").reduce((sum, k) => sum + counts[k], 0);
  counts.accepted = total - others;
  if (counts.accepted < KINDS.accepted.min) {
    throw new Error(`a demo world needs at least ${others + KINDS.accepted.min} contacts to hold every outcome`);
  }
  return counts;
}

/** The smallest world that still holds every outcome. */
export const MIN_WORLD_CONTACTS = (Object.keys(KINDS) as Kind[]).reduce((sum, k) => sum + KINDS[k].min, 0);

/**
 * Builds a world of `contacts` contacts. Kinds are interleaved evenly, so any run of
 * consecutive ids looks like the whole, and acme.test, a working domain, is the most common
 * (a run's SMTP preflight probes the commonest domain of its first batch). The first
 * occurrence of every kind is active on "Newsletter" and the second on "Customers", so a
 * clean of those two lists meets every outcome.
 */
export function buildWorld(opts: { contacts: number }): World {
  const counts = kindCounts(opts.contacts);
  const rand = random(20_240_601);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(rand() * items.length)]!;

  // Each kind's items at evenly spaced positions in [0, 1), merged into one sequence.
  const order = (Object.keys(KINDS) as Kind[])
    .flatMap((kind) => Array.from({ length: counts[kind] }, (_, j) => ({ kind, j, at: (j + 0.5) / counts[kind] })))
    .sort((a, b) => a.at - b.at);

  const lists = LIST_NAMES.map((name, i) => ({ id: String(i + 1), name }));
  const tags = TAG_NAMES.map((name, i) => ({ id: String(i + 1), name }));
  const [newsletter, customers, webinar, partners] = lists.map((l) => l.id) as [string, string, string, string];
  const taken = new Set<string>();
  const contacts: WorldContact[] = [];
  let id = 0;

  for (const { kind, j } of order) {
    const spec: KindSpec = KINDS[kind];
    const domain = spec.domains[j % spec.domains.length]!;
    const firstName = pick(FIRST);
    const lastName = pick(LAST);
    let local = kind === "role" ? ROLES[Math.floor(j / STRICT_DOMAINS.length) % ROLES.length]! : `${firstName}.${lastName}`.toLowerCase();
    for (let n = 2; taken.has(`${local}@${domain}`); n++) local = kind === "role" ? `${local.split("+")[0]}+${n}` : `${firstName}.${lastName}${n}`.toLowerCase();
    taken.add(`${local}@${domain}`);
    const email = kind === "invalidSyntax" ? BROKEN[j % BROKEN.length]!(local, domain) : `${local}@${domain}`;

    const memberships: Record<string, number> = {};
    const status = () => {
      const r = rand();
      return r < 0.85 ? 1 : r < 0.92 ? 2 : r < 0.97 ? 0 : 3;
    };
    if (j === 0) memberships[newsletter] = 1;
    else if (j === 1) Object.assign(memberships, { [customers]: 1, [webinar]: 1 });
    else {
      const r = rand();
      const primary = r < 0.45 ? newsletter : r < 0.75 ? customers : r < 0.9 ? webinar : r < 0.98 ? partners : null;
      if (primary) memberships[primary] = status();
      if (primary && rand() < 0.25) memberships[pick(lists).id] ??= status();
    }
    const tagIds = tags.filter((_, t) => rand() < [0.08, 0.2, 0.1][t]!).map((t) => t.id);

    id += rand() < 0.1 ? 2 : 1; // AC's ids have gaps where contacts were deleted
    contacts.push({
      id: String(id),
      email,
      kind,
      firstName,
      lastName,
      phone: rand() < 0.3 ? `+1 555 01${String(Math.floor(rand() * 100)).padStart(2, "0")}` : "",
      lists: memberships,
      tagIds,
      bouncedHard: kind === "hardBounced",
      bouncedSoft: kind === "accepted" && rand() < 0.02,
    });
  }

  const byEmail = new Map(contacts.map((c) => [c.email, c]));
  return {
    lists,
    tags,
    contacts,
    counts,
    expected(email, { smtpProbe }) {
      const contact = byEmail.get(email);
      if (!contact) throw new Error(`${email} is not in the world`);
      const spec: KindSpec = KINDS[contact.kind];
      return smtpProbe ? spec.smtp : spec.dns;
    },
  };
}

/** Seeds `world` into an empty sandbox account, with the ids the world names. */
export function seedWorld(fake: FakeAc, world: World): void {
  if (fake.lists.size > 0 || fake.tags.size > 0 || fake.contacts.size > 0) throw new Error("seedWorld needs an empty account");
  for (const l of world.lists) if (fake.addList(l.name) !== l.id) throw new Error("list ids drifted");
  for (const t of world.tags) if (fake.addTag(t.name) !== t.id) throw new Error("tag ids drifted");
  for (const c of world.contacts) {
    fake.addContact({
      id: c.id,
      email: c.email,
      firstName: c.firstName,
      lastName: c.lastName,
      phone: c.phone,
      lists: c.lists,
      tags: c.tagIds,
      bouncedHard: c.bouncedHard,
      bouncedSoft: c.bouncedSoft,
    });
  }
}

/**
 * The world's mail hosts for `startSmtpServers`: strict servers that know exactly the
 * world's mailboxes, a catch-all, a greylisting one, a tarpit slower than `tarpitDelayMs`
 * (set it above the verifier's reply timeout), one that refuses connections and one that
 * blocks us.
 */
export function worldMailHosts(world: World, opts: { tarpitDelayMs: number }): FakeMxSpec[] {
  const of = (...kinds: Kind[]) => world.contacts.filter((c) => kinds.includes(c.kind)).map((c) => c.email);
  const strict = strictMailboxes({
    mailboxes: of("accepted", "role", "hardBounced"),
    disabled: of("disabled"),
    full: of("fullTemporary"),
    overQuota: of("fullPermanent"),
  });
  return [
    ...COMPANIES.map((c) => ({ host: c.host, rcpt: strict })),
    { host: MAIL_HOSTS.catchAll, rcpt: acceptAll() },
    { host: MAIL_HOSTS.greylisting, rcpt: greylisting(strictMailboxes({ mailboxes: of("greylistedThenAccepted") }), { always: of("greylisted") }) },
    { host: MAIL_HOSTS.tarpit, rcpt: slowly(opts.tarpitDelayMs, acceptAll()) },
    { host: MAIL_HOSTS.offline, refuse: true },
    { host: MAIL_HOSTS.blocking, rcpt: blocklisting() },
  ];
}

/** What the world holds, one line per kind of address: count, what it is, the result expected. */
export function describeWorld(world: World): string {
  const kinds = Object.keys(KINDS) as Kind[];
  const count = (k: Kind) => world.counts[k].toLocaleString("en-US");
  const width = Math.max(...kinds.map((k) => count(k).length));
  return kinds
    .map((k) => {
      const spec: KindSpec = KINDS[k];
      const plain = spec.dns.reason === spec.smtp.reason ? "" : ` (without SMTP probe: ${spec.dns.reason})`;
      return `  ${count(k).padStart(width)}  ${spec.about.padEnd(52)} → ${spec.smtp.status}/${spec.smtp.reason}${plain}`;
    })
    .join("\n");
}
