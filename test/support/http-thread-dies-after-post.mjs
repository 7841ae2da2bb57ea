// The real HTTP thread, which exits 300 ms after it is handed its first request that is not a
// GET, if no thread started from this entry has died yet (`workerData.died` is shared): by then
// the request has reached the fake AC, which holds its answer (test/ac-http-thread.test.ts).
// The watch is added after the real thread's own listener, which must see every message; the
// test waits for the thread to be ready before its first request.
import { parentPort, workerData } from "node:worker_threads";
import { register } from "tsx/esm/api";

register();
await import(workerData.entry);
if (Atomics.compareExchange(workerData.died, 0, 0, 1) === 0) {
  parentPort.on("message", (message) => {
    if (message.type === "send" && message.request.method !== "GET") setTimeout(() => process.exit(3), 300);
  });
}
