import { Validator } from "@seriousme/openapi-schema-validator";
import { describe, expect, it } from "vitest";
import { CSRF_HEADER } from "../server/middleware/auth.ts";
import { createTestApp, signUp } from "./support/app.ts";

type Operation = {
  security?: Record<string, string[]>[];
  requestBody?: { required?: boolean };
  responses: Record<string, { content?: Record<string, { schema?: { $ref?: string } }> }>;
};
type Document = {
  openapi: string;
  servers: { url: string }[];
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, unknown>; securitySchemes: Record<string, { type: string; in?: string; name?: string; scheme?: string }> };
};

/** The reference page and its files are HTML and assets for people, not operations of the API. */
const NOT_OPERATIONS = /^\/reference(\/|$)/;

async function fetchDocument() {
  const t = createTestApp();
  const res = await t.request("GET", "/api/openapi.json");
  return { t, res, doc: (await res.json()) as Document };
}

/** "GET /runs/{id}" for every route the app serves under /api, from the Hono app itself. */
function servedRoutes(app: { routes: { method: string; path: string }[] }): string[] {
  const served = app.routes
    .filter((r) => r.method !== "ALL" && r.path.startsWith("/api/"))
    .map((r) => ({ method: r.method, path: r.path.slice("/api".length).replace(/:(\w+)/g, "{$1}") }))
    .filter((r) => !NOT_OPERATIONS.test(r.path))
    .map((r) => `${r.method} ${r.path}`);
  return [...new Set(served)].sort();
}

function documentedRoutes(doc: Document): string[] {
  return Object.entries(doc.paths)
    .flatMap(([path, ops]) => Object.keys(ops).map((method) => `${method.toUpperCase()} ${path}`))
    .sort();
}

const operations = (doc: Document) => Object.entries(doc.paths).flatMap(([path, ops]) => Object.entries(ops).map(([method, op]) => ({ method, path, op })));

describe("GET /api/openapi.json", () => {
  it("is served without signing in, and is a valid OpenAPI 3.1 document", async () => {
    const { res, doc } = await fetchDocument();
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    expect(doc.openapi).toBe("3.1.0");
    expect(doc.servers).toEqual([{ url: "http://localhost/api", description: "This Listwarden" }]);

    const validator = new Validator();
    const result = await validator.validate(structuredClone(doc));
    expect(result.errors).toBeUndefined();
    expect(result.valid).toBe(true);
    expect(validator.version).toBe("3.1");
    // The validator is not a rubber stamp: a response without its description is refused.
    const broken = structuredClone(doc);
    delete (broken.paths["/runs"]!.post!.responses["202"] as { description?: string }).description;
    expect((await new Validator().validate(broken)).valid).toBe(false);
  });

  it("describes every route the app serves under /api with its methods, and nothing it does not serve", async () => {
    const { t, doc } = await fetchDocument();
    const served = servedRoutes(t.app);
    const documented = documentedRoutes(doc);
    // The resources of issue 12, so an empty app cannot pass.
    expect(served).toEqual(expect.arrayContaining(["POST /auth/signup", "GET /connections/{id}/tags", "POST /runs/{id}/approve", "GET /runs/{id}/report.csv", "PATCH /schedules/{id}", "DELETE /tokens/{id}", "GET /credits"]));
    expect(documented.filter((r) => !served.includes(r))).toEqual([]);
    expect(served.filter((r) => !documented.includes(r))).toEqual([]);
  });

  it("has the error shape as a schema, answered by every error of every route", async () => {
    const { doc } = await fetchDocument();
    expect(doc.components.schemas.Error).toMatchObject({
      type: "object",
      properties: { error: { type: "object", required: ["code", "message", "requestId"], properties: { field: { type: "string" } } } },
    });
    for (const { method, path, op } of operations(doc)) {
      expect(op.responses["500"], `${method} ${path}`).toBeDefined();
      for (const [status, response] of Object.entries(op.responses)) {
        if (Number(status) < 400) continue;
        expect(response.content?.["application/json"]?.schema, `${method} ${path} ${status}`).toEqual({ $ref: "#/components/schemas/Error" });
      }
    }
  });

  it("has both ways to sign in, and security on exactly the routes that refuse a caller without one", async () => {
    const { t, doc } = await fetchDocument();
    expect(doc.components.securitySchemes).toMatchObject({
      session: { type: "apiKey", in: "cookie", name: "lw_session" },
      csrfToken: { type: "apiKey", in: "header", name: "X-CSRF-Token" },
      bearer: { type: "http", scheme: "bearer" },
    });
    expect(doc.components.securitySchemes.csrfToken!.name!.toLowerCase()).toBe(CSRF_HEADER);
    for (const { method, path, op } of operations(doc)) {
      const res = await t.request(method.toUpperCase(), `/api${path.replace("{id}", "x")}`, op.requestBody ? { body: {} } : {});
      const name = `${method.toUpperCase()} ${path}`;
      expect(Object.keys(op.responses), `${name} answers ${res.status}`).toContain(String(res.status));
      if (op.security?.length) {
        expect(res.status, name).toBe(401);
        // A browser's change needs the CSRF token with the cookie; a script's bearer token is enough.
        const change = method !== "get";
        expect(op.security, name).toEqual([change ? { session: [], csrfToken: [] } : { session: [] }, { bearer: [] }]);
        if (change) expect(Object.keys(op.responses), name).toContain("403");
      } else {
        expect(op.security, name).toEqual([]);
        expect(res.status, name).not.toBe(401);
      }
    }
  });

  it("marks a body required only where leaving it out is refused", async () => {
    const { t, doc } = await fetchDocument();
    const s = await signUp(t);
    const bodies = operations(doc).filter(({ op }) => op.requestBody);
    expect(bodies.filter(({ op }) => op.requestBody?.required === false).map(({ method, path }) => `${method} ${path}`)).toEqual([
      "post /tokens",
      "patch /connections/{id}",
      "patch /runs/{id}/plan",
      "post /runs/{id}/approve",
      "patch /schedules/{id}",
      "post /uploads/{id}/start",
    ]);
    // POST /api/tokens without a body: the defaults apply.
    const res = await t.request("POST", "/api/tokens", { as: s });
    expect(res.status).toBe(201);
    expect(await res.json()).toMatchObject({ name: "API token" });
  });
});

describe("GET /api/reference", () => {
  it("serves the reference page and its files from this origin, under a CSP without inline code or eval", async () => {
    const t = createTestApp();
    const res = await t.request("GET", "/api/reference");
    expect(res.status).toBe(200);
    const csp = res.headers.get("content-security-policy") ?? "";
    expect(csp).toContain("script-src 'self';");
    expect(csp).toContain("style-src 'self';");
    expect(csp).not.toMatch(/unsafe-|https?:/);
    const html = await res.text();
    expect(html).not.toMatch(/<script>|<script [^>]*>[^<]/);
    const assets = [...html.matchAll(/(?:src|href)="(\/api\/reference\/[^"]+)"/g)].map((m) => m[1]!);
    expect(assets).toHaveLength(3);
    for (const asset of assets) {
      const file = await t.request("GET", asset);
      expect(file.status, asset).toBe(200);
      expect(file.headers.get("cache-control"), asset).toContain("immutable");
      expect(await file.text(), asset).not.toMatch(/sourceMappingURL/);
    }
    expect((await t.request("GET", "/api/reference/package.json")).status).toBe(404);
  });
});
