import { parse } from "csv-parse/sync";
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { UploadView } from "../../core/services/uploads.ts";
import { answer, apiClient } from "./api.ts";
import { ORIGIN, type Session, type TestApp } from "./app.ts";
import { KINDS } from "./world.ts";

export const UPLOAD_DATA = fileURLToPath(new URL("../data/uploads/", import.meta.url));
export const uploadData = (name: string) => readFileSync(path.join(UPLOAD_DATA, name));

/** POST /api/uploads with the file as multipart/form-data, as a browser's or curl's would be. */
export async function postUpload(t: TestApp, as: Session, name: string, bytes: Uint8Array, opts: { csrf?: "header" | "field" | "none" } = {}): Promise<Response> {
  const form = new FormData();
  const csrf = opts.csrf ?? "header";
  if (csrf === "field") form.append("_csrf", as.csrfToken);
  form.append("file", new Blob([new Uint8Array(bytes)]), name);
  return await t.app.request(`${ORIGIN}/api/uploads`, {
    method: "POST",
    headers: { cookie: as.cookie, ...(csrf === "header" ? { "x-csrf-token": as.csrfToken } : {}) },
    body: form,
  });
}

export async function upload(t: TestApp, as: Session, name: string, bytes: Uint8Array = uploadData(name)): Promise<UploadView> {
  const res = await postUpload(t, as, name, bytes);
  const text = await res.text();
  if (res.status !== 201) throw new Error(`upload of ${name}: ${res.status} ${text}`);
  return JSON.parse(text) as UploadView;
}

export async function confirmAndStart(t: TestApp, as: Session, upload: UploadView, column = upload.emailColumn): Promise<UploadView> {
  const api = apiClient(t, as);
  await answer(await api.uploads[":id"].column.$post({ param: { id: upload.id }, json: { column } }), 200);
  return answer(await api.uploads[":id"].start.$post({ param: { id: upload.id }, json: {} }), 202);
}

export async function getUpload(t: TestApp, as: Session, id: string): Promise<UploadView> {
  return answer(await apiClient(t, as).uploads[":id"].$get({ param: { id } }), 200);
}

/** The result file's bytes. */
export async function resultBytes(t: TestApp, as: Session, id: string, filter = "all"): Promise<{ res: Response; bytes: Buffer }> {
  const res = await t.request("GET", `/api/uploads/${id}/results.csv?filter=${filter}`, { as });
  return { res, bytes: Buffer.from(await res.arrayBuffer()) };
}

/** A file's rows as a CSV reader sees them: decoded with `encoding` (BOM dropped), split by `delimiter`, blank lines left out. */
export function readCsv(bytes: Uint8Array, encoding: string, delimiter: string): string[][] {
  // Node's TextDecoder reads windows-1252 as ISO-8859-1: the few characters of its 0x80-0x9F range the files use, by hand.
  const text =
    encoding === "windows-1252"
      ? Buffer.from(bytes).toString("latin1").replace(/[\x80\x93\x94\x96]/g, (c) => ({ "\x80": "€", "\x93": "“", "\x94": "”", "\x96": "–" })[c]!)
      : new TextDecoder(encoding).decode(bytes);
  return (parse(text, { delimiter, relax_column_count: true, skip_empty_lines: true }) as string[][]).filter((r) => r.some((c) => c.trim() !== ""));
}

/** What the verifier says of an address of the test world (test/support/world.ts), without SMTP. */
export function expectedResult(address: string): { status: string; reason: string } {
  const trimmed = address.trim();
  if (!trimmed || !/^[^@\s]+@[^@\s]+$/.test(trimmed)) return { status: "undeliverable", reason: "invalid_syntax" };
  const domain = trimmed.split("@")[1]!.toLowerCase();
  const kind = Object.values(KINDS).find((k) => k.domain === domain);
  if (!kind) throw new Error(`no expectation for ${address}`);
  return kind.expected;
}

/** Spreadsheets' formula escape, as the result file applies it to every cell. */
export const escaped = (cell: string) => (/^[\s\p{Cc}]*[=+\-@]|^[\t\r\n]/u.test(cell) ? `'${cell}` : cell);
