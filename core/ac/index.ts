export {
  createAcClient,
  parseRetryAfter,
  type AcClient,
  type AcClientOptions,
  type AcClientStats,
  type AcContact,
  type AcContactPage,
  type AcListMembership,
  type AcMethod,
  type AcNamed,
  type AcRequestOptions,
  type AcScope,
  type AcUser,
  type PageContactsOptions,
} from "./client.ts";
export {
  AcError,
  API_URL_HINT,
  AUTH_MESSAGE,
  UNREACHABLE_MESSAGE,
  isAcError,
  type AcErrorDetail,
  type AcErrorKind,
} from "./errors.ts";
export {
  createAcLimiters,
  realSleep,
  type AcLimiter,
  type AcLimiterOptions,
  type AcLimiters,
  type ScheduleOptions,
  type Sleep,
} from "./limiter.ts";
export {
  assertPublicHost,
  createGuardedDispatcher,
  createGuardedLookup,
  isPublicAddress,
  normalizeApiUrl,
  systemLookup,
  type LookupAll,
  type UrlOptions,
} from "./url.ts";
