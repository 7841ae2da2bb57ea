import { z } from "@hono/zod-openapi";
import { errors, json, route } from "../openapi.ts";

export const activeCampaign = route({
  method: "post",
  path: "/activecampaign/{id}/{secret}",
  tags: ["monitoring"],
  summary: "ActiveCampaign's webhook (for ActiveCampaign, not for you)",
  description:
    "Registered in the connection's ActiveCampaign account when monitoring is turned on (its URL holds a secret, rotated on demand and never shown). " +
    "Takes AC's `subscribe` and `update` events as AC posts them: `application/x-www-form-urlencoded`, PHP-style bracket keys (`type`, `date_time`, `list`, " +
    "`contact[id]`, `contact[email]`, `contact[fields][…]`), at most 64 kB. The event is recorded (a repeated delivery changes nothing) and answered at once; " +
    "the contact is checked and acted on in the background. An unknown or old URL, or one whose monitoring was turned off, is answered 410, which makes AC deactivate the webhook.",
  security: [],
  request: {
    params: z.object({
      id: z.string().openapi({ param: { name: "id", in: "path" }, description: "The monitor's id" }),
      secret: z.string().openapi({ param: { name: "secret", in: "path" }, description: "The webhook's secret" }),
    }),
  },
  responses: {
    200: json(
      z.object({
        received: z.literal(true),
        outcome: z.enum(["queued", "duplicate", "unchanged", "other_list", "unseen_update", "ignored_type"]).openapi({
          description: "queued: the contact will be checked; otherwise why nothing is to do (a repeated delivery, a list not watched, an update of a contact monitoring does not know, another event)",
        }),
      }),
      "Recorded",
    ),
    ...errors(400, 410, 413, 415, 500, 503),
  },
});
