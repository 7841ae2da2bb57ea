import { handleStripeWebhook } from "../../core/services/topups.ts";
import { createRouter, type AppRouteHandler } from "../openapi.ts";
import * as routes from "./billing.routes.ts";

/** The body is read raw: the signature is over the exact bytes Stripe sent. */
const stripeWebhook: AppRouteHandler<typeof routes.stripeWebhook> = async (c) => {
  const outcome = handleStripeWebhook(c.var.deps, { payload: await c.req.text(), signature: c.req.header("stripe-signature") });
  return c.json({ received: true as const, outcome }, 200);
};

export const billingRoutes = createRouter().openapi(routes.stripeWebhook, stripeWebhook);
