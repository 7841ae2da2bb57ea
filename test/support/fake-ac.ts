import { http, type HttpHandler } from "msw";
import type { FakeAc } from "../../sandbox/fake-ac.ts";

export * from "../../sandbox/fake-ac.ts";

/** msw handlers that route every request to `fake.baseUrl` into the fake. */
export function fakeAcHandlers(fake: FakeAc): HttpHandler[] {
  return [http.all(`${fake.baseUrl}/*`, ({ request }) => fake.handle(request))];
}
