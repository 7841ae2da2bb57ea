import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { Hono } from "hono";
import type { AppEnv } from "./env.ts";

/**
 * The API reference page at /api/reference: Swagger UI (swagger-ui-dist) reading
 * /api/openapi.json. Its files are served from here, never from a CDN, so the page runs under
 * the dashboard's Content-Security-Policy (scripts and styles from this origin only, no inline
 * code, no eval) with one relaxation for this page alone: Swagger UI draws its icons as `data:`
 * SVG images. test/browser/api-reference.test.ts fails on any CSP violation.
 */
export const REFERENCE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join("; ");

interface Asset {
  body: string;
  type: string;
  hash: string;
}

const swaggerDir = () => path.dirname(createRequire(import.meta.url).resolve("swagger-ui-dist/package.json"));

const FILES = {
  "swagger-ui.css": { type: "text/css; charset=utf-8", from: () => path.join(swaggerDir(), "swagger-ui.css") },
  "swagger-ui-bundle.js": { type: "text/javascript; charset=utf-8", from: () => path.join(swaggerDir(), "swagger-ui-bundle.js") },
  "reference.js": { type: "text/javascript; charset=utf-8", from: () => new URL("./static/reference.js", import.meta.url) },
} as const;
type AssetName = keyof typeof FILES;

/** The bundles' source maps are not served: the comment pointing to them goes. */
const SOURCE_MAP = /\n?(\/\/# sourceMappingURL=\S+|\/\*# sourceMappingURL=[^*\s]+\s*\*\/)\s*$/;

let loaded: Record<AssetName, Asset> | undefined;
/** Read on first use (the bundle is 1.7 MB), then served from memory. */
function assets(): Record<AssetName, Asset> {
  loaded ??= Object.fromEntries(
    Object.entries(FILES).map(([name, f]) => {
      const body = readFileSync(f.from()).toString("utf8").replace(SOURCE_MAP, "");
      return [name, { body, type: f.type, hash: createHash("sha256").update(body).digest("hex").slice(0, 10) }];
    }),
  ) as Record<AssetName, Asset>;
  return loaded;
}

const url = (name: AssetName) => `/api/reference/${name}?v=${assets()[name].hash}`;

function page(): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Listwarden API reference</title>
<link rel="icon" href="/static/icon.svg">
<link rel="stylesheet" href="${url("swagger-ui.css")}">
</head>
<body>
<main id="reference"><noscript>The reference needs JavaScript. The document itself is at <a href="/api/openapi.json">/api/openapi.json</a>.</noscript></main>
<script src="${url("swagger-ui-bundle.js")}"></script>
<script src="${url("reference.js")}"></script>
</body>
</html>
`;
}

export const referenceRoutes = new Hono<AppEnv>()
  .get("/", (c) => c.html(page(), 200, { "Content-Security-Policy": REFERENCE_CSP, "Cache-Control": "no-cache" }))
  .get("/:name", (c) => {
    const name = c.req.param("name");
    if (!Object.hasOwn(FILES, name)) return c.notFound();
    const asset = assets()[name as AssetName];
    const cache = c.req.query("v") === asset.hash ? "public, max-age=31536000, immutable" : "no-cache";
    return c.body(asset.body, 200, { "content-type": asset.type, "cache-control": cache, "x-content-type-options": "nosniff" });
  });
