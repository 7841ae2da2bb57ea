import { FakeAc, startFakeAcServer, type FakeAcServer } from "../test/support/fake-ac.ts";
import { startDnsServer } from "../test/support/dns-server.ts";
import { benchWorld } from "./world.ts";

/**
 * K fake ActiveCampaign accounts, each on its own port with its own 5 req/s limit and
 * `contacts` contacts, and the DNS server of the bench world: in a process of their own, so
 * the product's process is measured alone. IPC: "stats" → each account's arrivals of contact
 * pages; "close" → exits.
 */
const accounts = Number(process.argv[2]);
const contacts = Number(process.argv[3]);
const requestsPerSecond = Number(process.argv[4] ?? 5);
const world = benchWorld();
const dns = await startDnsServer(world.zone);
const fakes: FakeAc[] = [];
const servers: FakeAcServer[] = [];
for (let a = 0; a < accounts; a++) {
  const fake = new FakeAc({ baseUrl: "http://127.0.0.1:1", requestsPerSecond });
  const list = fake.addList("Main");
  for (let i = 0; i < contacts; i++) fake.addContact({ email: world.email(a * contacts + i), lists: { [list]: 1 } });
  fakes.push(fake);
  servers.push(await startFakeAcServer(fake));
}
process.send?.({ type: "ready", accounts: servers.map((s, i) => ({ url: s.url, apiKey: fakes[i]!.apiKey })), dns: dns.address });
process.on("message", async (msg: { type: string }) => {
  if (msg.type === "stats") {
    process.send?.({
      type: "stats",
      accounts: fakes.map((f) => ({
        pages: f.requests.filter((r) => r.method === "GET" && r.path === "/api/3/contacts").map((r) => r.at),
        status429: f.countStatus(429),
      })),
    });
  } else if (msg.type === "clear") {
    for (const f of fakes) f.clearRequests();
    process.send?.({ type: "cleared" });
  } else if (msg.type === "close") {
    for (const s of servers) await s.close();
    await dns.close();
    process.exit(0);
  }
});
