import { z } from "@hono/zod-openapi";
import { ACTIONS } from "../db/schema/index.ts";
import { RUN_STATUSES } from "../core/domain/run-status.ts";
import { VERIFICATION_REASONS, VERIFICATION_STATUSES, type VerificationReason } from "../verify/taxonomy.ts";

/**
 * Answers shared by several resources, as they go over the wire. Input rules stay in
 * core/domain; these describe what the services return. Each route file checks at compile time
 * that its answer schemas and the services' views are the same shape (SameShape), so neither
 * can change without the other.
 */

/** True when A and B are each assignable to the other; `expectSameShape<SameShape<A, B>>()` fails to compile otherwise. */
export type SameShape<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
export const expectSameShape = <T extends true>(): T | undefined => undefined;

export const Timestamp = z.string().openapi({ format: "date-time", example: "2026-11-30T09:00:00.000Z" });

export const RunStatus = z.enum(RUN_STATUSES).openapi("RunStatus", { description: "See docs/run-lifecycle.md" });

const Action = z.enum(ACTIONS);

export const ScopeView = z
  .discriminatedUnion("kind", [
    z.object({ kind: z.literal("all") }),
    z.object({ kind: z.literal("lists"), listIds: z.array(z.string()) }),
    z.object({ kind: z.literal("tag"), tagId: z.string() }),
  ])
  .openapi("Scope", { description: "Which contacts a run reads: all, those on some lists, or those with a tag (ActiveCampaign ids)" });

/** A run's scope: an ActiveCampaign scope, or the upload it verifies (issue 19). */
export const RunScopeView = z
  .union([ScopeView, z.object({ kind: z.literal("upload"), uploadId: z.string() }).openapi("UploadScope", { description: "A run that verifies an uploaded file (see /uploads)" })])
  .openapi("RunScope");
export const LabelView = z
  .object({
    statuses: z.array(z.enum(VERIFICATION_STATUSES)).openapi({ description: "Results whose contacts are labelled (a reason's override wins)" }),
    fieldName: z.string().openapi({ description: "The custom field that gets the status word (deliverable, risky, undeliverable, unknown); created on first use, on all lists" }),
    reasonFieldName: z.string().nullable().openapi({ description: "A second field for the reason (e.g. accept_all), or null" }),
    tagPrefix: z.string().nullable().openapi({ description: "Tags per status, e.g. lw- gives lw-risky; the tag of an earlier verdict is removed. Null: no tags" }),
    runAutomations: z.boolean().openapi({ description: "Let ActiveCampaign's automations react to the imports (they are skipped by default)" }),
  })
  .openapi("Label", { description: "Label in ActiveCampaign: the non-destructive action, combinable with any other" });

export const ActionsView = z
  .object({
    deliverable: Action,
    risky: Action,
    undeliverable: Action,
    unknown: Action,
    overrides: z.array(
      z.object({
        reason: z.enum(VERIFICATION_REASONS as [VerificationReason, ...VerificationReason[]]),
        action: Action.optional(),
        label: z.boolean().optional(),
      }),
    ),
    label: LabelView.optional().openapi({ description: "Absent: no result is labelled (unless an override says so), with the default settings" }),
  })
  .openapi("Actions", { description: "What happens to a contact per verification status, and which are labelled in ActiveCampaign; an override per reason wins" });

export const User = z.object({ id: z.string(), workspaceId: z.string(), email: z.string() }).openapi("User");
