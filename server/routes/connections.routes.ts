import { z } from "@hono/zod-openapi";
import { connectionInputSchema, connectionUpdateSchema } from "../../core/domain/connection.ts";
import type { AcNamed } from "../../core/ac/index.ts";
import type { ConnectionView } from "../../core/services/connections.ts";
import { CHANGE, errors, idParams, json, jsonRequest, NO_CONTENT, READ, route, SIGNED_IN, SIGNED_IN_CHANGE } from "../openapi.ts";
import { expectSameShape, Timestamp, type SameShape } from "../schemas.ts";

const tags = ["connections"];
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
