// Starts the HTTP thread from the TypeScript sources (tests, `tsx`): a worker thread does not
// inherit the main thread's loader. The built server starts dist/ac-http-thread.mjs instead.
import { register } from "tsx/esm/api";
import { workerData } from "node:worker_threads";

register();
await import(workerData.entry);
