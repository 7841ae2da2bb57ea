/** What went wrong talking to ActiveCampaign. A closed set: callers switch on it. */
export type AcErrorKind =
  | "invalid_url"
  | "auth"
  | "unreachable"
  | "timeout"
  | "not_found"
  | "validation"
  | "rate_limited"
  | "server"
  | "bad_response";

/** One entry of AC's `{"errors":[{title, detail, code, source:{pointer}}]}` body. */
export interface AcErrorDetail {
  title: string;
  detail?: string;
  code?: string;
  pointer?: string;
}

export interface AcErrorOptions {
  status?: number;
  details?: AcErrorDetail[];
  /** Whether the same request may succeed if sent again (for idempotent requests only). */
  retryable?: boolean;
  /** How long AC asked us to wait (Retry-After), in milliseconds. */
  retryAfterMs?: number;
  /** Which of AC's limits a rate_limited answer is about: the bulk import's per-minute cap holds only imports. */
  limit?: "requests" | "imports";
  /** The request never left this process: retryable even when it is not idempotent. */
  notSent?: boolean;
  cause?: unknown;
}

/**
 * The one error the AC client throws. `message` is written for the user who owns the
 * connection and never contains the API key.
 */
export class AcError extends Error {
  override name = "AcError";
  readonly kind: AcErrorKind;
  readonly status: number | undefined;
  readonly details: AcErrorDetail[] | undefined;
  readonly retryable: boolean;
  readonly retryAfterMs: number | undefined;
  readonly limit: "requests" | "imports";
  readonly notSent: boolean;

  constructor(kind: AcErrorKind, message: string, opts: AcErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.kind = kind;
    this.status = opts.status;
    this.details = opts.details;
    this.retryable = opts.retryable ?? false;
    this.retryAfterMs = opts.retryAfterMs;
    this.limit = opts.limit ?? "requests";
    this.notSent = opts.notSent ?? false;
  }
}

export const isAcError = (err: unknown, kind?: AcErrorKind): err is AcError =>
  err instanceof AcError && (kind === undefined || err.kind === kind);

/**
 * Weather: ActiveCampaign busy or briefly away (429s, 5xx, timeouts, resets, a reply cut short)
 * after the client's own retries. Wait and send again; never a final failure.
 */
export const isWeather = (err: AcError): boolean => err.kind === "rate_limited" || err.retryable;

/** AC's 422 to a contactLists write for a contact that no longer exists ("The related contact does not exist."). */
export const isContactGone = (err: AcError): boolean =>
  err.kind === "validation" &&
  // Stryker disable next-line ArrayDeclaration: with no details, a made-up one has no title, code or pointer that could match
  (err.details ?? []).some((d) => /related contact does not exist/i.test(`${d.title} ${d.detail ?? ""}`) || (d.code === "related_missing" && /contact$/.test(d.pointer ?? "")));

export const API_URL_HINT = "API URL must look like https://youraccount.api-us1.com (Settings → Developer in ActiveCampaign)";
export const AUTH_MESSAGE = "ActiveCampaign refused this API key (Settings → Developer)";
export const UNREACHABLE_MESSAGE = "Could not reach that API URL";

export const invalidUrl = (reason?: string) =>
  new AcError("invalid_url", reason ? `${API_URL_HINT}: ${reason}` : API_URL_HINT);

/** The error `code` the SSRF guard raises from inside a connection attempt. */
export const PRIVATE_ADDRESS_CODE = "ERR_AC_PRIVATE_ADDRESS";

export const privateAddressError = (host: string) =>
  new AcError(
    "invalid_url",
    `${API_URL_HINT}: ${host} points to a private or local network address`,
  );
