import { z } from "@hono/zod-openapi";
import { UPLOAD_ENCODINGS } from "../../db/schema/index.ts";
import { RESULT_FILTERS } from "../../core/uploads/results.ts";
import type { UploadView } from "../../core/services/uploads.ts";
import { CHANGE, errors, idParams, json, jsonRequest, READ, route, SIGNED_IN, SIGNED_IN_CHANGE } from "../openapi.ts";
import { expectSameShape, Timestamp, type SameShape } from "../schemas.ts";
import { Run } from "./runs.routes.ts";

const tags = ["uploads"];
const params = idParams("upload");
const count = z.number().int();

export const Upload = z
  .object({
    id: z.string(),
    fileName: z.string(),
    bytes: count,
    encoding: z.enum(UPLOAD_ENCODINGS).openapi({ description: "As detected; the result file is written in it" }),
    delimiter: z.string().openapi({ description: "As detected: `,` `;` or a tab" }),
    hasHeader: z.boolean(),
    columns: z.array(z.string()).openapi({ description: "The header's names, or Column 1, Column 2… for a file without a header" }),
    columnScores: z.array(z.number()).openapi({ description: "Per column, the share (0-1) of sampled rows whose cell looks like an e-mail address" }),
    preview: z.array(z.array(z.string())).openapi({ description: "The first rows, as read" }),
    emailColumn: count.openapi({ description: "The column addresses are read from (0-based): detected, then confirmed or changed" }),
    columnConfirmed: z.boolean(),
    rows: count,
    blankRows: count.openapi({ description: "Rows with an empty e-mail cell: undeliverable (invalid_syntax), not charged" }),
    uniqueAddresses: count.openapi({ description: "Distinct addresses, compared without regard to case: one credit each" }),
    duplicates: count.openapi({ description: "Rows whose address another row already has; verified and charged once" }),
    problems: z.array(z.object({ line: count, message: z.string() })).openapi({ description: "Rows that could not be read and were left out (the first 100)" }),
    problemCount: count,
    cost: z.object({ credits: count, balance: count }),
    run: Run.nullable().openapi({ description: "Once started: the run verifying the addresses (cancel it with POST /runs/{id}/cancel)" }),
    createdAt: Timestamp,
    expiresAt: Timestamp.openapi({ description: "When the file and its results are deleted" }),
    deletedAt: Timestamp.nullable(),
  })
  .openapi("Upload");
expectSameShape<SameShape<z.infer<typeof Upload>, UploadView>>();

export const create = route({
  method: "post",
  path: "/",
  tags,
  summary: "Upload a CSV file (or a plain list, one address a line)",
  description:
    "Send the file as multipart/form-data in the field `file`. It is streamed to disk (up to UPLOAD_MAX_MB, 50 MB by default); its encoding (UTF-8 with or without BOM, UTF-16, else Latin-1), delimiter (comma, semicolon, tab), header row and e-mail column are detected. Nothing is charged: confirm the column with POST /uploads/{id}/column, then start. A file that is not a CSV, binary, empty or without an e-mail column is refused naming what is wrong (and the line); rows with a broken quote are listed in `problems` and the rest is read.",
  security: SIGNED_IN_CHANGE,
  request: {
    body: {
      required: true,
      content: {
        "multipart/form-data": {
          schema: { type: "object", properties: { file: { type: "string", format: "binary", description: "The CSV file" } }, required: ["file"] },
        },
      },
    },
  },
  responses: { 201: json(Upload, "Stored: the detected layout, a preview and the counts"), ...errors(...CHANGE, 401, 409, 415) },
});

export const list = route({
  method: "get",
  path: "/",
  tags,
  summary: "List uploads",
  security: SIGNED_IN,
  responses: { 200: json(z.object({ uploads: z.array(Upload) }), "Uploads, newest first"), ...errors(...READ, 401) },
});

export const get = route({
  method: "get",
  path: "/{id}",
  tags,
  summary: "Get an upload",
  description: "Its layout, counts, cost and, once started, its run's progress, results per status and reason, and credits.",
  security: SIGNED_IN,
  request: { params },
  responses: { 200: json(Upload, "The upload"), ...errors(...READ, 401, 404) },
});

const ColumnBody = z
  .object({ column: z.number({ error: "must be a column number (0-based)" }).int("must be a whole number").min(0, "must be 0 or more") })
  .strict();

export const column = route({
  method: "post",
  path: "/{id}/column",
  tags,
  summary: "Confirm (or change) the e-mail column",
  description: "Changing it reads the rows again with the new column. Afterwards `uniqueAddresses` and `cost` are final and the upload can start.",
  security: SIGNED_IN_CHANGE,
  request: { params, body: jsonRequest(ColumnBody) },
  responses: { 200: json(Upload, "Confirmed"), ...errors(...CHANGE, 401, 404, 409, 415) },
});

const StartBody = z
  .object({ smtpProbe: z.boolean({ error: "must be true or false" }).optional().openapi({ description: "Probe mailboxes over SMTP (when the server allows it)" }) })
  .strict()
  .default({});

export const start = route({
  method: "post",
  path: "/{id}/start",
  tags,
  summary: "Start verifying",
  description:
    "Queues a run whose source is the upload: one credit per unique address, charged as it goes; a run short of credits pauses and resumes when credits arrive; unknown results are refunded.",
  security: SIGNED_IN_CHANGE,
  request: { params, body: jsonRequest(StartBody) },
  responses: { 202: json(Upload, "Queued"), ...errors(...CHANGE, 401, 404, 409, 415) },
});

const ResultsQuery = z.object({
  filter: z.enum(RESULT_FILTERS).default("all").openapi({ description: "all rows, deliverable only, to remove (undeliverable), or unknown" }),
});

export const results = route({
  method: "get",
  path: "/{id}/results.csv",
  tags,
  summary: "The result file",
  description:
    "The uploaded file with status, reason, flags, suggestion and normalized appended to every row, in the original order, encoding and delimiter. Cells a spreadsheet would run as formulas are escaped. Rows not verified yet have empty result cells.",
  security: SIGNED_IN,
  request: { params, query: ResultsQuery },
  responses: {
    200: {
      description: "The rows, as an attachment",
      content: { "text/csv": { schema: z.string() } },
      headers: z.object({ "Content-Disposition": z.string() }),
    },
    ...errors(...READ, 400, 401, 404, 409),
  },
});
