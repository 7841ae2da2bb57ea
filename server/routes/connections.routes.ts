import { z } from "@hono/zod-openapi";
import { connectionInputSchema, connectionUpdateSchema } from "../../core/domain/connection.ts";
import type { AcNamed } from "../../core/ac/index.ts";
import type { ConnectionView } from "../../core/services/connections.ts";
import type { RunEstimate } from "../../core/services/estimate.ts";
import { CHANGE, errors, idParams, json, jsonRequest, NO_CONTENT, READ, route, SIGNED_IN, SIGNED_IN_CHANGE } from "../openapi.ts";
import { expectSameShape, Timestamp, type SameShape } from "../schemas.ts";

const tags = ["connections"];
const count = z.number().int().min(0);
const params = idParams("connection");

export const Connection = z
  .object({
    id: z.string(),
    name: z.string(),
    apiUrl: z.string().openapi({ description: "The account's API URL as stored (normalized)", example: "https://youraccount.api-us1.com" }),
    keyHint: z.string().openapi({ description: "The API key's last 4 characters; the key itself is never shown" }),
    acAccountEmail: z.string().nullable(),
    lastCheckedAt: Timestamp.nullable(),
    lastError: z.string().nullable().openapi({ description: "Why the last use of the key failed, in words" }),
    lastErrorCode: z.string().nullable().openapi({ description: "What kind of failure lastError is (an error code such as ac_key_refused)" }),
    createdAt: Timestamp,
  })
  .openapi("Connection");
expectSameShape<SameShape<z.infer<typeof Connection>, ConnectionView>>();

const Named = z.object({ id: z.string().openapi({ description: "The ActiveCampaign id" }), name: z.string() });
expectSameShape<SameShape<z.infer<typeof Named>, AcNamed>>();

/** What reading from ActiveCampaign can answer besides success. */
const AC = [422, 502] as const;

export const create = route({
  method: "post",
  path: "/",
  tags,
  summary: "Connect an ActiveCampaign account",
  description: "Checks the key against ActiveCampaign (GET /api/3/users/me) before anything is stored; the key is then stored encrypted.",
  security: SIGNED_IN_CHANGE,
  request: { body: jsonRequest(connectionInputSchema.strict()) },
  responses: { 201: json(Connection, "Connected"), ...errors(...CHANGE, 401, 415, ...AC) },
});

export const list = route({
  method: "get",
  path: "/",
  tags,
  summary: "List connections",
  security: SIGNED_IN,
  responses: { 200: json(z.object({ connections: z.array(Connection) }), "The workspace's connections, newest first"), ...errors(...READ, 401) },
});

export const get = route({
  method: "get",
  path: "/{id}",
  tags,
  summary: "Get a connection",
  security: SIGNED_IN,
  request: { params },
  responses: { 200: json(Connection, "The connection"), ...errors(...READ, 401, 404) },
});

export const update = route({
  method: "patch",
  path: "/{id}",
  tags,
  summary: "Rename a connection or replace its key",
  description: "A new key is checked against ActiveCampaign before it replaces the old one.",
  security: SIGNED_IN_CHANGE,
  request: { params, body: jsonRequest(connectionUpdateSchema.strict()) },
  responses: { 200: json(Connection, "The connection as it is now"), ...errors(...CHANGE, 401, 404, 415, ...AC) },
});

export const remove = route({
  method: "delete",
  path: "/{id}",
  tags,
  summary: "Delete a connection",
  description: "Its runs stay, without it.",
  security: SIGNED_IN_CHANGE,
  request: { params },
  responses: { 204: NO_CONTENT, ...errors(...CHANGE, 401, 404) },
});

export const listLists = route({
  method: "get",
  path: "/{id}/lists",
  tags,
  summary: "The account's lists",
  description: "Read from ActiveCampaign now, through the account's rate limit.",
  security: SIGNED_IN,
  request: { params },
  responses: { 200: json(z.object({ lists: z.array(Named) }), "The lists"), ...errors(...READ, 401, 404, ...AC) },
});

export const listTags = route({
  method: "get",
  path: "/{id}/tags",
  tags,
  summary: "The account's tags",
  description: "Read from ActiveCampaign now, through the account's rate limit.",
  security: SIGNED_IN,
  request: { params },
  responses: { 200: json(z.object({ tags: z.array(Named) }), "The tags"), ...errors(...READ, 401, 404, ...AC) },
});

export const Estimate = z
  .object({
    contacts: count.openapi({ description: "Contacts the run would check; for several lists an upper bound (a contact on two lists is checked once)" }),
    upperBound: z.boolean(),
    credits: count.openapi({ description: "1 per contact; unknown results are refunded afterwards" }),
    balance: z.number().int(),
    covered: z.boolean().openapi({ description: "The balance covers the estimate; if not, the run checks what the balance pays for and pauses" }),
    requests: count.openapi({ description: "Requests to ActiveCampaign to fetch the contacts" }),
    seconds: count.openapi({ description: "How long they take at the account's rate; changes come after review" }),
    perSecond: count.openapi({ description: "The account's rate the time is counted at (AC_REQUESTS_PER_SECOND)" }),
  })
  .openapi("RunEstimate");
expectSameShape<SameShape<z.infer<typeof Estimate>, RunEstimate>>();

export const estimate = route({
  method: "get",
  path: "/{id}/estimate",
  tags,
  summary: "What a run over a scope would check, cost and take",
  description: "Counts each list, the tag or the whole account in ActiveCampaign (one request each, kept for 2 minutes), before a run starts.",
  security: SIGNED_IN,
  request: {
    params,
    query: z.object({
      kind: z.enum(["lists", "tag", "all"]),
      listIds: z.string().optional().openapi({ description: "Comma-separated list ids, for kind=lists", example: "1,4" }),
      tagId: z.string().optional().openapi({ description: "For kind=tag" }),
    }),
  },
  responses: { 200: json(Estimate, "The estimate"), ...errors(...READ, 400, 401, 404, ...AC) },
});
