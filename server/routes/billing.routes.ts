import { z } from "@hono/zod-openapi";
import { errors, json, route } from "../openapi.ts";

export const stripeWebhook = route({
  method: "post",
  path: "/stripe/webhook",
  tags: ["credits"],
  summary: "Stripe's webhook (for Stripe, not for you)",
  description:
    "Stripe calls it when a Checkout is paid. The raw body's signature (Stripe-Signature, with STRIPE_WEBHOOK_SECRET) is checked, and events older than 5 minutes are refused; an event already handled changes nothing. A paid Checkout adds its credits once.",
  security: [],
  request: { headers: z.object({ "stripe-signature": z.string().optional().openapi({ description: "t=<timestamp>,v1=<HMAC-SHA256>" }) }) },
  responses: {
    200: json(z.object({ received: z.literal(true), outcome: z.enum(["credited", "duplicate", "ignored"]) }), "Received"),
    ...errors(400, 409, 500),
  },
});
