// test/ac-http-thread.test.ts: one request through the HTTP thread, and nothing closes the
// thread. The process must end on its own once the answer is in.
import { createAcClient, createAcLimiters } from "../../core/ac/index.ts";
import { createAcHttpThread } from "../../core/ac/http-threads.ts";

const [url, apiKey] = process.argv.slice(2) as [string, string];
const thread = createAcHttpThread();
const client = createAcClient({ apiUrl: url, apiKey, limiters: createAcLimiters(), allowPrivateHosts: true, http: thread.http });
const me = await client.getMe();
console.log(`answered ${me.email}`);
