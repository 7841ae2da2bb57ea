import { z } from "@hono/zod-openapi";
import { MONITOR_CONTACT_STATES, WEBHOOK_STATES } from "../../db/schema/index.ts";
import { monitorInputSchema, type MonitorView } from "../../core/services/monitors.ts";
import { CHANGE, errors, idParams, json, jsonRequest, READ, route, SIGNED_IN, SIGNED_IN_CHANGE } from "../openapi.ts";
import { ActionsView, expectSameShape, Timestamp, type SameShape } from "../schemas.ts";

const tags = ["monitoring"];
const params = idParams("connection");
const count = z.number().int().min(0);

const Counts = z.object({
  checked: count.openapi({ description: "New contacts checked (charged 1 credit each; unknown results refunded)" }),
  unsubscribed: count,
  deleted: count,
  labelled: count,
});

export const Monitor = z
  .object({
    connectionId: z.string(),
    enabled: z.boolean(),
    scope: z
      .discriminatedUnion("kind", [z.object({ kind: z.literal("all") }), z.object({ kind: z.literal("lists"), listIds: z.array(z.string()) })])
      .openapi({ description: "The lists whose new subscribers are checked, or every list" }),
    actions: ActionsView,
    smtpProbe: z.boolean(),
    digest: z.boolean().openapi({ description: "A daily digest of what was done, through the workspace's notification channels" }),
    deleteConfirmed: z.boolean(),
    webhook: z.object({
      state: z.enum(WEBHOOK_STATES).openapi({ description: "none (off), registering, registered, failed (see error), missing (AC no longer has it: register it again)" }),
      error: z.string().nullable(),
      lastDeliveryAt: Timestamp.nullable(),
      checkedAt: Timestamp.nullable().openapi({ description: "When the sweep last found the webhook in ActiveCampaign" }),
      problem: z.string().nullable().openapi({ description: "Why ActiveCampaign could not reach this server (no PUBLIC_URL, not https on port 443)" }),
      available: z.boolean().openapi({ description: "Whether monitoring can be turned on on this server (PUBLIC_URL is set)" }),
    }),
    held: z
      .object({ reason: z.string(), at: Timestamp })
      .nullable()
      .openapi({ description: "The brake: more than ANOMALY_PERCENT of the recent checks called for an unsubscribe or a delete; nothing is worked on until the settings are saved again" }),
    sweep: z.object({
      lastAt: Timestamp.nullable(),
      error: z.string().nullable(),
      everyMinutes: count,
      foundUnannounced: count.openapi({ description: "Contacts the sweeps found that no webhook had announced" }),
    }),
    today: Counts.openapi({ description: "Since midnight UTC" }),
    month: Counts.openapi({ description: "Since the 1st, UTC" }),
    waiting: z.object({ pending: count, credits: count.openapi({ description: "Waiting for credits" }), dns: count.openapi({ description: "Of the pending: held because this server cannot look up domain names right now" }) }),
    recent: z.array(
      z.object({
        contactId: z.string(),
        email: z.string(),
        state: z.enum(MONITOR_CONTACT_STATES),
        status: z.string().nullable(),
        reason: z.string().nullable(),
        outcome: z.string().nullable().openapi({ description: "What was done, in words" }),
        outcomeCode: z.string().nullable().openapi({ description: "kept, unsubscribed, deleted, labelled, failed, gone, skipped, waiting_credits, waiting_dns, retrying…" }),
        unsubscribedFrom: z.array(z.string()).openapi({ description: "The lists the contact was unsubscribed from" }),
        source: z.enum(["webhook", "sweep"]),
        checkedAt: Timestamp.nullable(),
        updatedAt: Timestamp,
      }),
    ),
  })
  .openapi("Monitor");
expectSameShape<SameShape<z.infer<typeof Monitor>, MonitorView>>();

export const get = route({
  method: "get",
  path: "/{id}/monitor",
  tags,
  summary: "A connection's monitoring: settings, webhook health, counts, recent contacts",
  security: SIGNED_IN,
  request: { params },
  responses: { 200: json(Monitor, "The monitoring (its defaults when it was never set up)"), ...errors(...READ, 401, 404) },
});

export const save = route({
  method: "put",
  path: "/{id}/monitor",
  tags,
  summary: "Turn monitoring on or off and choose what it does",
  description:
    "Checks each new contact of the chosen lists (or of every list) as it arrives, charges 1 credit, and applies the actions without a review: " +
    "default undeliverable → unsubscribe from the list it joined, everything else kept. Turning it on registers a webhook in ActiveCampaign " +
    "(this server needs PUBLIC_URL; 409 otherwise); off removes it. Actions that delete need `confirmDelete: true`.",
  security: SIGNED_IN_CHANGE,
  request: { params, body: jsonRequest(monitorInputSchema) },
  responses: { 200: json(Monitor, "The monitoring as it is now"), ...errors(...CHANGE, 401, 404, 409, 415, 422, 502) },
});

export const webhook = route({
  method: "post",
  path: "/{id}/monitor/webhook",
  tags,
  summary: "Register the webhook again, with a new secret",
  description: "Rotates the secret (the old URL is answered 410 from now on) and registers the new URL in ActiveCampaign; also the way back after AC deactivated or lost the webhook.",
  security: SIGNED_IN_CHANGE,
  request: { params },
  responses: { 200: json(Monitor, "The monitoring, with the new webhook's state"), ...errors(...CHANGE, 401, 404, 409, 422, 502) },
});
