import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

/**
 * `npm run bench`: every benchmark in turn, each in a process of its own so that peak RSS
 * figures are its own. Only loopback traffic: the fake AC, DNS and SMTP servers all run on
 * 127.0.0.x.
 */
const benches: [string, string, string[]][] = [
  ["AC client rate limiter: 200 requests at 5 req/s (issue 2)", "ac-rate.ts", []],
  ["verification engine (issues 3 and 16: SMTP sessions with and without reuse)", "verify.ts", []],
  ["hygiene run, 50,000 contacts, limit raised to 200 req/s (issues 4 and 13: fetch-phase ratio, end to end)", "runs.ts", ["50000", "200"]],
  // The same rate over a fetch of 10 s: the 50,000 run's 2.5 s are much of them start-up.
  ["hygiene run to review, 200,000 contacts, limit raised to 200 req/s (issue 13: fetch-phase ratio past the start-up)", "runs.ts", ["200000", "200", "--review-only"]],
  ["hygiene run to review, 1,000,000 contacts, limit raised to 1,000 req/s (issue 13: contacts/s per phase, peak RSS at 100K/500K/1M)", "runs.ts", ["1000000", "1000", "--review-only"]],
  ["hygiene run, 1,000 contacts at AC's real 5 req/s (issue 4)", "runs.ts", ["1000", "5"]],
  // At 1 req/s the fetch (100 contacts/s) is slower than the loopback mail servers answer
  // probes on 2 cores (~150/s), so the fetch sets the pace, as a real, varied MX fleet does.
  ["hygiene run with the SMTP probe, 1,000 contacts at 1 req/s, 25% greylisted for 5 s (issue 10)", "greylist.ts", ["1000", "1", "5000"]],
  // At AC's real 5 req/s the fetch (500 contacts/s) outpaces the loopback mail servers: there
  // the probes, not the fetch, set the pace; printed for the record.
  ["hygiene run with the SMTP probe, 2,500 contacts at 5 req/s, 25% greylisted for 5 s (issue 10)", "greylist.ts", ["2500", "5", "5000"]],
  ["capacity: K accounts at 5 req/s each in one process (issue 13)", "capacity.ts", ["3000", "8,16,24,32,40,48"]],
  ["sign-in burst: 200 guesses from one network, another user signing in (issue 11)", "sign-in-burst.ts", ["200"]],
  ["upload: a 1,000,000-row CSV file verified with DNS-level checks, results streamed back (issue 19)", "uploads.ts", ["1000000"]],
  // Labels: AC's real limits throughout (the 50,000 run takes about 6 minutes: 2 to check, 3 to label).
  ["labels in ActiveCampaign, 1,000 contacts at AC's 5 req/s and 100 imports/min (issue 17)", "labels.ts", ["1000", "5", "100", "200"]],
  ["labels in ActiveCampaign, 50,000 contacts at AC's 5 req/s and 100 imports/min (issue 17)", "labels.ts", ["50000", "5", "100", "200"]],
  ["monitoring: webhook deliveries accepted per second, and event to action at AC's 5 req/s (issue 18)", "monitor.ts", ["5000", "32", "10"]],
];

let failed = 0;
for (const [title, file, args] of benches) {
  console.log(`\n== ${title}`);
  // The run and capacity benchmarks start the product as npm start does (bench/product.ts).
  const result = spawnSync(process.execPath, ["--import", "tsx", fileURLToPath(new URL(file, import.meta.url)), ...args], { stdio: "inherit" });
  if (result.status !== 0) failed += 1;
}
process.exitCode = failed ? 1 : 0;
