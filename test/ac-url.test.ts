import { describe, expect, it } from "vitest";
import { AcError, API_URL_HINT, assertPublicHost, isPublicAddress, normalizeApiUrl, systemLookup, type LookupAll } from "../core/ac/index.ts";

const prod = { allowPrivateHosts: false };
const dev = { allowPrivateHosts: true };

function urlError(fn: () => unknown): AcError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(AcError);
    return err as AcError;
  }
  throw new Error("expected an AcError");
}

describe("normalizeApiUrl", () => {
  it.each([
    ["https://acct.api-us1.com", "https://acct.api-us1.com"],
    ["  https://acct.api-us1.com  ", "https://acct.api-us1.com"],
    ["https://acct.api-us1.com/", "https://acct.api-us1.com"],
    ["https://acct.api-us1.com/api/3", "https://acct.api-us1.com"],
    ["https://acct.api-us1.com/api/3/", "https://acct.api-us1.com"],
    ["https://acct.api-us1.com/api/3///", "https://acct.api-us1.com"],
    ["https://ACCT.Api-US1.com/API/3", "https://acct.api-us1.com"],
    ["https://acct.api-us1.com:443/api/3", "https://acct.api-us1.com"],
    ["acct.api-us1.com/api/3", "https://acct.api-us1.com"],
    ["https://123456demo.activehosted.com", "https://123456demo.activehosted.com"],
    ["https://acct.api-us1.com./", "https://acct.api-us1.com"],
  ])("accepts %j as %s", (input, expected) => {
    expect(normalizeApiUrl(input, prod)).toBe(expected);
  });

  it.each([
    ["http://acct.api-us1.com", /must start with https:\/\//],
    ["javascript:alert(1)", /must start with https:\/\//],
    ["ftp://acct.api-us1.com", /must start with https:\/\//],
    ["file:///etc/passwd", /must start with https:\/\//],
    ["data:text/plain,hello", /must start with https:\/\//],
    ["https://127.0.0.1", /private or local/],
    ["https://127.1", /private or local/],
    ["https://2130706433", /private or local/],
    ["https://0x7f.0.0.1", /private or local/],
    ["https://0177.0.0.1", /private or local/],
    ["https://[::1]", /private or local/],
    ["https://[::ffff:127.0.0.1]", /private or local/],
    ["https://10.1.2.3", /private or local/],
    ["https://172.16.5.4", /private or local/],
    ["https://192.168.1.1", /private or local/],
    ["https://169.254.169.254/api/3", /private or local/],
    ["https://100.64.0.1", /private or local/],
    ["https://0.0.0.0", /private or local/],
    ["https://[fe80::1]", /private or local/],
    ["https://[fd00::1]", /private or local/],
    ["https://8.8.8.8", /not an IP address/],
    ["https://metadata.google.internal", /private or local/],
    ["https://metadata.goog", /private or local/],
    ["https://localhost", /private or local/],
    ["https://api.localhost", /private or local/],
    ["https://intranet", /not a full host name/],
    ["https://acct.api-us1.com@evil.example", /user name/],
    ["https://user:pw@acct.api-us1.com", /user name/],
    ["https://@acct.api-us1.com", /user name/],
    ["https://acct.api-us1.com:8443", /port/],
    ["acct.api-us1.com:8443", /port/],
    ["acct.api-us1.com:8/api/3", /port/],
    ["acct.api-us1.com/api:3", /\/api\/3/],
    ["https://acct.api-us1.com/api/3/contacts", /\/api\/3/],
    ["https://acct.api-us1.com/admin", /\/api\/3/],
    ["https://acct.api-us1.com/api/3?x=1", /\?/],
    ["https://acct.api-us1.com/#frag", /\?/],
    ["https://evil.example\\@acct.api-us1.com", /characters/],
    ["https://acct api-us1.com", /characters/],
    ["", /youraccount/],
    ["not a url at all", /characters/],
  ])("rejects %j", (input, reason) => {
    const err = urlError(() => normalizeApiUrl(input, prod));
    expect(err.kind).toBe("invalid_url");
    expect(err.message).toContain(API_URL_HINT);
    expect(err.message).toMatch(reason);
  });

  it.each(["https://[::1", "https://.", "https://acct..api-us1.com", "https://acct.api-us1.com.."])(
    "rejects %j, which has no usable host, with the plain hint",
    (input) => {
      const err = urlError(() => normalizeApiUrl(input, prod));
      expect(err.kind).toBe("invalid_url");
      expect(err.message).toBe(API_URL_HINT);
      expect(() => normalizeApiUrl(input, dev)).toThrow(API_URL_HINT);
    },
  );

  it("tells the user where to find the URL", () => {
    expect(urlError(() => normalizeApiUrl("ftp://x.y", prod)).message).toContain(
      "API URL must look like https://youraccount.api-us1.com (Settings → Developer in ActiveCampaign)",
    );
  });

  it("accepts loopback, http and ports only when private hosts are allowed", () => {
    expect(normalizeApiUrl("http://127.0.0.1:4010/api/3/", dev)).toBe("http://127.0.0.1:4010");
    expect(normalizeApiUrl("http://localhost:4010", dev)).toBe("http://localhost:4010");
    expect(normalizeApiUrl("http://[::1]:4010", dev)).toBe("http://[::1]:4010");
    expect(() => normalizeApiUrl("http://127.0.0.1:4010", prod)).toThrow(AcError);
  });

  it("still refuses other schemes and userinfo when private hosts are allowed", () => {
    expect(() => normalizeApiUrl("javascript:alert(1)", dev)).toThrow(/must start with https:\/\//);
    expect(() => normalizeApiUrl("ftp://127.0.0.1:4010", dev)).toThrow(/must start with https:\/\//);
    expect(() => normalizeApiUrl("http://u:p@127.0.0.1:4010", dev)).toThrow(/user name/);
  });
});

describe("isPublicAddress", () => {
  it.each([
    "127.0.0.1",
    "127.255.255.254",
    "10.0.0.5",
    "172.31.255.255",
    "192.168.0.1",
    "169.254.169.254",
    "100.64.0.1",
    "0.0.0.0",
    "0.1.2.3",
    "192.0.0.8",
    "192.88.99.1",
    "198.51.100.7",
    "203.0.113.9",
    "224.0.0.1",
    "240.0.0.1",
    "255.255.255.255",
    "192.0.2.10",
    "198.18.0.1",
    "::",
    "::1",
    "::ffff:127.0.0.1",
    "::ffff:7f00:1",
    "::ffff:a9fe:a9fe",
    "64:ff9b::a00:1",
    "2002:7f00:1::",
    "fe80::1",
    "fe80::1%eth0",
    "fc00::1",
    "fd12:3456::1",
    "ff02::1",
    "2001:db8::1",
    "2001::1",
    "2001:1ff::1",
    "3fff::1",
    "[::1]",
    "[2606:4700:4700::11111",
    "x8.8.8.8]",
    "not-an-ip",
  ])("%s is not public", (ip) => {
    expect(isPublicAddress(ip)).toBe(false);
  });

  it.each([
    "8.8.8.8",
    " 8.8.8.8 ",
    "1.1.1.1",
    "172.32.0.1",
    "100.128.0.1",
    "2606:4700:4700::1111",
    "2606:4700:4700:0:0:0:0:1111",
    "2001:200::1",
    "::ffff:8.8.8.8",
    "64:ff9b::808:808",
    "2002:808:808::",
  ])(
    "%s is public",
    (ip) => {
      expect(isPublicAddress(ip)).toBe(true);
    },
  );
});

describe("assertPublicHost", () => {
  const resolvesTo =
    (...addresses: string[]): LookupAll =>
    async () =>
      addresses.map((address) => ({ address, family: address.includes(":") ? 6 : 4 }));

  it("accepts a host whose every address is public", async () => {
    await expect(assertPublicHost("acct.api-us1.com", { ...prod, lookup: resolvesTo("3.3.3.3", "2606:4700::1") })).resolves.toEqual([
      "3.3.3.3",
      "2606:4700::1",
    ]);
  });

  it("rejects a public-looking host that resolves to a private address", async () => {
    const err = await assertPublicHost("acct.api-us1.com", { ...prod, lookup: resolvesTo("10.0.0.5") }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AcError);
    expect((err as AcError).kind).toBe("invalid_url");
    expect((err as AcError).message).toMatch(/private or local/);
  });

  it("rejects when any one of several addresses is private", async () => {
    await expect(assertPublicHost("acct.api-us1.com", { ...prod, lookup: resolvesTo("3.3.3.3", "169.254.169.254") })).rejects.toMatchObject({
      kind: "invalid_url",
    });
    await expect(assertPublicHost("acct.api-us1.com", { ...prod, lookup: resolvesTo("3.3.3.3", "::ffff:127.0.0.1") })).rejects.toMatchObject({
      kind: "invalid_url",
    });
  });

  it("maps a name that does not resolve to unreachable", async () => {
    const lookup: LookupAll = async () => {
      throw Object.assign(new Error("getaddrinfo ENOTFOUND"), { code: "ENOTFOUND" });
    };
    await expect(assertPublicHost("nope.api-us1.com", { ...prod, lookup })).rejects.toMatchObject({
      kind: "unreachable",
      message: expect.stringContaining("Could not reach that API URL"),
    });
  });

  it("checks IP literals without DNS and skips everything when private hosts are allowed", async () => {
    const lookup: LookupAll = async () => {
      throw new Error("must not be called");
    };
    await expect(assertPublicHost("[::1]", { ...prod, lookup })).rejects.toMatchObject({ kind: "invalid_url" });
    await expect(assertPublicHost("127.0.0.1", { ...prod, lookup })).rejects.toMatchObject({ kind: "invalid_url" });
    await expect(assertPublicHost("8.8.8.8", { ...prod, lookup })).resolves.toEqual(["8.8.8.8"]);
    await expect(assertPublicHost("127.0.0.1", { ...dev, lookup })).resolves.toEqual([]);
  });

  it("refuses local and single-label names without asking DNS, whatever their case", async () => {
    const lookup: LookupAll = async () => [{ address: "3.3.3.3", family: 4 }];
    for (const host of ["intranet", "api.localhost", "Api.LocalHost", "printer.local"]) {
      await expect(assertPublicHost(host, { ...prod, lookup })).rejects.toMatchObject({ kind: "invalid_url" });
    }
  });

  it("looks up the host name lowercased, without brackets or a trailing dot", async () => {
    const asked: string[] = [];
    const lookup: LookupAll = async (name) => {
      asked.push(name);
      return [{ address: "3.3.3.3", family: 4 }];
    };
    await assertPublicHost("Acct.API-us1.com.", { ...prod, lookup });
    expect(asked).toEqual(["acct.api-us1.com"]);
  });

  it("maps a name with no addresses to unreachable", async () => {
    await expect(assertPublicHost("acct.api-us1.com", { ...prod, lookup: resolvesTo() })).rejects.toMatchObject({
      kind: "unreachable",
      retryable: false,
      message: expect.stringContaining("does not exist"),
    });
  });

  it.each(["ENOTFOUND", "EAI_NONAME", "ENODATA", "EAI_NODATA"])("maps %s to a host that does not exist, not worth retrying", async (code) => {
    const failure = Object.assign(new Error(`getaddrinfo ${code}`), { code });
    const lookup: LookupAll = async () => {
      throw failure;
    };
    const err = await assertPublicHost("nope.api-us1.com", { ...prod, lookup }).catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: "unreachable", retryable: false, message: expect.stringContaining("does not exist") });
    expect((err as AcError).cause).toBe(failure);
  });

  it.each([
    ["EAI_AGAIN", Object.assign(new Error("getaddrinfo EAI_AGAIN"), { code: "EAI_AGAIN" })],
    ["a numeric code", Object.assign(new Error("odd"), { code: 3008 })],
    ["no error at all", undefined],
  ])("maps a lookup failing with %s to a retryable unreachable", async (_label, failure) => {
    const lookup: LookupAll = () => Promise.reject(failure);
    const err = await assertPublicHost("acct.api-us1.com", { ...prod, lookup }).catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: "unreachable", retryable: true, message: expect.stringContaining("could not be looked up") });
    expect((err as AcError).cause).toBe(failure);
  });
});

describe("systemLookup", () => {
  it("returns every address of a name, as a list (localhost, from the hosts file)", async () => {
    const found = await systemLookup("localhost");
    expect(Array.isArray(found)).toBe(true);
    expect(found.map((a) => a.address)).toContain("127.0.0.1");
  });
});
