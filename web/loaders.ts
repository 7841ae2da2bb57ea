import type { AcNamed } from "../core/ac/index.ts";
import type { Deps, Principal } from "../core/deps.ts";
import { AppError } from "../core/errors.ts";
import { listConnectionLists, listConnectionTags } from "../core/services/connections.ts";

export type AcData = { ok: true; lists: AcNamed[]; tags: AcNamed[] } | { ok: false; code: string; message: string };

/** Lists and tags from AC; a refused key or an unreachable AC becomes a message on the page. */
export async function loadAc(deps: Deps, ctx: Principal, id: string): Promise<AcData> {
  try {
    const [lists, tags] = await Promise.all([listConnectionLists(deps, { ctx, id }), listConnectionTags(deps, { ctx, id })]);
    return { ok: true, lists, tags };
  } catch (err) {
    if (err instanceof AppError && err.code !== "not_found") return { ok: false, code: err.code, message: err.message };
    throw err;
  }
}
