import { z } from "zod";
import { AppError } from "../server/errors.ts";
import { ACTIONS } from "../db/schema/index.ts";

/** Messages keyed by form field; `_form` is a problem with the form as a whole. */
export type FieldErrors = Partial<Record<string, string>>;

export type FormResult<T> = { ok: true; data: T } | { ok: false; errors: FieldErrors };

const email = z
  .string()
  .trim()
  .min(1, "Enter your e-mail address")
  .max(254, "That e-mail address is too long")
  .pipe(z.email("Enter an e-mail address like you@example.com"));

/** The same rules as POST /api/auth/signup and /login, with words for a form. */
export const signupForm = z.object({
  email,
  password: z.string().min(10, "Use at least 10 characters").max(200, "Use at most 200 characters"),
});

export const loginForm = z.object({
  email,
  password: z.string().min(1, "Enter your password").max(200, "Use at most 200 characters"),
});

const WHERE = "copy it from Settings → Developer in ActiveCampaign";

/** The same rules as POST /api/connections. */
export const connectionForm = z.object({
  name: z.string().trim().max(100, "Use at most 100 characters").optional(),
  apiUrl: z.string().trim().min(1, `Enter the API URL: ${WHERE}`).max(300, "That URL is too long"),
  apiKey: z
    .string()
    .trim()
    .min(1, `Enter the API key: ${WHERE}`)
    .min(20, `That key looks too short: ${WHERE}`)
    .max(200, "That key is too long")
    .regex(/^[\x21-\x7e]+$/, "Paste the key exactly as ActiveCampaign shows it, without spaces"),
});

const action = z.enum(ACTIONS, { error: "Choose Keep, Unsubscribe or Delete" });

/** The "Clean" form: flat fields as the browser sends them, turned into a run's scope and actions. */
export const cleanForm = z
  .object({
    scope: z.enum(["lists", "tag", "all"], { error: "Choose what to check" }),
    listIds: z.array(z.string()).default([]),
    tagId: z.string().default(""),
    deliverable: action,
    risky: action,
    undeliverable: action,
    unknown: action,
    smtpProbe: z.literal("on").optional(),
  })
  .superRefine((v, ctx) => {
    if (v.scope === "lists" && v.listIds.length === 0) ctx.addIssue({ code: "custom", path: ["listIds"], message: "Pick at least one list" });
    if (v.scope === "lists" && v.listIds.length > 100) ctx.addIssue({ code: "custom", path: ["listIds"], message: "Pick at most 100 lists per run" });
    if (v.scope === "tag" && !v.tagId) ctx.addIssue({ code: "custom", path: ["tagId"], message: "Pick a tag" });
  });
export type CleanForm = z.infer<typeof cleanForm>;

/** Parses a form body; every field's first problem becomes its message. */
export function parseForm<T extends z.ZodType>(schema: T, body: unknown): FormResult<z.infer<T>> {
  const result = schema.safeParse(body);
  if (result.success) return { ok: true, data: result.data };
  const errors: FieldErrors = {};
  for (const issue of result.error.issues) {
    const field = issue.path.map(String).join(".") || "_form";
    errors[field] ??= issue.message;
  }
  return { ok: false, errors };
}

/** A service's AppError as form errors: next to its field when it names one. */
export function errorsFromAppError(err: unknown): FieldErrors {
  if (!(err instanceof AppError)) throw err;
  if (!err.field) return { _form: err.message };
  const prefix = `${err.field}: `;
  const message = err.message.startsWith(prefix) ? err.message.slice(prefix.length) : err.message;
  return { [err.field]: message.charAt(0).toUpperCase() + message.slice(1) };
}

/** Multi-value form fields (checkboxes) as arrays, single ones as strings. */
export function formValues(body: Record<string, string | File | (string | File)[]>, arrays: string[] = []): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [key, value] of Object.entries(body)) {
    const values = (Array.isArray(value) ? value : [value]).filter((v): v is string => typeof v === "string");
    if (arrays.includes(key)) out[key] = values;
    else if (values.length > 0) out[key] = values[values.length - 1]!;
  }
  for (const key of arrays) out[key] ??= [];
  return out;
}

/** A redirect target from `?next=`: a path on this site only. */
export function safeNext(next: string | undefined): string {
  return next && next.startsWith("/") && !next.startsWith("//") && !next.startsWith("/\\") ? next : "/";
}
