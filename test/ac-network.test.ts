// Real sockets on 127.0.0.1, no msw: what the guarded dispatcher and Node's fetch really do.
import { createServer as createNetServer } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  AcError,
  createAcClient,
  createAcLimiters,
  createGuardedDispatcher,
  type LookupAll,
} from "../core/ac/index.ts";
import { FakeAc, startFakeAcServer, type FakeAcServer } from "./support/fake-ac.ts";

let fake: FakeAc;
let served: FakeAcServer;
beforeAll(async () => {
  fake = new FakeAc({ requestsPerSecond: 1000 });
  served = await startFakeAcServer(fake);
});
afterAll(() => served.close());

/** A name that DNS would answer with 127.0.0.1: what a rebinding attacker arranges. */
const rebinding: LookupAll = async () => [{ address: "127.0.0.1", family: 4 }];

async function closedPort(): Promise<number> {
  const s = createNetServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const { port } = s.address() as { port: number };
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe("guarded dispatcher with Node's global fetch", () => {
  it("refuses to connect when the host resolves to a private address", async () => {
    const dispatcher = createGuardedDispatcher({ lookup: rebinding });
    const err = await fetch(`http://acct.api-us1.com:${served.port}/api/3/users/me`, { dispatcher } as RequestInit).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TypeError);
    expect((err as Error).cause).toBeInstanceOf(AcError);
    expect((err as { cause: AcError }).cause.kind).toBe("invalid_url");
  });

  it("connects through its own lookup when the address is allowed (so fetch really uses it)", async () => {
    const dispatcher = createGuardedDispatcher({ lookup: rebinding, isAllowedAddress: () => true });
    const res = await fetch(`http://acct.api-us1.com:${served.port}/api/3/users/me`, {
      dispatcher,
      headers: { "Api-Token": fake.apiKey },
    } as RequestInit);
    expect(res.status).toBe(200);
  });

  it("refuses private IP literals, which skip DNS", async () => {
    const dispatcher = createGuardedDispatcher();
    const err = await fetch(`http://127.0.0.1:${served.port}/api/3/users/me`, { dispatcher } as RequestInit).catch((e: unknown) => e);
    expect((err as { cause?: unknown }).cause).toMatchObject({ kind: "invalid_url" });
  });

  it("makes the client refuse a host that now resolves to loopback (DNS rebinding)", async () => {
    const client = createAcClient({
      apiUrl: "https://acct.api-us1.com",
      apiKey: fake.apiKey,
      limiters: createAcLimiters(),
      allowPrivateHosts: false,
      dispatcher: createGuardedDispatcher({ lookup: rebinding }),
      sleep: async () => {},
    });
    await expect(client.getMe()).rejects.toMatchObject({ kind: "invalid_url", message: expect.stringMatching(/private or local/) });
    expect(client.stats.requests).toBe(1);
  });
});

describe("client over real HTTP", () => {
  const clientFor = (url: string, extra: { timeoutMs?: number; maxTries?: number } = {}) =>
    createAcClient({
      apiUrl: url,
      apiKey: fake.apiKey,
      limiters: createAcLimiters({ requestsPerSecond: 1000 }),
      allowPrivateHosts: true,
      sleep: async () => {},
      ...extra,
    });

  it("reads from the fake AC", async () => {
    await expect(clientFor(served.url).getMe()).resolves.toMatchObject({ email: "admin@example.com" });
  });

  it("maps ECONNREFUSED to 'Could not reach that API URL' after its tries", async () => {
    const client = clientFor(`http://127.0.0.1:${await closedPort()}`, { maxTries: 3 });
    const err = await client.getMe().catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: "unreachable", message: "Could not reach that API URL: the connection was refused" });
    expect(client.stats.requests).toBe(3);
  });

  it("retries a reset connection", async () => {
    const client = clientFor(served.url);
    fake.failNext(1, { reset: true });
    await expect(client.listLists()).resolves.toEqual([]);
    expect(client.stats.requests).toBe(2);
  });

  it("times out a slow answer", async () => {
    const client = clientFor(served.url, { timeoutMs: 30, maxTries: 1 });
    fake.failNext(1, { delayMs: 300 });
    await expect(client.getMe()).rejects.toMatchObject({ kind: "timeout" });
  });

  it("passes the guarded dispatcher only when private hosts are not allowed", async () => {
    const inits: RequestInit[] = [];
    const spy: typeof fetch = async (_input, init) => {
      inits.push(init ?? {});
      return Response.json({ user: { id: "1" } });
    };
    const base = { apiKey: "k-123456", limiters: createAcLimiters(), fetch: spy };
    await createAcClient({ ...base, apiUrl: "https://acct.api-us1.com", allowPrivateHosts: false }).getMe();
    await createAcClient({ ...base, apiUrl: served.url, allowPrivateHosts: true }).getMe();
    expect(inits.map((i) => "dispatcher" in i)).toEqual([true, false]);
    expect(inits[0]?.redirect).toBe("manual");
  });
});
