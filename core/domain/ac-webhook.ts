import qs from "qs";
import { z } from "zod";
import { AC_ID_SHAPE } from "./scope-actions.ts";

/**
 * An ActiveCampaign webhook delivery, as AC posts it: application/x-www-form-urlencoded with
 * PHP-style bracket keys (`type`, `date_time`, `list`, `initiated_from`, `contact[id]`,
 * `contact[email]`, `contact[fields][<perstag>]`…; docs/activecampaign.md, "Webhooks"). Parsed
 * with qs, bounded: at most MAX_PARAMETERS keys (one per custom field, so generous), two levels
 * of brackets, no arrays, and no keys that would reach an object's prototype.
 */

/** The largest body the receiver reads: AC's deliveries carry one contact and its custom fields. */
export const WEBHOOK_BODY_MAX_BYTES = 64 * 1024;
const MAX_PARAMETERS = 2_000;

/** The events monitoring registers for: a new subscriber, and a contact changed (its e-mail, perhaps). */
export const MONITOR_EVENTS = ["subscribe", "update"] as const;
export type MonitorEventType = (typeof MONITOR_EVENTS)[number];

/** What the receiver keeps of a delivery. Everything else (names, custom fields, IP) is dropped unread. */
export interface AcWebhookEvent {
  type: string;
  /** AC's own time of the event, as sent (part of what makes a delivery the same event). */
  dateTime: string;
  /** The list the event is about, or null ("0": none). */
  listId: string | null;
  initiatedFrom: string | null;
  contact: { id: string; email: string } | null;
}

export class WebhookBodyError extends Error {
  override name = "WebhookBodyError";
}

/** One line of visible text, trimmed, at most `max` characters. */
const line = (max: number) =>
  z
    .string()
    .trim()
    .max(max)
    .refine((v) => !/[\p{Cc}\p{Cf}]/u.test(v), "must be one line of visible text");

const EMAIL = /^[^\s@]+@[^\s@]+$/;

const shape = z.object({
  type: line(40).pipe(z.string().regex(/^[a-z_]+$/, "must be an event name such as subscribe")),
  date_time: line(40).optional(),
  list: z.string().regex(/^\d{1,19}$/, "must be a list id").optional(),
  initiated_from: line(20).optional(),
  contact: z
    .object({
      id: z.string().regex(AC_ID_SHAPE, "must be an ActiveCampaign id").optional(),
      email: line(254).optional(),
    })
    .loose()
    .optional(),
});

/**
 * The delivery's fields, or a WebhookBodyError saying what is wrong (the receiver answers 400
 * and stores nothing). A `subscribe` or `update` without a contact id and a plausible address is
 * malformed; other event types are returned as they are (the receiver ignores them).
 */
export function parseWebhookBody(text: string): AcWebhookEvent {
  let raw: unknown;
  try {
    raw = qs.parse(text, {
      depth: 2,
      parameterLimit: MAX_PARAMETERS,
      throwOnLimitExceeded: true,
      parseArrays: false,
      allowPrototypes: false,
      plainObjects: true,
      strictDepth: false,
      charset: "utf-8",
    });
  } catch {
    throw new WebhookBodyError(`the body has more than ${MAX_PARAMETERS} fields`);
  }
  const parsed = shape.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new WebhookBodyError(`${issue.path.map(String).join(".") || "body"} ${issue.code === "invalid_type" ? "is missing or not text" : issue.message}`);
  }
  const b = parsed.data;
  const monitored = (MONITOR_EVENTS as readonly string[]).includes(b.type);
  const id = b.contact?.id;
  const email = b.contact?.email;
  if (monitored && (!id || !email || !EMAIL.test(email))) {
    throw new WebhookBodyError(`a ${b.type} event needs contact[id] (an ActiveCampaign id) and contact[email] (an address)`);
  }
  return {
    type: b.type,
    dateTime: b.date_time ?? "",
    listId: b.list && b.list !== "0" ? b.list : null,
    initiatedFrom: b.initiated_from ?? null,
    contact: id && email ? { id, email } : null,
  };
}

/** The form body AC would send for an event: what the sandbox delivers and tests and the benchmark post. */
export function webhookBody(e: { type: string; dateTime: string; listId: string | null; initiatedFrom?: string; contact: { id: string; email: string; firstName?: string; lastName?: string; fields?: Record<string, string> } }): string {
  return qs.stringify(
    {
      type: e.type,
      date_time: e.dateTime,
      initiated_from: e.initiatedFrom ?? "admin",
      initiated_by: e.initiatedFrom ?? "admin",
      list: e.listId ?? "0",
      contact: {
        id: e.contact.id,
        email: e.contact.email,
        first_name: e.contact.firstName ?? "",
        last_name: e.contact.lastName ?? "",
        phone: "",
        tags: "",
        ip: "127.0.0.1",
        fields: e.contact.fields ?? {},
      },
    },
    { encodeValuesOnly: true },
  );
}
