import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import qs from "qs";

/**
 * The sandbox ActiveCampaign account: in memory, answering like AC API v3 does
 * (docs/activecampaign.md): `Api-Token` auth with 403 for a bad key, `/users/me`, lists
 * and tags paged by limit (max 100) and offset with meta.total as a string, contacts with
 * string fields, keyset paging (orders[id] + id_greater; without orders[id] the order is not
 * by id), listid/tagid filters, contactLists (statuses 0-3, include=contactLists
 * sideloading), the upserting POST /contactLists that wants an integer `list`, DELETE (200
 * `{}`, then 404; deleted contacts stay restorable), AC's three error shapes, and a 5 req/s
 * sliding window per account answered with 429 + Retry-After and RateLimit headers.
 *
 * For labels (issue 17): custom fields (`/fields`, `/fieldRels`, `/fieldValues`, values on
 * contacts), tags (`/tags` with search, `/contactTags` POST and DELETE), contacts re-read by
 * `ids[]` with `include=contactTags,fieldValues`, and the bulk importer (`POST
 * /import/bulk_import` with fields, tags and lists, at most 250 contacts and 399,999 bytes, 100
 * imports of several contacts and 20 of one per minute answered with AC's 400 "Rate limit
 * exceeded.", `GET /import/info` answering `false` at first, then waiting, then completed with
 * the created contacts' ids and the failed addresses). An import matches contacts by e-mail and
 * creates the ones it does not find, as AC's does.
 *
 * Tests serve it with msw (`fakeAcHandlers` in test/support/fake-ac.ts); `npm run sandbox`, `npm run demo` and tests
 * that need real sockets serve it over HTTP on loopback (`startFakeAcServer`).
 */

export interface FakeAcOptions {
  /** Where msw intercepts it. */
  baseUrl?: string;
  apiKeys?: string[];
  /** Requests the account allows in any 1 s window (AC: 5). */
  requestsPerSecond?: number;
  /** Fixed Retry-After on 429s; by default the seconds until a slot frees (at least 1). */
  retryAfterSeconds?: number;
  /** Body of the 403 for a bad key: `{"message"}` or AC's `{"errors":[...]}` as text/plain. */
  authErrorStyle?: "message" | "errors";
  /** Status for a bad key: 403 as AC documents, or the 401 some of its routes answer. */
  authErrorStatus?: 401 | 403;
  /** When false, `include=` is ignored: contactLists, contactTags and fieldValues alike (AC's sideloading is best effort). */
  sideloadContactLists?: boolean;
  now?: () => number;
  user?: Partial<FakeUser>;
  /** Requests kept in `requests` (the oldest are dropped); unbounded by default. */
  requestLogLimit?: number;
  /** Called with each request's log entry as it is answered. */
  onRequest?: (entry: FakeRequestLog) => void;
  /** Bulk imports of several contacts allowed per minute (AC: 100), and of one contact (AC: 20). */
  importsPerMinute?: number;
  singleImportsPerMinute?: number;
  /** How long one import takes once AC starts it; imports run one after another. */
  importProcessMs?: number;
  /** For how long after it was queued GET /import/info answers `"status": false` (AC: about 1 s). */
  importUnknownMs?: number;
  /**
   * How webhook deliveries reach their URL (default: fetch). Tests point it at the app in
   * process; it answers the HTTP status the receiver gave.
   */
  webhookTransport?: (url: string, body: string) => Promise<number>;
  /** When true, events are queued in `outbox` until `deliverWebhooks()`; by default each is delivered at once (in the background). */
  holdWebhooks?: boolean;
}

/** A webhook registered through the API (issue 18). */
export interface FakeWebhook {
  id: string;
  name: string;
  url: string;
  events: string[];
  sources: string[];
  listid: string;
  cdate: string;
}

/** One event waiting to be delivered, and what became of its deliveries. */
export interface FakeWebhookDelivery {
  webhookId: string;
  url: string;
  type: string;
  contactId: string;
  listId: string;
  /** The form body, exactly as posted. */
  body: string;
  /** HTTP status of each attempt (0: the request failed). */
  statuses: number[];
}

/** A contact custom field as AC stores it. */
export interface FakeField {
  id: string;
  title: string;
  type: string;
  perstag: string;
  descript: string;
  cdate: string;
  udate: string;
}

export interface FakeFieldRel {
  id: string;
  field: string;
  /** A list id, or "0" for every list. */
  relid: string;
  cdate: string;
}

export interface FakeFieldValue {
  id: string;
  contact: string;
  field: string;
  value: string;
  cdate: string;
  udate: string;
}

/** One contact of a bulk import, as sent. */
export interface FakeImportContact {
  email: string;
  first_name?: string;
  last_name?: string;
  tags?: string[];
  fields?: { id: number | string; value: string }[];
  subscribe?: { listid: number | string }[];
  unsubscribe?: { listid: number | string }[];
  exclude_automations?: boolean;
}

export interface FakeImport {
  batchId: string;
  contacts: FakeImportContact[];
  excludeAutomations: boolean;
  queuedAt: number;
  /** When AC will have finished it (imports run one after another). */
  readyAt: number;
  status: "waiting" | "completed" | "failed";
  /** Ids of the contacts it created. */
  success: string[];
  /** Addresses it did not take. */
  failure: string[];
}

export interface FakeUser {
  id: string;
  username: string;
  firstName: string;
  lastName: string;
  email: string;
}

export interface FakeList {
  id: string;
  stringid: string;
  name: string;
  cdate: string;
  udate: string;
}

export interface FakeTag {
  id: string;
  tag: string;
  tagType: "contact";
  description: string;
  cdate: string;
}

/** A contact as AC stores it: every value a string. */
export interface FakeContact {
  id: string;
  email: string;
  phone: string;
  firstName: string;
  lastName: string;
  bounced_hard: string;
  bounced_soft: string;
  cdate: string;
  udate: string;
}

export interface FakeContactList {
  id: string;
  contact: string;
  list: string;
  status: string;
  sdate: string;
  udate: string;
}

export interface FakeContactTag {
  id: string;
  contact: string;
  tag: string;
  cdate: string;
}

export interface NewFakeContact {
  email: string;
  firstName?: string;
  lastName?: string;
  phone?: string;
  /** listId → status (0 unconfirmed, 1 active, 2 unsubscribed, 3 bounced). */
  lists?: Record<string, number>;
  /** Tag ids. */
  tags?: string[];
  bouncedHard?: boolean;
  bouncedSoft?: boolean;
  /** Force an id (e.g. to leave gaps); otherwise the next one. */
  id?: string;
}

export interface FakeRequestInfo {
  method: string;
  path: string;
  query: Record<string, string>;
  /** Parsed JSON, the raw text if it was not JSON, or undefined when empty. */
  body: unknown;
}

export interface FakeRequestLog extends FakeRequestInfo {
  /** 0 when the connection was reset. */
  status: number;
  at: number;
  /** Whether the Api-Token was one of the account's keys. */
  authorized: boolean;
  /** The fault that shaped this answer, if any. */
  fault?: FakeFault;
}

export type FakeFault =
  | { status: number; body?: unknown; headers?: Record<string, string> }
  | { reset: true }
  /** The request is carried out, then the connection drops before the answer: "reached AC, answer lost". */
  | { answerLost: true }
  | { truncate: true }
  | { empty: true }
  | { delayMs: number };

export interface FakeFaultRule {
  fault: FakeFault;
  /** How many matching requests it still applies to. */
  times: number;
  match?: (req: FakeRequestInfo) => boolean;
}

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "-00:00");
const bool = (b: boolean | undefined) => (b ? "1" : "0");

/** A deleted contact as AC keeps it for 30 days: restorable with its lists and tags. */
export interface DeletedFakeContact {
  contact: FakeContact;
  contactLists: FakeContactList[];
  contactTags: FakeContactTag[];
  fieldValues: FakeFieldValue[];
  deletedAt: string;
}

export class FakeAc {
  /** Where the account is reached; `startFakeAcServer` sets it to the URL it serves. */
  baseUrl: string;
  readonly apiKeys: Set<string>;
  requestsPerSecond: number;
  retryAfterSeconds: number | undefined;
  authErrorStyle: "message" | "errors";
  authErrorStatus: 401 | 403;
  sideloadContactLists: boolean;
  user: FakeUser;

  readonly lists = new Map<string, FakeList>();
  readonly tags = new Map<string, FakeTag>();
  readonly contacts = new Map<string, FakeContact>();
  /** Keyed by `${contact}:${list}`. */
  readonly contactLists = new Map<string, FakeContactList>();
  readonly contactTags = new Map<string, FakeContactTag>();
  /** Contacts deleted through the API, by id (AC keeps them restorable for 30 days). */
  readonly deletedContacts = new Map<string, DeletedFakeContact>();
  readonly fields = new Map<string, FakeField>();
  readonly fieldRels = new Map<string, FakeFieldRel>();
  /** Keyed by `${contact}:${field}`. */
  readonly fieldValues = new Map<string, FakeFieldValue>();
  /** Bulk imports by batchId, in the order they were queued. */
  readonly imports = new Map<string, FakeImport>();
  /** Addresses on the account's exclusion list: imports skip them (they land in `failure`). */
  readonly excludedEmails = new Set<string>();
  /** Contacts an import let automations react to (imports without exclude_automations). */
  readonly automationTriggers: string[] = [];
  /** The next `n` imports (matching) end as "failed", changing nothing. */
  readonly importFaults: { times: number; match?: (imp: FakeImport) => boolean }[] = [];
  importsPerMinute: number;
  singleImportsPerMinute: number;
  importProcessMs: number;
  importUnknownMs: number;
  /** While true, queued imports wait (status "waiting") however long ago they were queued. */
  holdImports = false;
  /** Registered webhooks by id. A 410 answer deactivates one: the sandbox removes it (AC: delete and recreate to re-enable). */
  readonly webhooks = new Map<string, FakeWebhook>();
  /** Events not delivered yet (only while `holdWebhooks`). */
  readonly outbox: FakeWebhookDelivery[] = [];
  /** Every delivery made, in order. */
  readonly delivered: FakeWebhookDelivery[] = [];
  holdWebhooks: boolean;
  webhookTransport: (url: string, body: string) => Promise<number>;
  #inFlight = new Set<Promise<void>>();
  #webhookSeq = 1;

  /** Every request in arrival order, with the status it got. */
  readonly requests: FakeRequestLog[] = [];
  /** Pending faults; the first matching rule applies. */
  readonly faults: FakeFaultRule[] = [];

  readonly #now: () => number;
  readonly #requestLogLimit: number;
  readonly #onRequest: ((entry: FakeRequestLog) => void) | undefined;
  #hits: number[] = [];
  #importHits: { at: number; single: boolean }[] = [];
  #lastImportReadyAt = 0;
  #importSeq = 0;
  #nextId = { list: 1, tag: 1, contact: 1, contactList: 1, contactTag: 1, field: 1, fieldRel: 1, fieldValue: 1 };

  constructor(opts: FakeAcOptions = {}) {
    this.baseUrl = (opts.baseUrl ?? "https://fake.api-us1.com").replace(/\/+$/, "");
    this.apiKeys = new Set(opts.apiKeys ?? ["fake-api-key-0123456789abcdef"]);
    this.requestsPerSecond = opts.requestsPerSecond ?? 5;
    this.retryAfterSeconds = opts.retryAfterSeconds;
    this.authErrorStyle = opts.authErrorStyle ?? "message";
    this.authErrorStatus = opts.authErrorStatus ?? 403;
    this.#requestLogLimit = opts.requestLogLimit ?? Infinity;
    this.#onRequest = opts.onRequest;
    this.sideloadContactLists = opts.sideloadContactLists ?? true;
    this.#now = opts.now ?? Date.now;
    this.importsPerMinute = opts.importsPerMinute ?? 100;
    this.singleImportsPerMinute = opts.singleImportsPerMinute ?? 20;
    this.importProcessMs = opts.importProcessMs ?? 0;
    this.importUnknownMs = opts.importUnknownMs ?? 0;
    this.holdWebhooks = opts.holdWebhooks ?? false;
    this.webhookTransport =
      opts.webhookTransport ??
      (async (url, body) => {
        try {
          const res = await fetch(url, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body, signal: AbortSignal.timeout(10_000) });
          await res.arrayBuffer().catch(() => undefined);
          return res.status;
        } catch {
          return 0;
        }
      });
    this.user = { id: "1", username: "admin", firstName: "Ada", lastName: "Admin", email: "admin@example.com", ...opts.user };
  }

  /** The first valid key, for clients under test. */
  get apiKey(): string {
    const [first] = this.apiKeys;
    if (first === undefined) throw new Error("FakeAc has no API key");
    return first;
  }

  // ---- seeding ---------------------------------------------------------------------------

  addList(name: string): string {
    const id = String(this.#nextId.list++);
    const now = iso(this.#now());
    this.lists.set(id, { id, stringid: name.toLowerCase().replace(/[^a-z0-9]+/g, "-"), name, cdate: now, udate: now });
    return id;
  }

  addTag(tag: string): string {
    const id = String(this.#nextId.tag++);
    this.tags.set(id, { id, tag, tagType: "contact", description: "", cdate: iso(this.#now()) });
    return id;
  }

  addContact(c: NewFakeContact): string {
    const id = c.id ?? String(this.#nextId.contact);
    if (this.contacts.has(id)) throw new Error(`contact ${id} exists`);
    this.#nextId.contact = Math.max(this.#nextId.contact, Number(id) + 1);
    const now = iso(this.#now());
    this.#byId = null;
    this.#byList.clear();
    this.#byEmail = null;
    this.contacts.set(id, {
      id,
      email: c.email,
      phone: c.phone ?? "",
      firstName: c.firstName ?? "",
      lastName: c.lastName ?? "",
      bounced_hard: bool(c.bouncedHard),
      bounced_soft: bool(c.bouncedSoft),
      cdate: now,
      udate: now,
    });
    for (const [listId, status] of Object.entries(c.lists ?? {})) this.setListStatus(id, listId, status);
    for (const tagId of c.tags ?? []) {
      if (!this.tags.has(tagId)) throw new Error(`no tag ${tagId}`);
      this.contactTags.set(`${id}:${tagId}`, { id: String(this.#nextId.contactTag++), contact: id, tag: tagId, cdate: now });
    }
    return id;
  }

  /** Adds `n` contacts; `make(i)` (from 0) may override any field. */
  addContacts(n: number, make: (i: number) => Partial<NewFakeContact> = () => ({})): string[] {
    return Array.from({ length: n }, (_, i) => this.addContact({ email: `contact${i + 1}@example.com`, ...make(i) }));
  }

  setListStatus(contactId: string, listId: string, status: number): void {
    if (!this.lists.has(listId)) throw new Error(`no list ${listId}`);
    const key = `${contactId}:${listId}`;
    const now = iso(this.#now());
    const existing = this.contactLists.get(key);
    if (existing) Object.assign(existing, { status: String(status), udate: now });
    else {
      const id = String(this.#nextId.contactList++);
      this.contactLists.set(key, { id, contact: contactId, list: listId, status: String(status), sdate: now, udate: now });
      this.#byList.delete(listId);
    }
  }

  /** A contact's status on a list, or undefined when it is not on it. */
  listStatus(contactId: string, listId: string): number | undefined {
    const row = this.contactLists.get(`${contactId}:${listId}`);
    return row ? Number(row.status) : undefined;
  }

  /** Adds a text field (attached to every list unless `lists` says which). */
  addField(title: string, opts: { type?: string; perstag?: string; lists?: string[] } = {}): string {
    const id = String(this.#nextId.field++);
    const now = iso(this.#now());
    this.fields.set(id, { id, title, type: opts.type ?? "text", perstag: opts.perstag ?? perstagOf(title), descript: "", cdate: now, udate: now });
    for (const relid of opts.lists ?? ["0"]) this.#addFieldRel(id, relid);
    return id;
  }

  #addFieldRel(field: string, relid: string): FakeFieldRel {
    const existing = [...this.fieldRels.values()].find((r) => r.field === field && r.relid === relid);
    if (existing) return existing;
    const rel = { id: String(this.#nextId.fieldRel++), field, relid, cdate: iso(this.#now()) };
    this.fieldRels.set(rel.id, rel);
    return rel;
  }

  /** Sets (or replaces) a contact's value of a field. */
  setFieldValue(contactId: string, fieldId: string, value: string): FakeFieldValue {
    const key = `${contactId}:${fieldId}`;
    const now = iso(this.#now());
    const existing = this.fieldValues.get(key);
    if (existing) {
      Object.assign(existing, { value, udate: now });
      return existing;
    }
    const row = { id: String(this.#nextId.fieldValue++), contact: contactId, field: fieldId, value, cdate: now, udate: now };
    this.fieldValues.set(key, row);
    return row;
  }

  /** A contact's value of a field, or undefined. */
  fieldValue(contactId: string, fieldId: string): string | undefined {
    return this.fieldValues.get(`${contactId}:${fieldId}`)?.value;
  }

  /** The field with this title (case aside), if any. */
  fieldByTitle(title: string): FakeField | undefined {
    return [...this.fields.values()].find((f) => f.title.toLowerCase() === title.toLowerCase());
  }

  /** The tag named `name` (case aside), if any. */
  tagByName(name: string): FakeTag | undefined {
    return [...this.tags.values()].find((t) => t.tag.toLowerCase() === name.toLowerCase());
  }

  /** Puts a tag on a contact (by tag id). */
  tagContact(contactId: string, tagId: string): FakeContactTag {
    const key = `${contactId}:${tagId}`;
    const existing = this.contactTags.get(key);
    if (existing) return existing;
    const row = { id: String(this.#nextId.contactTag++), contact: contactId, tag: tagId, cdate: iso(this.#now()) };
    this.contactTags.set(key, row);
    return row;
  }

  /** The names of a contact's tags, sorted. */
  tagNamesOf(contactId: string): string[] {
    return [...this.contactTags.values()]
      .filter((t) => t.contact === contactId)
      .map((t) => this.tags.get(t.tag)?.tag ?? "")
      .sort();
  }

  /** Changes a contact's e-mail address, as a user editing it in AC would. */
  changeEmail(contactId: string, email: string): void {
    const c = this.contacts.get(contactId);
    if (!c) throw new Error(`no contact ${contactId}`);
    Object.assign(c, { email, udate: iso(this.#now()) });
    this.#byEmail = null;
    // AC's `update` event names one of the contact's lists (or none).
    const list = [...this.contactLists.values()].find((r) => r.contact === contactId)?.list ?? "0";
    this.fireEvent("update", contactId, list, "admin");
  }

  /** The next `n` bulk imports (matching `match`) end as "failed" and change nothing. */
  failImports(n: number, match?: (imp: FakeImport) => boolean): this {
    this.importFaults.push({ times: n, ...(match ? { match } : {}) });
    return this;
  }

  /** Deletes a contact with its list and tag rows, keeping them in `deletedContacts`. */
  removeContact(id: string): boolean {
    const contact = this.contacts.get(id);
    if (!contact) return false;
    this.contacts.delete(id);
    this.#byId = null;
    this.#byList.clear();
    this.#byEmail = null;
    const deleted: DeletedFakeContact = { contact, contactLists: [], contactTags: [], fieldValues: [], deletedAt: iso(this.#now()) };
    for (const [k, row] of this.contactLists) {
      if (row.contact !== id) continue;
      deleted.contactLists.push(row);
      this.contactLists.delete(k);
    }
    for (const [k, row] of this.contactTags) {
      if (row.contact !== id) continue;
      deleted.contactTags.push(row);
      this.contactTags.delete(k);
    }
    for (const [k, row] of this.fieldValues) {
      if (row.contact !== id) continue;
      deleted.fieldValues.push(row);
      this.fieldValues.delete(k);
    }
    this.deletedContacts.set(id, deleted);
    return true;
  }

  /** Brings a deleted contact back as it was, as an AC admin can within 30 days. */
  restoreContact(id: string): boolean {
    const deleted = this.deletedContacts.get(id);
    if (!deleted || this.contacts.has(id)) return false;
    this.deletedContacts.delete(id);
    this.contacts.set(id, deleted.contact);
    this.#byId = null;
    this.#byList.clear();
    this.#byEmail = null;
    for (const row of deleted.contactLists) this.contactLists.set(`${id}:${row.list}`, row);
    for (const row of deleted.contactTags) this.contactTags.set(`${id}:${row.tag}`, row);
    for (const row of deleted.fieldValues) this.fieldValues.set(`${id}:${row.field}`, row);
    return true;
  }

  // ---- webhooks (issue 18) ----------------------------------------------------------------

  /**
   * A new subscriber, as a form signup (or an admin, or the API) makes one: the contact is
   * created (or found by e-mail) and made active on each list, and each list fires a `subscribe`
   * event to the webhooks registered for it. Returns the contact's id.
   */
  subscribe(c: Omit<NewFakeContact, "lists"> & { lists: Record<string, number> | string[] }, source: "public" | "admin" | "api" | "system" = "public"): string {
    const lists = Array.isArray(c.lists) ? Object.fromEntries(c.lists.map((l) => [l, 1])) : c.lists;
    const existing = this.#contactByEmail(c.email);
    const id = existing?.id ?? this.addContact({ ...c, lists: {} });
    for (const [listId, status] of Object.entries(lists)) {
      this.setListStatus(id, listId, status);
      if (status === 1) this.fireEvent("subscribe", id, listId, source);
    }
    return id;
  }

  /** Fires an event of a contact to every webhook registered for it (type, list and source). */
  fireEvent(type: string, contactId: string, listId: string, source: "public" | "admin" | "api" | "system" = "admin"): void {
    const c = this.contacts.get(contactId);
    if (!c) throw new Error(`no contact ${contactId}`);
    const at = this.#now();
    for (const hook of this.webhooks.values()) {
      if (!hook.events.includes(type) || !hook.sources.includes(source)) continue;
      if (hook.listid !== "0" && hook.listid !== listId) continue;
      const fields: Record<string, string> = {};
      for (const v of this.fieldValues.values()) if (v.contact === contactId) fields[this.fields.get(v.field)?.perstag ?? v.field] = v.value;
      // As AC posts it: form-encoded with PHP-style bracket keys (docs/activecampaign.md, "Webhooks").
      const body = qs.stringify(
        {
          type,
          date_time: new Date(at).toISOString().replace(/\.\d{3}Z$/, "-00:00"),
          initiated_from: source,
          initiated_by: source,
          list: listId,
          contact: { id: c.id, email: c.email, first_name: c.firstName, last_name: c.lastName, phone: c.phone, tags: this.tagNamesOf(c.id).join(", "), ip: "127.0.0.1", orgname: "", fields },
          ...(type === "subscribe" ? { form: { id: "0" } } : {}),
        },
        { encodeValuesOnly: true },
      );
      const d: FakeWebhookDelivery = { webhookId: hook.id, url: hook.url, type, contactId, listId, body, statuses: [] };
      if (this.holdWebhooks) this.outbox.push(d);
      else this.#send(d);
    }
  }

  /**
   * Delivers the held events: in order, or `reverse`d (out of order), each `times` times (AC
   * delivers at least once). Resolves when every delivery was answered.
   */
  async deliverWebhooks(o: { times?: number; reverse?: boolean } = {}): Promise<FakeWebhookDelivery[]> {
    const batch = this.outbox.splice(0, this.outbox.length);
    if (o.reverse) batch.reverse();
    for (let i = 0; i < (o.times ?? 1); i++) for (const d of batch) await this.#deliver(d);
    return batch;
  }

  /** Waits until the deliveries in the background were answered. */
  async webhooksIdle(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
  }

  #send(d: FakeWebhookDelivery): void {
    const p = this.#deliver(d).finally(() => this.#inFlight.delete(p));
    this.#inFlight.add(p);
  }

  /** One attempt, never retried (AC: "Webhooks are never retried"); a 410 deactivates the webhook. */
  async #deliver(d: FakeWebhookDelivery): Promise<void> {
    if (!this.webhooks.has(d.webhookId)) return;
    const status = await this.webhookTransport(d.url, d.body);
    d.statuses.push(status);
    if (!this.delivered.includes(d)) this.delivered.push(d);
    if (status === 410) this.webhooks.delete(d.webhookId);
  }

  /**
   * The sandbox's stand-in for a signup form on a website (not an AC API route, no key):
   * `POST /sandbox/subscribe {"email","list"}` subscribes the address to the list (creating the
   * contact if needed) and fires `subscribe` with initiated_from "public".
   */
  #sandboxSubscribe(body: unknown): Response {
    const b = (typeof body === "object" && body !== null ? body : {}) as Record<string, unknown>;
    const email = typeof b.email === "string" ? b.email.trim() : "";
    const list = typeof b.list === "string" || typeof b.list === "number" ? String(b.list) : "";
    if (!/^[^\s@]+@[^\s@]+$/.test(email)) return json(400, { message: 'Send {"email": "someone@example.com", "list": "1"}' });
    if (!this.lists.has(list)) return json(400, { message: `No list ${list}; lists: ${[...this.lists.keys()].join(", ")}` });
    const id = this.subscribe({ email, lists: [list], ...(typeof b.firstName === "string" ? { firstName: b.firstName } : {}) }, "public");
    return json(201, { contact: this.#contactJson(this.contacts.get(id)!) });
  }

  #routeWebhooks(method: string, path: string, q: URLSearchParams, body: unknown): Response | undefined {
    let m: RegExpMatchArray | null;
    if (method === "GET" && path === "/api/3/webhooks") {
      const { limit, offset } = pageInput(q);
      const rows = [...this.webhooks.values()].sort((a, b) => Number(a.id) - Number(b.id));
      return json(200, { webhooks: rows.slice(offset, offset + limit).map((w) => this.#webhookJson(w)), meta: { total: String(rows.length) } });
    }
    if (method === "POST" && path === "/api/3/webhooks") {
      const w = (body as { webhook?: Record<string, unknown> } | undefined)?.webhook;
      if (typeof w !== "object" || w === null) return unprocessable("webhook", "The webhook field is required", "field_missing");
      const { name, url, events, sources, listid } = w;
      if (typeof name !== "string" || name === "") return unprocessable("name", "The name field is required", "field_missing");
      if (typeof url !== "string" || !/^https?:\/\//.test(url)) return unprocessable("url", "The url field must be a valid URL", "field_invalid");
      if (!Array.isArray(events) || events.length === 0 || !events.every((e) => typeof e === "string")) return unprocessable("events", "The events field is required", "field_missing");
      if (!Array.isArray(sources) || sources.length === 0 || !sources.every((e) => typeof e === "string")) return unprocessable("sources", "The sources field is required", "field_missing");
      const hook: FakeWebhook = { id: String(this.#webhookSeq++), name, url, events: events as string[], sources: sources as string[], listid: listid === undefined ? "0" : String(listid), cdate: iso(this.#now()) };
      this.webhooks.set(hook.id, hook);
      return json(201, { webhook: this.#webhookJson(hook) });
    }
    if ((m = path.match(/^\/api\/3\/webhooks\/(\d+)$/))) {
      const hook = this.webhooks.get(m[1] ?? "");
      if (!hook) return json(404, { message: `No Result found for Webhook with id ${m[1]}` });
      if (method === "GET") return json(200, { webhook: this.#webhookJson(hook) });
      if (method === "DELETE") {
        this.webhooks.delete(hook.id);
        return json(200, {});
      }
    }
    return undefined;
  }

  #webhookJson(w: FakeWebhook) {
    return { cdate: w.cdate, listid: w.listid, name: w.name, url: w.url, events: w.events, sources: w.sources, links: [], id: w.id };
  }

  // ---- faults and log ---------------------------------------------------------------------

  /** The next `n` requests (matching `match`, if given) get `fault` instead of their answer. */
  failNext(n: number, fault: FakeFault, match?: (req: FakeRequestInfo) => boolean): this {
    this.faults.push({ fault, times: n, ...(match ? { match } : {}) });
    return this;
  }

  clearRequests(): void {
    this.requests.length = 0;
  }

  /** Requests whose answer had this status. */
  countStatus(status: number): number {
    return this.requests.filter((r) => r.status === status).length;
  }

  #takeFault(info: FakeRequestInfo): FakeFault | undefined {
    const i = this.faults.findIndex((r) => r.times > 0 && (!r.match || r.match(info)));
    const rule = this.faults[i];
    if (!rule) return undefined;
    rule.times -= 1;
    if (rule.times <= 0) this.faults.splice(i, 1);
    return rule.fault;
  }

  // ---- HTTP -------------------------------------------------------------------------------

  async handle(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const method = request.method.toUpperCase();
    const raw = method === "GET" || method === "HEAD" ? "" : await request.text();
    const info: FakeRequestInfo = {
      method,
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      body: parseBody(raw),
    };
    const at = this.#now();
    this.processImports(at);
    if (method === "POST" && url.pathname === "/sandbox/subscribe") return this.#sandboxSubscribe(info.body);
    const authorized = this.apiKeys.has(request.headers.get("api-token") ?? "");
    const fault = this.#takeFault(info);
    const log = (status: number) => {
      const entry: FakeRequestLog = { ...info, status, at, authorized, ...(fault ? { fault } : {}) };
      this.requests.push(entry);
      if (this.requests.length > this.#requestLogLimit) this.requests.splice(0, this.requests.length - this.#requestLogLimit);
      this.#onRequest?.(entry);
    };

    if (fault && "reset" in fault) {
      log(0);
      return Response.error();
    }
    if (fault && "status" in fault) {
      log(fault.status);
      return json(fault.status, fault.body ?? {}, { ...this.#rateHeaders(at), ...fault.headers });
    }

    const limited = this.#admit(at);
    if (limited) {
      log(429);
      return limited;
    }
    if (fault && "delayMs" in fault) await new Promise((r) => setTimeout(r, fault.delayMs));

    let res = authorized ? this.#route(method, url, info.body) : this.#forbidden();
    if (fault && "truncate" in fault) {
      const text = await res.text();
      res = new Response(text.slice(0, Math.max(1, Math.floor(text.length / 2))), { status: res.status, headers: res.headers });
    }
    if (fault && "empty" in fault) res = new Response("", { status: 200, headers: { "content-type": "application/json" } });
    if (fault && "answerLost" in fault) {
      log(res.status);
      return Response.error();
    }
    for (const [k, v] of Object.entries(this.#rateHeaders(at))) res.headers.set(k, v);
    log(res.status);
    return res;
  }

  /** Sliding window: a request is admitted when fewer than the limit arrived in the last 1 s. */
  #admit(at: number): Response | undefined {
    this.#hits = this.#hits.filter((t) => at - t < 1000);
    if (this.#hits.length >= this.requestsPerSecond) {
      const oldest = this.#hits[0] ?? at;
      const seconds = this.retryAfterSeconds ?? Math.max(1, Math.ceil((oldest + 1000 - at) / 1000));
      return json(429, { message: "Too Many Requests" }, { ...this.#rateHeaders(at), "Retry-After": String(seconds) });
    }
    this.#hits.push(at);
    return undefined;
  }

  #rateHeaders(at: number): Record<string, string> {
    const used = this.#hits.filter((t) => at - t < 1000).length;
    return {
      "RateLimit-Limit": String(this.requestsPerSecond),
      "RateLimit-Remaining": String(Math.max(0, this.requestsPerSecond - used)),
    };
  }

  #forbidden(): Response {
    const status = this.authErrorStatus;
    if (this.authErrorStyle === "errors") {
      const body = { errors: [{ status, title: status === 401 ? "Unauthorized" : "Forbidden", detail: "You do not have permission to access this resource" }] };
      return new Response(JSON.stringify(body), { status, headers: { "content-type": "text/plain; charset=utf-8" } });
    }
    return json(status, { message: "You are not authorized to access this resource" });
  }

  #route(method: string, url: URL, body: unknown): Response {
    const path = url.pathname.replace(/\/+$/, "");
    const q = url.searchParams;
    let m: RegExpMatchArray | null;
    if (method === "GET" && path === "/api/3/users/me") return json(200, { user: { ...this.user, links: {} } });
    if (method === "GET" && path === "/api/3/lists") return this.#page("lists", [...this.lists.values()], q);
    if (method === "GET" && path === "/api/3/tags") {
      const search = (q.get("search") ?? "").toLowerCase();
      return this.#page("tags", [...this.tags.values()].filter((t) => t.tag.toLowerCase().includes(search)), q);
    }
    if (method === "GET" && path === "/api/3/contacts") return this.#listContacts(q);
    if (method === "GET" && (m = path.match(/^\/api\/3\/contacts\/(\d+)$/))) {
      const c = this.contacts.get(m[1] ?? "");
      if (!c) return json(404, { message: `No Result found for Subscriber with id ${m[1]}` });
      return json(200, { contact: this.#contactJson(c), contactLists: this.#contactListsOf([c.id]), fieldValues: this.#fieldValuesOf([c.id]) });
    }
    if (method === "GET" && (m = path.match(/^\/api\/3\/contacts\/(\d+)\/contactLists$/))) {
      if (!this.contacts.has(m[1] ?? "")) return json(404, { message: `No Result found for Subscriber with id ${m[1]}` });
      return json(200, { contactLists: this.#contactListsOf([m[1] ?? ""]) });
    }
    if (method === "GET" && (m = path.match(/^\/api\/3\/contacts\/(\d+)\/contactTags$/))) {
      if (!this.contacts.has(m[1] ?? "")) return json(404, { message: `No Result found for Subscriber with id ${m[1]}` });
      return json(200, { contactTags: [...this.contactTags.values()].filter((t) => t.contact === m?.[1]).map((t) => this.#contactTagJson(t)) });
    }
    if (method === "GET" && (m = path.match(/^\/api\/3\/contacts\/(\d+)\/fieldValues$/))) {
      if (!this.contacts.has(m[1] ?? "")) return json(404, { message: `No Result found for Subscriber with id ${m[1]}` });
      return json(200, { fieldValues: this.#fieldValuesOf([m[1] ?? ""]) });
    }
    if (method === "POST" && path === "/api/3/contactLists") return this.#postContactList(body);
    if (path === "/api/3/webhooks" || path.startsWith("/api/3/webhooks/")) {
      const answer = this.#routeWebhooks(method, path, q, body);
      if (answer) return answer;
    }
    if (method === "POST" && path === "/api/3/contacts") return this.#postContact(body);
    if (path === "/api/3/fields" || path.startsWith("/api/3/field")) {
      const answer = this.#routeFields(method, path, q, body);
      if (answer) return answer;
    }
    if (method === "POST" && path === "/api/3/tags") return this.#postTag(body);
    if (method === "POST" && path === "/api/3/contactTags") return this.#postContactTag(body);
    if (method === "DELETE" && (m = path.match(/^\/api\/3\/contactTags\/(\d+)$/))) {
      const row = [...this.contactTags.entries()].find(([, t]) => t.id === m?.[1]);
      if (!row) return json(404, { message: `No Result found for SubscriberTag with id ${m[1]}` });
      this.contactTags.delete(row[0]);
      return json(200, {});
    }
    if (method === "POST" && path === "/api/3/import/bulk_import") return this.#postImport(body);
    if (method === "GET" && path === "/api/3/import/info") return this.#importInfo(q);
    if (method === "GET" && path === "/api/3/import/bulk_import") return this.#importAggregates();
    if (method === "DELETE" && (m = path.match(/^\/api\/3\/contacts\/(\d+)$/))) {
      const id = m[1] ?? "";
      if (!this.removeContact(id)) return json(404, { message: `No result found for contact with id ${id}` });
      return json(200, {});
    }
    return json(404, { message: "No Result found for route" });
  }

  #page(key: "lists" | "tags", rows: (FakeList | FakeTag)[], q: URLSearchParams): Response {
    const { limit, offset } = pageInput(q);
    rows.sort((a, b) => Number(a.id) - Number(b.id));
    return json(200, { [key]: rows.slice(offset, offset + limit), meta: { total: String(rows.length) } });
  }

  /** Contacts in id order, kept between requests: sorting 50,000 contacts per page made the fake the bottleneck of benchmarks. */
  #byId: FakeContact[] | null = null;

  /** Contacts by e-mail (lower case), kept between imports: a scan per imported contact made 50,000-contact benchmarks slow. */
  #byEmail: Map<string, FakeContact> | null = null;

  #contactByEmail(email: string): FakeContact | undefined {
    if (!this.#byEmail) {
      this.#byEmail = new Map();
      for (const c of this.contacts.values()) if (!this.#byEmail.has(c.email.toLowerCase())) this.#byEmail.set(c.email.toLowerCase(), c);
    }
    return this.#byEmail.get(email.toLowerCase());
  }

  #contactsById(): FakeContact[] {
    this.#byId ??= [...this.contacts.values()].sort((a, b) => Number(a.id) - Number(b.id));
    return this.#byId;
  }

  /** A list's contacts in id order, kept between requests like #byId (a million-contact walk filters no list per page). */
  readonly #byList = new Map<string, FakeContact[]>();

  #listById(listId: string): FakeContact[] {
    let rows = this.#byList.get(listId);
    if (!rows) this.#byList.set(listId, (rows = this.#contactsById().filter((c) => this.contactLists.has(`${c.id}:${listId}`))));
    return rows;
  }

  /** Where the ids in (greater, less) start and end in `rows` (in id order): found by binary search. */
  #idRange(rows: FakeContact[], greater: string | null, less: string | null): { from: number; to: number } {
    const firstAbove = (bound: number) => {
      let lo = 0;
      let hi = rows.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (Number(rows[mid]!.id) > bound) hi = mid;
        else lo = mid + 1;
      }
      return lo;
    };
    const from = greater ? firstAbove(Number(greater)) : 0;
    const to = less ? firstAbove(Number(less) - 1) : rows.length;
    return { from, to: Math.max(from, to) };
  }

  #listContacts(q: URLSearchParams): Response {
    const { limit, offset } = pageInput(q);
    const listid = q.get("listid");
    const tagid = q.get("tagid");
    const email = q.get("email");
    const idGreater = q.get("id_greater");
    const idLess = q.get("id_less");
    const updatedAfter = q.get("filters[updated_after]");
    const ids = [...q.getAll("ids[]"), ...q.getAll("ids").flatMap((v) => v.split(","))].map((v) => v.trim()).filter(Boolean);
    const sorted = listid ? this.#listById(listid) : this.#contactsById();
    const { from, to } = this.#idRange(sorted, idGreater, idLess);
    const order = q.get("orders[id]")?.toUpperCase();
    // The keyset walk (what runs do): the page and the total straight from the sorted rows.
    const fast = !tagid && !email && !updatedAfter && ids.length === 0 && order === "ASC";
    let rows = fast ? sorted.slice(from + offset, Math.min(to, from + offset + limit)) : sorted.slice(from, to);
    if (ids.length > 0) {
      const wanted = new Set(ids);
      rows = rows.filter((c) => wanted.has(c.id));
    }
    if (tagid) rows = rows.filter((c) => this.contactTags.has(`${c.id}:${tagid}`));
    if (email) rows = rows.filter((c) => c.email.toLowerCase() === email.toLowerCase());
    if (updatedAfter) {
      // AC compares to the second; the sandbox keeps contacts created or updated at or after it.
      const after = Date.parse(updatedAfter);
      rows = rows.filter((c) => Date.parse(c.udate) >= after || Date.parse(c.cdate) >= after);
    }
    if (fast) {
      // already the page
    } else if (order === "ASC" || order === "DESC") {
      if (order === "DESC") rows = [...rows].reverse();
    } else {
      // AC's default order is not by id (its docs show 5,4,6,2,3,7): a stable scramble.
      rows = [...rows].sort((a, b) => scramble(a.id) - scramble(b.id) || Number(a.id) - Number(b.id));
    }
    const page = fast ? rows : rows.slice(offset, offset + limit);
    const total = fast ? to - from : rows.length;
    const body: Record<string, unknown> = {
      scoreValues: [],
      contacts: page.map((c) => this.#contactJson(c)),
      meta: {
        total: String(total),
        page_input: { segmentid: null, formid: 0, listid: listid ?? 0, tagid: tagid ?? 0, limit, offset, search: null, sort: null, seriesid: 0, waitid: 0, status: -1, forceQuery: 0, cacheid: "" },
      },
    };
    const include = (q.get("include") ?? "").split(",").map((s) => s.trim());
    if (this.sideloadContactLists && include.includes("contactLists")) body.contactLists = this.#contactListsOf(page.map((c) => c.id));
    if (this.sideloadContactLists && include.includes("contactTags")) {
      const onPage = new Set(page.map((c) => c.id));
      body.contactTags = [...this.contactTags.values()].filter((t) => onPage.has(t.contact)).map((t) => this.#contactTagJson(t));
    }
    if (this.sideloadContactLists && include.includes("fieldValues")) body.fieldValues = this.#fieldValuesOf(page.map((c) => c.id));
    return json(200, body);
  }

  #postContactList(body: unknown): Response {
    if (typeof body !== "object" || body === null) return json(400, {});
    const cl = (body as { contactList?: unknown }).contactList;
    if (typeof cl !== "object" || cl === null) return unprocessable("contactList", "The contactList field is required", "field_missing");
    const { list, contact, status } = cl as Record<string, unknown>;
    if (typeof list !== "number" || !Number.isInteger(list)) return unprocessable("list", "The list field must be an integer", "field_invalid");
    const contactId = typeof contact === "number" ? String(contact) : typeof contact === "string" && /^\d+$/.test(contact) ? contact : null;
    if (contactId === null) return unprocessable("contact", "The contact field must be an integer", "field_invalid");
    const st = Number(status);
    if (st !== 1 && st !== 2) return unprocessable("status", "The status field must be 1 or 2", "field_invalid");
    if (!this.lists.has(String(list))) return unprocessable("list", "The related list does not exist.", "related_missing");
    const c = this.contacts.get(contactId);
    if (!c) return unprocessable("contact", "The related contact does not exist.", "related_missing");
    const before = this.listStatus(contactId, String(list));
    this.setListStatus(contactId, String(list), st);
    if (st === 1 && before !== 1) this.fireEvent("subscribe", contactId, String(list), "api");
    const row = this.contactLists.get(`${contactId}:${list}`);
    return json(200, { contacts: [this.#contactJson(c)], contactList: row ? this.#contactListJson(row) : null });
  }

  /** POST /contacts: creates a contact (no list: no event; AC's `subscribe` is per list). 422 for an address already used. */
  #postContact(body: unknown): Response {
    const c = (body as { contact?: Record<string, unknown> } | undefined)?.contact;
    if (typeof c !== "object" || c === null || typeof c.email !== "string" || !c.email.includes("@")) return unprocessable("email", "Email address is invalid.", "email_invalid");
    if (this.#contactByEmail(c.email)) return unprocessable("email", "Email address already exists in the system.", "duplicate");
    const id = this.addContact({ email: c.email, firstName: typeof c.firstName === "string" ? c.firstName : "", lastName: typeof c.lastName === "string" ? c.lastName : "" });
    return json(201, { contact: this.#contactJson(this.contacts.get(id)!) });
  }

  // ---- fields, tags, imports --------------------------------------------------------------

  #routeFields(method: string, path: string, q: URLSearchParams, body: unknown): Response | undefined {
    let m: RegExpMatchArray | null;
    if (method === "GET" && path === "/api/3/fields") {
      const perstag = q.get("filters[perstag]");
      const rows = [...this.fields.values()].filter((f) => !perstag || f.perstag === perstag).sort((a, b) => Number(a.id) - Number(b.id));
      const { limit, offset } = pageInput(q, 100);
      const page = rows.slice(offset, offset + limit);
      const onPage = new Set(page.map((f) => f.id));
      return json(200, {
        fieldOptions: [],
        fieldRels: [...this.fieldRels.values()].filter((r) => onPage.has(r.field)).map((r) => this.#fieldRelJson(r)),
        fields: page.map((f) => this.#fieldJson(f)),
        meta: { total: String(rows.length) },
      });
    }
    if (method === "POST" && path === "/api/3/fields") {
      const f = (body as { field?: Record<string, unknown> } | undefined)?.field;
      const title = typeof f?.title === "string" ? f.title.trim() : "";
      if (!title) return json(422, { errors: [{ title: "The field title was not provided.", detail: "", code: "field_missing" }] });
      if (typeof f?.type !== "string" || !f.type) return json(422, { errors: [{ title: "The field type was not provided.", detail: "", code: "field_missing" }] });
      if (this.fieldByTitle(title)) return json(422, { errors: [{ title: "There is already a field with this title", detail: `There is already a field named '${title}' -- choose another name`, code: "duplicate" }] });
      const perstag = typeof f.perstag === "string" && f.perstag ? perstagOf(f.perstag) : perstagOf(title);
      if ([...this.fields.values()].some((x) => x.perstag === perstag)) {
        return json(422, { errors: [{ title: "There is already a field with this personalization tag", detail: `There is already a personalization tag named '${perstag}' -- choose another name`, code: "field_invalid" }] });
      }
      const id = this.addField(title, { type: f.type, perstag, lists: [] });
      const field = this.fields.get(id)!;
      field.descript = typeof f.descript === "string" ? f.descript : "";
      return json(201, { field: this.#fieldJson(field) });
    }
    if (method === "GET" && (m = path.match(/^\/api\/3\/fields\/(\d+)$/))) {
      const field = this.fields.get(m[1] ?? "");
      if (!field) return json(404, { message: `No Result found for Field with id ${m[1]}` });
      return json(200, { fieldOptions: [], fieldRels: [...this.fieldRels.values()].filter((r) => r.field === field.id).map((r) => this.#fieldRelJson(r)), field: this.#fieldJson(field) });
    }
    if (method === "POST" && path === "/api/3/fieldRels") {
      const rel = (body as { fieldRel?: { field?: unknown; relid?: unknown } } | undefined)?.fieldRel;
      const field = String(rel?.field ?? "");
      const relid = String(rel?.relid ?? "");
      if (!this.fields.has(field)) return unprocessable("field", "The related field does not exist.", "related_missing");
      if (relid !== "0" && !this.lists.has(relid)) return unprocessable("relid", "The related list does not exist.", "related_missing");
      const row = this.#addFieldRel(field, relid);
      return json(201, { fieldRel: { relid: Number(row.relid), field: Number(row.field), cdate: row.cdate, links: [], id: row.id } });
    }
    if (method === "GET" && path === "/api/3/fieldValues") {
      const fieldid = q.get("filters[fieldid]");
      const val = q.get("filters[val]");
      const rows = [...this.fieldValues.values()].filter((v) => (!fieldid || v.field === fieldid) && (val === null || v.value === val));
      const { limit, offset } = pageInput(q);
      return json(200, { fieldValues: rows.slice(offset, offset + limit).map((v) => this.#fieldValueJson(v)), meta: { total: String(rows.length) } });
    }
    if (method === "POST" && path === "/api/3/fieldValues") return this.#writeFieldValue(body, null);
    if ((m = path.match(/^\/api\/3\/fieldValues\/(\d+)$/))) {
      const row = [...this.fieldValues.values()].find((v) => v.id === m?.[1]);
      if (method === "PUT") return this.#writeFieldValue(body, m[1] ?? "");
      if (!row) return json(404, { message: `No Result found for FieldValue with id ${m[1]}` });
      if (method === "GET") return json(200, { fieldValue: this.#fieldValueJson(row) });
      if (method === "DELETE") {
        this.fieldValues.delete(`${row.contact}:${row.field}`);
        return json(200, {});
      }
    }
    return undefined;
  }

  /** POST /fieldValues (sets the contact's value, replacing one it had) and PUT /fieldValues/{id}. */
  #writeFieldValue(body: unknown, id: string | null): Response {
    const fv = (body as { fieldValue?: { contact?: unknown; field?: unknown; value?: unknown } } | undefined)?.fieldValue;
    if (!fv) return unprocessable("fieldValue", "The fieldValue field is required", "field_missing");
    if (id !== null && ![...this.fieldValues.values()].some((v) => v.id === id)) return json(404, { message: `No Result found for FieldValue with id ${id}` });
    const contact = String(fv.contact ?? "");
    const field = String(fv.field ?? "");
    const c = this.contacts.get(contact);
    if (!c) return unprocessable("contact", "The related contact does not exist.", "related_missing");
    if (!this.fields.has(field)) return unprocessable("field", "The related field does not exist.", "related_missing");
    if (typeof fv.value !== "string") return unprocessable("value", "The value field must be a string", "field_invalid");
    const row = this.setFieldValue(contact, field, fv.value);
    return json(200, { contacts: [this.#contactJson(c)], fieldValue: { ...this.#fieldValueJson(row), contact: Number(contact), field: Number(field), owner: Number(contact) } });
  }

  #postTag(body: unknown): Response {
    const t = (body as { tag?: { tag?: unknown; tagType?: unknown; description?: unknown } } | undefined)?.tag;
    const name = typeof t?.tag === "string" ? t.tag.trim() : "";
    if (!name) return unprocessable("tag", "The tag field is required", "field_missing");
    if (this.tagByName(name)) return unprocessable("tag", "There is already a tag with this name", "duplicate");
    const id = this.addTag(name);
    const tag = this.tags.get(id)!;
    if (typeof t?.description === "string") tag.description = t.description;
    return json(201, { tag: { ...tag, links: {} } });
  }

  #postContactTag(body: unknown): Response {
    const ct = (body as { contactTag?: { contact?: unknown; tag?: unknown } } | undefined)?.contactTag;
    const contact = String(ct?.contact ?? "");
    const tag = String(ct?.tag ?? "");
    if (!contact || !tag) return json(422, { errors: [{ status: 422, title: "Missing attribute", source: { pointer: `/data/attributes/${contact ? "tag" : "contact"}` } }] });
    if (!this.contacts.has(contact)) return json(404, { errors: [{ status: 404, title: "Not Found", detail: "Contact not found" }] });
    if (!this.tags.has(tag)) return json(404, { errors: [{ status: 404, title: "Not Found", detail: "Tag not found" }] });
    return json(201, { contactTag: this.#contactTagJson(this.tagContact(contact, tag)) });
  }

  #postImport(body: unknown): Response {
    const invalid = (reasons: unknown[]) =>
      json(400, { success: 0, message: "JSON payload did not pass validation. Please fix failure Reasons and retry. The import was not queued for processing.", failureReasons: reasons });
    const payload = (body ?? {}) as { contacts?: unknown; exclude_automations?: unknown };
    if (typeof body !== "object" || body === null || !Array.isArray(payload.contacts)) return invalid(["Field 'contacts' is required."]);
    const contacts = payload.contacts as FakeImportContact[];
    if (contacts.length === 0) return invalid(["At least one contact is required."]);
    if (contacts.length > 250) return invalid(["Up to 250 contacts may be included in a single request."]);
    if (Buffer.byteLength(JSON.stringify(body)) > 399_999) return invalid(["The payload must be at most 399,999 bytes."]);
    const reasons = contacts.flatMap((c, i) =>
      typeof c?.email === "string" && /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(c.email) ? [] : [{ contact: i, failureReason: "Field‘ email’ incorrect format" }],
    );
    if (reasons.length > 0) return invalid(reasons);
    const at = this.#now();
    const single = contacts.length === 1;
    this.#importHits = this.#importHits.filter((h) => at - h.at < 60_000);
    const cap = single ? this.singleImportsPerMinute : this.importsPerMinute;
    if (this.#importHits.filter((h) => h.single === single).length >= cap) {
      return json(400, {
        success: 0,
        message: "Rate limit exceeded.",
        failureReasons: [`Up to ${cap} imports may be requested per minute.Please batch contacts into larger requests, or retry this request in a minute.`],
      });
    }
    this.#importHits.push({ at, single });
    // exclude_automations: AC's example puts it in each contact, its note on the payload.
    const excludeAutomations = payload.exclude_automations === true || contacts.every((c) => c.exclude_automations === true);
    const batchId = fakeUuid(++this.#importSeq);
    const readyAt = Math.max(this.#lastImportReadyAt, at) + this.importProcessMs;
    this.#lastImportReadyAt = readyAt;
    this.imports.set(batchId, { batchId, contacts, excludeAutomations, queuedAt: at, readyAt, status: "waiting", success: [], failure: [] });
    return json(200, { Success: 1, queued_contacts: contacts.length, batchId, message: "Contact import queued" });
  }

  /** Carries out the imports whose time has come, in the order they were queued. */
  processImports(at: number = this.#now()): void {
    if (this.holdImports) return;
    for (const imp of this.imports.values()) {
      if (imp.status !== "waiting" || imp.readyAt > at) continue;
      const fault = this.importFaults.find((f) => f.times > 0 && (!f.match || f.match(imp)));
      if (fault) {
        fault.times -= 1;
        imp.status = "failed";
        continue;
      }
      for (const c of imp.contacts) this.#importOne(imp, c);
      imp.status = "completed";
    }
  }

  #importOne(imp: FakeImport, c: FakeImportContact): void {
    if (this.excludedEmails.has(c.email.toLowerCase())) {
      imp.failure.push(c.email);
      return;
    }
    let contact = this.#contactByEmail(c.email);
    if (!contact) {
      // AC's importer creates the contacts it does not find: what safe matching must never let happen.
      const id = this.addContact({ email: c.email, firstName: c.first_name ?? "", lastName: c.last_name ?? "" });
      contact = this.contacts.get(id)!;
      imp.success.push(id);
    } else {
      if (c.first_name !== undefined) contact.firstName = c.first_name;
      if (c.last_name !== undefined) contact.lastName = c.last_name;
    }
    const id = contact.id;
    for (const f of c.fields ?? []) if (this.fields.has(String(f.id))) this.setFieldValue(id, String(f.id), String(f.value));
    for (const name of c.tags ?? []) this.tagContact(id, this.tagByName(name)?.id ?? this.addTag(name));
    for (const l of c.subscribe ?? []) {
      const list = String(l.listid);
      // "Contacts may not be subscribed to lists which they have previously unsubscribed from."
      if (this.lists.has(list) && this.listStatus(id, list) !== 2) this.setListStatus(id, list, 1);
    }
    for (const l of c.unsubscribe ?? []) if (this.lists.has(String(l.listid))) this.setListStatus(id, String(l.listid), 2);
    contact.udate = iso(this.#now());
    if (!imp.excludeAutomations) this.automationTriggers.push(id);
  }

  #importInfo(q: URLSearchParams): Response {
    const batchId = q.get("batchId");
    if (!batchId) return json(400, { success: 0, message: "'batchId' is a required field." });
    const imp = this.imports.get(batchId);
    if (!imp) return json(404, { message: `No Result found for import with batchId ${batchId}` });
    if (this.#now() - imp.queuedAt < this.importUnknownMs) return json(200, { status: false, success: [], failure: [] });
    return json(200, { status: imp.status, success: imp.success, failure: imp.failure });
  }

  #importAggregates(): Response {
    const byDay = (done: boolean) => {
      const days = new Map<string, { forDate: string; batches: number; contacts: number }>();
      for (const imp of this.imports.values()) {
        if ((imp.status !== "waiting") !== done) continue;
        const forDate = new Date(imp.queuedAt).toISOString().slice(0, 10);
        const d = days.get(forDate) ?? { forDate, batches: 0, contacts: 0 };
        d.batches += 1;
        d.contacts += imp.contacts.length;
        days.set(forDate, d);
      }
      return [...days.values()].map((d) => ({ forDate: d.forDate, batches: String(d.batches), contacts: String(d.contacts) }));
    };
    return json(200, { outstanding: byDay(false), recentlyCompleted: byDay(true) });
  }

  #fieldJson(f: FakeField) {
    return {
      ...f,
      isrequired: "0",
      defval: null,
      show_in_list: "0",
      rows: "0",
      cols: "0",
      visible: "1",
      service: "",
      ordernum: f.id,
      options: [],
      relations: [...this.fieldRels.values()].filter((r) => r.field === f.id).map((r) => r.id),
      links: { options: `${this.baseUrl}/api/3/fields/${f.id}/options`, relations: `${this.baseUrl}/api/3/fields/${f.id}/relations` },
    };
  }

  #fieldRelJson(r: FakeFieldRel) {
    return { field: r.field, relid: r.relid, dorder: "0", cdate: r.cdate, links: [], id: r.id };
  }

  #fieldValueJson(v: FakeFieldValue) {
    return {
      contact: v.contact,
      field: v.field,
      value: v.value,
      cdate: v.cdate,
      udate: v.udate,
      created_by: "0",
      updated_by: "0",
      links: { owner: `${this.baseUrl}/api/3/fieldValues/${v.id}/owner`, field: `${this.baseUrl}/api/3/fieldValues/${v.id}/field` },
      id: v.id,
      owner: v.contact,
    };
  }

  #fieldValuesOf(contactIds: string[]) {
    const wanted = new Set(contactIds);
    return [...this.fieldValues.values()].filter((v) => wanted.has(v.contact)).map((v) => this.#fieldValueJson(v));
  }

  #contactTagJson(t: FakeContactTag) {
    return { contact: t.contact, tag: t.tag, cdate: t.cdate, created_timestamp: t.cdate, updated_timestamp: t.cdate, created_by: null, updated_by: null, links: { contact: `/${t.id}/contact`, tag: `/${t.id}/tag` }, id: t.id };
  }

  #contactListsOf(contactIds: string[]) {
    const rows: FakeContactList[] = [];
    for (const contact of contactIds) {
      for (const list of this.lists.keys()) {
        const row = this.contactLists.get(`${contact}:${list}`);
        if (row) rows.push(row);
      }
    }
    return rows.map((r) => this.#contactListJson(r));
  }

  #contactListJson(r: FakeContactList) {
    return {
      contact: r.contact,
      list: r.list,
      form: null,
      seriesid: "0",
      sdate: r.sdate,
      udate: r.udate,
      status: r.status,
      sourceid: "0",
      unsubreason: null,
      campaign: null,
      message: null,
      automation: null,
      unsubscribeAutomation: null,
      ip4Sub: "0",
      ip4Unsub: "0",
      links: { automation: "", list: `${this.baseUrl}/api/3/contactLists/${r.id}/list`, contact: `${this.baseUrl}/api/3/contactLists/${r.id}/contact` },
      id: r.id,
    };
  }

  #contactJson(c: FakeContact) {
    const [local = "", domain = ""] = c.email.split("@");
    return {
      cdate: c.cdate,
      email: c.email,
      phone: c.phone,
      firstName: c.firstName,
      lastName: c.lastName,
      orgid: "0",
      orgname: "",
      bounced_hard: c.bounced_hard,
      bounced_soft: c.bounced_soft,
      bounced_date: null,
      ip: "0",
      hash: "",
      email_local: local,
      email_domain: domain,
      sentcnt: "0",
      gravatar: "0",
      deleted: "0",
      anonymized: "0",
      adate: null,
      udate: c.udate,
      edate: null,
      deleted_at: null,
      links: {
        contactLists: `${this.baseUrl}/api/3/contacts/${c.id}/contactLists`,
        contactTags: `${this.baseUrl}/api/3/contacts/${c.id}/contactTags`,
      },
      id: c.id,
      organization: null,
    };
  }
}

function parseBody(raw: string): unknown {
  if (raw === "") return undefined;
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

/** AC's personalization tag for a title: upper case, other characters as _. */
function perstagOf(title: string): string {
  return title.toUpperCase().replace(/[^A-Z0-9]+/g, "_").replace(/^_+|_+$/g, "") || "FIELD";
}

/** A batchId shaped like AC's (a UUID), predictable in tests. */
function fakeUuid(n: number): string {
  const hex = n.toString(16).padStart(12, "0");
  return `0641fbdd-f62f-4c2c-ba02-${hex}`;
}

function pageInput(q: URLSearchParams, defaultLimit = 20): { limit: number; offset: number } {
  const limit = Number.parseInt(q.get("limit") ?? "", 10);
  const offset = Number.parseInt(q.get("offset") ?? "", 10);
  return {
    limit: Number.isFinite(limit) && limit > 0 ? Math.min(limit, 100) : defaultLimit,
    offset: Number.isFinite(offset) && offset > 0 ? offset : 0,
  };
}

const scramble = (id: string) => (Number(id) * 2_654_435_761) % 1_000_003;

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json; charset=utf-8", ...headers },
  });
}

function unprocessable(field: string, title: string, code: string): Response {
  return json(422, { errors: [{ title, detail: "", code, source: { pointer: `/data/attributes/${field}` } }] });
}

export interface FakeAcServer {
  /** e.g. http://127.0.0.1:41234, usable as the API URL with AC_ALLOW_PRIVATE_HOSTS=on. */
  url: string;
  port: number;
  close(): Promise<void>;
}

const HOP_HEADERS = new Set(["host", "connection", "content-length", "transfer-encoding", "keep-alive", "expect", "upgrade"]);

/**
 * Serves `fake` over real HTTP on 127.0.0.1 only (port 0 picks a free one) and points its
 * `baseUrl`, which its links name, at the served URL. A `reset` fault destroys the socket.
 */
export async function startFakeAcServer(fake: FakeAc, opts: { port?: number } = {}): Promise<FakeAcServer> {
  const host = "127.0.0.1";
  const server = createServer((req, res) => {
    void (async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const body = Buffer.concat(chunks);
      const method = req.method ?? "GET";
      const request = new Request(`http://${host}:${port}${req.url ?? "/"}`, {
        method,
        headers: toHeaders(req.headers),
        ...(body.length > 0 && method !== "GET" && method !== "HEAD" ? { body } : {}),
      });
      const response = await fake.handle(request);
      if (response.type === "error") {
        req.socket.destroy();
        return;
      }
      const out = Buffer.from(await response.arrayBuffer());
      const headers: Record<string, string> = {};
      response.headers.forEach((v, k) => {
        headers[k] = v;
      });
      res.writeHead(response.status, { ...headers, "content-length": String(out.length) });
      res.end(out);
    })().catch(() => {
      if (!res.headersSent) res.writeHead(500, { "content-type": "application/json" });
      res.end("{}");
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 0, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  fake.baseUrl = `http://${host}:${port}`;
  return {
    url: fake.baseUrl,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function toHeaders(h: IncomingHttpHeaders): Headers {
  const headers = new Headers();
  for (const [k, v] of Object.entries(h)) {
    if (v === undefined || HOP_HEADERS.has(k)) continue;
    for (const value of Array.isArray(v) ? v : [v]) headers.append(k, value);
  }
  return headers;
}
