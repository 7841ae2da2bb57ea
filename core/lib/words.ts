/**
 * Numbers in a marketer's words, for every layer that writes a sentence (a run's reason, a
 * notification, a page): "1 contact", "1,204 contacts", never "contact(s)".
 */

const number = new Intl.NumberFormat("en-US");
/** Whole numbers with separators; never "-0". */
export const fmt = (n: number) => number.format(n === 0 ? 0 : n);

export function plural(n: number, one: string, many = `${one}s`): string {
  return `${fmt(n)} ${n === 1 ? one : many}`;
}
