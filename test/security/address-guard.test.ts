// Issue 11, test hole 1: the connect-time guard must judge EVERY address a name resolves to,
// in both families, not only the first. Nothing here leaves the machine: the lookups are
// fakes, and the one real connection goes to a fake AC on 127.0.0.1.
import type { LookupAddress, LookupOptions } from "node:dns";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AcError, assertPublicHost, createAcClient, createAcLimiters, createGuardedDispatcher, createGuardedLookup, type LookupAll } from "../../core/ac/index.ts";
import { FakeAc, startFakeAcServer, type FakeAcServer } from "../support/fake-ac.ts";

const PUBLIC_V4 = { address: "34.120.10.20", family: 4 };
const PUBLIC_V6 = { address: "2606:4700:4700::1111", family: 6 };
const MIXED: [string, LookupAddress[]][] = [
  ["[public v4, 127.0.0.1]", [PUBLIC_V4, { address: "127.0.0.1", family: 4 }]],
  ["[public v4, ::1]", [PUBLIC_V4, { address: "::1", family: 6 }]],
  ["[public v6, 10.1.2.3]", [PUBLIC_V6, { address: "10.1.2.3", family: 4 }]],
  ["[public v6, fd00::1]", [PUBLIC_V6, { address: "fd00::1", family: 6 }]],
  ["[public v4, public v6, 169.254.169.254]", [PUBLIC_V4, PUBLIC_V6, { address: "169.254.169.254", family: 4 }]],
  ["[public v4, ::ffff:127.0.0.1]", [PUBLIC_V4, { address: "::ffff:127.0.0.1", family: 6 }]],
];
const OPTIONS: [string, LookupOptions][] = [
  ["all addresses", { all: true }],
  ["one address, any family", {}],
  ["one IPv4 address", { family: 4 }],
  ["one IPv6 address", { family: 6 }],
];

/** What the guarded lookup hands to net.connect: an error, or the addresses. */
function guardedLookup(found: LookupAddress[], options: LookupOptions): Promise<{ err: Error | null; result: unknown }> {
  const lookup = createGuardedLookup(async () => found);
  return new Promise((resolve) =>
    lookup("acct.api-us1.com", options, (err: Error | null, address: unknown, family?: number) =>
      resolve({ err, result: Array.isArray(address) ? address : { address, family } }),
    ),
  );
}

describe("connect-time lookup guard", () => {
  for (const [name, found] of MIXED) {
    it.each(OPTIONS)(`refuses a name resolving to ${name}, asked for %s`, async (_label, options) => {
      const { err } = await guardedLookup(found, options);
      expect(err).toBeInstanceOf(AcError);
      expect((err as AcError).kind).toBe("invalid_url");
      expect(err!.message).toMatch(/private or local/);
    });
  }

  it("hands out the public addresses of a name whose addresses are all public, in both families", async () => {
    const both = [PUBLIC_V4, PUBLIC_V6];
    expect((await guardedLookup(both, { all: true })).result).toEqual(both);
    expect((await guardedLookup(both, { family: 6 })).result).toEqual({ address: PUBLIC_V6.address, family: 6 });
  });

  it.each([
    ["all addresses", { all: true, family: 4 }],
    ["one address", { family: 4 }],
  ] as [string, LookupOptions][])("answers a name with no address in the family asked for (%s) as one that does not exist", async (_label, options) => {
    const { err } = await guardedLookup([PUBLIC_V6], options);
    expect(err).toBeInstanceOf(AcError);
    expect(err).toMatchObject({ kind: "unreachable", retryable: false, message: expect.stringContaining("does not exist") });
  });

  it("passes a failed lookup's error on to the connection", async () => {
    const failure = Object.assign(new Error("getaddrinfo EAI_AGAIN"), { code: "EAI_AGAIN" });
    const lookup = createGuardedLookup(() => Promise.reject(failure));
    const err = await new Promise((resolve) => lookup("acct.api-us1.com", {}, (e: Error | null) => resolve(e)));
    expect(err).toBe(failure);
  });

  it.each(MIXED)("the early check (assertPublicHost) refuses %s too", async (_name, found) => {
    const lookup: LookupAll = async () => found;
    await expect(assertPublicHost("acct.api-us1.com", { allowPrivateHosts: false, lookup })).rejects.toMatchObject({ kind: "invalid_url" });
  });
});

describe("guarded dispatcher over a real socket", () => {
  let fake: FakeAc;
  let served: FakeAcServer;
  beforeAll(async () => {
    fake = new FakeAc({ requestsPerSecond: 1000 });
    served = await startFakeAcServer(fake);
  });
  afterAll(() => served.close());

  // 127.0.0.1 plays the public address (the fake AC listens there); any other is "private".
  const onlyLoopbackOne = (ip: string) => ip === "127.0.0.1";
  const client = (found: LookupAddress[]) =>
    createAcClient({
      apiUrl: "https://acct.api-us1.com",
      apiKey: fake.apiKey,
      limiters: createAcLimiters(),
      allowPrivateHosts: false,
      dispatcher: createGuardedDispatcher({ lookup: async () => found, isAllowedAddress: onlyLoopbackOne }),
      sleep: async () => {},
    });

  it.each([
    ["[allowed, 127.0.0.2]", [{ address: "127.0.0.1", family: 4 }, { address: "127.0.0.2", family: 4 }]],
    ["[allowed, ::1]", [{ address: "127.0.0.1", family: 4 }, { address: "::1", family: 6 }]],
  ])("does not connect to a name resolving to %s, though the first address is allowed", async (_name, found) => {
    const fetchUrl = `http://acct.api-us1.com:${served.port}/api/3/users/me`;
    const dispatcher = createGuardedDispatcher({ lookup: async () => found, isAllowedAddress: onlyLoopbackOne });
    const err = await fetch(fetchUrl, { dispatcher, headers: { "Api-Token": fake.apiKey } } as RequestInit).catch((e: unknown) => e);
    expect((err as { cause?: unknown }).cause).toMatchObject({ kind: "invalid_url" });
    await expect(client(found).getMe()).rejects.toMatchObject({ kind: "invalid_url" });
  });

  it("connects when every address is allowed (so the refusals above are the guard's)", async () => {
    const dispatcher = createGuardedDispatcher({ lookup: async () => [{ address: "127.0.0.1", family: 4 }], isAllowedAddress: onlyLoopbackOne });
    const res = await fetch(`http://acct.api-us1.com:${served.port}/api/3/users/me`, { dispatcher, headers: { "Api-Token": fake.apiKey } } as RequestInit);
    expect(res.status).toBe(200);
  });
});
