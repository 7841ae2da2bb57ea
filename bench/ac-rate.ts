import { pathToFileURL } from "node:url";
import { createAcClient, createAcLimiters } from "../core/ac/index.ts";
import { FakeAc, startFakeAcServer } from "../test/support/fake-ac.ts";

/**
 * 200 requests through the AC client against the fake AC on 127.0.0.1 enforcing 5 req/s
 * with 429 + Retry-After. Prints the achieved rate against the allowed one and the 429s.
 */
export async function benchAcRate(opts: { requests?: number; requestsPerSecond?: number } = {}): Promise<void> {
  const total = opts.requests ?? 200;
  const allowed = opts.requestsPerSecond ?? 5;
  const fake = new FakeAc({ requestsPerSecond: allowed });
  fake.addContacts(50);
  const served = await startFakeAcServer(fake);
  try {
    const client = createAcClient({
      apiUrl: served.url,
      apiKey: fake.apiKey,
      limiters: createAcLimiters({ requestsPerSecond: allowed }),
      allowPrivateHosts: true,
    });
    const started = performance.now();
    await Promise.all(
      Array.from({ length: total }, (_, i) =>
        i % 2 === 0 ? client.getMe() : client.pageContacts({ scope: { kind: "all" }, limit: 10, includeLists: true }),
      ),
    );
    const seconds = (performance.now() - started) / 1000;
    const arrivals = fake.requests.map((r) => r.at).sort((a, b) => a - b);
    const first = arrivals[0] ?? 0;
    const last = arrivals[arrivals.length - 1] ?? 0;
    // Steady state: requests after the first burst over the time they took to arrive.
    const steady = last > first ? (arrivals.length - allowed) / ((last - first) / 1000) : Number.NaN;
    const achieved = total / seconds;
    console.log(`ac-rate: ${total} requests in ${seconds.toFixed(2)} s`);
    console.log(`  achieved ${achieved.toFixed(2)} req/s of ${allowed} allowed: ratio ${(achieved / allowed).toFixed(3)}`);
    console.log(`  steady state ${steady.toFixed(2)} req/s: ratio ${(steady / allowed).toFixed(3)}`);
    console.log(`  429s: ${fake.countStatus(429)}; AC requests sent: ${client.stats.requests}; retries: ${client.stats.retries}`);
  } finally {
    await served.close();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await benchAcRate();
}
