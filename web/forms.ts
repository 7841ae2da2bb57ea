import { z } from "zod";
import { cleanName } from "../core/domain/names.ts";
import { AppError } from "../core/errors.ts";
import { ACTIONS } from "../db/schema/index.ts";
import { canonicalTimeZone } from "../core/services/schedules.ts";
import { VERIFICATION_REASONS, type VerificationReason } from "../verify/taxonomy.ts";

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
const formName = z.string().max(1000, "Use at most 100 characters").transform(cleanName).pipe(z.string().max(100, "Use at most 100 characters"));

export const connectionForm = z.object({
  name: formName.optional(),
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

/** The form field of a per-reason override: "" means "same as its status". */
export const overrideField = (reason: VerificationReason) => `override-${reason}`;

const overrideShape = Object.fromEntries(
  VERIFICATION_REASONS.map((r) => [overrideField(r), z.enum(["", ...ACTIONS], { error: "Choose an action from the list" }).default("")]),
);

/** Scope, actions (with per-reason overrides) and probing: shared by the Clean and schedule forms. */
const runOptionsShape = {
  scope: z.enum(["lists", "tag", "all"], { error: "Choose what to check" }),
  listIds: z.array(z.string()).default([]),
  tagId: z.string().default(""),
  deliverable: action,
  risky: action,
  undeliverable: action,
  unknown: action,
  ...overrideShape,
  smtpProbe: z.literal("on").optional(),
};

function refineScope(v: { scope: string; listIds: string[]; tagId: string }, ctx: z.RefinementCtx) {
  if (v.scope === "lists" && v.listIds.length === 0) ctx.addIssue({ code: "custom", path: ["listIds"], message: "Pick at least one list" });
  if (v.scope === "lists" && v.listIds.length > 100) ctx.addIssue({ code: "custom", path: ["listIds"], message: "Pick at most 100 lists per run" });
  if (v.scope === "tag" && !v.tagId) ctx.addIssue({ code: "custom", path: ["tagId"], message: "Pick a tag" });
}

/** The "Clean" form: flat fields as the browser sends them, turned into a run's scope and actions. */
export const cleanForm = z.object(runOptionsShape).superRefine(refineScope);
export type CleanForm = z.infer<typeof cleanForm>;

const DAY_MESSAGE = "Choose a day from 1 to 28, or the last day of the month";
const HOUR_MESSAGE = "Choose an hour from 00:00 to 23:00";
const THRESHOLD_MESSAGE = "Enter a whole percentage from 0 to 99";

/** A monthly schedule: the Clean form's fields and when and how its runs apply (POST /api/schedules). */
export const scheduleForm = z
  .object({
    ...runOptionsShape,
    dayOfMonth: z.union([z.literal("last"), z.string().regex(/^\d{1,2}$/, DAY_MESSAGE).transform(Number).pipe(z.number().min(1, DAY_MESSAGE).max(28, DAY_MESSAGE))], {
      error: DAY_MESSAGE,
    }),
    hour: z.string({ error: HOUR_MESSAGE }).regex(/^\d{1,2}$/, HOUR_MESSAGE).transform(Number).pipe(z.number().max(23, HOUR_MESSAGE)),
    timeZone: z
      .string({ error: "Choose a time zone" })
      .trim()
      .min(1, "Choose a time zone")
      .transform((name, ctx) => {
        const zone = canonicalTimeZone(name);
        if (!zone) {
          ctx.addIssue({ code: "custom", message: "Choose a time zone from the list, such as Europe/Berlin" });
          return z.NEVER;
        }
        return zone;
      }),
    autoApply: z.literal("on").optional(),
    holdThreshold: z
      .string({ error: THRESHOLD_MESSAGE })
      .trim()
      .regex(/^\d{1,2}$/, THRESHOLD_MESSAGE)
      .transform(Number),
    confirmDelete: z.literal("on").optional(),
  })
  .superRefine(refineScope);
export type ScheduleForm = z.infer<typeof scheduleForm>;

/** Renaming a connection and replacing its key (PATCH /api/connections/:id). */
export const connectionSettingsForm = z.object({
  name: formName.default(""),
  apiKey: z
    .string()
    .trim()
    .max(200, "That key is too long")
    .refine((k) => k === "" || k.length >= 20, `That key looks too short: ${WHERE}`)
    .refine((k) => /^[\x21-\x7e]*$/.test(k), "Paste the key exactly as ActiveCampaign shows it, without spaces")
    .default(""),
});

/** A new API token (POST /api/tokens). */
export const tokenForm = z.object({
  name: z
    .string()
    .max(1000, "Use at most 100 characters")
    .transform(cleanName)
    .pipe(z.string().min(1, "Enter a name, e.g. the program that will use it").max(100, "Use at most 100 characters")),
});

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
  return { [err.field]: err.message.charAt(0).toUpperCase() + err.message.slice(1) };
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

/** Whitespace (browsers drop tabs and newlines from URLs), control and format characters (bidi overrides), backslashes. */
const UNSAFE_IN_NEXT = /[\s\p{Cc}\p{Cf}\\]/u;

/**
 * A redirect target from `?next=`: parsed against the site's own origin and kept only when it
 * is a path there; anything else, and anything with whitespace, control characters or a
 * backslash, is "/". The one check for every `next`.
 */
export function safeNext(next: string | undefined, origin: string): string {
  if (!next || !next.startsWith("/") || UNSAFE_IN_NEXT.test(next)) return "/";
  let url: URL;
  try {
    url = new URL(next, origin);
  } catch {
    return "/";
  }
  if (url.origin !== new URL(origin).origin) return "/";
  // Dot segments collapse ("/.//evil.example" parses to the path "//evil.example"): a path that
  // now starts with two slashes would send the browser to another host.
  if (/^\/[\\/]/.test(url.pathname)) return "/";
  return `${url.pathname}${url.search}${url.hash}`;
}
