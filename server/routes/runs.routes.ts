import { z } from "@hono/zod-openapi";
import { actionsSchema, scopeSchema } from "../../core/domain/scope-actions.ts";
import type { reportSummary } from "../../core/services/reports.ts";
import type { RunPlanView, RunView } from "../../core/services/runs.ts";
import { CHANGE, errors, idParams, json, jsonRequest, READ, route, SIGNED_IN, SIGNED_IN_CHANGE } from "../openapi.ts";
import { ActionsView, expectSameShape, RunScopeView, RunStatus, Timestamp, type SameShape } from "../schemas.ts";
import { RESULT_CLASSES, type ResultClass } from "../../core/domain/results.ts";
import { CONTACT_ACTIONS } from "../../core/services/plan.ts";
import { VERIFICATION_REASONS, VERIFICATION_STATUSES, type VerificationReason, type VerificationStatus } from "../../verify/taxonomy.ts";

const RunNames = z
  .object({ lists: z.record(z.string(), z.string()), tags: z.record(z.string(), z.string()) })
  .openapi("RunNames", { description: "ActiveCampaign's names of lists and tags by id, as they were when the run fetched" });

const NamedId = z.object({ id: z.string(), name: z.string().nullable() }).openapi("NamedId", { description: "An ActiveCampaign id with its name (null when not known)" });

const tags = ["runs"];
const params = idParams("run");
const count = z.number().int();
const counts = z.record(z.string(), count);

const byClass = z
  .object(Object.fromEntries(RESULT_CLASSES.map((c) => [c, count])) as Record<ResultClass, typeof count>)
  .openapi({ description: "Contacts per class: the four statuses, with deliverable addresses whose mailbox was not checked (mail_domain_ok) apart as domain_ok" });

const ListResult = z
  .object({
    listId: z.string(),
    name: z.string().nullable().openapi({ description: "The list's name in ActiveCampaign when the run fetched" }),
    contacts: count.openapi({ description: "Contacts checked who are on the list (any status)" }),
    active: count.openapi({ description: "Of them, those active on it" }),
    byClass,
    unsubscribe: z.object({ planned: count, done: count, failed: count }).openapi({ description: "Memberships of this list to unsubscribe, done and failed" }),
    delete: z.object({ planned: count, done: count }).openapi({ description: "Contacts on this list to delete, and deleted" }),
  })
  .openapi("ListResult");

export const RunPlan = z
  .object({
    contacts: count.openapi({ description: "Contacts checked: keep + unsubscribe.contacts + delete.contacts + nothingToDo" }),
    keep: count.openapi({ description: "Contacts kept (excluded ones among them)" }),
    unsubscribe: z.object({ contacts: count, requests: count.openapi({ description: "One per contact and list" }) }),
    delete: z.object({ contacts: count }),
    nothingToDo: count.openapi({ description: "Contacts to unsubscribe who are active on none of the lists concerned" }),
    excluded: count.openapi({ description: "Contacts taken out of the plan by hand at review" }),
    label: z
      .object({ contacts: count, byValue: counts.openapi({ description: "Contacts per status word written (deliverable, risky, undeliverable, unknown)" }) })
      .openapi({ description: "Contacts labelled in ActiveCampaign: not destructive, shown and counted" }),
    revision: count.openapi({ description: "Raised by each edit of the plan at review; send it as `planRevision` to approve exactly the plan you looked at" }),
    anomaly: z
      .object({ threshold: z.number(), share: z.number(), count, needsConfirmation: z.boolean() })
      .openapi({ description: "A plan that unsubscribes or deletes more than `threshold` (a share) of the contacts checked needs `confirmCount` equal to `count` to be approved" }),
    perList: z.array(ListResult),
    failures: z
      .array(z.object({ contactId: count, email: z.string(), kind: z.enum(["unsubscribe", "delete"]), listId: count.nullable(), error: z.string() }))
      .openapi({ description: "Changes ActiveCampaign refused, with its words (the first 20)" }),
    sample: z.array(
      z.object({
        contactId: count,
        email: z.string(),
        firstName: z.string(),
        lastName: z.string(),
        status: z.string(),
        reason: z.string(),
        action: z.string(),
        lists: z.array(count),
        label: z.string().nullable().openapi({ description: "The status word written in ActiveCampaign, or null when the contact is not labelled" }),
      }),
    ),
  })
  .openapi("RunPlan", { description: "What applying the run would change, with a sample of the contacts concerned" });
expectSameShape<SameShape<z.infer<typeof RunPlan>, RunPlanView>>();

const Timings = z.object({
  createdAt: Timestamp.nullable(),
  startedAt: Timestamp.nullable(),
  fetchedAt: Timestamp.nullable(),
  verifiedAt: Timestamp.nullable(),
  reviewAt: Timestamp.nullable(),
  approvedAt: Timestamp.nullable(),
  finishedAt: Timestamp.nullable(),
  durationMs: count.nullable(),
});

const Credits = z.object({ charged: count, refunded: count, net: count });

export const Run = z
  .object({
    id: z.string(),
    connectionId: z.string().nullable().openapi({ description: "Null once the connection is deleted" }),
    connectionName: z.string(),
    scheduleId: z.string().nullable(),
    scope: RunScopeView,
    names: RunNames.nullable().openapi({ description: "Null for runs from before names were kept" }),
    actions: ActionsView,
    smtpProbe: z.boolean(),
    mailboxChecked: z.boolean().nullable().openapi({ description: "Whether mailboxes were really checked (the probe ran, its preflight passed); null until verification starts" }),
    status: RunStatus,
    statusReason: z.string().nullable(),
    notes: z.array(z.string()),
    progress: z.object({
      total: count.nullable().openapi({ description: "Contacts in the scope: exact (de-duplicated) once fetched, an estimate before (totalEstimated)" }),
      totalEstimated: z.boolean(),
      perMinute: count.nullable().openapi({ description: "Contacts checked (or changes sent, while applying) per minute in the current stretch of work" }),
      secondsLeft: count.nullable().openapi({ description: "At that rate, how long the rest takes" }),
      creditsStillNeeded: count.nullable().openapi({ description: "Paused for credits: about how many more credits the rest needs" }),
      fetched: count,
      verified: count,
      waiting: z
        .object({ count, forBudget: count.openapi({ description: "Of them, those waiting for the probe budget" }), nextAt: Timestamp.nullable() })
        .openapi({ description: "Addresses parked until their mail server lets us ask again, or the probe budget has room" }),
      applied: count,
      failed: count,
      retrying: count.openapi({ description: "Changes waiting to be sent again after ActiveCampaign weather (429, 5xx, timeouts)" }),
      planned: count,
      labels: z
        .object({
          planned: count,
          done: count.openapi({ description: "Written, or already as wanted" }),
          skipped: count.openapi({ description: "Left out: the contact's e-mail changed, or it was gone, when re-read right before its batch" }),
          failed: count,
          byValue: counts.openapi({ description: "Contacts labelled (written or already as wanted) per status word" }),
        })
        .openapi({ description: "Contacts labelled in ActiveCampaign" }),
      byKind: z
        .object({ unsubscribe: z.object({ planned: count, done: count, failed: count }), delete: z.object({ planned: count, done: count, failed: count }) })
        .openapi({ description: "Changes planned and sent so far: list memberships unsubscribed, contacts deleted" }),
    }),
    canRetryActions: z.boolean(),
    counts: z.object({ byStatus: counts, byReason: counts, byClass }),
    credits: Credits,
    acRequests: count,
    undo: z
      .object({
        state: z.enum(["none", "running", "done"]),
        available: z.boolean(),
        until: z.string().nullable(),
        memberships: count,
        contacts: count,
        restored: count,
        skipped: count,
        failed: count,
        pending: count,
      })
      .openapi({
        description:
          "Undoing the run's unsubscribes (POST /runs/{id}/undo): whether it can be asked for now and until when (UNDO_DAYS after the run finished), the memberships the run unsubscribed, and once asked for those re-subscribed, left as they are (changed since the run, or gone), refused and still to do",
      }),
    backup: z
      .object({ contacts: count, expiresAt: z.string().nullable() })
      .openapi({ description: "The backup of the contacts the run deleted (GET /runs/{id}/backup.csv, backup.json): how many are kept, and when the first is removed (null: none kept)" }),
    plan: RunPlan.nullable().openapi({ description: "Once the plan is ready (not in lists of runs)" }),
    timings: Timings,
  })
  .openapi("Run");
expectSameShape<SameShape<z.infer<typeof Run>, RunView>>();

const LabelsSummary = z
  .object({
    planned: count,
    written: count,
    alreadyCurrent: count.openapi({ description: "Already labelled as wanted: nothing written" }),
    leftOut: z.object({ emailChanged: count, gone: count }).openapi({ description: "Not written: the contact's e-mail changed, or it was gone, since the check" }),
    failed: count,
    pending: count,
    byValue: counts.openapi({ description: "Contacts written or already current, per status word" }),
    imports: count.openapi({ description: "Bulk imports sent (one per batch of up to 250, and again after a crash or failure)" }),
    field: z.string().nullable().openapi({ description: "The field written, or null when the run labels nothing" }),
    reasonField: z.string().nullable(),
    tagPrefix: z.string().nullable(),
  })
  .openapi("LabelsSummary", { description: "Labels in ActiveCampaign" });

export const RunSummary = z
  .object({
    runId: z.string(),
    connection: z.string(),
    scope: RunScopeView,
    scopeNames: z
      .object({ lists: z.array(NamedId), tag: NamedId.nullable() })
      .openapi({ description: "The scope's lists and tag by name, as ActiveCampaign had them when the run fetched" }),
    actions: ActionsView,
    status: RunStatus,
    statusReason: z.string().nullable(),
    mailboxChecked: z.boolean().nullable().openapi({ description: "Whether mailboxes were really checked; when not, deliverable addresses are counted as domain_ok" }),
    contacts: count,
    verified: count,
    byStatus: counts,
    byClass,
    byReason: counts,
    plan: RunPlan.pick({ contacts: true, keep: true, unsubscribe: true, delete: true, nothingToDo: true, excluded: true, label: true }).nullable(),
    applied: z
      .object({
        done: count,
        failed: count,
        planned: count,
        unsubscribe: z.object({ planned: count, done: count, failed: count }).openapi({ description: "List memberships" }),
        delete: z.object({ planned: count, done: count, failed: count }).openapi({ description: "Contacts" }),
      })
      .openapi({ description: "Changes: list memberships unsubscribed plus contacts deleted" }),
    perList: z.array(ListResult),
    failures: RunPlan.shape.failures,
    labels: LabelsSummary,
    credits: Credits,
    acRequests: count,
    timings: Timings,
    notes: z.array(z.string()),
  })
  .openapi("RunSummary");
expectSameShape<SameShape<z.infer<typeof RunSummary>, ReturnType<typeof reportSummary>>>();

const CreateRunBody = z
  .object({
    connectionId: z.string({ error: "is required" }).min(1, "is required"),
    scope: scopeSchema,
    actions: actionsSchema,
    smtpProbe: z.boolean({ error: "must be true or false" }).optional().openapi({ description: "Probe mailboxes over SMTP (when the server allows it)" }),
  })
  .strict();

const ApproveBody = z
  .object({
    confirmDelete: z.boolean({ error: "must be true or false" }).default(false).openapi({ description: "Needed when the plan deletes contacts" }),
    confirmCount: z
      .number({ error: "must be a whole number" })
      .int("must be a whole number")
      .min(0, "must be 0 or more")
      .optional()
      .openapi({ description: "Needed when `plan.anomaly.needsConfirmation`: the number of contacts the plan unsubscribes or deletes (`plan.anomaly.count`)" }),
    planRevision: z
      .number({ error: "must be a whole number" })
      .int("must be a whole number")
      .min(0, "must be 0 or more")
      .optional()
      .openapi({ description: "The `plan.revision` the approver was shown: when the plan was edited since, the approval is refused (409) and nothing is applied. Leave it out to approve the plan as it is now" }),
  })
  .strict()
  .default({ confirmDelete: false });

const ListQuery = z.object({
  connectionId: z.string().optional().openapi({ description: "Only this connection's runs" }),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});

export const create = route({
  method: "post",
  path: "/",
  tags,
  summary: "Start a hygiene run",
  description: "The run is queued (202) and the worker takes it: fetch, verify, plan, then review before anything is changed in ActiveCampaign.",
  security: SIGNED_IN_CHANGE,
  request: { body: jsonRequest(CreateRunBody) },
  responses: { 202: json(Run, "Queued"), ...errors(...CHANGE, 401, 404, 415) },
});

export const list = route({
  method: "get",
  path: "/",
  tags,
  summary: "List runs",
  security: SIGNED_IN,
  request: { query: ListQuery },
  responses: { 200: json(z.object({ runs: z.array(Run) }), "Runs, newest first, without their plans"), ...errors(...READ, 400, 401) },
});

export const get = route({
  method: "get",
  path: "/{id}",
  tags,
  summary: "Get a run",
  description: "Status, progress, counts per status and reason, credits, the review plan, timings and the number of ActiveCampaign requests.",
  security: SIGNED_IN,
  request: { params },
  responses: { 200: json(Run, "The run"), ...errors(...READ, 401, 404) },
});

export const approve = route({
  method: "post",
  path: "/{id}/approve",
  tags,
  summary: "Apply a reviewed plan",
  description:
    "Only a run awaiting review can be approved; a plan with deletes needs `confirmDelete: true`, and a plan that unsubscribes or deletes more than its threshold of the contacts checked (`plan.anomaly`) needs `confirmCount`.",
  security: SIGNED_IN_CHANGE,
  request: { params, body: jsonRequest(ApproveBody) },
  responses: { 200: json(Run, "Approved: the worker applies it"), ...errors(...CHANGE, 401, 404, 409, 415) },
});

export const cancel = route({
  method: "post",
  path: "/{id}/cancel",
  tags,
  summary: "Cancel a run",
  description: "Stops a run before anything is changed in ActiveCampaign; contacts charged but not verified are refunded.",
  security: SIGNED_IN_CHANGE,
  request: { params },
  responses: { 200: json(Run, "Cancelled"), ...errors(...CHANGE, 401, 404, 409) },
});

export const retry = route({
  method: "post",
  path: "/{id}/retry",
  tags,
  summary: "Send failed changes again",
  description: "Sends again the changes of an applied run that ActiveCampaign refused (or that a refused key stopped), without verifying or charging again.",
  security: SIGNED_IN_CHANGE,
  request: { params },
  responses: { 200: json(Run, "Applying again"), ...errors(...CHANGE, 401, 404, 409) },
});

export const reportCsv = route({
  method: "get",
  path: "/{id}/report.csv",
  tags,
  summary: "The run's report as CSV",
  description:
    "One row per contact: id, email, name, lists (names, then ids), status, result (with \"Domain OK, mailbox not checked\" apart), reason, flags, suggestion, provider, action, the lists it unsubscribes from (ids), action result, and the label written in ActiveCampaign with its outcome (its batch, or why it was left out). Cells a spreadsheet would run as formulas are escaped.",
  security: SIGNED_IN,
  request: { params },
  responses: {
    200: {
      description: "The report (UTF-8 with a BOM), as an attachment",
      content: { "text/csv": { schema: z.string() } },
      headers: z.object({ "Content-Disposition": z.string() }),
    },
    ...errors(...READ, 401, 404),
  },
});

export const summary = route({
  method: "get",
  path: "/{id}/summary.json",
  tags,
  summary: "The run's totals",
  security: SIGNED_IN,
  request: { params },
  responses: {
    200: { ...json(RunSummary, "Counts, credits and timings, as an attachment"), headers: z.object({ "Content-Disposition": z.string() }) },
    ...errors(...READ, 401, 404),
  },
});

const Action = z.enum(["keep", "unsubscribe", "delete"], { error: 'must be "keep", "unsubscribe" or "delete"' });
const contactIds = z.array(z.number({ error: "must be contact ids" }).int("must be contact ids").positive("must be contact ids")).max(1_000, "at most 1,000 contacts at once");

const PlanEditBody = z
  .object({
    statuses: z
      .object(Object.fromEntries(VERIFICATION_STATUSES.map((s) => [s, Action.optional()])) as Record<VerificationStatus, z.ZodOptional<typeof Action>>)
      .strict()
      .optional()
      .openapi({ description: "The action of every contact of a result" }),
    reasons: z
      .partialRecord(z.enum(VERIFICATION_REASONS as [VerificationReason, ...VerificationReason[]], { error: "must be a reason" }), Action.nullable())
      .optional()
      .openapi({ description: "The action of a reason's contacts; null: as their result" }),
    exclude: contactIds.optional().openapi({ description: "Contacts taken out of the plan: kept and not labelled, whatever their result" }),
    include: contactIds.optional().openapi({ description: "Contacts put back into the plan" }),
  })
  .strict();

export const editPlan = route({
  method: "patch",
  path: "/{id}/plan",
  tags,
  summary: "Change a plan at review",
  description:
    "Only while the run awaits review. Plans again from the stored results (nothing is checked or charged again) and answers with the run, its counts updated.",
  security: SIGNED_IN_CHANGE,
  request: { params, body: jsonRequest(PlanEditBody) },
  responses: { 200: json(Run, "The run with its new plan"), ...errors(...CHANGE, 401, 404, 409, 415) },
});

export const ContactsQuery = z.object({
  result: z.enum(RESULT_CLASSES, { error: `must be one of ${RESULT_CLASSES.join(", ")}` }).optional(),
  reason: z.enum(VERIFICATION_REASONS as [VerificationReason, ...VerificationReason[]], { error: "must be a reason" }).optional(),
  action: z.enum(CONTACT_ACTIONS, { error: `must be one of ${CONTACT_ACTIONS.join(", ")}` }).optional(),
  list: z.string().regex(/^\d{1,12}$/, "must be a list id").optional(),
  q: z.string().max(200, "at most 200 characters").optional().openapi({ description: "Part of the e-mail address or the name" }),
  excluded: z.enum(["yes", "no"], { error: 'must be "yes" or "no"' }).optional(),
});

const RunContact = z
  .object({
    contactId: count,
    email: z.string(),
    firstName: z.string(),
    lastName: z.string(),
    status: z.string().nullable(),
    result: z.string().openapi({ description: "The result in words, \"Domain OK, mailbox not checked\" apart" }),
    reason: z.string().nullable(),
    action: z.enum(CONTACT_ACTIONS),
    excluded: z.boolean(),
    lists: z.array(NamedId),
    changes: z.array(z.string()).openapi({ description: "The lists (ids) the contact is unsubscribed from" }),
  })
  .openapi("RunContact");

export const contacts = route({
  method: "get",
  path: "/{id}/contacts",
  tags,
  summary: "A run's contacts, filtered and paged",
  security: SIGNED_IN,
  request: { params, query: ContactsQuery.extend({ offset: z.coerce.number().int().min(0).max(10_000_000).default(0), limit: z.coerce.number().int().min(1).max(200).default(50) }) },
  responses: { 200: json(z.object({ total: count, contacts: z.array(RunContact) }), "The contacts matching, in contact id order"), ...errors(...READ, 400, 401, 404) },
});

export const contactsCsv = route({
  method: "get",
  path: "/{id}/contacts.csv",
  tags,
  summary: "A filtered view of a run's contacts as CSV",
  description: "The report's columns, for the contacts matching the same filters as GET /runs/{id}/contacts.",
  security: SIGNED_IN,
  request: { params, query: ContactsQuery },
  responses: {
    200: { description: "The contacts (UTF-8 with a BOM), as an attachment", content: { "text/csv": { schema: z.string() } }, headers: z.object({ "Content-Disposition": z.string() }) },
    ...errors(...READ, 400, 401, 404),
  },
});

export const backupCsv = route({
  method: "get",
  path: "/{id}/backup.csv",
  tags,
  summary: "The backup of the contacts the run deleted, as CSV for ActiveCampaign's import",
  description:
    "Each contact's whole record as ActiveCampaign had it right before the run deleted it: Email, First Name, Last Name, Phone, Tags (names, comma-separated), one column per custom field (its title), then the lists it was active on, its other list statuses and its old ActiveCampaign id (lists are chosen while importing). Kept BACKUP_RETENTION_DAYS (default 30) days after the delete; 404 when the run deleted nobody or the backup was removed. Cells a spreadsheet would run as formulas are escaped with a leading '.",
  security: SIGNED_IN,
  request: { params },
  responses: {
    200: { description: "The backup (UTF-8 with a BOM), as an attachment", content: { "text/csv": { schema: z.string() } }, headers: z.object({ "Content-Disposition": z.string() }) },
    ...errors(...READ, 401, 404),
  },
});

export const backupJson = route({
  method: "get",
  path: "/{id}/backup.json",
  tags,
  summary: "The backup of the contacts the run deleted, as JSON for ActiveCampaign's bulk import",
  description:
    "`contacts`: the body of ActiveCampaign's bulk import (POST /api/3/import/bulk_import; at most 250 contacts a request): email, first_name, last_name, phone, tags (names), fields ({id, value}), subscribe (the lists it was active on), unsubscribe (those it had left). `records`: each contact's whole record with names and list statuses. Values are exactly as ActiveCampaign had them. 404 when the run deleted nobody or the backup was removed.",
  security: SIGNED_IN,
  request: { params },
  responses: {
    200: {
      description: "The backup, as an attachment",
      content: { "application/json": { schema: z.object({ runId: z.string(), contacts: z.array(z.record(z.string(), z.unknown())), records: z.array(z.record(z.string(), z.unknown())) }) } },
      headers: z.object({ "Content-Disposition": z.string() }),
    },
    ...errors(...READ, 401, 404),
  },
});

export const undo = route({
  method: "post",
  path: "/{id}/undo",
  tags,
  summary: "Undo the run's unsubscribes",
  description:
    "Re-subscribes the list memberships this run unsubscribed, each only while ActiveCampaign still shows it as the run left it (unsubscribed, not changed since); any other is left as it is and counted as skipped. Never touches a membership the run did not unsubscribe, and never brings deleted contacts back (see backup.csv). Possible once, for UNDO_DAYS (default 30) after the run finished; the worker does it at ActiveCampaign's pace and the run shows the progress (`undo`). 409 when the run is not finished, the time has passed, it unsubscribed no one, or an undo was asked for already.",
  security: SIGNED_IN_CHANGE,
  request: { params },
  responses: { 202: json(Run, "The run, being undone"), ...errors(...CHANGE, 401, 404, 409) },
});
