// An HTTP thread that exits on its first request, if no thread started from this entry has
// died yet (test/ac-http-thread.test.ts): `workerData.died` is shared by every thread, so the
// threads started after it run the real one.
import { parentPort, workerData } from "node:worker_threads";
import { register } from "tsx/esm/api";

if (Atomics.compareExchange(workerData.died, 0, 0, 1) === 0) {
  parentPort.once("message", () => process.exit(3));
} else {
  register();
  await import(workerData.entry);
}
