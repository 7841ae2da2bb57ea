import { z } from "zod";

/**
 * ActiveCampaign's response shapes, as the client reads them. AC sends ids and flags as
 * strings; numbers are accepted too. Apart from the client so that the HTTP thread
 * (http-thread.ts) can check a page with the same shape without loading the client.
 */

const id = z.union([z.string().regex(/^\d+$/), z.number().int().nonnegative()]).transform(String);
const str = z
  .union([z.string(), z.number()])
  .nullish()
  .transform((v) => (v === null || v === undefined ? "" : String(v)));
const flag = z
  .union([z.string(), z.number(), z.boolean()])
  .nullish()
  .transform((v) => v !== null && v !== undefined && v !== false && String(v) !== "0" && String(v) !== "");
const total = z.union([z.string(), z.number()]).optional();

export const meBody = z.object({
  user: z.object({ id, username: str, email: str, firstName: str, lastName: str }),
});

export const namedPage = z.object({
  lists: z.array(z.object({ id, name: str })).optional(),
  tags: z.array(z.object({ id, tag: str })).optional(),
  meta: z.object({ total }).optional(),
});

export const contactListRow = z.object({ contact: id, list: id, status: z.union([z.string(), z.number()]).transform(Number), udate: z.string().nullish().transform((v) => v || null) });

export const contactListsBody = z.object({ contactLists: z.array(contactListRow) });

export const contactTagRow = z.object({ id, contact: id, tag: id });
export const fieldValueRow = z.object({ id, contact: id, field: id, value: str });

export const contactsPage = z.object({
  contacts: z.array(
    z.object({ id, email: str, firstName: str, lastName: str, bounced_hard: flag, bounced_soft: flag, cdate: str }),
  ),
  contactLists: z.array(contactListRow).optional(),
  contactTags: z.array(contactTagRow).optional(),
  fieldValues: z.array(fieldValueRow).optional(),
  meta: z.object({ total }).optional(),
});

export const contactBody = z.object({
  contact: z.object({ id, email: str, firstName: str, lastName: str, phone: str, cdate: str, udate: str }),
  contactLists: z.array(contactListRow).optional(),
  fieldValues: z.array(fieldValueRow).optional(),
});

export const fieldsPage = z.object({
  fields: z.array(z.object({ id, title: str, type: str, perstag: str })),
  fieldRels: z.array(z.object({ field: id, relid: id })).optional(),
  meta: z.object({ total }).optional(),
});
export const createdField = z.object({ field: z.object({ id }) });
export const createdTag = z.object({ tag: z.object({ id }) });
export const contactTagsBody = z.object({ contactTags: z.array(contactTagRow) });
export const fieldValuesBody = z.object({ fieldValues: z.array(fieldValueRow) });
export const importQueued = z.object({ batchId: z.string().min(1) });
export const importInfoBody = z.object({
  status: z.union([z.string(), z.boolean(), z.null()]).optional(),
  success: z.array(z.union([z.string(), z.number()]).transform(String)).nullish(),
  failure: z.array(z.union([z.string(), z.number()]).transform(String)).nullish(),
});

export const webhookRow = z.object({ id, name: str, url: str, events: z.array(z.string()).default([]), sources: z.array(z.string()).default([]), listid: str });
export const webhookBody = z.object({ webhook: webhookRow });
export const webhooksPage = z.object({ webhooks: z.array(webhookRow), meta: z.object({ total }).optional() });
export const oneContact = z.object({
  contact: z.object({ id, email: str, firstName: str, lastName: str, bounced_hard: flag, bounced_soft: flag, cdate: str }),
  contactLists: z.array(contactListRow).optional(),
});

/**
 * The shapes the HTTP thread checks for the client, by name (a zod schema cannot cross to a
 * thread): the contact pages, read thousands of times a minute by a run's fetch.
 */
export const threadShapes = { contactsPage } as const;
export type ThreadShape = keyof typeof threadShapes;

