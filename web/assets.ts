import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";

/**
 * The dashboard's static files (one stylesheet, two small scripts, an icon), read once at
 * start and served from memory. URLs carry a content hash, so browsers may cache them for good.
 */
const FILES = {
  "app.css": "text/css; charset=utf-8",
  "app.js": "text/javascript; charset=utf-8",
  "run.js": "text/javascript; charset=utf-8",
  "connection.js": "text/javascript; charset=utf-8",
  "icon.svg": "image/svg+xml",
} as const;

export type AssetName = keyof typeof FILES;

export interface Asset {
  body: string;
  type: string;
  hash: string;
}

export const assets: Record<AssetName, Asset> = Object.fromEntries(
  Object.entries(FILES).map(([name, type]) => {
    const body = readFileSync(new URL(`./static/${name}`, import.meta.url), "utf8");
    return [name, { body, type, hash: createHash("sha256").update(body).digest("hex").slice(0, 10) }];
  }),
) as Record<AssetName, Asset>;

export function assetUrl(name: AssetName): string {
  return `/static/${name}?v=${assets[name].hash}`;
}

export function isAssetName(name: string): name is AssetName {
  return Object.hasOwn(FILES, name);
}
