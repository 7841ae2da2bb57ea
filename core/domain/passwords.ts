import { dictionary } from "@zxcvbn-ts/language-common";

/** The documented password rules (README, "Security"); zod at the edges checks the lengths. */
export const PASSWORD_RULES = { minLength: 10, maxLength: 200 } as const;

/**
 * The ~49,000 most common passwords of public breach corpora, as zxcvbn-ts ships them.
 * Only the list is used, not zxcvbn's estimator: its pattern matching takes 80-450 ms of CPU
 * for crafted 16-200 character inputs, which an unauthenticated form must not offer.
 */
const COMMON = new Set(dictionary["passwords-common"].map((p) => p.toLowerCase()));
const SITE_WORDS = ["listwarden", "activecampaign"];

/**
 * Why a new password is refused, as the end of "password ...", or null when it is fine.
 * Cheap on purpose (set lookups and one pass over the string): it runs before any throttle.
 */
export function passwordProblem(password: string, email = ""): string | null {
  if (password.trim() === "") return "must not be only spaces";
  const lower = password.toLowerCase();
  // "password123", "sunshine2024!", "  qwertyuiop  ": a common password with digits or symbols around it.
  const core = lower.replace(/^[\s\d\W_]+|[\s\d\W_]+$/g, "");
  if (COMMON.has(lower) || COMMON.has(lower.trim()) || (core.length >= 4 && COMMON.has(core))) {
    return "is one of the most common passwords, which attackers try first; choose another (a few unrelated words work well)";
  }
  if (new Set(lower).size < 4) return 'repeats too few characters (like "aaaaaaaaaa" or "1212121212"); choose another';
  if (isSequence(lower)) return 'is a plain sequence (like "1234567890" or "abcdefghij"); choose another';
  const local = email.toLowerCase().split("@")[0] ?? "";
  const personal = [email.toLowerCase(), ...(local.length >= 4 ? [local] : []), ...SITE_WORDS].filter(Boolean);
  if (personal.some((word) => core === word || lower === word)) return "must not be your e-mail address or this site's name; choose another";
  return null;
}

function isSequence(s: string): boolean {
  const step = s.charCodeAt(1) - s.charCodeAt(0);
  if (Math.abs(step) !== 1) return false;
  for (let i = 2; i < s.length; i++) if (s.charCodeAt(i) - s.charCodeAt(i - 1) !== step) return false;
  return true;
}
