import busboy from "busboy";
import type { Context } from "hono";
import type { IncomingMessage } from "node:http";
import { Readable } from "node:stream";
import type { AppEnv } from "../env.ts";
import { AppError } from "../../core/errors.ts";
import { safeEqual } from "../../core/lib/crypto.ts";

export interface IncomingFile {
  fileName: string;
  /** The file's bytes as they arrive; never buffered whole. */
  data: AsyncIterable<Uint8Array>;
  /** Form fields sent before the file. */
  fields: Record<string, string>;
  /** Stops reading the request (after a refusal, so a too-large file is not read to its end). */
  abort(): void;
}

/**
 * The file of a multipart/form-data request (the field `file`), streamed with busboy: the
 * promise settles as soon as the file part begins, and its bytes are read by whoever stores
 * them. A cookie-authenticated request without the X-CSRF-Token header must send `_csrf`
 * before the file; it is checked before a byte of the file is read.
 */
export function readFileUpload(c: Context<AppEnv>, maxBytes: number): Promise<IncomingFile> {
  const type = c.req.header("content-type") ?? "";
  if (!/^multipart\/form-data/i.test(type)) {
    return Promise.reject(new AppError("unsupported_media_type", "Send the file as multipart/form-data, in a field named file"));
  }
  let parser: busboy.Busboy;
  try {
    parser = busboy({ headers: { "content-type": type }, limits: { files: 1, fileSize: maxBytes + 1, fields: 20, fieldSize: 8 * 1024, parts: 30 } });
  } catch {
    return Promise.reject(new AppError("invalid_input", "The upload is not valid multipart/form-data", "file"));
  }
  // Under @hono/node-server, the request's own Node stream: read with Node's backpressure, as fast
  // as the file is written. (The web stream the adapter makes of it, Node 20's Readable.toWeb,
  // reads ahead of a slow consumer: a large upload would sit in memory. Touching c.req.raw.body
  // starts that stream, so it is left alone here.)
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  let source: Readable;
  if (incoming && !incoming.readableDidRead) source = incoming;
  else {
    const body = c.req.raw.body;
    if (!body) return Promise.reject(new AppError("invalid_input", "No file was sent: send it in a multipart/form-data field named file", "file"));
    source = Readable.fromWeb(body as import("node:stream/web").ReadableStream<Uint8Array>);
  }
  const abort = () => {
    source.unpipe(parser);
    source.destroy();
  };
  return new Promise<IncomingFile>((resolve, reject) => {
    const fields: Record<string, string> = {};
    let settled = false;
    const fail = (err: AppError) => {
      if (settled) return;
      settled = true;
      abort();
      reject(err);
    };
    parser.on("field", (name, value) => {
      fields[name] = value;
    });
    parser.on("file", (name, stream, info) => {
      if (name !== "file" || settled) {
        stream.resume();
        return;
      }
      const expected = c.var.uploadCsrf;
      if (expected && !safeEqual(fields._csrf ?? "", expected)) {
        stream.resume();
        fail(new AppError("csrf_failed", "Missing or wrong CSRF token; reload the page and try again"));
        return;
      }
      settled = true;
      const data = (async function* () {
        try {
          for await (const chunk of stream) yield chunk as Uint8Array;
        } catch {
          throw new AppError("invalid_input", "The upload was cut off or is not valid multipart/form-data; send it again", "file");
        }
      })();
      resolve({ fileName: info.filename ?? "upload.csv", data, fields, abort });
    });
    parser.on("error", () => fail(new AppError("invalid_input", "The upload is not valid multipart/form-data", "file")));
    parser.on("close", () => fail(new AppError("invalid_input", "No file was sent: send it in a multipart/form-data field named file", "file")));
    source.on("error", () => fail(new AppError("invalid_input", "The upload was cut off; send it again", "file")));
    source.pipe(parser);
  });
}
