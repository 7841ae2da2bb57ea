import { z } from "@hono/zod-openapi";
import { NOTIFICATION_EVENTS } from "../../db/schema/index.ts";
import type { NotificationSettings } from "../../core/services/notifications.ts";
import { CHANGE, errors, json, jsonRequest, READ, route, SIGNED_IN, SIGNED_IN_CHANGE } from "../openapi.ts";
import { expectSameShape, type SameShape } from "../schemas.ts";

const tags = ["notifications"];

export const Settings = z
  .object({
    email: z.string().nullable().openapi({ description: "Where e-mails go; null: none" }),
    webhookUrl: z.string().nullable().openapi({ description: "Gets a JSON message per event (Slack's `text` and `blocks`, the facts under `listwarden`); null: none" }),
    events: z.array(z.enum(NOTIFICATION_EVENTS)),
    emailAvailable: z.boolean().openapi({ description: "Whether this server can send e-mail (its operator set MAIL_URL)" }),
  })
  .openapi("NotificationSettings");
expectSameShape<SameShape<z.infer<typeof Settings>, NotificationSettings>>();

export const get = route({
  method: "get",
  path: "/settings",
  tags,
  summary: "Where and about what the workspace hears",
  security: SIGNED_IN,
  responses: { 200: json(Settings, "The settings"), ...errors(...READ, 401) },
});

export const update = route({
  method: "put",
  path: "/settings",
  tags,
  summary: "Change where and about what the workspace hears",
  description: "The webhook URL must be https on a public host (checked after DNS, and again each time it is called), as ActiveCampaign URLs are.",
  security: SIGNED_IN_CHANGE,
  request: {
    body: jsonRequest(
      z
        .object({
          email: z.string().max(254).nullable(),
          webhookUrl: z.string().max(2000).nullable(),
          events: z.array(z.enum(NOTIFICATION_EVENTS)),
        })
        .strict(),
    ),
  },
  responses: { 200: json(Settings, "Saved"), ...errors(...CHANGE, 401, 415) },
});
