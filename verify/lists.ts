import { createRequire } from "node:module";
import { disposableEmailBlocklistSet } from "disposable-email-domains-js";

const require = createRequire(import.meta.url);

/**
 * Consumer mailbox providers large enough that a near-miss of their domain is far more
 * likely a typo (or a typo-squatter's trap) than a real company. Left out on purpose: short
 * names (qq, aol, me, gmx...) and two-letter country variants (yahoo.de, hotmail.fr), because
 * one edit away from them lie many genuine domains (yahoo.dk, hotmail.be...).
 */
export const MAJOR_PROVIDER_DOMAINS: readonly string[] = [
  "gmail.com", "googlemail.com", "yahoo.com", "yahoo.co.uk", "hotmail.com", "hotmail.co.uk",
  "outlook.com", "icloud.com", "protonmail.com", "rocketmail.com", "comcast.net", "verizon.net",
  "sbcglobal.net", "bellsouth.net", "btinternet.com", "yandex.com",
];

/** Real domains one edit away from a major provider, so never reported as its typo. */
const KNOWN_REAL_NEAR_MISSES = ["email.com", "ymail.com", "mail.com", "cloud.com"];

/** Corrections offered for domains that do not exist: the majors and other common providers. */
const SUGGESTION_DOMAINS: readonly string[] = [
  ...MAJOR_PROVIDER_DOMAINS,
  "aol.com", "msn.com", "live.com", "me.com", "mac.com", "ymail.com", "mail.com", "gmx.com", "gmx.de", "gmx.net",
  "web.de", "proton.me", "zoho.com", "yandex.ru", "mail.ru", "qq.com", "att.net", "cox.net", "charter.net",
  "earthlink.net", "optonline.net", "shaw.ca", "rogers.com", "sympatico.ca", "sky.com", "orange.fr", "free.fr",
  "libero.it", "t-online.de", "yahoo.fr", "yahoo.de", "yahoo.ca", "hotmail.fr", "hotmail.de", "hotmail.it",
];
const COMMON_TLDS = ["com", "net", "org"];

export type TypoSuggestion = {
  domain: string;
  /** One edit from a major provider's domain: suspicious even if the domain routes mail. */
  nearMajorProvider: boolean;
};

export interface ListChecks {
  isDisposable(domain: string): boolean;
  isFree(domain: string): boolean;
  isRole(local: string): boolean;
  suggestDomain(domain: string): TypoSuggestion | null;
}

interface ListData {
  disposable: ReadonlySet<string>;
  free: ReadonlySet<string>;
  role: ReadonlySet<string>;
  notTypos: ReadonlySet<string>;
}

let data: ListData | undefined;

/** The package lists, loaded once per process (immutable). */
function listData(): ListData {
  data ??= {
    disposable: disposableEmailBlocklistSet(),
    free: new Set(require("email-providers/all.json") as string[]),
    role: new Set((require("role-based-email-addresses") as string[]).map((r) => r.toLowerCase())),
    notTypos: new Set([
      ...(require("email-providers/common.json") as string[]),
      ...SUGGESTION_DOMAINS,
      ...KNOWN_REAL_NEAR_MISSES,
    ]),
  };
  return data;
}

const SUGGESTION_MEMO_LIMIT = 50_000;

export function createListChecks(): ListChecks {
  const lists = listData();
  const suggestions = new Map<string, TypoSuggestion | null>();

  /**
   * Our own edit-distance check rather than @zootools/email-spell-checker, whose fuzzy match
   * proposed acme.com → me.com, yahoo.con → yahoo.co and gmaill.con → mail.co.
   */
  function suggest(domain: string): TypoSuggestion | null {
    if (lists.notTypos.has(domain)) return null;
    const major = MAJOR_PROVIDER_DOMAINS.find((m) => editDistance(domain, m, 1) === 1);
    if (major) return { domain: major, nearMajorProvider: true };
    const allowed = domain.length >= 10 ? 2 : 1;
    const provider = SUGGESTION_DOMAINS.find((d) => editDistance(domain, d, allowed) <= allowed);
    if (provider) return { domain: provider, nearMajorProvider: false };
    const dot = domain.lastIndexOf(".");
    const tld = domain.slice(dot + 1);
    const fixed = COMMON_TLDS.find((t) => t !== tld && editDistance(tld, t) === 1);
    return fixed ? { domain: `${domain.slice(0, dot)}.${fixed}`, nearMajorProvider: false } : null;
  }

  return {
    isDisposable(domain) {
      for (let d = domain; d.includes("."); d = d.slice(d.indexOf(".") + 1)) {
        if (lists.disposable.has(d)) return true;
      }
      return false;
    },
    isFree: (domain) => lists.free.has(domain),
    isRole(local) {
      const lower = local.toLowerCase();
      const plus = lower.indexOf("+");
      return lists.role.has(plus > 0 ? lower.slice(0, plus) : lower);
    },
    suggestDomain(domain) {
      let suggestion = suggestions.get(domain);
      if (suggestion === undefined) {
        suggestion = suggest(domain);
        if (suggestions.size >= SUGGESTION_MEMO_LIMIT) suggestions.clear();
        suggestions.set(domain, suggestion);
      }
      return suggestion;
    },
  };
}

/**
 * Edits (insert, delete, substitute, swap adjacent) from `a` to `b`: the optimal string
 * alignment distance. With `max`, any distance above it may be reported as `max + 1`.
 */
export function editDistance(a: string, b: string, max = Infinity): number {
  if (a === b) return 0;
  if (Math.abs(a.length - b.length) > max) return max + 1;
  let before = new Array<number>(b.length + 1).fill(0);
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, before[j - 2]! + 1);
      current.push(best);
    }
    before = previous;
    previous = current;
  }
  return previous[b.length]!;
}
