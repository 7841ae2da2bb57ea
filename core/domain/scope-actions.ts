import { z } from "zod";
import { ACTIONS, type Action } from "../../db/schema/index.ts";
import {
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

export const scopeSchema = z.discriminatedUnion(
  "kind",
  [
    z.object({ kind: z.literal("all") }),
    z.object({
      kind: z.literal("lists"),
      listIds: z
        .array(acIdSchema, { error: "must be a list of ActiveCampaign list ids" })
        .min(1, "pick at least one list")
        .max(100, "at most 100 lists per run")
        .transform((ids) => [...new Set(ids)]),
    }),
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

export const actionsSchema = z
  .object({
    deliverable: actionSchema.default(DEFAULT_ACTIONS.deliverable),
    risky: actionSchema.default(DEFAULT_ACTIONS.risky),
    undeliverable: actionSchema.default(DEFAULT_ACTIONS.undeliverable),
    unknown: actionSchema.default(DEFAULT_ACTIONS.unknown),
    overrides: z
      .array(
        z.object({
          reason: z.enum(VERIFICATION_REASONS as [VerificationReason, ...VerificationReason[]], {
            error: `must be one of ${VERIFICATION_REASONS.join(", ")}`,
          }),
          action: actionSchema,
        }),
      )
      .max(VERIFICATION_REASONS.length)
      .default([])
      .refine((list) => new Set(list.map((o) => o.reason)).size === list.length, "names a reason twice"),
  })
  .strict()
  .default({ ...DEFAULT_ACTIONS, overrides: [] });
export type RunActions = z.infer<typeof actionsSchema>;

export { VERIFICATION_STATUSES };

export function usesDelete(actions: RunActions): boolean {
  return VERIFICATION_STATUSES.some((s) => actions[s] === "delete") || actions.overrides.some((o) => o.action === "delete");
}
