import { mkdtempSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig, parseConfig } from "../core/config.ts";

describe("config", () => {
  it("applies the documented defaults", () => {
    const c = parseConfig({});
    expect(c).toMatchObject({ PORT: 3000, DATA_DIR: "./data", SIGNUP_CREDITS: 100, AC_ALLOW_PRIVATE_HOSTS: false, AC_REQUESTS_PER_SECOND: 5, LOG_LEVEL: "info" });
  });

  it("names every bad setting in one message", () => {
    expect(() => parseConfig({ PORT: "eighty", SIGNUP_CREDITS: "-4", AC_ALLOW_PRIVATE_HOSTS: "maybe", LOG_LEVEL: "loud" })).toThrow(ConfigError);
    try {
      parseConfig({ PORT: "eighty", SIGNUP_CREDITS: "-4", AC_ALLOW_PRIVATE_HOSTS: "maybe", LOG_LEVEL: "loud" });
    } catch (err) {
      const msg = (err as Error).message;
      for (const name of ["PORT", "SIGNUP_CREDITS", "AC_ALLOW_PRIVATE_HOSTS", "LOG_LEVEL"]) expect(msg).toContain(name);
    }
  });

  it("rejects a short APP_SECRET and a malformed DNS server", () => {
    expect(() => parseConfig({ APP_SECRET: "short" })).toThrow(/APP_SECRET/);
    expect(() => parseConfig({ DNS_SERVERS: "127.0.0.1:5353, bad host" })).toThrow(/DNS_SERVERS/);
    expect(parseConfig({ DNS_SERVERS: "127.0.0.1:5353, 10.0.0.1" }).DNS_SERVERS).toEqual(["127.0.0.1:5353", "10.0.0.1"]);
  });

  it("generates APP_SECRET once into DATA_DIR with mode 0600 and reuses it", () => {
    const dir = path.join(mkdtempSync(path.join(tmpdir(), "lw-config-")), "data");
    const first = loadConfig({ DATA_DIR: dir });
    const file = path.join(dir, "app-secret");
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, "utf8").trim()).toBe(first.APP_SECRET);
    expect(first.APP_SECRET.length).toBeGreaterThanOrEqual(32);
    expect(loadConfig({ DATA_DIR: dir }).APP_SECRET).toBe(first.APP_SECRET);
    expect(loadConfig({ DATA_DIR: dir, APP_SECRET: "x".repeat(40) }).APP_SECRET).toBe("x".repeat(40));
  });
});
