import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";

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
  /** When false, `include=contactLists` is ignored (AC's sideloading is best effort). */
  sideloadContactLists?: boolean;
  now?: () => number;
  user?: Partial<FakeUser>;
  /** Requests kept in `requests` (the oldest are dropped); unbounded by default. */
  requestLogLimit?: number;
  /** Called with each request's log entry as it is answered. */
  onRequest?: (entry: FakeRequestLog) => void;
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

  /** Every request in arrival order, with the status it got. */
  readonly requests: FakeRequestLog[] = [];
  /** Pending faults; the first matching rule applies. */
  readonly faults: FakeFaultRule[] = [];

  readonly #now: () => number;
  readonly #requestLogLimit: number;
  readonly #onRequest: ((entry: FakeRequestLog) => void) | undefined;
  #hits: number[] = [];
  #nextId = { list: 1, tag: 1, contact: 1, contactList: 1, contactTag: 1 };

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

  /** Deletes a contact with its list and tag rows, keeping them in `deletedContacts`. */
  removeContact(id: string): boolean {
    const contact = this.contacts.get(id);
    if (!contact) return false;
    this.contacts.delete(id);
    this.#byId = null;
    this.#byList.clear();
    const deleted: DeletedFakeContact = { contact, contactLists: [], contactTags: [], deletedAt: iso(this.#now()) };
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
    for (const row of deleted.contactLists) this.contactLists.set(`${id}:${row.list}`, row);
    for (const row of deleted.contactTags) this.contactTags.set(`${id}:${row.tag}`, row);
    return true;
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
    if (method === "GET" && path === "/api/3/tags") return this.#page("tags", [...this.tags.values()], q);
    if (method === "GET" && path === "/api/3/contacts") return this.#listContacts(q);
    if (method === "GET" && (m = path.match(/^\/api\/3\/contacts\/(\d+)$/))) {
      const c = this.contacts.get(m[1] ?? "");
      if (!c) return json(404, { message: `No Result found for Subscriber with id ${m[1]}` });
      return json(200, { contact: this.#contactJson(c), contactLists: this.#contactListsOf([c.id]) });
    }
    if (method === "GET" && (m = path.match(/^\/api\/3\/contacts\/(\d+)\/contactLists$/))) {
      if (!this.contacts.has(m[1] ?? "")) return json(404, { message: `No Result found for Subscriber with id ${m[1]}` });
      return json(200, { contactLists: this.#contactListsOf([m[1] ?? ""]) });
    }
    if (method === "GET" && (m = path.match(/^\/api\/3\/contacts\/(\d+)\/contactTags$/))) {
      if (!this.contacts.has(m[1] ?? "")) return json(404, { message: `No Result found for Subscriber with id ${m[1]}` });
      return json(200, { contactTags: [...this.contactTags.values()].filter((t) => t.contact === m?.[1]) });
    }
    if (method === "POST" && path === "/api/3/contactLists") return this.#postContactList(body);
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
    const sorted = listid ? this.#listById(listid) : this.#contactsById();
    const { from, to } = this.#idRange(sorted, idGreater, idLess);
    const order = q.get("orders[id]")?.toUpperCase();
    // The keyset walk (what runs do): the page and the total straight from the sorted rows.
    const fast = !tagid && !email && order === "ASC";
    let rows = fast ? sorted.slice(from + offset, Math.min(to, from + offset + limit)) : sorted.slice(from, to);
    if (tagid) rows = rows.filter((c) => this.contactTags.has(`${c.id}:${tagid}`));
    if (email) rows = rows.filter((c) => c.email.toLowerCase() === email.toLowerCase());
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
    this.setListStatus(contactId, String(list), st);
    const row = this.contactLists.get(`${contactId}:${list}`);
    return json(200, { contacts: [this.#contactJson(c)], contactList: row ? this.#contactListJson(row) : null });
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

function pageInput(q: URLSearchParams): { limit: number; offset: number } {
  const limit = Number.parseInt(q.get("limit") ?? "", 10);
  const offset = Number.parseInt(q.get("offset") ?? "", 10);
  return {
    limit: Number.isFinite(limit) && limit > 0 ? Math.min(limit, 100) : 20,
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
