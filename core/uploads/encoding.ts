import type { UploadEncoding } from "../../db/schema/index.ts";

/**
 * Reading an uploaded file's bytes as text, and writing text back in the same encoding.
 *
 * The encodings are a closed set, decided in this order: a byte-order mark (UTF-8, UTF-16 LE
 * or BE); UTF-16 without one (every other byte zero in the first kilobytes); UTF-8 when every
 * byte of the file is valid UTF-8; otherwise Windows-1252, the "Latin-1" Excel writes on
 * Windows (a superset of ISO-8859-1 in the printable range). No statistical guess is needed:
 * a file that is valid UTF-8 is read as UTF-8, and any other is one byte per character.
 * Node's TextDecoder (full ICU) reads all of them; the encoders below write them back.
 */

/** Files that are something else than text, by their first bytes, in words for the user. */
const MAGIC: { bytes: number[]; what: string }[] = [
  { bytes: [0x50, 0x4b, 0x03, 0x04], what: "an Excel workbook (.xlsx) or another zip file" },
  { bytes: [0xd0, 0xcf, 0x11, 0xe0], what: "an old Excel workbook (.xls) or another Office file" },
  { bytes: [0x25, 0x50, 0x44, 0x46], what: "a PDF" },
  { bytes: [0x89, 0x50, 0x4e, 0x47], what: "a PNG image" },
  { bytes: [0xff, 0xd8, 0xff], what: "a JPEG image" },
  { bytes: [0x47, 0x49, 0x46, 0x38], what: "a GIF image" },
  { bytes: [0x1f, 0x8b], what: "a gzip archive" },
];

export function fileTypeOf(head: Uint8Array): string | null {
  return MAGIC.find((m) => m.bytes.every((b, i) => head[i] === b))?.what ?? null;
}

/** The encoding the first bytes settle (a BOM, or UTF-16's zero bytes), or null: UTF-8 if valid, else Windows-1252. */
export function encodingFromHead(head: Uint8Array): UploadEncoding | null {
  if (head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf) return "utf-8-bom";
  if (head[0] === 0xff && head[1] === 0xfe) return "utf-16le";
  if (head[0] === 0xfe && head[1] === 0xff) return "utf-16be";
  // UTF-16 without a BOM: ASCII text has a zero in every other byte.
  const n = Math.min(head.length, 4096) & ~1;
  if (n >= 4) {
    let evenZero = 0;
    let oddZero = 0;
    for (let i = 0; i < n; i += 2) {
      if (head[i] === 0) evenZero += 1;
      if (head[i + 1] === 0) oddZero += 1;
    }
    const pairs = n / 2;
    if (oddZero > pairs * 0.4 && evenZero < pairs * 0.05) return "utf-16le";
    if (evenZero > pairs * 0.4 && oddZero < pairs * 0.05) return "utf-16be";
  }
  return null;
}

/** Checks, chunk by chunk, whether a whole file is valid UTF-8. */
export class Utf8Check {
  #decoder = new TextDecoder("utf-8", { fatal: true });
  #valid = true;

  push(chunk: Uint8Array): void {
    if (!this.#valid) return;
    try {
      this.#decoder.decode(chunk, { stream: true });
    } catch {
      this.#valid = false;
    }
  }

  end(): boolean {
    if (!this.#valid) return false;
    try {
      this.#decoder.decode();
      return true;
    } catch {
      return false;
    }
  }
}

const DECODER_LABEL: Record<UploadEncoding, string> = {
  "utf-8": "utf-8",
  "utf-8-bom": "utf-8",
  "utf-16le": "utf-16le",
  "utf-16be": "utf-16be",
  "windows-1252": "windows-1252",
};

/** Windows-1252's bytes 0x80-0x9F, as Unicode (the five undefined bytes map to the C1 controls, as the WHATWG decoder reads them). */
const CP1252_HIGH = [
  0x20ac, 0x81, 0x201a, 0x192, 0x201e, 0x2026, 0x2020, 0x2021, 0x2c6, 0x2030, 0x160, 0x2039, 0x152, 0x8d, 0x17d, 0x8f, 0x90, 0x2018, 0x2019, 0x201c, 0x201d,
  0x2022, 0x2013, 0x2014, 0x2dc, 0x2122, 0x161, 0x203a, 0x153, 0x9d, 0x17e, 0x178,
];
/** Decodes chunks of a file as they come (`stream: true` keeps a character cut between two chunks). */
export interface ChunkDecoder {
  decode(chunk?: Uint8Array, opts?: { stream?: boolean }): string;
}

/** A streaming decoder for the encoding; a BOM is dropped. */
export function decoderFor(encoding: UploadEncoding): ChunkDecoder {
  // Node's TextDecoder reads "windows-1252" as ISO-8859-1 (its 0x80-0x9F as control codes), so that one is ours.
  if (encoding === "windows-1252") return { decode: (chunk) => (chunk ? decodeCp1252(chunk) : "") };
  return new TextDecoder(DECODER_LABEL[encoding], { ignoreBOM: false });
}

const CP1252_CHARS = Array.from({ length: 256 }, (_, b) => String.fromCharCode(b >= 0x80 && b < 0xa0 ? CP1252_HIGH[b - 0x80]! : b));

export function decodeCp1252(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length; i += 8192) {
    const part = bytes.subarray(i, i + 8192);
    let s = "";
    for (const b of part) s += CP1252_CHARS[b];
    out += s;
  }
  return out;
}

const CP1252_BYTE = new Map(CP1252_HIGH.map((code, i) => [code, 0x80 + i]));

function encodeCp1252(text: string): Buffer {
  const out = Buffer.allocUnsafe(text.length);
  let n = 0;
  for (const ch of text) {
    const code = ch.codePointAt(0)!;
    // A character the encoding cannot hold (only ever in cells we add, which are ASCII) becomes "?".
    out[n++] = code < 0x80 || (code >= 0xa0 && code <= 0xff) ? code : (CP1252_BYTE.get(code) ?? 0x3f);
  }
  return out.subarray(0, n);
}

/** Text to bytes in the file's own encoding. */
export function encoderFor(encoding: UploadEncoding): (text: string) => Buffer {
  switch (encoding) {
    case "utf-8":
    case "utf-8-bom":
      return (text) => Buffer.from(text, "utf8");
    case "utf-16le":
      return (text) => Buffer.from(text, "utf16le");
    case "utf-16be":
      return (text) => Buffer.from(text, "utf16le").swap16();
    case "windows-1252":
      return encodeCp1252;
  }
}

/** The byte-order mark a result file starts with: the one the upload had. */
export function bomFor(encoding: UploadEncoding): Buffer {
  if (encoding === "utf-8-bom") return Buffer.from([0xef, 0xbb, 0xbf]);
  if (encoding === "utf-16le") return Buffer.from([0xff, 0xfe]);
  if (encoding === "utf-16be") return Buffer.from([0xfe, 0xff]);
  return Buffer.alloc(0);
}

/** Names for the page. */
export const ENCODING_WORDS: Record<UploadEncoding, string> = {
  "utf-8": "UTF-8",
  "utf-8-bom": "UTF-8 with a byte-order mark",
  "utf-16le": "UTF-16 (little-endian)",
  "utf-16be": "UTF-16 (big-endian)",
  "windows-1252": "Latin-1 (Windows-1252)",
};
