import type { Context, Hono } from "hono";
import type { Deps } from "../../core/deps.ts";
import { isLive } from "../../core/domain/run-status.ts";
import { AppError } from "../../core/errors.ts";
import { chooseColumn, createUpload, getUpload, listUploads, startUpload } from "../../core/services/uploads.ts";
import type { AppEnv } from "../../server/env.ts";
import { principal } from "../../server/middleware/auth.ts";
import { readFileUpload } from "../../server/middleware/upload.ts";
import { errorsFromAppError, type FieldErrors } from "../forms.ts";
import { UploadPage, UploadsPage } from "../pages/uploads.tsx";
import { csrfToken, formBody, render, requirePage, rethrowNotFound, statusOf, str } from "../render.tsx";

/**
 * Uploads: the form and the list (/uploads), and one upload's page, step by step (confirm the
 * column, the cost and start, progress, results and downloads). The file goes through the same
 * streamed reader as POST /api/uploads; the result files are the API's.
 */
export function uploadPages(web: Hono<AppEnv>, deps: Deps): void {
  const listPage = (c: Context<AppEnv>, error?: string, status = 200) =>
    render(
      c,
      { title: "Verify a file", nav: "uploads" },
      <UploadsPage
        uploads={listUploads(deps, { ctx: principal(c) })}
        csrfToken={csrfToken(c)}
        error={error}
        maxMb={deps.config.UPLOAD_MAX_MB}
        retentionDays={deps.config.UPLOAD_RETENTION_DAYS}
      />,
      status,
    );

  web.get("/uploads", requirePage, (c) => listPage(c));

  web.post("/uploads", requirePage, async (c) => {
    let file;
    try {
      file = await readFileUpload(c, deps.config.UPLOAD_MAX_MB * 1024 * 1024);
    } catch (err) {
      if (err instanceof AppError && err.code !== "csrf_failed") return listPage(c, err.message, err.status);
      throw err;
    }
    try {
      const upload = await createUpload(deps, { ctx: principal(c), fileName: file.fileName, data: file.data });
      return c.redirect(`/uploads/${upload.id}`, 303);
    } catch (err) {
      file.abort();
      if (err instanceof AppError) return listPage(c, err.message, err.status);
      throw err;
    }
  });

  function uploadPage(c: Context<AppEnv>, errors: FieldErrors, status = 200) {
    const upload = getUpload(deps, { ctx: principal(c), id: c.req.param("id") ?? "" });
    const live = upload.run && !upload.deletedAt && isLive(upload.run.status);
    return render(
      c,
      { title: upload.fileName, nav: "uploads", ...(live ? { scripts: ["run.js"] as "run.js"[], refreshWithoutScript: 5 } : {}) },
      <UploadPage upload={upload} csrfToken={csrfToken(c)} errors={errors} smtpAvailable={deps.config.SMTP_PROBE} />,
      status,
    );
  }

  web.get("/uploads/:id", requirePage, (c) => uploadPage(c, {}));

  web.post("/uploads/:id/column", requirePage, async (c) => {
    const raw = str((await formBody(c)).column);
    const column = /^\d+$/.test(raw) ? Number(raw) : -1;
    try {
      await chooseColumn(deps, { ctx: principal(c), id: c.req.param("id"), column });
    } catch (err) {
      rethrowNotFound(err);
      return uploadPage(c, errorsFromAppError(err), statusOf(err));
    }
    return c.redirect(`/uploads/${c.req.param("id")}#cost-step`, 303);
  });

  web.post("/uploads/:id/start", requirePage, async (c) => {
    const smtpProbe = str((await formBody(c)).smtpProbe) === "on";
    try {
      startUpload(deps, { ctx: principal(c), id: c.req.param("id"), smtpProbe });
    } catch (err) {
      rethrowNotFound(err);
      return uploadPage(c, errorsFromAppError(err), statusOf(err));
    }
    return c.redirect(`/uploads/${c.req.param("id")}`, 303);
  });
}
