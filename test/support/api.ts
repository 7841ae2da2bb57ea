import { hc, type ClientResponse } from "hono/client";
import { expect } from "vitest";
import type { ApiType } from "../../server/app.ts";
import { ORIGIN, type Session, type TestApp } from "./app.ts";

/**
 * The API through Hono's typed client: paths, inputs and answers are typed by the route
 * definitions (server/routes/*.routes.ts), so tests read answers without casts. Requests go
 * through the whole app (t.app), as the test helpers' do. A session sends its cookie and CSRF
 * token; `{ bearer }` an API token.
 */
export function apiClient(t: TestApp, as?: Session | { bearer: string }) {
  const headers: Record<string, string> = {};
  if (as && "cookie" in as) Object.assign(headers, { cookie: as.cookie, "x-csrf-token": as.csrfToken });
  else if (as) headers.authorization = `Bearer ${as.bearer}`;
  return hc<ApiType>(`${ORIGIN}/api`, { fetch: async (input: RequestInfo | URL, init?: RequestInit) => t.app.request(input, init), headers });
}

/** The body of an answer of one status, typed as the route defines it for that status. */
type BodyOf<R, S extends number> = R extends ClientResponse<infer T, infer U, "json"> ? (U extends S ? T : never) : never;

/** Expects the status (showing the body when it differs) and returns the answer's typed body. */
export async function answer<R extends ClientResponse<unknown, number, string>, S extends R["status"]>(res: R, status: S): Promise<BodyOf<R, S>> {
  const text = await res.text();
  expect(res.status, text).toBe(status);
  return JSON.parse(text) as BodyOf<R, S>;
}
