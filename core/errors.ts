/** The closed set of error codes the HTTP API answers with, and their statuses. */
export const ERROR_STATUS = {
  invalid_input: 400,
  unauthenticated: 401,
  csrf_failed: 403,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  gone: 410,
  payload_too_large: 413,
  unsupported_media_type: 415,
  insufficient_credits: 402,
  rate_limited: 429,
  ac_key_refused: 422,
  ac_unreachable: 422,
  ac_error: 502,
  unavailable: 503,
  internal: 500,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

/**
 * A domain error services throw; the HTTP edge maps `code` to a status. `field` names the
 * input the user must fix, when there is one.
 */
export class AppError extends Error {
  override name = "AppError";
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly field?: string,
    readonly headers?: Record<string, string>,
  ) {
    super(message);
  }

  get status(): number {
    return ERROR_STATUS[this.code];
  }
}

export const notFound = (what: string) => new AppError("not_found", `${what} not found`);
export const invalidInput = (field: string, message: string) => new AppError("invalid_input", message, field);
