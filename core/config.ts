import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { parseEnv } from "node:util";
import { z } from "zod";

const onOff = z
  .enum(["on", "off", "true", "false", "1", "0", "yes", "no"], {
    error: 'must be "on" or "off"',
  })
  .transform((v) => v === "on" || v === "true" || v === "1" || v === "yes");

const positiveInt = z.coerce.number({ error: "must be a number" }).int("must be a whole number").positive("must be above 0");

const wholeOrZero = z.coerce.number({ error: "must be a number" }).int("must be a whole number").min(0, "must be 0 or more");

/** socks5://[user:password@]host:port, the user and password percent-encoded. */
const socksProxy = z.string().transform((text, ctx) => {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    ctx.addIssue({ code: "custom", message: `"${text.replace(/\/\/[^@/]*@/, "//***@")}" must look like socks5://host:1080 or socks5://user:password@host:1080` });
    return z.NEVER;
  }
  const port = Number(url.port);
  if (url.protocol !== "socks5:" || !url.hostname || !Number.isInteger(port) || port <= 0 || url.pathname.replace(/^\/$/, "") !== "") {
    ctx.addIssue({ code: "custom", message: `"${url.protocol}//${url.host}" must look like socks5://host:1080 (SOCKS5, with a port)` });
    return z.NEVER;
  }
  return {
    host: url.hostname.replace(/^\[(.*)\]$/, "$1"),
    port,
    ...(url.username ? { username: decodeURIComponent(url.username), password: decodeURIComponent(url.password) } : {}),
  };
});

const hostPort = z
  .string()
  .regex(/^[^\s,]+(:\d{1,5})?$/, "must look like 127.0.0.1:5353")
  .or(z.string().regex(/^\[[0-9a-fA-F:]+\](:\d{1,5})?$/));

/** smtp://user:password@host:587 (STARTTLS when offered) or smtps://…:465; user and password percent-encoded. */
const mailUrl = z.string().transform((text, ctx) => {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    ctx.addIssue({ code: "custom", message: "must look like smtp://user:password@smtp.example.com:587 or smtps://…:465" });
    return z.NEVER;
  }
  if ((url.protocol !== "smtp:" && url.protocol !== "smtps:") || !url.hostname) {
    ctx.addIssue({ code: "custom", message: `"${url.protocol}//${url.host}" must look like smtp://smtp.example.com:587 or smtps://smtp.example.com:465` });
    return z.NEVER;
  }
  return url.href;
});

/** "1000:10.00,10000:80.00": credits and their price, per pack the checkout offers. */
const creditPacks = z
  .string()
  .transform((text, ctx) => {
    const packs = text
      .split(",")
      .map((p) => p.trim())
      .filter(Boolean)
      .map((p) => /^([1-9][0-9]{0,8}):([0-9]{1,7})(?:\.([0-9]{1,2}))?$/.exec(p));
    if (packs.length === 0 || packs.some((m) => !m)) {
      ctx.addIssue({ code: "custom", message: 'must look like "1000:10.00,10000:80.00" (credits:price, comma-separated)' });
      return z.NEVER;
    }
    return packs.map((m) => ({ credits: Number(m![1]), amount: Number(m![2]) * 100 + Number((m![3] ?? "0").padEnd(2, "0")) }));
  });

/** Every setting the product reads. README.md documents the same table. */
export const configSchema = z.object({
  NODE_ENV: z.enum(["development", "production", "test"]).default("development"),
  PORT: z.coerce.number({ error: "must be a number" }).int().min(0).max(65535, "must be 0-65535").default(3000),
  HOST: z.string().min(1).default("127.0.0.1"),
  DATA_DIR: z.string().min(1).default("./data"),
  APP_SECRET: z.string().min(32, "must be at least 32 characters (or leave it unset to generate one)").optional(),
  PUBLIC_URL: z.url("must be a URL like https://listwarden.example.com").optional(),
  SIGNUP_CREDITS: z.coerce.number({ error: "must be a number" }).int().min(0, "must be 0 or more").default(100),
  SIGNUP_PER_HOUR: positiveInt.max(10_000).default(5),
  SIGNUP_CREDITS_PER_DAY: z.coerce.number({ error: "must be a number" }).int("must be a whole number").min(0, "must be 0 or more").default(1),
  SIGNUP_CREDITS_SITE_PER_DAY: z.coerce.number({ error: "must be a number" }).int("must be a whole number").min(0, "must be 0 or more").default(50),
  TRUST_PROXY: z.coerce.number({ error: "must be a number" }).int("must be a whole number").min(0, "must be 0 or more").max(10).default(0),
  AC_ALLOW_PRIVATE_HOSTS: onOff.default(false),
  AC_REQUESTS_PER_SECOND: positiveInt.max(1000).default(5),
  AC_TIMEOUT_MS: positiveInt.default(30_000),
  /** ActiveCampaign requests sent, and their pages read, in a thread of their own (core/ac/http-threads.ts). */
  AC_HTTP_THREAD: onOff.default(true),
  /** AC's bulk import cap (100 multi-contact imports per minute); the sandbox and benchmarks may raise it. */
  AC_IMPORTS_PER_MINUTE: positiveInt.max(100_000).default(100),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  DNS_SERVERS: z
    .string()
    .default("")
    .transform((s) => s.split(",").map((x) => x.trim()).filter(Boolean))
    .pipe(z.array(hostPort)),
  DNS_TIMEOUT_MS: positiveInt.default(5_000),
  /**
   * Domains that must resolve before a run relies on DNS (most of them, through DNS_SERVERS);
   * "off" for no check. An offline install names domains its own resolver knows.
   */
  DNS_HEALTH_DOMAINS: z
    .string()
    .default("gmail.com,outlook.com,yahoo.com,icloud.com,aol.com")
    .transform((s) => (s.trim().toLowerCase() === "off" ? [] : s.split(",").map((x) => x.trim().toLowerCase()).filter(Boolean)))
    .pipe(z.array(z.string().regex(/^[a-z0-9.-]+\.[a-z0-9-]+$/, "must be domain names like gmail.com, comma-separated, or off")).max(20, "at most 20 domains")),
  /** How long a run paused on a failed resolver check waits before checking again. */
  DNS_HEALTH_RETRY_MS: positiveInt.default(60_000),
  SMTP_PROBE: onOff.default(false),
  SMTP_HELO: z.string().min(1).default("verify.listwarden.invalid"),
  SMTP_MAIL_FROM: z.email("must be an e-mail address").default("probe@verify.listwarden.invalid"),
  SMTP_PORT: positiveInt.max(65535).default(25),
  SMTP_CONNECT_TIMEOUT_MS: positiveInt.default(10_000),
  SMTP_REPLY_TIMEOUT_MS: positiveInt.default(30_000),
  SMTP_GREYLIST_DELAYS_MS: z
    .string()
    .default("360000,1800000")
    .transform((s) => s.split(",").map((x) => x.trim()).filter(Boolean).map(Number))
    .pipe(z.array(z.number().int("must be whole milliseconds").min(0)).max(5, "at most 5 retries")),
  SMTP_RECIPIENTS_PER_SESSION: positiveInt.max(50, "must be at most 50").default(5),
  SMTP_BUDGET_PER_MX_PER_MINUTE: wholeOrZero.default(60),
  SMTP_BUDGET_PER_PATH_PER_DAY: wholeOrZero.default(10_000),
  SMTP_PROXIES: z
    .string()
    .default("")
    .transform((s) => s.split(",").map((x) => x.trim()).filter(Boolean))
    .pipe(z.array(socksProxy)),
  SMTP_PROXY_CONCURRENCY: positiveInt.max(100).default(4),
  SMTP_PROVIDER_RULES_FILE: z.string().min(1).optional(),
  UPLOAD_MAX_MB: positiveInt.max(1024, "must be at most 1024").default(50),
  UPLOAD_RETENTION_DAYS: positiveInt.max(3650).default(30),
  /** A manual run whose plan unsubscribes or deletes more than this share of its contacts needs the count typed to approve. */
  ANOMALY_PERCENT: z.coerce.number({ error: "must be a number" }).int("must be a whole number").min(0, "must be 0 or more").max(100, "must be at most 100").default(30),
  WORKER: onOff.default(true),
  WORKER_CONCURRENCY: positiveInt.max(256).default(8),
  MAIL_URL: mailUrl.optional(),
  MAIL_FROM: z.string().min(3).default("Listwarden <listwarden@localhost>"),
  WEBHOOK_ALLOW_PRIVATE_HOSTS: onOff.default(false),
  STRIPE_SECRET_KEY: z.string().regex(/^(sk|rk)_(test|live)_[A-Za-z0-9]+$/, "must be a Stripe secret key (sk_live_… or sk_test_…)").optional(),
  STRIPE_WEBHOOK_SECRET: z.string().regex(/^whsec_[A-Za-z0-9+/=]+$/, "must be the webhook signing secret Stripe shows (whsec_…)").optional(),
  CREDIT_PACKS: creditPacks.default([
    { credits: 1_000, amount: 1_000 },
    { credits: 10_000, amount: 8_000 },
  ]),
  CREDIT_CURRENCY: z
    .string()
    .regex(/^[a-zA-Z]{3}$/, "must be a three-letter currency code such as usd or eur")
    .transform((c) => c.toLowerCase())
    .default("usd"),
  /** Minutes between two catch-up sweeps of a monitored connection (issue 18). */
  MONITOR_SWEEP_MINUTES: positiveInt.max(1440, "must be at most 1440 (a day)").default(15),
  /** New contacts checked at once by one process, across every monitored connection. */
  MONITOR_CONCURRENCY: positiveInt.max(256).default(16),
  UNDO_DAYS: z.coerce
    .number({ error: "must be a number" })
    .min(0, "must be 0 or more")
    .max(3650, "must be at most 3650")
    .default(30),
  BACKUP_RETENTION_DAYS: z.coerce
    .number({ error: "must be a number" })
    .positive("must be above 0")
    .max(3650, "must be at most 3650")
    .default(30),
  SCHEDULE_GRACE_DAYS: z.coerce
    .number({ error: "must be a number" })
    .positive("must be above 0")
    .max(27, "must be at most 27 (shorter than the shortest month)")
    .default(3),
});

export type RawConfig = z.infer<typeof configSchema>;
export type Config = Omit<RawConfig, "APP_SECRET"> & { APP_SECRET: string };

export class ConfigError extends Error {
  override name = "ConfigError";
}

/** Parses settings; names every bad one in the thrown message. */
export function parseConfig(env: Record<string, string | undefined> = process.env): RawConfig {
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ""));
  const result = configSchema
    .refine((c) => Boolean(c.STRIPE_SECRET_KEY) === Boolean(c.STRIPE_WEBHOOK_SECRET), {
      message: "set both STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET, or neither",
      path: ["STRIPE_WEBHOOK_SECRET"],
    })
    .safeParse(cleaned);
  if (!result.success) {
    const lines = result.error.issues.map((i) => `  ${i.path.join(".") || "(config)"}: ${i.message}`);
    throw new ConfigError(`Invalid configuration:\n${lines.join("\n")}`);
  }
  return result.data;
}

/**
 * Loads the configuration and, when APP_SECRET is unset, generates it once into
 * DATA_DIR/app-secret (mode 0600) and reuses it on every later start.
 */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const raw = parseConfig(env);
  const dataDir = path.resolve(raw.DATA_DIR);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  return { ...raw, DATA_DIR: dataDir, APP_SECRET: raw.APP_SECRET ?? readOrCreateSecret(dataDir) };
}

function readOrCreateSecret(dataDir: string): string {
  const file = path.join(dataDir, "app-secret");
  if (existsSync(file)) {
    const secret = readFileSync(file, "utf8").trim();
    if (secret.length < 32) throw new ConfigError(`APP_SECRET: ${file} is shorter than 32 characters; delete it to regenerate`);
    return secret;
  }
  const secret = randomBytes(32).toString("base64url");
  writeFileSync(file, `${secret}\n`, { mode: 0o600, flag: "wx" });
  chmodSync(file, 0o600);
  return secret;
}

/** The settings file read beside the environment: `.env` in the directory the command runs from. */
export const ENV_FILE = ".env";

/**
 * The environment a process reads its settings from: `.env` in the working directory (when
 * there is one) under the process's own variables, which win. `npm start` and `npx listwarden`
 * both read it, so the command line finds the server's DATA_DIR without being told twice.
 */
export function processEnv(env: Record<string, string | undefined> = process.env, file = path.resolve(ENV_FILE)): Record<string, string | undefined> {
  if (!existsSync(file)) return env;
  let fromFile: Record<string, string | undefined>;
  try {
    fromFile = parseEnv(readFileSync(file, "utf8"));
  } catch (err) {
    throw new ConfigError(`${file}: ${(err as Error).message}`);
  }
  return { ...fromFile, ...env };
}

/** Where links in e-mails and webhook messages point: PUBLIC_URL, or this machine's own address. */
export function publicUrl(config: Pick<Config, "PUBLIC_URL" | "PORT">): string {
  return (config.PUBLIC_URL ?? `http://localhost:${config.PORT}`).replace(/\/+$/, "");
}

/** Whether the operator set up a payment provider (else users request credits from the operator). */
export const paymentsEnabled = (config: Pick<Config, "STRIPE_SECRET_KEY" | "STRIPE_WEBHOOK_SECRET">) => Boolean(config.STRIPE_SECRET_KEY && config.STRIPE_WEBHOOK_SECRET);

/** A complete config for tests and tools, without touching process.env or the disk. */
export function testConfig(overrides: Partial<Config> = {}): Config {
  return {
    // Tests sign up many users from one in-process "network"; test/security/ sets the real limits.
    // Nor do they pace probes of their loopback mail servers: tests of the probe budget set it.
    ...parseConfig({
      NODE_ENV: "test",
      LOG_LEVEL: "silent",
      SIGNUP_PER_HOUR: "10000",
      SIGNUP_CREDITS_PER_DAY: "10000",
      SIGNUP_CREDITS_SITE_PER_DAY: "100000",
      SMTP_BUDGET_PER_MX_PER_MINUTE: "0",
      SMTP_BUDGET_PER_PATH_PER_DAY: "0",
      // Tests serve their own mail world: each that checks the resolver names its domains.
      DNS_HEALTH_DOMAINS: "off",
      // msw intercepts this thread's fetch only: tests of the HTTP thread serve AC on loopback.
      AC_HTTP_THREAD: "off",
      // Tests approve plans of every share; those of the anomaly guard set their own threshold.
      ANOMALY_PERCENT: "100",
    }),
    APP_SECRET: "test-secret-test-secret-test-secret-0123",
    DATA_DIR: ":memory:",
    ...overrides,
  };
}
