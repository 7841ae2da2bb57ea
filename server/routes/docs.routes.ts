import { z } from "@hono/zod-openapi";
import { errors, json, READ, route } from "../openapi.ts";

export const OpenApiDocument = z
  .looseObject({ openapi: z.string(), info: z.looseObject({ title: z.string(), version: z.string() }), paths: z.record(z.string(), z.unknown()).optional() })
  .openapi({ description: "An OpenAPI 3.1 document" });

export const openApiJson = route({
  method: "get",
  path: "/openapi.json",
  tags: ["docs"],
  summary: "This document",
  description: "The API's OpenAPI 3.1 description, generated from the same definitions that validate requests. Served without signing in; the reference page at /api/reference shows it.",
  security: [],
  responses: { 200: json(OpenApiDocument, "The document"), ...errors(...READ) },
});
