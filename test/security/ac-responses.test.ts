// Issue 11, point 3: an "AC" that answers with hundreds of megabytes is refused without reading it all.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MAX_RESPONSE_BYTES } from "../../core/ac/client.ts";
import { createTestApp, signUp } from "../support/app.ts";

const TOTAL = 300 * 1024 * 1024;
const CHUNK = Buffer.alloc(64 * 1024, "a");
const KEY = "k".repeat(40);

/** Streams TOTAL bytes of one never-ending JSON string, without holding them; stops when the client leaves. */
function huge(withLength: boolean): Promise<{ server: Server; url: string; sent: () => number }> {
  let sent = 0;
  const server = createServer((req, res) => {
    res.writeHead(200, { "content-type": "application/json", ...(withLength ? { "content-length": String(TOTAL) } : {}) });
    res.write('{"user":{"id":"1","email":"');
    const pump = () => {
      while (sent < TOTAL) {
        sent += CHUNK.length;
        if (!res.write(CHUNK)) return void res.once("drain", pump);
      }
      res.end();
    };
    res.on("close", () => res.removeAllListeners("drain"));
    req.socket.on("error", () => {});
    pump();
  });
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, sent: () => sent })),
  );
}

let chunked: Awaited<ReturnType<typeof huge>>;
let declared: Awaited<ReturnType<typeof huge>>;
beforeAll(async () => {
  chunked = await huge(false);
  declared = await huge(true);
});
afterAll(() => {
  chunked.server.closeAllConnections();
  declared.server.closeAllConnections();
  chunked.server.close();
  declared.server.close();
});

describe("a 300 MB answer from the AC URL", () => {
  it.each([
    ["streamed without a length", () => chunked],
    ["with a Content-Length of 300 MB", () => declared],
  ])("%s is refused as a bad response with a clear message, the process growing by less than 50 MB", async (_name, which) => {
    const target = which();
    const t = createTestApp({ config: { AC_ALLOW_PRIVATE_HOSTS: true } });
    const s = await signUp(t);
    const before = process.memoryUsage().rss;
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 2);
    const res = await t.request("POST", "/api/connections", { as: s, body: { apiUrl: target.url, apiKey: KEY } });
    clearInterval(sampler);
    peak = Math.max(peak, process.memoryUsage().rss);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(res.status).toBe(502);
    expect(body.error.code).toBe("ac_error");
    expect(body.error.message).toMatch(/more than 4 MB/);
    expect(peak - before).toBeLessThan(50 * 1024 * 1024);
    // It stopped reading: the server got nowhere near sending it all.
    expect(target.sent()).toBeLessThan(TOTAL);
  });

  it("sets the cap at 4 MB, well above AC's largest pages (a few hundred kB)", () => {
    expect(MAX_RESPONSE_BYTES).toBe(4 * 1024 * 1024);
  });
});
