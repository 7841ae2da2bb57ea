import { z } from "zod";
import { loginSchema, PASSWORD_MIN, resetPasswordSchema, resetRequestSchema, signupSchema } from "../core/domain/account.ts";
import { creditRequestSchema, grantSchema } from "../core/domain/credits.ts";
import { connectionInputSchema, connectionUpdateSchema, DISPLAY_NAME_MAX, displayNameSchema, tokenNameSchema } from "../core/domain/connection.ts";
import { actionSchema, actionsSchema, scopeSchema } from "../core/domain/scope-actions.ts";
import { AppError } from "../core/errors.ts";
import { createScheduleSchema } from "../core/services/schedules.ts";
import { monitorInputSchema } from "../core/services/monitors.ts";
import { VERIFICATION_REASONS, VERIFICATION_STATUSES, type VerificationReason, type VerificationStatus } from "../verify/taxonomy.ts";

/**
 * The dashboard's forms. Each one parses with the core's schemas, the same that validate the
 * JSON API, and only puts their problems in its own words; a form defines no rule of its own
 * beyond how a browser sends a value (flat fields, ticked checkboxes as "on", "" in a select).
 */

/** Messages keyed by form field; `_form` is a problem with the form as a whole. */
export type FieldErrors = Partial<Record<string, string>>;

export type FormResult<T> = { ok: true; data: T } | { ok: false; errors: FieldErrors };

type Issue = z.core.$ZodIssue;
type Say = string | ((issue: Issue) => string);

/**
 * A form's sentence for the problems of one field: one for all of them, or one per zod issue
 * code. `required` is for a value that is missing or blank, whichever check noticed it;
 * `otherwise` for any code not listed. A problem with no sentence keeps the core's message.
 */
export type Wording = Say | Partial<Record<Issue["code"] | "required" | "otherwise", Say>>;

export interface Form<T extends z.ZodType> {
  schema: T;
  wording: Record<string, Wording>;
  /** The form field a problem belongs to, by its path (default: the path's first part). */
  fieldOf?: (path: readonly PropertyKey[]) => string;
}

const WHERE = "copy it from Settings → Developer in ActiveCampaign";

/** The bound a too_small or too_big problem names: the core's, never a copy. */
const limitOf = (issue: Issue) => (issue.code === "too_big" ? String(issue.maximum) : issue.code === "too_small" ? String(issue.minimum) : "");

const EMAIL: Wording = {
  required: "Enter your e-mail address",
  too_big: "That e-mail address is too long",
  invalid_format: "Enter an e-mail address like you@example.com",
};

// The name's first bound (10 × the limit) keeps its cleaning cheap; the limit people see is the second.
const NAME: Wording = { too_big: `Use at most ${DISPLAY_NAME_MAX} characters` };

const API_KEY: Wording = {
  required: `Enter the API key: ${WHERE}`,
  too_small: `That key looks too short: ${WHERE}`,
  too_big: "That key is too long",
  invalid_format: "Paste the key exactly as ActiveCampaign shows it, without spaces",
};

/** POST /api/auth/signup's rules (core/domain/account.ts), with words for a form. */
export const signupForm = {
  schema: signupSchema,
  wording: {
    email: EMAIL,
    password: {
      // Missing (no bound in the problem) or too short alike.
      required: `Use at least ${PASSWORD_MIN} characters`,
      too_small: (i) => `Use at least ${limitOf(i)} characters`,
      too_big: (i) => `Use at most ${limitOf(i)} characters`,
    },
  },
} satisfies Form<typeof signupSchema>;

export const loginForm = {
  schema: loginSchema,
  wording: { email: EMAIL, password: { required: "Enter your password", too_big: (i) => `Use at most ${limitOf(i)} characters` } },
} satisfies Form<typeof loginSchema>;

/** POST /api/connections's rules (core/domain/connection.ts). */
export const connectionForm = {
  schema: connectionInputSchema,
  wording: { name: NAME, apiUrl: { required: `Enter the API URL: ${WHERE}`, too_big: "That URL is too long" }, apiKey: API_KEY },
} satisfies Form<typeof connectionInputSchema>;

/** An empty text field is a value not given (the form cannot leave a field out). */
const blankAsAbsent = (v: unknown) => (typeof v === "string" && v.trim() === "" ? undefined : v);

/**
 * Renaming a connection and replacing its key (PATCH /api/connections/:id's rules): an empty
 * key field keeps the current key; an absent name is an empty one, which the service replaces
 * with the account name in the URL.
 */
const connectionSettingsSchema = z.object({
  name: displayNameSchema.default(""),
  apiKey: z.preprocess(blankAsAbsent, connectionUpdateSchema.shape.apiKey),
});
export const connectionSettingsForm = {
  schema: connectionSettingsSchema,
  wording: { name: NAME, apiKey: API_KEY },
} satisfies Form<typeof connectionSettingsSchema>;

/** A new API token (POST /api/tokens). */
const tokenSchema = z.object({ name: tokenNameSchema });
export const tokenForm = {
  schema: tokenSchema,
  wording: { name: { required: "Enter a name, e.g. the program that will use it", ...NAME } },
} satisfies Form<typeof tokenSchema>;

// ---- scope, actions and probing: the Clean form and the schedule form --------------------------

/** The form field of a per-reason override: "" means "same as its status". */
export const overrideField = (reason: VerificationReason) => `override-${reason}`;
/** The checkbox "Label in ActiveCampaign" of a status. */
export const labelField = (status: VerificationStatus) => `label-${status}`;
/** A reason's label choice: "" as its status, "on", "off". */
export const labelOverrideField = (reason: VerificationReason) => `label-override-${reason}`;

/** A ticked checkbox is sent as "on", an unticked one not at all. */
const checkbox = z.literal("on").optional().transform((v) => v === "on");

/**
 * What the browser sends for scope, actions and probing, checked only where the form has a
 * shape of its own (checkboxes, the overrides' "same as its status"); the rest is passed on
 * as it came, for the core's schemas to judge.
 */
const runOptionFields = {
  smtpProbe: checkbox,
  labelReason: checkbox,
  labelTags: checkbox,
  runAutomations: checkbox,
  ...Object.fromEntries(VERIFICATION_STATUSES.map((s) => [labelField(s), checkbox])),
  ...Object.fromEntries(VERIFICATION_REASONS.map((r) => [overrideField(r), z.union([z.literal(""), actionSchema]).default("")])),
  ...Object.fromEntries(VERIFICATION_REASONS.map((r) => [labelOverrideField(r), z.enum(["", "on", "off"]).default("")])),
};

/** The flat fields as the API's `scope` and `actions` (unknown: the core's schema says what they are). */
function runOptionsOf(v: Record<string, unknown>): Record<string, unknown> {
  const overrides = VERIFICATION_REASONS.flatMap((reason) => {
    const action = v[overrideField(reason)];
    const label = v[labelOverrideField(reason)];
    if (!action && !label) return [];
    return [{ reason, ...(action ? { action } : {}), ...(label ? { label: label === "on" } : {}) }];
  });
  const statuses = VERIFICATION_STATUSES.filter((s) => v[labelField(s)] === true);
  // Label settings only when something is labelled: a run that labels nothing stores none.
  const labels = statuses.length > 0 || overrides.some((o) => o.label === true);
  return {
    scope: { kind: v.scope, listIds: v.listIds, tagId: v.tagId },
    actions: {
      // A select the browser did not send is refused (null), not given the default (undefined).
      ...Object.fromEntries(VERIFICATION_STATUSES.map((s) => [s, v[s] ?? null])),
      overrides,
      ...(labels
        ? {
            label: {
              statuses,
              fieldName: v.labelField,
              reasonFieldName: v.labelReason ? v.labelReasonField : null,
              tagPrefix: v.labelTags ? v.tagPrefix : null,
              runAutomations: v.runAutomations,
            },
          }
        : {}),
    },
    smtpProbe: v.smtpProbe,
  };
}

/** The API's paths as the form's fields: scope.listIds → listIds, actions.risky → risky. */
function runOptionField(path: readonly PropertyKey[]): string {
  const [head, sub] = path.map(String);
  if (head === "scope") return sub === "listIds" || sub === "tagId" ? sub : "scope";
  if (head === "actions" && (VERIFICATION_STATUSES as readonly string[]).includes(sub ?? "")) return sub!;
  if (head === "actions" && sub === "label") return LABEL_FIELDS[String(path[2])] ?? "labelField";
  return head ?? "_form";
}

/** The label settings' paths in the API as the form's fields. */
const LABEL_FIELDS: Record<string, string> = { fieldName: "labelField", reasonFieldName: "labelReasonField", tagPrefix: "tagPrefix" };

const RUN_OPTION_WORDING: Record<string, Wording> = {
  labelField: { required: "Enter the name of the field to write, e.g. Email status", too_small: "Enter the name of the field to write, e.g. Email status", too_big: (i) => `Use at most ${limitOf(i)} characters` },
  labelReasonField: {
    required: "Enter the name of the field for the reason",
    too_small: "Enter the name of the field for the reason",
    too_big: (i) => `Use at most ${limitOf(i)} characters`,
    custom: "Give the reason a field of its own: a name other than the result's field",
  },
  tagPrefix: "Start with a letter or digit; use at most 30 letters, digits, spaces or _ . : - (e.g. lw-)",
  scope: "Choose what to check",
  listIds: {
    required: "Pick at least one list",
    too_big: (i) => `Pick at most ${limitOf(i)} lists per run`,
    otherwise: "Choose from the ones shown",
  },
  tagId: { required: "Pick a tag", otherwise: "Choose from the ones shown" },
  ...Object.fromEntries(VERIFICATION_STATUSES.map((s) => [s, "Choose Keep, Unsubscribe or Delete"])),
  ...Object.fromEntries(VERIFICATION_REASONS.map((r) => [overrideField(r), "Choose an action from the list"])),
};

const cleanSchema = z
  .looseObject(runOptionFields)
  .transform((v): unknown => runOptionsOf(v))
  .pipe(z.object({ scope: scopeSchema, actions: actionsSchema, smtpProbe: z.boolean() }));

/** The "Clean" form: a run's scope, actions and probing (POST /api/runs's rules). */
export const cleanForm = { schema: cleanSchema, wording: RUN_OPTION_WORDING, fieldOf: runOptionField } satisfies Form<typeof cleanSchema>;

/** The field's whole percentage (two digits, as it allows) as the share the API takes: "30" → 0.3. Anything else goes on as it came, to be refused. */
const percentAsShare = (v: unknown) => (typeof v === "string" && /^\d{1,2}$/.test(v.trim()) ? Number(v.trim()) / 100 : (v ?? null));

const scheduleSchema = z
  .looseObject({ ...runOptionFields, autoApply: checkbox, confirmDelete: checkbox })
  .transform((v): unknown => ({
    ...runOptionsOf(v),
    dayOfMonth: v.dayOfMonth,
    hour: v.hour,
    timeZone: v.timeZone,
    autoApply: v.autoApply,
    holdThreshold: percentAsShare(v.holdThreshold),
    confirmDelete: v.confirmDelete,
  }))
  .pipe(createScheduleSchema.omit({ connectionId: true }));

/** A monthly schedule: the Clean form's fields and when and how its runs apply (POST /api/schedules's rules). */
export const scheduleForm = {
  schema: scheduleSchema,
  wording: {
    ...RUN_OPTION_WORDING,
    dayOfMonth: "Choose a day from 1 to 28, or the last day of the month",
    hour: "Choose an hour from 00:00 to 23:00",
    timeZone: { required: "Choose a time zone", otherwise: "Choose a time zone from the list, such as Europe/Berlin" },
    holdThreshold: "Enter a whole percentage from 0 to 99",
  },
  fieldOf: runOptionField,
} satisfies Form<typeof scheduleSchema>;

const monitorSchema = z
  .looseObject({ ...runOptionFields, enabled: checkbox, digest: checkbox, confirmDelete: checkbox })
  .transform((v): unknown => {
    const { actions, smtpProbe } = runOptionsOf(v);
    return {
      enabled: v.enabled,
      scope: v.scope === "all" ? { kind: "all" } : { kind: "lists", listIds: v.listIds ?? [] },
      actions,
      smtpProbe,
      digest: v.digest,
      confirmDelete: v.confirmDelete,
    };
  })
  .pipe(monitorInputSchema);

/** Monitoring of a connection (PUT /api/connections/{id}/monitor's rules): the Clean form's actions, lists or all. */
export const monitorForm = {
  schema: monitorSchema,
  wording: { ...RUN_OPTION_WORDING, listIds: { required: "Pick at least one list, or choose every list", too_small: "Pick at least one list, or choose every list", too_big: (i) => `Pick at most ${limitOf(i)} lists`, otherwise: "Choose from the ones shown" } },
  fieldOf: runOptionField,
} satisfies Form<typeof monitorSchema>;

// ---- parsing ---------------------------------------------------------------------------------

const isBlank = (v: unknown) => v === undefined || v === null || (typeof v === "string" && v.trim() === "") || (Array.isArray(v) && v.length === 0);

function sentenceFor(wording: Wording | undefined, issue: Issue): string {
  const say = typeof wording === "object" ? ((isBlank(issue.input) && wording.required) || wording[issue.code] || wording.otherwise) : wording;
  if (say === undefined) return capitalised(issue.message);
  return typeof say === "function" ? say(issue) : say;
}

/**
 * Parses a form body; every field's first problem becomes its message, in the form's words.
 *
 * The words are applied after parsing, not with a zod error map: in zod 4 a message written in
 * the schema (the core's "is required: …", meant for the API) wins over any map passed to the
 * parse, so the form looks at what went wrong (the field, the issue code, whether the value was
 * blank) and picks its own sentence. `reportInput` keeps each issue's value for that last check;
 * the issues are dropped here and never logged.
 */
export function parseForm<T extends z.ZodType>(form: Form<T>, body: unknown): FormResult<z.output<T>> {
  const result = form.schema.safeParse(body, { reportInput: true });
  if (result.success) return { ok: true, data: result.data };
  const errors: FieldErrors = {};
  for (const issue of result.error.issues) {
    const field = form.fieldOf ? form.fieldOf(issue.path) : issue.path.length > 0 ? String(issue.path[0]) : "_form";
    errors[field] ??= sentenceFor(form.wording[field], issue);
  }
  return { ok: false, errors };
}

const capitalised = (message: string) => message.charAt(0).toUpperCase() + message.slice(1);

/** A service's AppError as form errors: next to its field when it names one. */
export function errorsFromAppError(err: unknown): FieldErrors {
  if (!(err instanceof AppError)) throw err;
  if (!err.field) return { _form: err.message };
  return { [err.field]: capitalised(err.message) };
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

// ---- credits, password resets, notifications ----------------------------------------------------

/** Asking the operator for credits (core/domain/credits.ts). */
export const creditRequestForm = {
  schema: creditRequestSchema,
  wording: {
    credits: { required: "Enter how many credits you need", otherwise: "Enter a whole number of credits, e.g. 5000", too_big: (i) => `Ask for at most ${Number(limitOf(i)).toLocaleString("en-US")} at once` },
    note: { too_big: "Keep the note under 500 characters" },
  },
} satisfies Form<typeof creditRequestSchema>;

export const grantForm = {
  schema: grantSchema,
  wording: { email: { required: "Enter the user's e-mail address" }, credits: { otherwise: "Enter a whole number of credits from 1 to 1,000,000,000" } },
} satisfies Form<typeof grantSchema>;

export const resetRequestForm = {
  schema: resetRequestSchema,
  wording: { email: EMAIL },
} satisfies Form<typeof resetRequestSchema>;

export const resetPasswordForm = {
  schema: resetPasswordSchema,
  wording: {
    token: "This reset link is not complete: open the link from the e-mail again",
    password: { required: `Use at least ${PASSWORD_MIN} characters`, too_small: (i) => `Use at least ${limitOf(i)} characters`, too_big: (i) => `Use at most ${limitOf(i)} characters` },
  },
} satisfies Form<typeof resetPasswordSchema>;
