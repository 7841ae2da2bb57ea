import type { Deps, Principal } from "./deps.ts";
import type { Logger } from "./logger.ts";

/** Hono environment: what middleware puts on every request's context. */
export interface AppEnv {
  Variables: {
    deps: Deps;
    requestId: string;
    log: Logger;
    principal: Principal | null;
  };
}
