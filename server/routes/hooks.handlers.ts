import { bodyLimit } from "hono/body-limit";
import { AppError } from "../../core/errors.ts";
import { parseWebhookBody, WebhookBodyError, WEBHOOK_BODY_MAX_BYTES } from "../../core/domain/ac-webhook.ts";
import { authenticateHook, receiveDelivery } from "../../core/services/monitors.ts";
import { createRouter, type AppRouteHandler } from "../openapi.ts";
import * as routes from "./hooks.routes.ts";

const FORM = /^application\/x-www-form-urlencoded$/i;
const gone = () => new AppError("gone", "This webhook URL is not in use");

/**
 * ActiveCampaign's deliveries (issue 18). Answered fast: the checks below and one transaction,
 * then 200; the work is the worker's. What a caller can learn: 413 and 415 depend only on the
 * body; an unknown id, a wrong or old secret and a monitor turned off all get the same 410 in the
 * same time (the secret is compared as a hash, in constant time); only a caller holding the
 * current URL gets 400 for a malformed body, and nothing is stored for it. Never a 500: a
 * database that cannot take the event now answers 503 (the sweep finds the contact later).
 */
const activeCampaign: AppRouteHandler<typeof routes.activeCampaign> = async (c) => {
  const { deps } = c.var;
  const media = (c.req.header("content-type") ?? "").split(";")[0]!.trim();
  if (!FORM.test(media)) throw new AppError("unsupported_media_type", "ActiveCampaign's webhooks are form posts: send application/x-www-form-urlencoded");
  const { id, secret } = c.req.valid("param");
  const monitor = authenticateHook(deps.db, id, secret);
  if (!monitor) throw gone();
  let event;
  try {
    event = parseWebhookBody(await c.req.text());
  } catch (err) {
    if (!(err instanceof WebhookBodyError)) throw err;
    c.var.log.warn({ monitorId: monitor.id, reason: err.message }, "malformed webhook delivery refused");
    throw new AppError("invalid_input", `The delivery is not one ActiveCampaign sends: ${err.message}`);
  }
  let outcome;
  try {
    outcome = receiveDelivery(deps, monitor, event);
  } catch (err) {
    c.var.log.error({ err, monitorId: monitor.id }, "webhook delivery could not be recorded");
    throw new AppError("unavailable", "The event could not be recorded right now; the next sweep finds its contact", undefined, { "Retry-After": "60" });
  }
  if (outcome === null) throw gone();
  if (outcome === "queued") deps.onMonitorWork?.();
  c.var.log.info({ monitorId: monitor.id, type: event.type, outcome }, "webhook delivery");
  return c.json({ received: true as const, outcome }, 200);
};

const hooks = createRouter();
hooks.use(
  "/activecampaign/*",
  bodyLimit({
    maxSize: WEBHOOK_BODY_MAX_BYTES,
    onError: () => {
      throw new AppError("payload_too_large", `A webhook delivery is at most ${WEBHOOK_BODY_MAX_BYTES / 1024} kB`);
    },
  }),
);
export const hookRoutes = hooks
  .openapi(routes.activeCampaign, activeCampaign)
  // Any other path or method under the receiver: the same answer as a wrong secret, never a sign-in prompt.
  .all("/activecampaign/*", () => {
    throw gone();
  })
  .all("/activecampaign", () => {
    throw gone();
  });
