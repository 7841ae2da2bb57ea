import { z } from "zod";
import { ACTIONS, type Action } from "../../db/schema/index.ts";
import { cleanName } from "./names.ts";
import {
  STATUS_BY_REASON,
  VERIFICATION_REASONS,
  VERIFICATION_STATUSES,
  type VerificationReason,
  type VerificationStatus,
} from "../../verify/taxonomy.ts";

/** An ActiveCampaign id as AC sends it: a positive whole number, as a string of digits. */
export const AC_ID_SHAPE = /^[1-9][0-9]{0,18}$/;

export const acIdSchema = z
  .union([
    z.string(),
    // JSON numbers past 2^53 arrive already rounded: refuse them rather than use another id.
    z.number().refine(Number.isSafeInteger, 'is too large for a JSON number (it would be rounded): send it as a string, e.g. "9007199254740993"'),
  ])
  .transform((v) => String(v).trim())
  .pipe(z.string().regex(AC_ID_SHAPE, "must be an ActiveCampaign id (a positive whole number)"));

/** `{"kind":"lists","listIds":[...]}`: 1 to 100 list ids, repeats dropped. Runs and monitoring share it. */
export function listsScopeSchema(tooMany: string) {
  return z.object({
    kind: z.literal("lists"),
    listIds: z
      .array(acIdSchema, { error: "must be a list of ActiveCampaign list ids" })
      .min(1, "pick at least one list")
      .max(100, tooMany)
      .transform((ids) => [...new Set(ids)]),
  });
}

export const scopeSchema = z.discriminatedUnion(
  "kind",
  [
    z.object({ kind: z.literal("all") }),
    listsScopeSchema("at most 100 lists per run"),
    z.object({ kind: z.literal("tag"), tagId: acIdSchema }),
  ],
  { error: 'must be {"kind":"all"}, {"kind":"lists","listIds":[...]} or {"kind":"tag","tagId":...}' },
);
export type RunScope = z.infer<typeof scopeSchema>;
/** The scope of a run whose source is an uploaded file (issue 19): never an input, only shown. */
export type UploadScope = { kind: "upload"; uploadId: string };

/** What to do with a contact: keep, unsubscribe or delete. */
export const actionSchema = z.enum(ACTIONS, { error: 'must be "keep", "unsubscribe" or "delete"' });

/** The defaults (docs/architecture.md, "Safety rules"): undeliverable → Unsubscribe; risky, unknown, deliverable → Keep. */
export const DEFAULT_ACTIONS: Record<VerificationStatus, Action> = {
  deliverable: "keep",
  risky: "keep",
  undeliverable: "unsubscribe",
  unknown: "keep",
};

const statusSchema = z.enum(VERIFICATION_STATUSES, { error: `must be one of ${VERIFICATION_STATUSES.join(", ")}` });

export const DEFAULT_LABEL_FIELD = "Email status";
export const DEFAULT_LABEL_REASON_FIELD = "Email status reason";
export const DEFAULT_TAG_PREFIX = "lw-";
const LABEL_NAME_MAX = 60;

/** The title of a custom field in ActiveCampaign, as the user names it: visible characters, trimmed. */
export const labelFieldNameSchema = z
  .string({ error: "must be the name of a custom field, e.g. \"Email status\"" })
  .transform(cleanName)
  .pipe(z.string().min(1, "is required: the name of the custom field to write").max(LABEL_NAME_MAX, `must be at most ${LABEL_NAME_MAX} characters`));

/** What a tag name starts with: `lw-` gives lw-deliverable, lw-risky, lw-undeliverable, lw-unknown. */
export const TAG_PREFIX_SHAPE = /^[A-Za-z0-9][A-Za-z0-9 _.:-]{0,29}$/;
export const tagPrefixSchema = z
  .string({ error: "must be a tag prefix such as \"lw-\"" })
  .regex(TAG_PREFIX_SHAPE, "must start with a letter or digit and hold at most 30 letters, digits, spaces or _ . : -");

/**
 * "Label in ActiveCampaign", the non-destructive action: which results are written into
 * ActiveCampaign (a per-reason override's `label` wins), and how. The field holds one of
 * the four status words; a second field, when named, holds the reason; a tag per status is
 * added (and the tag of an earlier verdict removed) when a prefix is given. Imports skip
 * AC's automations unless `runAutomations` lets them react to the new values.
 */
export const labelSchema = z
  .object({
    statuses: z
      .array(statusSchema)
      .max(VERIFICATION_STATUSES.length)
      .default([])
      .transform((list) => VERIFICATION_STATUSES.filter((s) => list.includes(s))),
    fieldName: labelFieldNameSchema.default(DEFAULT_LABEL_FIELD),
    reasonFieldName: labelFieldNameSchema.nullable().default(null),
    tagPrefix: tagPrefixSchema.nullable().default(null),
    runAutomations: z.boolean({ error: "must be true or false" }).default(false),
  })
  .strict()
  .refine((l) => l.reasonFieldName === null || l.reasonFieldName.toLowerCase() !== l.fieldName.toLowerCase(), {
    message: "the reason needs a field of its own: give it another name than the status field",
    path: ["reasonFieldName"],
  });
export type RunLabel = z.infer<typeof labelSchema>;

export const DEFAULT_LABEL: RunLabel = { statuses: [], fieldName: DEFAULT_LABEL_FIELD, reasonFieldName: null, tagPrefix: null, runAutomations: false };

export const actionsSchema = z
  .object({
    deliverable: actionSchema.default(DEFAULT_ACTIONS.deliverable),
    risky: actionSchema.default(DEFAULT_ACTIONS.risky),
    undeliverable: actionSchema.default(DEFAULT_ACTIONS.undeliverable),
    unknown: actionSchema.default(DEFAULT_ACTIONS.unknown),
    /** Per reason: another action, and/or whether to label (absent: as its status). */
    overrides: z
      .array(
        z
          .object({
            reason: z.enum(VERIFICATION_REASONS as [VerificationReason, ...VerificationReason[]], {
              error: `must be one of ${VERIFICATION_REASONS.join(", ")}`,
            }),
            action: actionSchema.optional(),
            label: z.boolean({ error: "must be true or false" }).optional(),
          })
          .strict()
          .refine((o) => o.action !== undefined || o.label !== undefined, "needs an action, a label choice, or both"),
      )
      .max(VERIFICATION_REASONS.length)
      .default([])
      .refine((list) => new Set(list.map((o) => o.reason)).size === list.length, "names a reason twice"),
    // Absent (as in every run stored before labels existed): nothing is labelled unless an override says so.
    label: labelSchema.optional(),
  })
  .strict()
  .default({ ...DEFAULT_ACTIONS, overrides: [] });
export type RunActions = z.infer<typeof actionsSchema>;

export { VERIFICATION_STATUSES };

export function usesDelete(actions: RunActions): boolean {
  return VERIFICATION_STATUSES.some((s) => actions[s] === "delete") || actions.overrides.some((o) => o.action === "delete");
}

/** The action a reason's contacts get: its override's, or its status's. */
export function actionFor(actions: RunActions, reason: VerificationReason): Action {
  return actions.overrides.find((o) => o.reason === reason)?.action ?? actions[STATUS_BY_REASON[reason]];
}

/** Whether a reason's contacts are labelled: its override's choice, or its status's. */
export function labelsReason(actions: RunActions, reason: VerificationReason): boolean {
  return actions.overrides.find((o) => o.reason === reason)?.label ?? labelOf(actions).statuses.includes(STATUS_BY_REASON[reason]);
}

/** The label settings of a run's actions: the defaults (no status labelled) when it has none. */
export function labelOf(actions: RunActions): RunLabel {
  return actions.label ?? DEFAULT_LABEL;
}

/** Whether any contact could be labelled under these choices. */
export function usesLabel(actions: RunActions): boolean {
  return labelOf(actions).statuses.length > 0 || actions.overrides.some((o) => o.label === true);
}

/** The tag a status's contacts carry (`lw-` + risky), or null without tags. */
export function labelTag(label: Pick<RunLabel, "tagPrefix">, status: VerificationStatus): string | null {
  return label.tagPrefix === null ? null : `${label.tagPrefix}${status}`;
}
