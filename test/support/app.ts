import { Writable } from "node:stream";
import { openDb, schema, type Db } from "../../db/index.ts";
import { createAcLimiters, type LookupAll } from "../../core/ac/index.ts";
import { createApp } from "../../boot/app.ts";
import { testConfig, type Config } from "../../core/config.ts";
import { createDeps, type Deps } from "../../core/deps.ts";
import type { Clock } from "../../core/lib/clock.ts";
import { createLogger } from "../../core/logger.ts";
import type { RunStatus } from "../../core/domain/run-status.ts";
import { insertRun, type RunRow } from "../../core/runs/store.ts";
import { AppError } from "../../core/errors.ts";
import { newId } from "../../db/ids.ts";
import { eq } from "drizzle-orm";
import { expect } from "vitest";
import { FakeClock } from "./clock.ts";

export interface TestApp {
  app: ReturnType<typeof createApp>;
  deps: Deps;
  db: Db;
  clock: Clock;
  /** Every line the app logged, as written (JSON). */
  logs: string[];
  request(method: string, path: string, opts?: RequestOpts): Promise<Response>;
}

export interface RequestOpts {
  body?: unknown;
  /** A signed-in user; sends its cookie and CSRF token unless told otherwise. */
  as?: Session;
  csrf?: boolean;
  bearer?: string;
  headers?: Record<string, string>;
  /** The client's address, as the Node server would report its socket (default: none, "unknown"). */
  ip?: string;
}

export interface Session {
  cookie: string;
  csrfToken: string;
  email: string;
  workspaceId: string;
}

export const ORIGIN = "http://localhost";

/** A fresh app on its own in-memory database with every migration applied. */
/** Resolves every host to one public-looking address, so the SSRF check passes without DNS. */
export const publicLookup: LookupAll = async () => [{ address: "34.120.10.20", family: 4 }];

export interface TestAppOptions {
  config?: Partial<Config>;
  clock?: Clock;
  dbFile?: string;
  acLookup?: LookupAll;
  /** Requests per second the AC limiter allows (the fake AC enforces its own). */
  acRequestsPerSecond?: number;
  acClientOptions?: Deps["acClientOptions"];
}

export function createTestApp(opts: TestAppOptions = {}): TestApp {
  const logs: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, cb) {
      logs.push(String(chunk));
      cb();
    },
  });
  const config = testConfig({ LOG_LEVEL: "info", AC_ALLOW_PRIVATE_HOSTS: false, ...opts.config });
  const db = openDb(opts.dbFile ?? ":memory:");
  const clock = opts.clock ?? new FakeClock();
  const deps = createDeps({
    db,
    config,
    clock,
    logger: createLogger({ level: config.LOG_LEVEL, destination }),
    acLimiters: createAcLimiters({ requestsPerSecond: opts.acRequestsPerSecond ?? 1000 }),
    acLookup: opts.acLookup ?? publicLookup,
    ...(opts.acClientOptions ? { acClientOptions: opts.acClientOptions } : {}),
  });
  const app = createApp(deps);

  async function request(method: string, path: string, o: RequestOpts = {}): Promise<Response> {
    const headers: Record<string, string> = { ...o.headers };
    if (o.body !== undefined && !headers["content-type"]) headers["content-type"] = "application/json";
    if (o.as) {
      headers.cookie = o.as.cookie;
      if (o.csrf !== false) headers["x-csrf-token"] = o.as.csrfToken;
    }
    if (o.bearer) headers.authorization = `Bearer ${o.bearer}`;
    const body = o.body === undefined ? undefined : typeof o.body === "string" ? o.body : JSON.stringify(o.body);
    const env = o.ip ? { incoming: { socket: { remoteAddress: o.ip, remotePort: 40000, remoteFamily: o.ip.includes(":") ? "IPv6" : "IPv4" } } } : undefined;
    return app.request(`${ORIGIN}${path}`, { method, headers, body }, env);
  }

  return { app, deps, db, clock, logs, request };
}

let counter = 0;
export function uniqueEmail(prefix = "user"): string {
  counter += 1;
  return `${prefix}${counter}-${process.pid}@example.com`;
}

export async function signUp(t: TestApp, email = uniqueEmail(), password = "correct horse battery"): Promise<Session> {
  const res = await t.request("POST", "/api/auth/signup", { body: { email, password } });
  if (res.status !== 201) throw new Error(`signup failed: ${res.status} ${await res.text()}`);
  const json = (await res.json()) as { csrfToken: string; user: { workspaceId: string } };
  const setCookie = res.headers.get("set-cookie") ?? "";
  const cookie = setCookie.split(";")[0] ?? "";
  return { cookie, csrfToken: json.csrfToken, email, workspaceId: json.user.workspaceId };
}

/**
 * A connection row written straight to the database, for tests of services that read
 * connections but never call AC: no key check, a placeholder key. Its id is `id` (default:
 * `conn_` and the name in lower case).
 */
export function storedConnection(t: TestApp, workspaceId: string, name: string, id = `conn_${name.toLowerCase()}`): string {
  t.db
    .insert(schema.connections)
    .values({ id, workspaceId, name, apiUrl: "https://acct.api-us1.com", apiKeyCiphertext: "x", keyHint: "abcd", createdAt: new Date(t.clock.now()) })
    .run();
  return id;
}

/**
 * A run row of `workspaceId` (scope: all contacts; undeliverable unsubscribed), created at
 * `createdAt`, in `status` with `values` over it: for tests of the stores, without a connection.
 */
export function storedRun(db: Db, clock: Clock, workspaceId: string, o: { createdAt: Date; status?: RunStatus; values?: Partial<RunRow> }): RunRow {
  const row = insertRun(db, {
    id: newId("run", clock.now()),
    workspaceId,
    connectionId: null,
    connectionName: "Main",
    scope: JSON.stringify({ kind: "all" }),
    actions: JSON.stringify({ deliverable: "keep", risky: "keep", undeliverable: "unsubscribe", unknown: "keep", overrides: [] }),
    createdAt: o.createdAt,
  });
  return db
    .update(schema.runs)
    .set({ status: o.status ?? "queued", ...o.values })
    .where(eq(schema.runs.id, row.id))
    .returning()
    .get()!;
}

/** The AppError `fn` throws; fails the test when it throws something else or nothing. */
export function refusal(fn: () => unknown): AppError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(AppError);
    return err as AppError;
  }
  throw new Error("expected an AppError");
}
