import { mkdtempSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { writeFileSync } from "node:fs";
import { ConfigError, loadConfig, parseConfig, testConfig } from "../core/config.ts";
import { verifierOptionsFromConfig } from "../core/verification.ts";

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

  it("keeps backups of deleted contacts 30 days unless told otherwise, and refuses a retention that is not a positive number of days", () => {
    expect(parseConfig({}).BACKUP_RETENTION_DAYS).toBe(30);
    expect(parseConfig({ BACKUP_RETENTION_DAYS: "7.5" }).BACKUP_RETENTION_DAYS).toBe(7.5);
    for (const bad of ["0", "-1", "soon", "5000"]) expect(() => parseConfig({ BACKUP_RETENTION_DAYS: bad })).toThrow(/BACKUP_RETENTION_DAYS/);
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

  it("reads the probe's session, budget and proxy settings, with safe defaults", () => {
    expect(parseConfig({})).toMatchObject({
      SMTP_RECIPIENTS_PER_SESSION: 5,
      SMTP_BUDGET_PER_MX_PER_MINUTE: 60,
      SMTP_BUDGET_PER_PATH_PER_DAY: 10_000,
      SMTP_PROXIES: [],
      SMTP_PROXY_CONCURRENCY: 4,
    });
    const c = parseConfig({ SMTP_PROXIES: "socks5://10.0.0.5:1080, socks5://probe%40us:p%3Ass@proxy.example.net:1081", SMTP_BUDGET_PER_MX_PER_MINUTE: "0" });
    expect(c.SMTP_PROXIES).toEqual([
      { host: "10.0.0.5", port: 1080 },
      { host: "proxy.example.net", port: 1081, username: "probe@us", password: "p:ss" },
    ]);
    expect(c.SMTP_BUDGET_PER_MX_PER_MINUTE).toBe(0);
    expect(() => parseConfig({ SMTP_PROXIES: "http://proxy:8080" })).toThrow(/SMTP_PROXIES/);
    expect(() => parseConfig({ SMTP_PROXIES: "socks5://user:secret@proxy" })).toThrow(/SMTP_PROXIES/);
    try {
      parseConfig({ SMTP_PROXIES: "socks5://user:secret@proxy" });
    } catch (err) {
      expect((err as Error).message).not.toContain("secret");
    }
    expect(() => parseConfig({ SMTP_RECIPIENTS_PER_SESSION: "0" })).toThrow(/SMTP_RECIPIENTS_PER_SESSION/);
  });

  it("loads provider rules from SMTP_PROVIDER_RULES_FILE and refuses a bad file, naming the setting", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "lw-rules-"));
    const good = path.join(dir, "rules.json");
    writeFileSync(good, JSON.stringify([{ id: "mimecast", name: "Mimecast", mx: ["mimecast.com"], accepted: "proves_nothing", rejected: "proves_nothing", catchAllProbe: false, why: "x" }]));
    expect(verifierOptionsFromConfig(testConfig({ SMTP_PROVIDER_RULES_FILE: good })).providerRules?.map((r) => r.id)).toEqual(["mimecast"]);
    const bad = path.join(dir, "bad.json");
    writeFileSync(bad, JSON.stringify([{ id: "x" }]));
    expect(() => verifierOptionsFromConfig(testConfig({ SMTP_PROVIDER_RULES_FILE: bad }))).toThrow(/SMTP_PROVIDER_RULES_FILE/);
    expect(() => verifierOptionsFromConfig(testConfig({ SMTP_PROVIDER_RULES_FILE: path.join(dir, "missing.json") }))).toThrow(ConfigError);
  });
});

describe("settings of issue 15", () => {
  it("README's configuration table documents every setting the schema reads", async () => {
    const { configSchema } = await import("../core/config.ts");
    const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
    const documented = new Set([...readme.matchAll(/^\| `([A-Z_]+)` \|/gm)].map((m) => m[1]));
    const missing = Object.keys(configSchema.shape).filter((k) => k !== "NODE_ENV" && !documented.has(k));
    expect(missing).toEqual([]);
  });

  it("reads credit packs, the mail relay, and refuses half a Stripe setup", () => {
    expect(parseConfig({ CREDIT_PACKS: "500:5, 2000:17.5" }).CREDIT_PACKS).toEqual([
      { credits: 500, amount: 500 },
      { credits: 2000, amount: 1750 },
    ]);
    expect(() => parseConfig({ CREDIT_PACKS: "lots" })).toThrow(/CREDIT_PACKS/);
    expect(() => parseConfig({ MAIL_URL: "http://mail.example.com" })).toThrow(/MAIL_URL/);
    expect(parseConfig({ MAIL_URL: "smtp://u:p%40ss@mail.example.com:587" }).MAIL_URL).toBe("smtp://u:p%40ss@mail.example.com:587");
    expect(() => parseConfig({ STRIPE_SECRET_KEY: "sk_test_abc" })).toThrow(/STRIPE_WEBHOOK_SECRET/);
    expect(parseConfig({ STRIPE_SECRET_KEY: "sk_test_abc", STRIPE_WEBHOOK_SECRET: "whsec_abc" }).STRIPE_SECRET_KEY).toBe("sk_test_abc");
  });
});
