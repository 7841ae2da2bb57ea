import { FakeAc, startFakeAcServer } from "../test/support/fake-ac.ts";
import { benchWorld } from "./world.ts";

/**
 * The fake AC for benchmarks, in a process of its own so its CPU and memory are not counted
 * as the product's. Seeds `contacts` contacts over two lists, then answers IPC messages:
 * "stats" → request arrival times and counts; "close" → exits.
 */
const contacts = Number(process.argv[2]);
const requestsPerSecond = Number(process.argv[3]);
const world = benchWorld();
const fake = new FakeAc({ baseUrl: "http://127.0.0.1:1", requestsPerSecond });
const lists = [fake.addList("Main"), fake.addList("Second")];
for (let i = 0; i < contacts; i++) {
  fake.addContact({ email: world.email(i), lists: i % 4 === 0 ? { [lists[0]!]: 1, [lists[1]!]: 1 } : { [lists[i % 2]!]: 1 } });
}
const served = await startFakeAcServer(fake);
process.send?.({ type: "ready", url: served.url, apiKey: fake.apiKey });
process.on("message", async (msg: { type: string }) => {
  if (msg.type === "clear") {
    fake.clearRequests();
    process.send?.({ type: "cleared" });
  } else if (msg.type === "stats") {
    process.send?.({
      type: "stats",
      arrivals: fake.requests.map((r) => r.at),
      writes: fake.requests.filter((r) => r.method !== "GET").length,
      status429: fake.countStatus(429),
    });
  } else if (msg.type === "close") {
    await served.close();
    process.exit(0);
  }
});
