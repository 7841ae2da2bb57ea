import type { Deps, Principal } from "../core/deps.ts";
import type { Logger } from "../core/logger.ts";

/** Hono environment: what middleware puts on every request's context. */
export interface AppEnv {
  Variables: {
    deps: Deps;
    requestId: string;
    log: Logger;
    principal: Principal | null;
  };
}
