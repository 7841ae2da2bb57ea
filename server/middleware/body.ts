import type { Context, MiddlewareHandler } from "hono";
import type { AppEnv } from "../env.ts";
import { AppError } from "../../core/errors.ts";

type FormBody = Record<string, string | File | (string | File)[]>;

/**
 * The request's form fields (multipart or URL-encoded). A body that cannot be read is the
 * sender's mistake: 400 with a message, logged at warn without a stack, never a 500.
 */
export async function readForm(c: Context<AppEnv>): Promise<FormBody> {
  try {
    return (await c.req.parseBody({ all: true })) as FormBody;
  } catch (err) {
    c.var.log.warn({ reason: reasonOf(err), contentType: c.req.header("content-type")?.slice(0, 100) }, "unreadable form body");
    throw new AppError("invalid_input", "The form could not be read: it is not valid form data. Reload the page and send it again");
  }
}

/**
 * A file sent to an upload route (POST /uploads from the dashboard, POST /api/uploads): the
 * one body that is streamed to disk rather than read whole, so the body limits of forms and
 * JSON do not apply to it (UPLOAD_MAX_MB does) and CSRF is checked by its reader.
 */
export function isFileUpload(c: Context<AppEnv>): boolean {
  // Stryker disable next-line StringLiteral: without a Content-Type, any text that does not start with "multipart/form-data" does as well
  const type = c.req.header("content-type") ?? "";
  return c.req.method === "POST" && /^\/(api\/)?uploads\/?$/.test(c.req.path) && /^multipart\/form-data/i.test(type);
}

/** `mw`, except for file uploads. */
export const exceptFileUploads =
  (mw: MiddlewareHandler<AppEnv>): MiddlewareHandler<AppEnv> =>
  (c, next) =>
    isFileUpload(c) ? next() : mw(c, next);

const JSON_TYPE = /^application\/([\w.-]+\+)?json$/i;
/** Keys that mean something to JavaScript objects rather than to any of our routes. */
const FORBIDDEN_KEYS = new Set(["__proto__", "constructor", "prototype"]);

/**
 * Before a JSON route's validation (server/openapi.ts `route` puts it first): a body of another
 * Content-Type is refused with 415 (rather than ignored and validated as {}), a body that is not
 * JSON with 400, and keys like `__proto__` anywhere with 400. No body at all is an empty object.
 */
export const jsonBody: MiddlewareHandler<AppEnv> = async (c, next) => {
  // Stryker disable next-line StringLiteral: without a Content-Type, any text that is not a JSON type is refused or dropped as well
  const header = c.req.header("content-type") ?? "";
  const media = header.split(";")[0]!.trim();
  if (!JSON_TYPE.test(media)) {
    const text = c.req.raw.body ? await c.req.text() : "";
    if (text !== "") {
      c.var.log.warn({ contentType: media.slice(0, 100) }, "non-JSON body sent to a JSON route");
      throw new AppError("unsupported_media_type", "This route takes a JSON body: send it with Content-Type: application/json");
    }
    // An empty body of another type (`curl -d ''`, `fetch` with body "") is no body: without its
    // Content-Type the route's validator reads it as {}, as it always has.
    // Stryker disable next-line ConditionalExpression: deleting a header the request does not have changes nothing
    if (media) c.req.raw.headers.delete("content-type");
    return next();
  }
  let body: unknown;
  try {
    body = await c.req.json();
  } catch (err) {
    c.var.log.warn({ reason: reasonOf(err) }, "unreadable JSON body");
    throw new AppError("invalid_input", "Request body is not valid JSON");
  }
  const bad = forbiddenKey(body, 0);
  if (bad) throw new AppError("invalid_input", "is not a field this route accepts", bad);
  await next();
};

function forbiddenKey(value: unknown, depth: number): string | null {
  if (depth > 32 || value === null) return null;
  // Stryker disable next-line ConditionalExpression: a primitive's keys are its indices, never a forbidden key, and depth ends the walk
  if (typeof value !== "object") return null;
  for (const key of Object.keys(value)) {
    if (FORBIDDEN_KEYS.has(key)) return key;
    const inner = forbiddenKey((value as Record<string, unknown>)[key], depth + 1);
    if (inner) return inner;
  }
  return null;
}

// Stryker disable next-line ArrowFunction,MethodExpression: only logged
const reasonOf = (err: unknown) => (err instanceof Error ? err.message : String(err)).slice(0, 200);
