// An HTTP thread that exits on its first request, if no thread started from this entry has
// died yet (test/ac-http-thread.test.ts): `workerData.died` is shared by every thread, so the
// threads started after it run the real one. With `workerData.afterStart` it first says it is
// sending the request (as the real thread does for one that changes something), then exits
// without sending it.
import { parentPort, workerData } from "node:worker_threads";
import { register } from "tsx/esm/api";

if (Atomics.compareExchange(workerData.died, 0, 0, 1) === 0) {
  parentPort.once("message", (message) => {
    if (!workerData.afterStart) process.exit(3);
    parentPort.postMessage({ id: message.id, started: true });
    setTimeout(() => process.exit(3), 50);
  });
} else {
  register();
  await import(workerData.entry);
}
