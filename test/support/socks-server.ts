import { connect, createServer, type Server, type Socket } from "node:net";
import { isLoopback } from "../../sandbox/loopback.ts";

/**
 * A tiny SOCKS5 proxy (RFC 1928, CONNECT only, with optional RFC 1929 user/password) on
 * loopback, for tests of the probe's proxy path. It records every CONNECT it is asked for
 * and only connects to loopback destinations.
 */
export interface TestSocksServer {
  host: string;
  port: number;
  /** Every CONNECT request, in order, as "host:port". */
  readonly connects: readonly string[];
  /** Handshakes that asked for nothing (health checks). */
  readonly handshakesOnly: number;
  /** Most connections piped to a destination at once. */
  readonly maxOpen: number;
  close(): Promise<void>;
}

export async function startSocksServer(options: { host?: string; port?: number; username?: string; password?: string } = {}): Promise<TestSocksServer> {
  const host = options.host ?? "127.0.0.1";
  if (!isLoopback(host)) throw new Error(`the test SOCKS5 server only listens on loopback, not ${host}`);
  const connects: string[] = [];
  const sockets = new Set<Socket>();
  let handshakesOnly = 0;
  let open = 0;
  let maxOpen = 0;
  const needAuth = options.username !== undefined;

  const server: Server = createServer((client) => {
    sockets.add(client);
    client.on("close", () => sockets.delete(client));
    client.on("error", () => client.destroy());
    let buffer = Buffer.alloc(0);
    let stage: "greeting" | "auth" | "request" | "piped" = "greeting";
    let asked = false;
    client.on("close", () => {
      if (!asked && stage !== "greeting") handshakesOnly += 1;
    });
    const onData = (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      if (stage === "greeting") {
        if (buffer.length < 2 || buffer.length < 2 + buffer[1]!) return;
        const methods = [...buffer.subarray(2, 2 + buffer[1]!)];
        buffer = buffer.subarray(2 + buffer[1]!);
        const method = needAuth ? 2 : 0;
        if (!methods.includes(method)) return void client.end(Buffer.from([5, 0xff]));
        client.write(Buffer.from([5, method]));
        stage = needAuth ? "auth" : "request";
      }
      if (stage === "auth") {
        if (buffer.length < 2) return;
        const ulen = buffer[1]!;
        if (buffer.length < 3 + ulen) return;
        const plen = buffer[2 + ulen]!;
        if (buffer.length < 3 + ulen + plen) return;
        const user = buffer.subarray(2, 2 + ulen).toString();
        const pass = buffer.subarray(3 + ulen, 3 + ulen + plen).toString();
        buffer = buffer.subarray(3 + ulen + plen);
        const ok = user === options.username && pass === options.password;
        client.write(Buffer.from([1, ok ? 0 : 1]));
        if (!ok) return void client.end();
        stage = "request";
      }
      if (stage === "request") {
        if (buffer.length < 5) return;
        const type = buffer[3];
        let address: string;
        let end: number;
        if (type === 1) {
          end = 10;
          if (buffer.length < end) return;
          address = [...buffer.subarray(4, 8)].join(".");
        } else if (type === 3) {
          end = 7 + buffer[4]!;
          if (buffer.length < end) return;
          address = buffer.subarray(5, 5 + buffer[4]!).toString();
        } else {
          return void client.end(Buffer.from([5, 8, 0, 1, 0, 0, 0, 0, 0, 0]));
        }
        const port = buffer.readUInt16BE(end - 2);
        asked = true;
        connects.push(`${address}:${port}`);
        stage = "piped";
        client.off("data", onData);
        if (!isLoopback(address)) return void client.end(Buffer.from([5, 2, 0, 1, 0, 0, 0, 0, 0, 0]));
        const upstream = connect({ host: address, port });
        sockets.add(upstream);
        upstream.on("close", () => {
          sockets.delete(upstream);
          client.destroy();
        });
        upstream.once("error", (err: NodeJS.ErrnoException) => {
          const code = err.code === "ECONNREFUSED" ? 5 : 4;
          if (!client.destroyed) client.end(Buffer.from([5, code, 0, 1, 0, 0, 0, 0, 0, 0]));
        });
        upstream.once("connect", () => {
          open += 1;
          maxOpen = Math.max(maxOpen, open);
          upstream.once("close", () => (open -= 1));
          client.write(Buffer.from([5, 0, 0, 1, 127, 0, 0, 1, 0, 0]));
          client.pipe(upstream);
          upstream.pipe(client);
        });
      }
    };
    client.on("data", onData);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  return {
    host,
    port,
    connects,
    get handshakesOnly() {
      return handshakesOnly;
    },
    get maxOpen() {
      return maxOpen;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
