import { chooseColumn, createUpload, getUpload, listUploads, startUpload, uploadResults } from "../../core/services/uploads.ts";
import { principal } from "../middleware/auth.ts";
import { readFileUpload } from "../middleware/upload.ts";
import { createRouter, type AppRouteHandler } from "../openapi.ts";
import * as routes from "./uploads.routes.ts";

const create: AppRouteHandler<typeof routes.create> = async (c) => {
  const deps = c.var.deps;
  const file = await readFileUpload(c, deps.config.UPLOAD_MAX_MB * 1024 * 1024);
  try {
    return c.json(await createUpload(deps, { ctx: principal(c), fileName: file.fileName, data: file.data }), 201);
  } catch (err) {
    file.abort();
    throw err;
  }
};

const list: AppRouteHandler<typeof routes.list> = (c) => c.json({ uploads: listUploads(c.var.deps, { ctx: principal(c) }) }, 200);

const get: AppRouteHandler<typeof routes.get> = (c) => c.json(getUpload(c.var.deps, { ctx: principal(c), id: c.req.valid("param").id }), 200);

const column: AppRouteHandler<typeof routes.column> = async (c) =>
  c.json(await chooseColumn(c.var.deps, { ctx: principal(c), id: c.req.valid("param").id, column: c.req.valid("json").column }), 200);

const start: AppRouteHandler<typeof routes.start> = (c) =>
  c.json(startUpload(c.var.deps, { ctx: principal(c), id: c.req.valid("param").id, ...c.req.valid("json") }), 202);

const results: AppRouteHandler<typeof routes.results> = async (c) => {
  const file = await uploadResults(c.var.deps, { ctx: principal(c), id: c.req.valid("param").id, filter: c.req.valid("query").filter });
  return c.body(file.body, 200, {
    "content-type": file.contentType,
    "content-disposition": `attachment; filename="${file.fileName.replace(/[^\x20-\x7e]|["\\]/g, "_")}"; filename*=UTF-8''${encodeURIComponent(file.fileName)}`,
    "cache-control": "no-store",
  });
};

export const uploadRoutes = createRouter()
  .openapi(routes.create, create)
  .openapi(routes.list, list)
  .openapi(routes.get, get)
  .openapi(routes.column, column)
  .openapi(routes.start, start)
  .openapi(routes.results, results);
