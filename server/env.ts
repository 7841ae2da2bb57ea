import type { Deps, Principal } from "../core/deps.ts";
import type { Logger } from "../core/logger.ts";

/** Hono environment: what middleware puts on every request's context. */
export interface AppEnv {
  Variables: {
    deps: Deps;
    requestId: string;
    log: Logger;
    principal: Principal | null;
    /**
     * A file upload sent with the session cookie and no X-CSRF-Token header: the token its form
     * field `_csrf` must carry, checked by the upload reader before the file is read (the body
     * is streamed, so csrfProtection cannot read the form first).
     */
    uploadCsrf?: string;
  };
}
