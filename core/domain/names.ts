/**
 * Control characters (NUL, newlines, tabs, escapes) and the invisible characters that reorder
 * text (bidi overrides and isolates such as U+202E, directional marks, the BOM). In a name
 * they only serve to make a list or a page read as something it is not. Joiners used by
 * emoji (U+200C, U+200D) are kept.
 */
const HIDDEN = /[\p{Cc}\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]/gu;

/** A name as the user meant it: hidden characters removed, runs of spaces collapsed, trimmed. */
export function cleanName(name: string): string {
  return name.replace(HIDDEN, "").replace(/\s+/g, " ").trim();
}
