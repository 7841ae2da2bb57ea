import { z } from "@hono/zod-openapi";
import { tokenNameSchema } from "../../core/domain/connection.ts";
import type { ApiTokenView } from "../../core/services/tokens.ts";
import { CHANGE, errors, idParams, json, jsonRequest, NO_CONTENT, READ, route, SIGNED_IN, SIGNED_IN_CHANGE } from "../openapi.ts";
import { expectSameShape, Timestamp, type SameShape } from "../schemas.ts";

const tags = ["tokens"];

export const ApiToken = z
  .object({
    id: z.string(),
    name: z.string(),
    hint: z.string().openapi({ description: "The token's last 4 characters" }),
    createdAt: Timestamp,
    lastUsedAt: Timestamp.nullable(),
  })
  .openapi("ApiToken");
expectSameShape<SameShape<z.infer<typeof ApiToken>, ApiTokenView>>();

export const NewApiToken = ApiToken.extend({
  token: z.string().openapi({ description: "The token itself: shown in this answer only; only its hash is kept" }),
}).openapi("NewApiToken");

const CreateTokenBody = z
  .object({ name: tokenNameSchema.default("API token").openapi({ description: "What uses it" }) })
  .strict();

export const create = route({
  method: "post",
  path: "/",
  tags,
  summary: "Create an API token",
  description: "A token lets a program use the API as you, without your password: send it as `Authorization: Bearer <token>`.",
  security: SIGNED_IN_CHANGE,
  request: { body: jsonRequest(CreateTokenBody) },
  responses: { 201: json(NewApiToken, "The new token"), ...errors(...CHANGE, 401, 415) },
});

export const list = route({
  method: "get",
  path: "/",
  tags,
  summary: "List API tokens",
  security: SIGNED_IN,
  responses: { 200: json(z.object({ tokens: z.array(ApiToken) }), "The workspace's tokens, newest first (never their values)"), ...errors(...READ, 401) },
});

export const remove = route({
  method: "delete",
  path: "/{id}",
  tags,
  summary: "Delete an API token",
  description: "Programs using it can no longer reach the API with it.",
  security: SIGNED_IN_CHANGE,
  request: { params: idParams("token") },
  responses: { 204: NO_CONTENT, ...errors(...CHANGE, 401, 404) },
});
