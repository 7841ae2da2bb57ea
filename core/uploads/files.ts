import { mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Config } from "../config.ts";

let memoryDir: string | null = null;

/**
 * Where uploaded files are kept: DATA_DIR/uploads (mode 0700). A process on an in-memory
 * database (tests, tools) keeps them in a temporary directory of its own.
 */
export function uploadsDir(config: Pick<Config, "DATA_DIR">): string {
  if (config.DATA_DIR === ":memory:") {
    memoryDir ??= mkdtempSync(path.join(tmpdir(), "lw-uploads-"));
    return memoryDir;
  }
  const dir = path.join(config.DATA_DIR, "uploads");
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return dir;
}

/** The upload's text, as UTF-8; the id is ours (newId), never a name the user sent. */
export const uploadTextPath = (config: Pick<Config, "DATA_DIR">, id: string) => path.join(uploadsDir(config), `${id}.csv`);
export const uploadRawPath = (config: Pick<Config, "DATA_DIR">, id: string) => path.join(uploadsDir(config), `${id}.upload`);
