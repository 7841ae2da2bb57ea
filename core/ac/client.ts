import type { Dispatcher } from "undici";
import { z } from "zod";
import type { Clock } from "../lib/clock.ts";
import type { Logger } from "../logger.ts";
import {
  AUTH_MESSAGE,
  AcError,
  API_URL_HINT,
  isContactGone,
  UNREACHABLE_MESSAGE,
  type AcErrorDetail,
} from "./errors.ts";
import { realSleep, type AcLimiter, type AcLimiters, type Sleep } from "./limiter.ts";
import { createGuardedDispatcher, normalizeApiUrl } from "./url.ts";
import { fetchHttp, NotSentError, type AcHttp, type AcHttpReply } from "./http.ts";
import {
  contactBody,
  contactListsBody,
  contactsPage,
  contactTagsBody,
  createdField,
  createdTag,
  fieldsPage,
  fieldValuesBody,
  importInfoBody,
  importQueued,
  meBody,
  namedPage,
  oneContact,
  threadShapes,
  webhookBody,
  webhookRow,
  webhooksPage,
  type ThreadShape,
} from "./shapes.ts";
import { API_KEY_SHAPE } from "../domain/connection.ts";
import { AC_ID_SHAPE } from "../domain/scope-actions.ts";

export type AcMethod = "GET" | "POST" | "PUT" | "DELETE";

export type AcScope = { kind: "all" } | { kind: "list"; listId: string } | { kind: "tag"; tagId: string };

export interface AcUser {
  id: string;
  username: string;
  email: string;
  firstName: string;
  lastName: string;
}

export interface AcNamed {
  id: string;
  name: string;
}

/** Status on one list: 0 unconfirmed, 1 active, 2 unsubscribed, 3 bounced. */
export interface AcListMembership {
  listId: string;
  status: number;
  /** AC's `udate` of the membership, when it sent one (GET /contacts/{id}/contactLists does). */
  updated?: string | null;
}

export interface AcContact {
  id: string;
  email: string;
  firstName: string;
  lastName: string;
  bouncedHard: boolean;
  bouncedSoft: boolean;
  lists: AcListMembership[];
  /** When AC created it (its `cdate`, ISO with an offset); given by pages read with `updatedAfter`. */
  createdAt?: string;
}

export interface AcContactPage {
  contacts: AcContact[];
  /** AC's meta.total: contacts matching the query (on the first page, the whole scope). */
  total: number;
  /** The highest id on the page: pass it as `afterId` for the next one. Null when empty. */
  lastId: string | null;
}

export interface PageContactsOptions {
  scope: AcScope;
  /** Keyset cursor: only contacts with a larger id. Null or absent for the first page. */
  afterId?: string | null;
  /** Only contacts with a smaller id (AC's id_less): bounds one shard of a parallel walk. */
  belowId?: string | null;
  /** Page size, at most 100 (AC's cap). */
  limit?: number;
  /** Fill `lists` for each contact (sideloaded, or one request per contact as a fallback). */
  includeLists?: boolean;
  /** Only contacts created or updated after this instant (AC's filters[updated_after]); the page then carries `createdAt`. */
  updatedAfter?: string;
  signal?: AbortSignal;
}

type QueryValue = string | number | boolean | null | undefined;

export interface AcRequestOptions {
  /** An array is sent as the key repeated (`ids[]=1&ids[]=2`). */
  query?: Record<string, QueryValue | readonly (string | number)[]>;
  body?: unknown;
  signal?: AbortSignal | undefined;
  /**
   * Whether sending the request twice does no harm, so 5xx, timeouts and network errors may
   * be retried. Defaults to true for GET and DELETE only. 429s are retried for every method:
   * AC did not process the request.
   */
  idempotent?: boolean;
  /** A bulk import of this many contacts: it also waits for AC's per-minute import window. */
  importOf?: number;
}

/** `read`'s: a shape the HTTP thread may check the answer with. */
type SendOptions = AcRequestOptions & { shape?: ThreadShape };

/** An answer the HTTP thread parsed and checked with the request's shape. */
class Checked {
  constructor(readonly value: unknown) {}
}

const THREAD_SHAPE_NAMES = new Map<z.ZodType, ThreadShape>(Object.entries(threadShapes).map(([name, shape]) => [shape, name as ThreadShape]));

export interface AcClientStats {
  /** Every HTTP request sent to AC, retries included: a run's "AC request count". */
  requests: number;
  retries: number;
  /** 429 answers received. */
  rateLimited: number;
}

type Opts = { signal?: AbortSignal | undefined };

/** A contact custom field; `lists` holds the ids of the lists it is attached to ("0": all lists). */
export interface AcField {
  id: string;
  title: string;
  type: string;
  perstag: string;
  lists: string[];
}

/** A tag on a contact: the contactTag's own id (what DELETE /contactTags/{id} takes) and the tag's. */
export interface AcContactTag {
  id: string;
  tagId: string;
}

export interface AcFieldValue {
  /** The fieldValue's own id (PUT /fieldValues/{id}). */
  id: string;
  fieldId: string;
  value: string;
}

/**
 * A contact as re-read before it is written to. `tags` and `fieldValues` are null when AC
 * left the sideload out (it is undocumented): then they are unknown, not empty.
 */
export interface AcContactState {
  id: string;
  email: string;
  tags: AcContactTag[] | null;
  fieldValues: AcFieldValue[] | null;
}

/**
 * A contact's whole record as AC has it now (issue 14's backup before a delete): its own
 * fields, every list membership with its status, its custom field values and its tags.
 */
export interface AcContactRecord {
  id: string;
  email: string;
  firstName: string;
  lastName: string;
  phone: string;
  /** AC's own dates, as AC sent them. */
  cdate: string;
  udate: string;
  lists: AcListMembership[];
  fieldValues: { fieldId: string; value: string }[];
  tagIds: string[];
}

/** One contact of a bulk import. Only these keys: an import never subscribes or unsubscribes. */
export interface AcImportContact {
  email: string;
  fields?: { id: number; value: string }[];
  tags?: string[];
}

/** GET /import/info: `status` is null while AC does not know the batch yet (it answers `false` in the first second). */
export interface AcImportInfo {
  status: string | null;
  /** Ids of contacts the import created. */
  created: string[];
  /** E-mail addresses the import did not take. */
  failed: string[];
}

export interface AcClient {
  /** The normalized base URL, e.g. https://acct.api-us1.com. */
  readonly baseUrl: string;
  readonly host: string;
  readonly stats: Readonly<AcClientStats>;
  /** The last RateLimit-Remaining AC sent to this client, or null. */
  readonly rateLimitRemaining: number | null;
  request<T = unknown>(method: AcMethod, path: string, opts?: AcRequestOptions): Promise<T>;
  getMe(opts?: Opts): Promise<AcUser>;
  listLists(opts?: Opts): Promise<AcNamed[]>;
  listTags(opts?: Opts): Promise<AcNamed[]>;
  pageContacts(opts: PageContactsOptions): Promise<AcContactPage>;
  /** The highest contact id in a scope and how many contacts it holds (one request). */
  contactIdRange(opts: { scope: AcScope; signal?: AbortSignal }): Promise<{ maxId: string | null; total: number }>;
  /** Every page of a scope in id order, from `afterId` on (resume a run with its last id). */
  contactPages(opts: PageContactsOptions): AsyncGenerator<AcContactPage, void, undefined>;
  getContactLists(contactId: string, opts?: Opts): Promise<AcListMembership[]>;
  /**
   * Sets the contact's status on the list to 2. There is deliberately no way to send 1.
   * `contactGone`: AC no longer has the contact (deleted since it was read).
   */
  unsubscribe(contactId: string, listId: string, opts?: Opts): Promise<{ contactGone: boolean; updated?: string | null }>;
  /**
   * The undo of Listwarden's own unsubscribe (issue 14): status 1 with sourceid 4. The only
   * way this client sends status 1; the undo stage calls it only for a membership its run
   * unsubscribed and that AC still shows as the run left it.
   */
  restoreSubscription(contactId: string, listId: string, opts?: Opts): Promise<void>;
  deleteContact(contactId: string, opts?: Opts): Promise<{ alreadyGone: boolean }>;

  // Labels (issue 17): custom fields, tags on contacts, bulk import.
  /** Every contact custom field, with the lists each is attached to. */
  listFields(opts?: Opts): Promise<AcField[]>;
  /** Creates a text field. Not resent blindly: a lost answer is checked by listing the fields. */
  createField(input: { title: string; description: string }, opts?: Opts): Promise<{ id: string }>;
  /** Attaches a field to every list (relid 0). */
  attachFieldToAllLists(fieldId: string, opts?: Opts): Promise<void>;
  /** Tags whose name contains `search`. */
  findTags(search: string, opts?: Opts): Promise<AcNamed[]>;
  createTag(name: string, description: string, opts?: Opts): Promise<{ id: string }>;
  /**
   * The contacts with these ids (at most 100) as AC has them now, with their tags and field
   * values sideloaded. A contact absent from the answer no longer exists.
   */
  readContacts(ids: string[], opts?: Opts & { tags?: boolean; fieldValues?: boolean }): Promise<AcContactState[]>;
  getContactTags(contactId: string, opts?: Opts): Promise<AcContactTag[]>;
  /**
   * The contact's whole record (GET /contacts/{id}, its sideloaded contactLists and
   * fieldValues, asked for apart when AC leaves them out, and its contactTags); null when the
   * contact no longer exists.
   */
  readContactRecord(contactId: string, opts?: Opts): Promise<AcContactRecord | null>;
  getContactFieldValues(contactId: string, opts?: Opts): Promise<AcFieldValue[]>;
  /**
   * Queues a bulk import (at most 250 contacts). Never resent by the client after an answer
   * that may have been lost: the caller re-reads and decides.
   */
  bulkImport(input: { contacts: AcImportContact[]; excludeAutomations: boolean }, opts?: Opts): Promise<{ batchId: string }>;
  importInfo(batchId: string, opts?: Opts): Promise<AcImportInfo>;
  /** Sets a contact's field value: PUT on the value's id when known, POST otherwise. */
  setFieldValue(input: { contactId: string; fieldId: string; value: string; valueId?: string | null }, opts?: Opts): Promise<{ contactGone: boolean }>;
  addContactTag(contactId: string, tagId: string, opts?: Opts): Promise<{ contactGone: boolean }>;
  removeContactTag(contactTagId: string, opts?: Opts): Promise<{ alreadyGone: boolean }>;

  // Monitoring (issue 18): one contact as AC has it now, and webhooks.
  /** The contact with its list memberships (GET /contacts/{id}), or null when AC no longer has it. */
  getContact(contactId: string, opts?: Opts): Promise<AcContact | null>;
  /** Registers a webhook. Never resent blindly: after a lost answer the caller lists the webhooks and looks for its URL. */
  createWebhook(input: AcWebhookInput, opts?: Opts): Promise<AcWebhook>;
  listWebhooks(opts?: Opts): Promise<AcWebhook[]>;
  /** The webhook, or null when AC no longer has it (deleted, or deactivated and removed). */
  getWebhook(id: string, opts?: Opts): Promise<AcWebhook | null>;
  deleteWebhook(id: string, opts?: Opts): Promise<{ alreadyGone: boolean }>;
}

export interface AcWebhookInput {
  name: string;
  url: string;
  events: string[];
  sources: string[];
}

export interface AcWebhook extends AcWebhookInput {
  id: string;
  /** "0" for every list. */
  listId: string;
}

/** AC's cap on contacts per bulk import, and on its body (developers.activecampaign.com/reference/bulk-import-contacts). */
export const IMPORT_MAX_CONTACTS = 250;
export const IMPORT_MAX_BYTES = 399_999;
/** Ids per re-read: AC pages contacts by 100. */
export const READ_MAX_IDS = 100;

export interface AcClientOptions {
  /** As the user typed it or as stored; normalized (and validated) here. */
  apiUrl: string;
  apiKey: string;
  /** The process-wide registry: requests to one AC account share one limiter. */
  limiters: AcLimiters;
  /** Per attempt, from when the request leaves the queue. */
  timeoutMs?: number;
  /** Attempts per request, the first included. */
  maxTries?: number;
  allowPrivateHosts?: boolean;
  /** Defaults to the global fetch, looked up at call time so msw can intercept it. */
  fetch?: typeof fetch;
  /**
   * Sends the requests elsewhere, e.g. the process's HTTP thread (http-threads.ts); `fetch`
   * and `dispatcher` are then not used. Defaults to `fetch` in this thread.
   */
  http?: AcHttp;
  /**
   * The connection pool used when private hosts are not allowed. Defaults to one guarded
   * Agent shared by the process; pass another (e.g. a guarded one with its own DNS lookup).
   */
  dispatcher?: Dispatcher;
  logger?: Logger;
  /** Waits between retries (backoff); tests inject one. */
  sleep?: Sleep;
  clock?: Clock;
  /** Jitter source, [0, 1). */
  random?: () => number;
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** Longest Retry-After honoured; longer requests are cut to this. */
  maxRetryAfterMs?: number;
}

/**
 * Production requests go through one guarded undici Agent per process so connections (and
 * their keep-alive pool) are shared; it refuses non-public addresses at connect time, after
 * DNS, which is what stops DNS rebinding. Created on first use; tests never touch it (msw
 * replaces globalThis.fetch and ignores the dispatcher).
 */
let guardedDispatcher: Dispatcher | undefined;
const defaultGuardedDispatcher = () => (guardedDispatcher ??= createGuardedDispatcher());

const DIGITS = AC_ID_SHAPE;
const IMPORT_PATH = "/api/3/import/bulk_import";
/** How long imports wait after AC said its per-minute import cap was reached. */
const IMPORT_LIMIT_PAUSE_MS = 60_000;
const PAGE_SIZE = 100;
/**
 * The most of one response the client reads. AC's pages are a few hundred kB (100 contacts
 * with their list memberships); an API URL can point anywhere, and a server that answers
 * with gigabytes must not be able to fill this process's memory.
 */
export const MAX_RESPONSE_BYTES = 4 * 1024 * 1024;

export function createAcClient(opts: AcClientOptions): AcClient {
  const allowPrivateHosts = opts.allowPrivateHosts ?? false;
  const baseUrl = normalizeApiUrl(opts.apiUrl, { allowPrivateHosts });
  const host = new URL(baseUrl).host;
  const apiKey = opts.apiKey.trim();
  const limiter: AcLimiter = opts.limiters.forHost(host);
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const maxTries = Math.max(1, opts.maxTries ?? 5);
  const sleep = opts.sleep ?? realSleep;
  const clock = opts.clock;
  const now = clock ? () => clock.now() : () => Date.now();
  const random = opts.random ?? Math.random;
  const backoffBaseMs = opts.backoffBaseMs ?? 500;
  const backoffMaxMs = opts.backoffMaxMs ?? 8_000;
  const maxRetryAfterMs = opts.maxRetryAfterMs ?? 60_000;
  // With `http` given, this thread's fetch and connection pool are not used, nor created.
  const http: AcHttp =
    opts.http ??
    fetchHttp(opts.fetch ?? ((input, init) => globalThis.fetch(input, init)), allowPrivateHosts ? undefined : (opts.dispatcher ?? defaultGuardedDispatcher()));
  const log = opts.logger;
  const stats: AcClientStats = { requests: 0, retries: 0, rateLimited: 0 };
  let rateLimitRemaining: number | null = null;

  /** Belt and braces: AC should never echo the key, but if it did it stops here. */
  const scrub = (text: string) => (apiKey.length >= 4 ? text.split(apiKey).join("[redacted]") : text);

  const backoffMs = (attempt: number) => {
    const full = Math.min(backoffMaxMs, backoffBaseMs * 2 ** (attempt - 1));
    return Math.round(full / 2 + (random() * full) / 2);
  };

  function request<T = unknown>(method: AcMethod, path: string, ro: AcRequestOptions = {}): Promise<T> {
    return send<T>(method, path, ro, false);
  }

  /**
   * `undoing`: the one request that may carry status 1, the undo of Listwarden's own
   * unsubscribe (`restoreSubscription`); not reachable through `request`.
   */
  async function send<T = unknown>(method: AcMethod, path: string, ro: SendOptions, undoing: boolean): Promise<T> {
    if (!/^\/api\/3(?:\/[A-Za-z0-9_-]+)+$/.test(path)) throw new TypeError(`AC path must look like /api/3/contacts, got ${path}`);
    if (undoing) assertOnlyRestores(path, ro.body);
    else assertNeverResubscribes(path, ro.body);
    assertImportTouchesNoList(path, ro.body);
    if (!API_KEY_SHAPE.test(apiKey)) {
      throw new AcError("auth", `${AUTH_MESSAGE}: the key is empty or has characters an API key cannot have`);
    }
    const url = new URL(baseUrl + path);
    for (const [k, v] of Object.entries(ro.query ?? {})) {
      if (Array.isArray(v)) for (const item of v) url.searchParams.append(k, String(item));
      else if (v !== undefined && v !== null) url.searchParams.set(k, String(v));
    }
    const idempotent = ro.idempotent ?? (method === "GET" || method === "DELETE");
    const signal = ro.signal;

    for (let attempt = 1; ; attempt++) {
      try {
        const send = (startedAt: number) => attemptOnce<T>(method, url, ro, attempt, startedAt);
        return await (ro.importOf !== undefined
          ? limiter.scheduleImport(send, { signal, contacts: ro.importOf })
          : limiter.schedule(send, { signal, priority: attempt > 1 ? 1 : 0 }));
      } catch (err) {
        if (signal?.aborted) throw signal.reason;
        // Stryker disable next-line ConditionalExpression: an error that is not an AcError has no kind or retryable, so the checks below throw it as it is
        if (!(err instanceof AcError)) throw err;
        const last = attempt >= maxTries;
        if (err.kind === "rate_limited") {
          stats.rateLimited += 1;
          // Every request to this account would get the same answer: hold the whole host
          // (or, for the bulk import's own cap, every import to it).
          // Stryker disable next-line LogicalOperator: the imports cap's error always carries its retryAfterMs (interpret sets it), so ?? and && give the same
          if (err.limit === "imports") limiter.pauseImports(err.retryAfterMs ?? IMPORT_LIMIT_PAUSE_MS);
          else {
            limiter.noteRateLimited();
            limiter.pauseFor(Math.min(err.retryAfterMs ?? backoffMs(attempt), maxRetryAfterMs));
          }
          if (last) {
            throw new AcError(
              "rate_limited",
              `ActiveCampaign kept answering "too many requests" after ${attempt} tries; another app may be using this account's 5 requests per second. Try again later.`,
              { status: 429, retryAfterMs: err.retryAfterMs, cause: err },
            );
          }
        } else {
          // A request that never left (its HTTP thread stopped first) is sent again even when
          // sending it twice would do it twice.
          if (!err.retryable || !(idempotent || err.notSent) || last) throw err;
          if (err.retryAfterMs !== undefined) limiter.pauseFor(Math.min(err.retryAfterMs, maxRetryAfterMs));
          else await sleep(backoffMs(attempt), signal);
        }
        stats.retries += 1;
        log?.warn({ host, method, path, attempt, kind: err.kind, status: err.status }, "AC request retried");
      }
    }
  }

  async function attemptOnce<T>(method: AcMethod, url: URL, ro: SendOptions, attempt: number, startedAt: number): Promise<T> {
    stats.requests += 1;
    const timeout = AbortSignal.timeout(timeoutMs);
    const callerSignal = ro.signal;
    const signal = callerSignal ? AbortSignal.any([callerSignal, timeout]) : timeout;
    const headers: Record<string, string> = { "Api-Token": apiKey, Accept: "application/json", "User-Agent": "Listwarden" };
    if (ro.body !== undefined) headers["Content-Type"] = "application/json";
    const started = now();
    let reply: AcHttpReply;
    try {
      reply = await http(
        {
          method,
          url: url.href,
          headers,
          ...(ro.body === undefined ? {} : { body: JSON.stringify(ro.body) }),
          maxBytes: MAX_RESPONSE_BYTES,
          guarded: !allowPrivateHosts,
          ...(ro.shape ? { shape: ro.shape } : {}),
        },
        signal,
      );
    } catch (err) {
      // Stryker disable next-line ConditionalExpression: send's catch throws the caller's abort reason first, whatever error this one becomes
      if (callerSignal?.aborted) throw callerSignal.reason;
      const mapped = timeout.aborted
        ? new AcError("timeout", `ActiveCampaign did not answer within ${Math.round(timeoutMs / 100) / 10} s`, { retryable: true, cause: err })
        : networkError(err);
      log?.debug({ host, method, path: url.pathname, attempt, kind: mapped.kind, ms: now() - started }, "AC request failed");
      throw mapped;
    }
    // Counted when it was handed over; it left when undici wrote it, later if the HTTP thread
    // was busy or starting, or a connection was opening.
    const leftAt = startedAt + reply.delayMs;
    if (reply.delayMs > 0) limiter.noteSent(startedAt, leftAt);
    // The round trip to the answer's headers: its spread sizes the limiter's window margin.
    limiter.noteLatency(reply.latencyMs);
    // Stryker disable next-line StringLiteral: without the header any string that is not a number parses to NaN, as "" does
    const remaining = Number.parseInt(reply.headers["ratelimit-remaining"] ?? "", 10);
    if (Number.isFinite(remaining)) {
      rateLimitRemaining = remaining;
      // Against its start where the limiter now keeps it: around the old one, this request would
      // be missing from our own, and a 0 would look like someone else's.
      limiter.noteRemaining(remaining, leftAt);
    }
    log?.debug({ host, method, path: url.pathname, attempt, status: reply.status, ms: now() - started }, "AC request");
    return interpret<T>(method, url, reply, ro.shape);
  }

  function interpret<T>(method: AcMethod, url: URL, reply: AcHttpReply, shape: ThreadShape | undefined): T {
    const { status, text } = reply;
    if (status >= 200 && status < 300) {
      // Parsed and checked in the HTTP thread: `read` takes it as it is.
      if (shape && reply.value !== undefined) return new Checked(reply.value) as T;
      if (text.trim() === "") {
        if (method === "DELETE" || status === 204) return {} as T;
        throw new AcError("bad_response", "ActiveCampaign sent an empty response", { status, retryable: true });
      }
      if (/text\/html/i.test(reply.headers["content-type"] ?? "")) {
        throw new AcError("bad_response", `That API URL answered with a web page, not the ActiveCampaign API. ${API_URL_HINT}`, { status });
      }
      try {
        return JSON.parse(text) as T;
      } catch (err) {
        throw new AcError("bad_response", "ActiveCampaign sent a response that is not valid JSON (cut short?)", { status, retryable: true, cause: err });
      }
    }
    if (status >= 300 && status < 400) {
      throw new AcError("invalid_url", `${API_URL_HINT}: that address redirects elsewhere`, { status });
    }
    const { message, details } = readErrorBody(scrub(text));
    // The bulk importer answers its per-minute cap with a 400 and a message, not a 429: AC did
    // nothing, so it is weather, and only imports wait.
    // Each text is read alone: "rate" ending one title and "limit" starting the next is not the cap.
    // Stryker disable next-line ArrayDeclaration: with no details, a made-up entry has no title that could say "rate limit"
    if (status === 400 && url.pathname === IMPORT_PATH && [message, ...(details ?? []).map((d) => d.title)].some((t) => /rate limit/i.test(String(t)))) {
      throw new AcError("rate_limited", "ActiveCampaign's bulk import limit was reached (100 imports per minute per account)", {
        status,
        // Stryker disable next-line BooleanLiteral: this error is thrown only as the cause of send's own rate_limited error; send retries it by its kind
        retryable: true,
        retryAfterMs: IMPORT_LIMIT_PAUSE_MS,
        limit: "imports",
        // Stryker disable next-line ObjectLiteral: as above, only ever a cause
        ...(details ? { details } : {}),
      });
    }
    const said = details?.length ? details.map(describeDetail).join("; ") : (message ?? "");
    const retryAfterMs = parseRetryAfter(reply.headers["retry-after"] ?? null, now());
    const base = { status, ...(details ? { details } : {}) };
    if (status === 401 || status === 403) throw new AcError("auth", AUTH_MESSAGE, base);
    if (status === 404) throw new AcError("not_found", said || `ActiveCampaign has nothing at ${url.pathname}`, base);
    if (status === 429) {
      // Stryker disable next-line BooleanLiteral: a 429 is retried by its kind and thrown only as the cause of send's own rate_limited error
      throw new AcError("rate_limited", "ActiveCampaign answered: too many requests", { ...base, retryable: true, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) });
    }
    if (status === 408 || status === 500 || status === 502 || status === 503 || status === 504) {
      throw new AcError("server", `ActiveCampaign had a problem (HTTP ${status})${said ? `: ${said}` : ""}`, {
        ...base,
        retryable: true,
        ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
      });
    }
    if (status >= 500) throw new AcError("server", `ActiveCampaign had a problem (HTTP ${status})${said ? `: ${said}` : ""}`, base);
    throw new AcError("validation", `ActiveCampaign rejected the request${said ? `: ${said}` : ` (HTTP ${status})`}`, base);
  }

  async function read<S extends z.ZodType>(schema: S, method: AcMethod, path: string, ro: AcRequestOptions = {}): Promise<z.output<S>> {
    const shape = THREAD_SHAPE_NAMES.get(schema);
    const raw = await send<unknown>(method, path, shape ? { ...ro, shape } : ro, false);
    if (raw instanceof Checked) return raw.value as z.output<S>;
    const parsed = schema.safeParse(raw);
    if (!parsed.success) {
      throw new AcError("bad_response", `ActiveCampaign sent an unexpected response to ${method} ${path}`, { cause: parsed.error });
    }
    return parsed.data;
  }

  async function pageAll(path: string, pick: (body: z.output<typeof namedPage>) => AcNamed[], signal?: AbortSignal): Promise<AcNamed[]> {
    const seen = new Map<string, AcNamed>();
    for (let offset = 0; ; ) {
      const body = await read(namedPage, "GET", path, { query: { limit: PAGE_SIZE, offset }, signal });
      const items = pick(body);
      let added = 0;
      for (const item of items) {
        if (seen.has(item.id)) continue;
        seen.set(item.id, item);
        added += 1;
      }
      offset += items.length;
      const total = Number(body.meta?.total);
      const done = Number.isFinite(total) ? offset >= total : items.length < PAGE_SIZE;
      if (items.length === 0 || added === 0 || done) return [...seen.values()];
    }
  }

  /** DELETE of something that may be gone already (AC answers 404): either way it is gone now. */
  async function deleteOnce(path: string, signal: AbortSignal | undefined): Promise<{ alreadyGone: boolean }> {
    try {
      await request("DELETE", path, { signal });
      return { alreadyGone: false };
    } catch (err) {
      if (err instanceof AcError && err.kind === "not_found") return { alreadyGone: true };
      throw err;
    }
  }

  async function getContactLists(contactId: string, o: Opts = {}): Promise<AcListMembership[]> {
    // Stryker disable next-line StringLiteral: the name is only in the words of the TypeError
    assertId(contactId, "contactId");
    const body = await read(contactListsBody, "GET", `/api/3/contacts/${contactId}/contactLists`, { signal: o.signal });
    return body.contactLists.map((cl) => ({ listId: cl.list, status: cl.status, updated: cl.udate }));
  }

  async function pageContacts(o: PageContactsOptions): Promise<AcContactPage> {
    const limit = Math.min(PAGE_SIZE, Math.max(1, Math.trunc(o.limit ?? PAGE_SIZE)));
    const afterId = o.afterId ?? null;
    const belowId = o.belowId ?? null;
    for (const [name, v] of [["afterId", afterId], ["belowId", belowId]] as const) {
      if (v !== null && !/^\d{1,19}$/.test(v)) throw new TypeError(`${name} must be digits, got ${JSON.stringify(v)}`);
    }
    const includeLists = o.includeLists ?? true;
    const scope = o.scope;
    if (scope.kind === "list") assertId(scope.listId, "listId");
    if (scope.kind === "tag") assertId(scope.tagId, "tagId");
    // Keyset paging, as AC recommends: offsets skip contacts when earlier ones are deleted.
    const body = await read(contactsPage, "GET", "/api/3/contacts", {
      signal: o.signal,
      query: {
        "orders[id]": "ASC",
        id_greater: afterId ?? "0",
        id_less: belowId ?? undefined,
        limit,
        listid: scope.kind === "list" ? scope.listId : undefined,
        tagid: scope.kind === "tag" ? scope.tagId : undefined,
        include: includeLists ? "contactLists" : undefined,
        "filters[updated_after]": o.updatedAfter,
      },
    });
    const floor = BigInt(afterId ?? "0");
    let lastId: bigint | null = null;
    for (const c of body.contacts) {
      const id = BigInt(c.id);
      // Guards the loop: an AC that ignored id_greater would hand us the same page forever.
      if (id <= floor) throw new AcError("bad_response", "ActiveCampaign ignored id_greater while paging contacts");
      if (lastId === null || id > lastId) lastId = id;
    }

    let listsOf: (id: string) => AcListMembership[] = () => [];
    if (includeLists && body.contactLists) {
      const byContact = new Map<string, AcListMembership[]>();
      for (const cl of body.contactLists) {
        const entry = byContact.get(cl.contact) ?? [];
        entry.push({ listId: cl.list, status: cl.status });
        byContact.set(cl.contact, entry);
      }
      listsOf = (id) => byContact.get(id) ?? [];
    } else if (includeLists) {
      // Sideloading is undocumented: when AC leaves it out, ask per contact (rate-limited).
      const fetched = await Promise.all(
        body.contacts.map(async (c): Promise<[string, AcListMembership[]]> => {
          try {
            // A page's contacts carry list and status only, as the sideload gives them.
            return [c.id, (await getContactLists(c.id, { signal: o.signal })).map(({ listId, status }) => ({ listId, status }))];
          } catch (err) {
            if (err instanceof AcError && err.kind === "not_found") return [c.id, []]; // deleted meanwhile
            throw err;
          }
        }),
      );
      const byContact = new Map<string, AcListMembership[]>(fetched);
      listsOf = (id) => byContact.get(id) ?? [];
    }

    const total = Number(body.meta?.total);
    return {
      contacts: body.contacts.map((c) => ({ ...contactOf(c, listsOf(c.id)), ...(o.updatedAfter !== undefined ? { createdAt: c.cdate } : {}) })),
      total: Number.isFinite(total) ? total : body.contacts.length,
      lastId: lastId === null ? null : String(lastId),
    };
  }

  return {
    baseUrl,
    host,
    stats,
    get rateLimitRemaining() {
      return rateLimitRemaining;
    },
    request,
    async getMe(o = {}) {
      const body = await read(meBody, "GET", "/api/3/users/me", { signal: o.signal });
      return body.user;
    },
    listLists: (o = {}) => pageAll("/api/3/lists", (b) => (b.lists ?? []).map((l) => ({ id: l.id, name: l.name ?? "" })), o.signal),
    listTags: (o = {}) => pageAll("/api/3/tags", (b) => (b.tags ?? []).map((t) => ({ id: t.id, name: t.tag ?? "" })), o.signal),
    pageContacts,
    async contactIdRange(o) {
      const scope = o.scope;
      const body = await read(contactsPage, "GET", "/api/3/contacts", {
        signal: o.signal,
        query: {
          "orders[id]": "DESC",
          limit: 1,
          listid: scope.kind === "list" ? scope.listId : undefined,
          tagid: scope.kind === "tag" ? scope.tagId : undefined,
        },
      });
      const total = Number(body.meta?.total);
      return { maxId: body.contacts[0]?.id ?? null, total: Number.isFinite(total) ? total : body.contacts.length };
    },
    async *contactPages(o) {
      const limit = Math.min(PAGE_SIZE, Math.max(1, Math.trunc(o.limit ?? PAGE_SIZE)));
      let afterId = o.afterId ?? null;
      for (;;) {
        const page = await pageContacts({ ...o, limit, afterId });
        if (page.contacts.length > 0) yield page;
        if (page.contacts.length < limit || page.lastId === null) return;
        afterId = page.lastId;
      }
    },
    getContactLists,
    async unsubscribe(contactId, listId, o = {}) {
      // Stryker disable next-line StringLiteral: the name is only in the words of the TypeError
      assertId(contactId, "contactId");
      // Stryker disable next-line StringLiteral: as above
      assertId(listId, "listId");
      // Not resent blindly after an answer that may have been lost (5xx, timeout, reset): AC
      // may have applied it, and every change is applied at most once. The caller looks at
      // the contact's lists before sending it again. 429s are still retried (AC did nothing).
      try {
        const answer = await request<unknown>("POST", "/api/3/contactLists", {
          body: { contactList: { list: Number(listId), contact: Number(contactId), status: 2 } },
          idempotent: false,
          signal: o.signal,
        });
        return { contactGone: false, updated: updatedOf(answer) };
      } catch (err) {
        if (err instanceof AcError && isContactGone(err)) return { contactGone: true };
        throw err;
      }
    },
    async restoreSubscription(contactId, listId, o = {}) {
      // Stryker disable next-line StringLiteral: as in unsubscribe, the name is only in the words of the TypeError
      assertId(contactId, "contactId");
      // Stryker disable next-line StringLiteral: as above
      assertId(listId, "listId");
      // Never resent blindly either: the undo stage re-reads the membership first.
      await send("POST", "/api/3/contactLists", {
        body: { contactList: { list: Number(listId), contact: Number(contactId), status: 1, sourceid: 4 } },
        idempotent: false,
        signal: o.signal,
      }, true);
    },
    async listFields(o = {}) {
      const byId = new Map<string, AcField>();
      for (let offset = 0; ; ) {
        const body = await read(fieldsPage, "GET", "/api/3/fields", { query: { limit: PAGE_SIZE, offset }, signal: o.signal });
        let added = 0;
        for (const f of body.fields) {
          if (byId.has(f.id)) continue;
          byId.set(f.id, { id: f.id, title: f.title, type: f.type, perstag: f.perstag, lists: [] });
          added += 1;
        }
        for (const rel of body.fieldRels ?? []) byId.get(rel.field)?.lists.push(rel.relid);
        offset += body.fields.length;
        const total = Number(body.meta?.total);
        const done = Number.isFinite(total) ? offset >= total : body.fields.length < PAGE_SIZE;
        if (body.fields.length === 0 || added === 0 || done) return [...byId.values()];
      }
    },
    async createField(input, o = {}) {
      const body = await read(createdField, "POST", "/api/3/fields", {
        body: { field: { title: input.title, type: "text", descript: input.description, visible: 1 } },
        idempotent: false,
        signal: o.signal,
      });
      return { id: body.field.id };
    },
    async attachFieldToAllLists(fieldId, o = {}) {
      assertId(fieldId, "fieldId");
      await request("POST", "/api/3/fieldRels", { body: { fieldRel: { field: Number(fieldId), relid: 0 } }, idempotent: false, signal: o.signal });
    },
    async findTags(search, o = {}) {
      const seen = new Map<string, AcNamed>();
      for (let offset = 0; ; ) {
        const body = await read(namedPage, "GET", "/api/3/tags", { query: { search, limit: PAGE_SIZE, offset }, signal: o.signal });
        const items = (body.tags ?? []).map((t) => ({ id: t.id, name: t.tag ?? "" }));
        let added = 0;
        for (const t of items) if (!seen.has(t.id)) (seen.set(t.id, t), (added += 1));
        offset += items.length;
        const total = Number(body.meta?.total);
        const done = Number.isFinite(total) ? offset >= total : items.length < PAGE_SIZE;
        if (items.length === 0 || added === 0 || done) return [...seen.values()];
      }
    },
    async createTag(name, description, o = {}) {
      const body = await read(createdTag, "POST", "/api/3/tags", { body: { tag: { tag: name, tagType: "contact", description } }, idempotent: false, signal: o.signal });
      return { id: body.tag.id };
    },
    async readContacts(ids, o = {}) {
      if (ids.length === 0) return [];
      if (ids.length > READ_MAX_IDS) throw new TypeError(`at most ${READ_MAX_IDS} ids per re-read, got ${ids.length}`);
      for (const id of ids) assertId(id, "contactId");
      const include = [o.tags ? "contactTags" : null, o.fieldValues ? "fieldValues" : null].filter(Boolean).join(",");
      const body = await read(contactsPage, "GET", "/api/3/contacts", {
        signal: o.signal,
        query: { "ids[]": ids, limit: READ_MAX_IDS, include: include || undefined },
      });
      const wanted = new Set(ids);
      // An AC that ignored the ids filter would hand back other contacts: never treat them as these.
      if (body.contacts.some((c) => !wanted.has(c.id))) throw new AcError("bad_response", "ActiveCampaign ignored the ids filter while re-reading contacts");
      const tagsOf = groupRows(body.contactTags, (t) => t.contact, (t) => ({ id: t.id, tagId: t.tag }));
      const valuesOf = groupRows(body.fieldValues, (v) => v.contact, (v) => ({ id: v.id, fieldId: v.field, value: v.value }));
      return body.contacts.map((c) => ({
        id: c.id,
        email: c.email,
        tags: o.tags && tagsOf ? (tagsOf.get(c.id) ?? []) : null,
        fieldValues: o.fieldValues && valuesOf ? (valuesOf.get(c.id) ?? []) : null,
      }));
    },
    async getContactTags(contactId, o = {}) {
      assertId(contactId, "contactId");
      const body = await read(contactTagsBody, "GET", `/api/3/contacts/${contactId}/contactTags`, { signal: o.signal });
      return body.contactTags.map((t) => ({ id: t.id, tagId: t.tag }));
    },
    async readContactRecord(contactId, o = {}) {
      assertId(contactId, "contactId");
      try {
        const body = await read(contactBody, "GET", `/api/3/contacts/${contactId}`, { signal: o.signal });
        const c = body.contact;
        const lists = body.contactLists
          ? body.contactLists.filter((cl) => cl.contact === c.id).map((cl) => ({ listId: cl.list, status: cl.status }))
          : await getContactLists(contactId, o);
        const values = body.fieldValues
          ? body.fieldValues.filter((v) => v.contact === c.id)
          : (await read(fieldValuesBody, "GET", `/api/3/contacts/${contactId}/fieldValues`, { signal: o.signal })).fieldValues;
        const tags = await read(contactTagsBody, "GET", `/api/3/contacts/${contactId}/contactTags`, { signal: o.signal });
        return {
          id: c.id,
          email: c.email,
          firstName: c.firstName,
          lastName: c.lastName,
          phone: c.phone,
          cdate: c.cdate,
          udate: c.udate,
          lists,
          fieldValues: values.map((v) => ({ fieldId: v.field, value: v.value })),
          tagIds: tags.contactTags.map((t) => t.tag),
        };
      } catch (err) {
        if (err instanceof AcError && err.kind === "not_found") return null;
        throw err;
      }
    },
    async getContactFieldValues(contactId, o = {}) {
      assertId(contactId, "contactId");
      const body = await read(fieldValuesBody, "GET", `/api/3/contacts/${contactId}/fieldValues`, { signal: o.signal });
      return body.fieldValues.map((v) => ({ id: v.id, fieldId: v.field, value: v.value }));
    },
    async bulkImport(input, o = {}) {
      const n = input.contacts.length;
      if (n === 0 || n > IMPORT_MAX_CONTACTS) throw new TypeError(`a bulk import takes 1 to ${IMPORT_MAX_CONTACTS} contacts, got ${n}`);
      // Where AC reads exclude_automations is not settled (its example puts it in each contact,
      // its note calls it a payload parameter): it is sent in both places.
      const body = {
        contacts: input.contacts.map((c) => ({ ...c, exclude_automations: input.excludeAutomations })),
        exclude_automations: input.excludeAutomations,
      };
      const bytes = Buffer.byteLength(JSON.stringify(body));
      if (bytes > IMPORT_MAX_BYTES) throw new TypeError(`a bulk import body may be at most ${IMPORT_MAX_BYTES} bytes, this one is ${bytes}`);
      const queued = await read(importQueued, "POST", IMPORT_PATH, { body, idempotent: false, importOf: n, signal: o.signal });
      return { batchId: queued.batchId };
    },
    async importInfo(batchId, o = {}) {
      const body = await read(importInfoBody, "GET", "/api/3/import/info", { query: { batchId }, signal: o.signal });
      return { status: typeof body.status === "string" && body.status !== "" ? body.status : null, created: body.success ?? [], failed: body.failure ?? [] };
    },
    async setFieldValue(input, o = {}) {
      assertId(input.contactId, "contactId");
      assertId(input.fieldId, "fieldId");
      const fieldValue = { contact: Number(input.contactId), field: Number(input.fieldId), value: input.value };
      try {
        if (input.valueId) {
          assertId(input.valueId, "valueId");
          await request("PUT", `/api/3/fieldValues/${input.valueId}`, { body: { fieldValue }, idempotent: true, signal: o.signal });
        } else {
          // Setting a value twice leaves the same value: safe to send again.
          await request("POST", "/api/3/fieldValues", { body: { fieldValue }, idempotent: true, signal: o.signal });
        }
        return { contactGone: false };
      } catch (err) {
        if (err instanceof AcError && (isContactGone(err) || (err.kind === "not_found" && !input.valueId))) return { contactGone: true };
        throw err;
      }
    },
    async addContactTag(contactId, tagId, o = {}) {
      assertId(contactId, "contactId");
      assertId(tagId, "tagId");
      try {
        await request("POST", "/api/3/contactTags", { body: { contactTag: { contact: Number(contactId), tag: Number(tagId) } }, idempotent: false, signal: o.signal });
        return { contactGone: false };
      } catch (err) {
        // AC answers 404 {"errors":[{"title":"Not Found","detail":"Contact not found"}]} for a contact that is gone.
        if (err instanceof AcError && (isContactGone(err) || err.kind === "not_found")) return { contactGone: true };
        throw err;
      }
    },
    async removeContactTag(contactTagId, o = {}) {
      assertId(contactTagId, "contactTagId");
      return deleteOnce(`/api/3/contactTags/${contactTagId}`, o.signal);
    },
    async getContact(contactId, o = {}) {
      assertId(contactId, "contactId");
      try {
        const body = await read(oneContact, "GET", `/api/3/contacts/${contactId}`, { signal: o.signal });
        const c = body.contact;
        if (c.id !== contactId) throw new AcError("bad_response", "ActiveCampaign answered with another contact than the one asked for");
        // Lists sideloaded as AC documents for this route; asked for on their own when left out.
        const lists = body.contactLists ? body.contactLists.filter((cl) => cl.contact === contactId).map((cl) => ({ listId: cl.list, status: cl.status })) : await getContactLists(contactId, o);
        return { ...contactOf(c, lists), createdAt: c.cdate };
      } catch (err) {
        if (err instanceof AcError && err.kind === "not_found") return null;
        throw err;
      }
    },
    async createWebhook(input, o = {}) {
      const body = await read(webhookBody, "POST", "/api/3/webhooks", { body: { webhook: input }, idempotent: false, signal: o.signal });
      return webhookOf(body.webhook);
    },
    async listWebhooks(o = {}) {
      const found = new Map<string, AcWebhook>();
      for (let offset = 0; ; ) {
        const body = await read(webhooksPage, "GET", "/api/3/webhooks", { query: { limit: PAGE_SIZE, offset }, signal: o.signal });
        let added = 0;
        for (const w of body.webhooks) if (!found.has(w.id)) (found.set(w.id, webhookOf(w)), (added += 1));
        offset += body.webhooks.length;
        const total = Number(body.meta?.total);
        const done = Number.isFinite(total) ? offset >= total : body.webhooks.length < PAGE_SIZE;
        if (body.webhooks.length === 0 || added === 0 || done) return [...found.values()];
      }
    },
    async getWebhook(webhookId, o = {}) {
      assertId(webhookId, "webhookId");
      try {
        return webhookOf((await read(webhookBody, "GET", `/api/3/webhooks/${webhookId}`, { signal: o.signal })).webhook);
      } catch (err) {
        if (err instanceof AcError && err.kind === "not_found") return null;
        throw err;
      }
    },
    async deleteWebhook(webhookId, o = {}) {
      assertId(webhookId, "webhookId");
      return deleteOnce(`/api/3/webhooks/${webhookId}`, o.signal);
    },
    async deleteContact(contactId, o = {}) {
      // Stryker disable next-line StringLiteral: the name is only in the words of the TypeError
      assertId(contactId, "contactId");
      try {
        // As for unsubscribes: a lost answer is checked by the caller, not answered with a second DELETE.
        await request("DELETE", `/api/3/contacts/${contactId}`, { signal: o.signal, idempotent: false });
        return { alreadyGone: false };
      } catch (err) {
        if (err instanceof AcError && err.kind === "not_found") return { alreadyGone: true };
        throw err;
      }
    },
  };
}

function assertId(value: string, name: string): void {
  if (!DIGITS.test(value)) throw new TypeError(`${name} must be an AC id (digits), got ${JSON.stringify(value)}`);
}

/**
 * Labels are written with bulk imports, which can also subscribe and unsubscribe: no import
 * from Listwarden may carry a list (an unsubscribe goes through /contactLists, one by one).
 */
function assertImportTouchesNoList(path: string, body: unknown): void {
  // Stryker disable next-line ConditionalExpression: an undefined body has no contacts, so the lines below return all the same
  if (path !== IMPORT_PATH || body === undefined) return;
  // Stryker disable next-line OptionalChaining,ConditionalExpression: these differ only on an import body that is null or has no contacts array (no caller sends one), which the mutants refuse with a TypeError
  const contacts = (body as { contacts?: unknown } | null)?.contacts;
  // Stryker disable next-line ConditionalExpression: as above
  if (!Array.isArray(contacts)) return;
  for (const c of contacts) {
    const keys = Object.keys((c ?? {}) as object);
    if (keys.some((k) => k !== "email" && k !== "fields" && k !== "tags" && k !== "exclude_automations")) {
      throw new TypeError(`Listwarden's imports carry only email, fields and tags, never ${keys.filter((k) => !["email", "fields", "tags", "exclude_automations"].includes(k)).join(", ")}`);
    }
  }
}

/** The undo of an unsubscribe: status 1 with sourceid 4 ("re-subscribing") to /contactLists, nothing else. */
// Stryker disable next-line BlockStatement: restoreSubscription, its only caller, always sends what it allows; it guards callers to come
function assertOnlyRestores(path: string, body: unknown): void {
  // Stryker disable next-line OptionalChaining: its only caller always sends a body with a contactList
  const cl = (body as { contactList?: { status?: unknown; sourceid?: unknown } } | null)?.contactList;
  if (path !== "/api/3/contactLists" || cl?.status !== 1 || cl.sourceid !== 4) throw new TypeError("An undo sends only status 1 with sourceid 4 to /contactLists");
}

/** Status 1 on a contactList re-subscribes people who unsubscribed: no code path may send it (an undo has its own, `restoreSubscription`). */
function assertNeverResubscribes(path: string, body: unknown): void {
  if (body === undefined || !/\/contactLists(?:\/|$)/i.test(path)) return;
  // Stryker disable next-line OptionalChaining: without either "?." a body lacking contactList throws a TypeError here, before sending, as the check below would
  const status = (body as { contactList?: { status?: unknown } } | null)?.contactList?.status;
  if (status !== 2) throw new TypeError("Listwarden only sends status 2 (unsubscribe) to /contactLists");
}

/** Retry-After is seconds or an HTTP date. */
export function parseRetryAfter(value: string | null, nowMs: number): number | undefined {
  if (value === null || value.trim() === "") return undefined;
  const v = value.trim();
  if (/^\d+(\.\d+)?$/.test(v)) return Math.round(Number(v) * 1000);
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}

/** AC error bodies: `{"errors":[...]}`, `{"message"}`, `{}`, sometimes served as text/plain. */
function readErrorBody(text: string): { message?: string; details?: AcErrorDetail[] } {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return {};
  }
  if (typeof body !== "object" || body === null) return {};
  const out: { message?: string; details?: AcErrorDetail[] } = {};
  const { message, errors, failureReasons } = body as { message?: unknown; errors?: unknown; failureReasons?: unknown };
  if (typeof message === "string" && message.trim()) out.message = message.trim().slice(0, 500);
  if (Array.isArray(errors)) {
    const details = errors.flatMap((e): AcErrorDetail[] => {
      if (typeof e !== "object" || e === null) return typeof e === "string" ? [{ title: e }] : [];
      const { title, detail, code, source } = e as Record<string, unknown>;
      const pointer = (source as { pointer?: unknown } | undefined)?.pointer;
      const d: AcErrorDetail = { title: typeof title === "string" ? title : "" };
      if (typeof detail === "string" && detail) d.detail = detail;
      if (typeof code === "string" && code) d.code = code;
      if (typeof pointer === "string" && pointer) d.pointer = pointer;
      return d.title || d.detail ? [d] : [];
    });
    if (details.length > 0) out.details = details.slice(0, 20);
  }
  // The bulk importer's 400: failureReasons name a contact by its place in the import.
  if (Array.isArray(failureReasons)) {
    const details = failureReasons.flatMap((f): AcErrorDetail[] => {
      if (typeof f === "string" && f.trim()) return [{ title: f.trim().slice(0, 300) }];
      const { contact, failureReason } = (f ?? {}) as { contact?: unknown; failureReason?: unknown };
      if (typeof failureReason !== "string") return [];
      return [{ title: failureReason.slice(0, 300), ...(Number.isInteger(Number(contact)) ? { pointer: `/contacts/${Number(contact)}` } : {}) }];
    });
    if (details.length > 0) out.details = [...(out.details ?? []), ...details].slice(0, IMPORT_MAX_CONTACTS);
  }
  return out;
}

function groupRows<R, V>(rows: R[] | undefined, key: (row: R) => string, value: (row: R) => V): Map<string, V[]> | null {
  if (!rows) return null;
  const map = new Map<string, V[]>();
  for (const row of rows) {
    const k = key(row);
    const list = map.get(k);
    if (list) list.push(value(row));
    else map.set(k, [value(row)]);
  }
  return map;
}

function describeDetail(d: AcErrorDetail): string {
  const text = [d.title, d.detail].filter(Boolean).join(": ");
  return d.pointer ? `${text} (${d.pointer.split("/").pop()})` : text;
}

const NO_SUCH_HOST = new Set(["ENOTFOUND", "EAI_NONAME", "ENODATA", "EAI_NODATA"]);
const TLS_CODE = /^(CERT_|ERR_TLS_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_|ERR_SSL_)/;

/** Maps what fetch threw. The SSRF guard throws an AcError from inside the connection. */
function networkError(err: unknown): AcError {
  const chain: unknown[] = [];
  const visit = (e: unknown, depth: number) => {
    if (e === null || e === undefined || depth > 5) return;
    chain.push(e);
    if (e instanceof AggregateError) for (const inner of e.errors) visit(inner, depth + 1);
    if (e instanceof Error) visit(e.cause, depth + 1);
  };
  visit(err, 0);
  const inner = chain.find((e): e is AcError => e instanceof AcError);
  if (inner) return inner;
  // The HTTP thread rejects with it as it is (http-threads.ts).
  if (err instanceof NotSentError) return new AcError("unreachable", UNREACHABLE_MESSAGE, { cause: err, retryable: true, notSent: true });
  const codes = chain.map((e) => (e as { code?: unknown }).code).filter((c): c is string => typeof c === "string");
  if (codes.some((c) => NO_SUCH_HOST.has(c))) {
    return new AcError("unreachable", `${UNREACHABLE_MESSAGE}: its host name does not exist`, { cause: err });
  }
  if (codes.some((c) => TLS_CODE.test(c))) {
    return new AcError("unreachable", `${UNREACHABLE_MESSAGE}: its TLS certificate is not valid`, { cause: err });
  }
  const refused = codes.includes("ECONNREFUSED");
  return new AcError("unreachable", refused ? `${UNREACHABLE_MESSAGE}: the connection was refused` : UNREACHABLE_MESSAGE, {
    cause: err,
    retryable: true,
  });
}

/** The membership's `udate` in the answer to POST /contactLists, or null when AC did not send one. */
function updatedOf(answer: unknown): string | null {
  const udate = (answer as { contactList?: { udate?: unknown } } | null)?.contactList?.udate;
  return typeof udate === "string" && udate !== "" ? udate : null;
}
const webhookOf = (w: z.output<typeof webhookRow>): AcWebhook => ({ id: w.id, name: w.name, url: w.url, events: w.events, sources: w.sources, listId: w.listid || "0" });

/** A contact row of AC's (its fields as parsed) as the client gives it out. */
function contactOf(
  c: { id: string; email: string; firstName: string; lastName: string; bounced_hard: boolean; bounced_soft: boolean },
  lists: AcListMembership[],
): AcContact {
  return { id: c.id, email: c.email, firstName: c.firstName, lastName: c.lastName, bouncedHard: c.bounced_hard, bouncedSoft: c.bounced_soft, lists };
}
