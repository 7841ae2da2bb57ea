import { createRoute, OpenAPIHono, z, type RouteConfig, type RouteHandler } from "@hono/zod-openapi";
import type { Context } from "hono";
import { ERROR_STATUS, type ErrorCode } from "../core/errors.ts";
import type { AppEnv } from "./env.ts";
import { SESSION_COOKIE, siteOrigin } from "./middleware/auth.ts";
import { jsonBody } from "./middleware/body.ts";
import { validationHook } from "./middleware/validate.ts";

/**
 * The pieces every API route is built from. A route is defined once, with createRoute() in
 * server/routes/<resource>.routes.ts: its request schemas validate the input, its response
 * schemas type the handler's answer and the typed client, and both go into the document
 * served at GET /api/openapi.json.
 */

/** A router of one resource: invalid input becomes an AppError, answered by jsonErrors like any other. */
export function createRouter() {
  return new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
}

export type AppRouteHandler<R extends RouteConfig> = RouteHandler<R, AppEnv>;

// ---- errors ----------------------------------------------------------------------------------

export const ErrorSchema = z
  .object({
    error: z.object({
      code: z.enum(Object.keys(ERROR_STATUS) as [ErrorCode, ...ErrorCode[]]).openapi({ description: "What went wrong, as a machine-readable kind" }),
      message: z.string().openapi({ description: "What to do about it, in words; never names the field" }),
      requestId: z.string().openapi({ description: "Also in the X-Request-Id header and the server's log" }),
      field: z.string().optional().openapi({ description: "The input to fix, as a path joined with dots (e.g. `scope.listIds.0`)" }),
    }),
  })
  .openapi("Error", { description: "Every error the API answers has this shape." });

type ErrorStatus = (typeof ERROR_STATUS)[ErrorCode];

const WHEN: Record<ErrorStatus, string> = {
  400: "The input is not valid; `field` names the input to fix",
  401: "Not signed in, or the API token (or, for sign-in, the password) is not valid",
  402: "Not enough credits",
  403: "A cross-site request, or a cookie-authenticated change without the session's X-CSRF-Token",
  404: "Not found in your workspace",
  409: "The resource is not in a state that allows this",
  410: "This URL is not (or no longer) in use; ActiveCampaign deactivates a webhook answered so",
  413: "The request body is larger than 1 MB",
  415: "The body is not JSON: send it with Content-Type: application/json",
  422: "ActiveCampaign refused the API key (`field`: apiKey) or could not be reached (`field`: apiUrl)",
  429: "Too many attempts; Retry-After says how many seconds to wait",
  500: "Something went wrong on our side; it has been logged under the requestId",
  502: "ActiveCampaign answered with an error",
  503: "Could not be recorded right now; Retry-After says when to try again",
};

const codesOf = (status: ErrorStatus) => (Object.keys(ERROR_STATUS) as ErrorCode[]).filter((code) => ERROR_STATUS[code] === status);

/** Examples of answers, as a user would meet them. */
const EXAMPLE: Record<ErrorStatus, { message: string; field?: string }> = {
  400: { message: "must be an ActiveCampaign id (a positive whole number)", field: "scope.listIds.0" },
  401: { message: "Sign in first (or send Authorization: Bearer <API token>)" },
  402: { message: "Not enough credits" },
  403: { message: "Missing or wrong CSRF token; reload the page and try again" },
  404: { message: "Run not found" },
  409: { message: "This run is completed; only a run awaiting review can be approved" },
  410: { message: "This webhook URL is not in use" },
  413: { message: "Request body is larger than 1 MB" },
  415: { message: "This route takes a JSON body: send it with Content-Type: application/json" },
  422: { message: "ActiveCampaign refused this API key (Settings → Developer)", field: "apiKey" },
  429: { message: "Too many failed sign-in attempts; for your safety, wait 15 minute(s) and try again" },
  500: { message: "Something went wrong on our side; it has been logged" },
  502: { message: "ActiveCampaign answered with an error: 500 Internal Server Error" },
  503: { message: "The event could not be recorded right now; the next sweep finds its contact" },
};

const errorResponse = (status: ErrorStatus) => ({
  description: `${WHEN[status]} (${codesOf(status).join(", ")})`,
  content: {
    "application/json": {
      schema: ErrorSchema,
      example: { error: { code: codesOf(status)[0], message: EXAMPLE[status].message, requestId: "0b6f2a9e-5c1d-4e8a-9f3b-7d2c1a0e4b5f", ...(EXAMPLE[status].field ? { field: EXAMPLE[status].field } : {}) } },
    },
  },
  ...(status === 429 || status === 503 ? { headers: z.object({ "Retry-After": z.string().openapi({ description: "Seconds to wait" }) }) } : {}),
});

type ErrorResponses<S extends ErrorStatus> = { [K in S]: ReturnType<typeof errorResponse> };

/** Error answers of a route, by status; the description lists the codes each status carries. */
export function errors<const S extends ErrorStatus>(...statuses: S[]): ErrorResponses<S> {
  return Object.fromEntries(statuses.map((s) => [s, errorResponse(s)])) as ErrorResponses<S>;
}

/**
 * What any change (POST, PATCH, DELETE) can answer before its handler runs: a form-typed body
 * the CSRF check cannot read (400), a foreign origin or a missing CSRF token (403), a body over
 * the limit (413), and 500.
 */
export const CHANGE = [400, 403, 413, 500] as const;
/** What any read can answer. */
export const READ = [500] as const;

// ---- requests and answers ------------------------------------------------------------------

/** A JSON answer. */
export const json = <T extends z.ZodType>(schema: T, description: string) => ({
  description,
  content: { "application/json": { schema } },
});

/**
 * A route of the API, as createRoute() defines it; a route with a JSON body gets jsonBody as
 * middleware first (415 for another Content-Type, 400 for unreadable JSON or `__proto__`).
 */
export function route<P extends string, R extends Omit<RouteConfig, "path"> & { path: P }>(config: R): ReturnType<typeof createRoute<P, R>> {
  // Only a JSON body is read before the handler; a file upload's is streamed by its handler.
  if (!config.request?.body?.content["application/json"]) return createRoute(config);
  const own = config.middleware === undefined ? [] : Array.isArray(config.middleware) ? config.middleware : [config.middleware];
  return createRoute({ ...config, middleware: [jsonBody, ...own] });
}

/**
 * A JSON request body. It is validated even when it is left out, as `{}`, so its defaults
 * apply (hence `required: true` here); the document marks it optional when `{}` is valid
 * (see openApiDocument).
 */
export const jsonRequest = <T extends z.ZodType>(schema: T, description?: string) => ({
  content: { "application/json": { schema } },
  required: true,
  ...(description ? { description } : {}),
});

/** The `{id}` of a path. */
export const idParams = (what: string) =>
  z.object({ id: z.string().openapi({ param: { name: "id", in: "path" }, description: `The ${what}'s id`, example: `${what.slice(0, 3)}_01J…` }) });

export const NO_CONTENT = { description: "Done; no body" } as const;

// ---- security --------------------------------------------------------------------------------

export const SECURITY_SCHEMES = {
  session: {
    type: "apiKey",
    in: "cookie",
    name: SESSION_COOKIE,
    description: "The browser's session, set by sign-up and sign-in. Changes also need csrfToken.",
  },
  csrfToken: {
    type: "apiKey",
    in: "header",
    name: "X-CSRF-Token", // the header csrfProtection reads (CSRF_HEADER); test/openapi.test.ts holds them together
    description: "The session's CSRF token (from sign-up, sign-in or GET /api/auth/me), sent with every change made with the session cookie.",
  },
  bearer: {
    type: "http",
    scheme: "bearer",
    description: "An API token for scripts: create one with POST /api/tokens (or on the dashboard's API tokens page) and send `Authorization: Bearer <token>`.",
  },
} as const;

type SecurityRequirement = Record<keyof typeof SECURITY_SCHEMES, string[]>;
/** Reads: the session cookie or a bearer token. */
export const SIGNED_IN: Partial<SecurityRequirement>[] = [{ session: [] }, { bearer: [] }];
/** Changes: the session cookie with its CSRF token, or a bearer token. */
export const SIGNED_IN_CHANGE: Partial<SecurityRequirement>[] = [{ session: [], csrfToken: [] }, { bearer: [] }];

// ---- the document ----------------------------------------------------------------------------

const TAGS = [
  { name: "auth", description: "Accounts and sessions" },
  { name: "tokens", description: "API tokens for scripts" },
  { name: "credits", description: "The workspace's balance and ledger" },
  { name: "connections", description: "ActiveCampaign accounts, their lists and tags" },
  { name: "runs", description: "Hygiene runs: verify, review, apply, report" },
  { name: "schedules", description: "Monthly runs of a connection" },
  { name: "uploads", description: "Verify a CSV file: upload, confirm the e-mail column, see the cost, start, download the results" },
  { name: "notifications", description: "Where the workspace hears of runs that need it or end" },
  { name: "monitoring", description: "Checking a connection's new contacts as they arrive: ActiveCampaign's webhook and a catch-up sweep" },
  { name: "docs", description: "This document" },
];

type Document = ReturnType<OpenAPIHono["getOpenAPI31Document"]>;
const documents = new WeakMap<object, Document>();

/**
 * The OpenAPI 3.1 document of an API app, with this server as its base URL. It is built once,
 * on first request: routes are all registered by then.
 */
export function openApiDocument(api: OpenAPIHono<AppEnv, any, any>, c: Context<AppEnv>): Document {
  let doc = documents.get(api);
  if (!doc) {
    for (const [name, scheme] of Object.entries(SECURITY_SCHEMES)) api.openAPIRegistry.registerComponent("securitySchemes", name, scheme);
    doc = api.getOpenAPI31Document({
      openapi: "3.1.0",
      info: {
        title: "Listwarden API",
        version: "1",
        description:
          "List hygiene for ActiveCampaign. Every answer is JSON (apart from a run's CSV report); every error has the shape of `Error`. " +
          "Browsers use the session cookie and send the CSRF token in X-CSRF-Token with every change; scripts send `Authorization: Bearer <token>`.",
      },
      tags: TAGS,
    });
    markOptionalBodies(api, doc);
    documents.set(api, doc);
  }
  return { ...doc, servers: [{ url: `${siteOrigin(c)}/api`, description: "This Listwarden" }] };
}

/**
 * Bodies are validated as required so that a left-out body is validated as `{}` (its defaults
 * apply); in the document a body is required only when `{}` would be refused.
 */
function markOptionalBodies(api: OpenAPIHono<AppEnv, any, any>, doc: Document) {
  for (const def of api.openAPIRegistry.definitions) {
    if (def.type !== "route") continue;
    const media = def.route.request?.body?.content["application/json"];
    const schema = media && "schema" in media ? media.schema : undefined;
    const body = (doc.paths?.[def.route.path] as Record<string, { requestBody?: { required?: boolean } }> | undefined)?.[def.route.method]?.requestBody;
    if (schema instanceof z.ZodType && body && !("$ref" in body)) body.required = !schema.safeParse({}).success;
  }
}
