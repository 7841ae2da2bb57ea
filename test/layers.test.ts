import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { describe, expect, it } from "vitest";

/**
 * The layer rules of docs/architecture.md, checked on the imports as written. Each folder may
 * import from the folders listed for it (and from itself); nothing else. Type-only imports
 * count too: they tie the files together just the same.
 */
const MAY_IMPORT: Record<string, readonly string[]> = {
  db: [],
  verify: [],
  core: ["db", "verify"],
  server: ["core", "db", "verify"],
  // The dashboard uses the HTTP layer's middleware (sessions, CSRF); the API never uses the dashboard.
  web: ["server", "core", "db", "verify"],
  worker: ["core", "db", "verify"],
  cli: ["core", "db", "verify"],
  boot: ["server", "web", "worker", "cli", "core", "db", "verify"],
};

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const SOURCE = /\.(ts|tsx|mjs|js)$/;

type Graph = Map<string, string[]>;

/** Every source file of the layered folders and the repository files it imports. */
export function importGraph(root: string, folders: readonly string[]): Graph {
  const graph: Graph = new Map();
  const walk = (dir: string) => {
    for (const entry of readdirSync(path.join(root, dir), { withFileTypes: true })) {
      const rel = path.posix.join(dir, entry.name);
      if (entry.isDirectory()) {
        if (entry.name !== "node_modules" && entry.name !== "migrations") walk(rel);
      } else if (SOURCE.test(entry.name)) {
        graph.set(rel, importsOf(rel, readFileSync(path.join(root, rel), "utf8")));
      }
    }
  };
  for (const folder of folders) walk(folder);
  return graph;
}

export function importsOf(file: string, source: string): string[] {
  return ts
    .preProcessFile(source, true, true)
    .importedFiles.map((f) => f.fileName)
    .filter((spec) => spec.startsWith("."))
    .map((spec) => path.posix.normalize(path.posix.join(path.posix.dirname(file), spec)));
}

const layerOf = (file: string) => file.split("/")[0]!;

/** Imports that break MAY_IMPORT, as "from -> to". */
export function forbiddenImports(graph: Graph): string[] {
  const bad: string[] = [];
  for (const [file, targets] of graph) {
    const from = layerOf(file);
    for (const target of targets) {
      const to = layerOf(target);
      if (to !== from && !(MAY_IMPORT[from] ?? []).includes(to)) bad.push(`${file} -> ${target}`);
    }
  }
  return bad;
}

/** Groups of files that import each other in a circle (Tarjan's strongly connected components). */
export function importCycles(graph: Graph): string[][] {
  let index = 0;
  const indexOf = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  const visit = (v: string) => {
    indexOf.set(v, index);
    low.set(v, index);
    index += 1;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!indexOf.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, indexOf.get(w)!));
    }
    if (low.get(v) === indexOf.get(v)) {
      const group: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        group.push(w);
      } while (w !== v);
      if (group.length > 1 || (graph.get(v) ?? []).includes(v)) cycles.push(group.sort());
    }
  };
  for (const v of graph.keys()) if (!indexOf.has(v)) visit(v);
  return cycles;
}

describe("layers only look down", () => {
  const graph = importGraph(ROOT, Object.keys(MAY_IMPORT));

  it("reads the source of every layer", () => {
    for (const layer of Object.keys(MAY_IMPORT)) expect([...graph.keys()].some((f) => layerOf(f) === layer), layer).toBe(true);
    // A file known to import across layers proves the reading sees imports at all.
    expect(graph.get("core/services/runs.ts")).toContain("db/index.ts");
  });

  it("no folder imports from a layer above it or beside it (core never imports an edge, verify neither core nor db, the API never the dashboard)", () => {
    expect(forbiddenImports(graph)).toEqual([]);
  });

  it("no files import each other in a circle", () => {
    expect(importCycles(graph)).toEqual([]);
  });

  it("the checks catch an import that runs up a layer, one that runs sideways, and a cycle", () => {
    const fake: Graph = new Map([
      ["core/services/runs.ts", ["worker/runs/conductor.ts", "db/index.ts"]],
      ["verify/index.ts", ["db/index.ts"]],
      ["server/app.ts", ["web/index.tsx"]],
      ["web/index.tsx", ["server/app.ts"]],
      ["core/a.ts", ["core/b.ts"]],
      ["core/b.ts", ["core/c.ts"]],
      ["core/c.ts", ["core/a.ts"]],
    ]);
    expect(forbiddenImports(fake)).toEqual([
      "core/services/runs.ts -> worker/runs/conductor.ts",
      "verify/index.ts -> db/index.ts",
      "server/app.ts -> web/index.tsx",
    ]);
    expect(importCycles(fake)).toEqual([
      ["server/app.ts", "web/index.tsx"],
      ["core/a.ts", "core/b.ts", "core/c.ts"],
    ]);
  });

  it("reads static, type-only, re-exported and dynamic imports", () => {
    const source = [
      `import { a } from "./a.ts";`,
      `import type { B } from "../core/b.ts";`,
      `export { c } from "./c.ts";`,
      `const d = await import("../db/d.ts");`,
      `import x from "hono";`,
    ].join("\n");
    expect(importsOf("web/pages/x.tsx", source)).toEqual(["web/pages/a.ts", "web/core/b.ts", "web/pages/c.ts", "web/db/d.ts"]);
  });
});
