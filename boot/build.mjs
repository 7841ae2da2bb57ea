// `npm run build` (and `npm start`, which builds first): boot/main.ts and everything it imports
// compiled by esbuild into one ES module, dist/listwarden.mjs, that plain Node runs; and the
// thread that sends ActiveCampaign requests, dist/ac-http-thread.mjs.
//
// Why not run the TypeScript through tsx as development does: tsx's loader thread, its
// compiler and the source maps it keeps cost the server about 55 MB of resident memory before
// it does any work (192 MB against 137 MB idle, measured) and time at every start. Packages
// stay outside the bundle (node_modules is there at run time, and better-sqlite3 is native).
//
// The sources find files beside them with `new URL("./x", import.meta.url)` (migrations, the
// dashboard's static files, the API reference's script). In one bundle every module's
// import.meta.url would be the bundle's, so each source file's own is put back: its address
// relative to the bundle, resolved against the bundle's at run time. The source tree ships
// with the bundle, so those files are where they always were.
import { build } from "esbuild";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const outDir = path.join(root, "dist");

/** Each of our source files' `import.meta.url`, as it would be unbundled. */
const ownUrl = {
  name: "own-import-meta-url",
  setup(b) {
    b.onLoad({ filter: /\.(ts|tsx)$/ }, async (args) => {
      if (args.path.includes(`${path.sep}node_modules${path.sep}`)) return undefined;
      const source = await readFile(args.path, "utf8");
      if (!source.includes("import.meta.url")) return undefined;
      const relative = path.relative(outDir, args.path).split(path.sep).join("/");
      const contents = source.replaceAll("import.meta.url", `new URL(${JSON.stringify(relative)}, import.meta.url).href`);
      return { contents, loader: args.path.endsWith(".tsx") ? "tsx" : "ts" };
    });
  },
};

const result = await build({
  // The server, and the thread that sends its ActiveCampaign requests (core/ac/http-threads.ts).
  entryPoints: [
    { in: path.join(root, "boot", "main.ts"), out: "listwarden" },
    { in: path.join(root, "core", "ac", "http-thread.ts"), out: "ac-http-thread" },
  ],
  outdir: outDir,
  outExtension: { ".js": ".mjs" },
  // Tells the code it runs built (boot/start.ts starts the built HTTP thread, not the sources').
  define: { __LISTWARDEN_BUILT__: "true" },
  // Written below, each file whole or not at all: another process of the same install may be
  // starting from the bundle while this one builds it.
  write: false,
  bundle: true,
  platform: "node",
  target: "node20",
  format: "esm",
  packages: "external",
  // An external map: stack traces can be read against the sources (node --enable-source-maps)
  // without every process holding the map.
  sourcemap: "linked",
  // tsconfig's jsx settings (hono/jsx) apply as they do under tsx.
  tsconfig: path.join(root, "tsconfig.json"),
  plugins: [ownUrl],
  logLevel: "warning",
});

await mkdir(outDir, { recursive: true });
for (const file of result.outputFiles) {
  const partial = `${file.path}.${process.pid}.tmp`;
  await writeFile(partial, file.contents);
  await rename(partial, file.path);
}
