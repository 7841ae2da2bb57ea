// The body middleware (server/middleware/body.ts) on a bare Hono app: which bodies a JSON route
// takes, which request is a file upload, and how an unreadable form is answered.
import { Writable } from "node:stream";
import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { AppError } from "../../core/errors.ts";
import { createLogger } from "../../core/logger.ts";
import type { AppEnv } from "../../server/env.ts";
import { exceptFileUploads, isFileUpload, jsonBody, readForm } from "../../server/middleware/body.ts";

function bareApp() {
  const logs: { msg: string }[] = [];
  const destination = new Writable({
    write(chunk, _enc, cb) {
      logs.push(JSON.parse(String(chunk)) as { msg: string });
      cb();
    },
  });
  const log = createLogger({ level: "info", destination });
  const app = new Hono<AppEnv>();
  app.use(async (c, next) => {
    c.set("log", log);
    await next();
  });
  app.onError((err, c) =>
    err instanceof AppError ? c.json({ code: err.code, field: err.field ?? null }, err.status as 400) : c.json({ code: "internal" }, 500),
  );
  // What the route's validator would see: the Content-Type left and the body.
  app.post("/json", jsonBody, async (c) => c.json({ contentType: c.req.header("content-type") ?? null, body: await c.req.text() }));
  app.post("/form", async (c) => c.json(await readForm(c)));
  app.all("/api/uploads", (c) => c.json({ upload: isFileUpload(c) }));
  app.all("/uploads/", (c) => c.json({ upload: isFileUpload(c) }));
  app.all("/api/uploads/x", (c) => c.json({ upload: isFileUpload(c) }));
  app.all("/v2/uploads", (c) => c.json({ upload: isFileUpload(c) }));
  const refuse = exceptFileUploads(async () => {
    throw new AppError("payload_too_large", "refused");
  });
  app.post("/uploads", refuse, (c) => c.json({ passed: true }));
  return { app, logs };
}

const post = (app: Hono<AppEnv>, path: string, body: string | undefined, type?: string) =>
  app.request(path, { method: "POST", body, headers: type === undefined ? {} : { "content-type": type } });

describe("jsonBody", () => {
  it.each(["application/json", "Application/JSON; charset=utf-8", "application/json ; charset=utf-8", "application/merge-patch+json", "application/vnd.api+json"])(
    "takes a JSON body sent as %s",
    async (type) => {
      const { app } = bareApp();
      const res = await post(app, "/json", '{"name":"x"}', type);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ contentType: type, body: '{"name":"x"}' });
    },
  );

  it.each(["text/plain", "application/jsonx", "xapplication/json", "application/json+x", "application/+json", "multipart/form-data; boundary=x"])(
    "refuses a body sent as %s with 415",
    async (type) => {
      const { app, logs } = bareApp();
      const res = await post(app, "/json", '{"name":"x"}', type);
      expect(res.status).toBe(415);
      expect(await res.json()).toEqual({ code: "unsupported_media_type", field: null });
      expect(logs.map((l) => l.msg)).toContain("non-JSON body sent to a JSON route");
    },
  );

  it("refuses a body sent with no Content-Type with 415", async () => {
    const { app } = bareApp();
    expect((await post(app, "/json", '{"name":"x"}')).status).toBe(415);
  });

  it("takes an empty body of another type as no body, its Content-Type removed", async () => {
    const { app } = bareApp();
    const res = await post(app, "/json", "", "application/x-www-form-urlencoded");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ contentType: null, body: "" });
  });

  it("takes a request with no body and no Content-Type", async () => {
    const { app } = bareApp();
    const res = await post(app, "/json", undefined);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ contentType: null, body: "" });
  });

  it("answers a JSON body that does not parse with 400", async () => {
    const { app, logs } = bareApp();
    const res = await post(app, "/json", '{"name":', "application/json");
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ code: "invalid_input", field: null });
    expect(logs.map((l) => l.msg)).toContain("unreadable JSON body");
  });

  it.each([
    ['{"__proto__":{"admin":true}}', "__proto__"],
    ['{"constructor":{"prototype":{}}}', "constructor"],
    ['{"a":{"prototype":1}}', "prototype"],
    ['{"list":[{"ok":1},{"__proto__":{}}]}', "__proto__"],
    [`${'{"a":'.repeat(32)}{"__proto__":1}${"}".repeat(32)}`, "__proto__"],
  ])("refuses %s, naming the key", async (body, key) => {
    const { app } = bareApp();
    const res = await post(app, "/json", body, "application/json");
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ code: "invalid_input", field: key });
  });

  it("takes such a key as a value, and looks no deeper than 32 levels", async () => {
    const { app } = bareApp();
    for (const body of ['{"name":"__proto__"}', "null", '"text"', `${'{"a":'.repeat(33)}{"__proto__":1}${"}".repeat(33)}`]) {
      expect({ body, status: (await post(app, "/json", body, "application/json")).status }).toEqual({ body, status: 200 });
    }
  });
});

describe("isFileUpload", () => {
  it.each([
    ["/api/uploads", "multipart/form-data; boundary=x"],
    ["/uploads/", "Multipart/Form-Data; boundary=x"],
  ])("is a multipart POST to %s (%s)", async (path, type) => {
    const { app } = bareApp();
    const res = await post(app, path, "--x--", type);
    expect(await res.json()).toEqual({ upload: true });
  });

  it.each([
    ["PUT", "/api/uploads", "multipart/form-data; boundary=x"],
    ["POST", "/api/uploads", "application/json"],
    ["POST", "/api/uploads", "text/plain; x=multipart/form-data"],
    ["POST", "/api/uploads/x", "multipart/form-data; boundary=x"],
    ["POST", "/v2/uploads", "multipart/form-data; boundary=x"],
  ])("is not a %s to %s as %s", async (method, path, type) => {
    const { app } = bareApp();
    const res = await app.request(path, { method, body: "--x--", headers: { "content-type": type } });
    expect(await res.json()).toEqual({ upload: false });
  });

  it("is not a POST without a Content-Type", async () => {
    const { app } = bareApp();
    expect(await (await post(app, "/api/uploads", "x")).json()).toEqual({ upload: false });
  });
});

describe("exceptFileUploads", () => {
  it("skips its middleware for a file upload and runs it for anything else", async () => {
    const { app } = bareApp();
    expect((await post(app, "/uploads", "--x--", "multipart/form-data; boundary=x")).status).toBe(200);
    expect((await post(app, "/uploads", "a=b", "application/x-www-form-urlencoded")).status).toBe(413);
  });
});

describe("readForm", () => {
  it("reads every value of a repeated field", async () => {
    const { app } = bareApp();
    const res = await post(app, "/form", "a=1&a=2&b=3", "application/x-www-form-urlencoded");
    expect(await res.json()).toEqual({ a: ["1", "2"], b: "3" });
  });

  it("answers a form it cannot read with 400 and a warning", async () => {
    const { app, logs } = bareApp();
    const res = await post(app, "/form", "not multipart", "multipart/form-data; boundary=xyz");
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ code: "invalid_input", field: null });
    expect(logs.map((l) => l.msg)).toContain("unreadable form body");
  });
});
