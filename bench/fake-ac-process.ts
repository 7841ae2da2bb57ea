import { FakeAc, startFakeAcServer } from "../test/support/fake-ac.ts";
import { startDnsServer } from "../test/support/dns-server.ts";
import { startSmtpServers } from "../test/support/smtp-servers.ts";
import { benchWorld, greylistWorld } from "./world.ts";

/**
 * The fake AC for benchmarks, in a process of its own so its CPU and memory are not counted
 * as the product's. Seeds `contacts` contacts over two lists, then answers IPC messages:
 * "stats" → request arrival times and counts; "close" → exits. With the world "greylist" it
 * also serves that world's DNS and SMTP servers (on 127.0.0.x) from here. With the world
 * "labels" its bulk importer keeps AC's per-minute cap (argv[5]), runs each import in argv[6] ms
 * and does not know a batch for argv[7] ms after it was queued.
 */
const contacts = Number(process.argv[2]);
const requestsPerSecond = Number(process.argv[3]);
const worldName = process.argv[4] ?? "plain";
const greylistDelayMs = Number(process.argv[5] ?? 0);
const grey = worldName === "greylist" ? greylistWorld(contacts) : null;
const world = grey ?? benchWorld();
const imports =
  worldName === "labels"
    ? { importsPerMinute: Number(process.argv[5] ?? 100), importProcessMs: Number(process.argv[6] ?? 0), importUnknownMs: Number(process.argv[7] ?? 0) }
    : {};
// Kept requests: enough for a 50,000-contact run's fetch and labels, without the whole log of a longer one.
const fake = new FakeAc({ baseUrl: "http://127.0.0.1:1", requestsPerSecond, ...imports });
const lists = [fake.addList("Main"), fake.addList("Second")];
for (let i = 0; i < contacts; i++) {
  fake.addContact({ email: world.email(i), lists: i % 4 === 0 ? { [lists[0]!]: 1, [lists[1]!]: 1 } : { [lists[i % 2]!]: 1 } });
}
const served = await startFakeAcServer(fake);
const mail = grey ? { dns: await startDnsServer(grey.zone), smtp: await startSmtpServers(grey.mx(greylistDelayMs)) } : null;
process.send?.({ type: "ready", url: served.url, apiKey: fake.apiKey, dns: mail?.dns.address ?? null, smtpPort: mail?.smtp.port ?? null });
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
      requests: fake.requests.map((r) => ({ at: r.at, method: r.method, path: r.path, byIds: "ids[]" in r.query, status: r.status })),
      imports: { created: [...fake.imports.values()].reduce((n, imp) => n + imp.success.length, 0), completed: [...fake.imports.values()].filter((imp) => imp.status === "completed").length },
    });
  } else if (msg.type === "close") {
    await served.close();
    await mail?.smtp.close();
    await mail?.dns.close();
    process.exit(0);
  }
});
