import { pathToFileURL } from "node:url";
import type { RunView } from "../core/services/runs.ts";
import { startDnsServer } from "../test/support/dns-server.ts";
import { api, forkFakeAc, startBenchProduct, waitFor } from "./runs.ts";
import { benchWorld } from "./world.ts";

/**
 * Labels in ActiveCampaign (issue 17): a run that labels every contact, through the HTTP API,
 * against the fake AC over real HTTP on 127.0.0.1 holding AC's limits (requests per second,
 * imports per minute). Prints the AC requests the labels took per 1,000 contacts (by kind) and
 * the labelling's wall time against the least time AC's limits allow for those requests.
 *
 * The fake's importer is an assumption, not a measurement of AC: it does not know a batch for
 * 1 s after it is queued (as AC's docs say) and then takes `importMs` per import, one at a time.
 */
export async function benchLabels(opts: { contacts: number; requestsPerSecond: number; importsPerMinute: number; importMs: number }): Promise<void> {
  const { contacts, requestsPerSecond, importsPerMinute, importMs } = opts;
  const dns = await startDnsServer(benchWorld().zone);
  const fake = await forkFakeAc(contacts, requestsPerSecond, { name: "labels", importsPerMinute, importProcessMs: importMs, importUnknownMs: 1_000 });
  const product = await startBenchProduct(
    {
      AC_REQUESTS_PER_SECOND: requestsPerSecond,
      AC_IMPORTS_PER_MINUTE: importsPerMinute,
      DNS_SERVERS: [dns.address],
      SIGNUP_CREDITS: contacts + 1_000,
    },
    fake,
  );
  const { url, cookie, csrfToken, connectionId } = product;
  try {
    const actions = { undeliverable: "keep", label: { statuses: ["deliverable", "risky", "undeliverable", "unknown"], tagPrefix: "lw-" } };
    const run = await api<RunView>(url, cookie, csrfToken, "POST", "/api/runs", { connectionId, scope: { kind: "all" }, actions });
    const review = await waitFor(url, cookie, run.id, ["awaiting_review"]);
    await fake.clear();

    const started = performance.now();
    await api(url, cookie, csrfToken, "POST", `/api/runs/${run.id}/approve`, {});
    const done = await waitFor(url, cookie, run.id, ["completed"]);
    const seconds = (performance.now() - started) / 1000;
    const stats = await fake.stats();

    const kinds = { setup: 0, reRead: 0, import: 0, poll: 0, tagRemoval: 0, other: 0 };
    for (const r of stats.requests) {
      if (r.path === "/api/3/contacts" && r.byIds) kinds.reRead += 1;
      else if (r.path === "/api/3/import/bulk_import" && r.method === "POST") kinds.import += 1;
      else if (r.path === "/api/3/import/info") kinds.poll += 1;
      else if (r.method === "DELETE" && r.path.startsWith("/api/3/contactTags/")) kinds.tagRemoval += 1;
      else if (r.path === "/api/3/fields" || r.path === "/api/3/fieldRels" || r.path === "/api/3/tags") kinds.setup += 1;
      else kinds.other += 1;
    }
    const labelled = done.progress.labels.done;
    const requests = stats.requests.length;
    const per1000 = (n: number) => ((n / labelled) * 1000).toFixed(1);
    const acceptedImports = stats.requests.filter((r) => r.path === "/api/3/import/bulk_import" && r.status === 200).length;
    // The least time AC's limits allow for these requests: N at the per-second rate, the imports at the per-minute cap.
    const byRate = requests / requestsPerSecond;
    const byImports = ((acceptedImports - 1) / importsPerMinute) * 60;
    const bound = Math.max(byRate, byImports);
    console.log(`labels: ${contacts.toLocaleString("en-US")} contacts (checked: ${review.progress.verified}), Label on every result with tags`);
    console.log(`  limits: ${requestsPerSecond} requests/s and ${importsPerMinute} imports/min allowed, enforced by the fake AC on 127.0.0.1 as well; its imports take ${importMs} ms each, one at a time, unknown for 1 s`);
    console.log(`  labelled ${labelled}, left out ${done.progress.labels.skipped}, failed ${done.progress.labels.failed}; contacts the imports created: ${stats.imports.created}`);
    console.log(
      `  AC requests: ${requests} (setup ${kinds.setup}, re-reads ${kinds.reRead}, imports ${kinds.import}, status polls ${kinds.poll}, tag removals ${kinds.tagRemoval}, other ${kinds.other}); 429s ${stats.status429}`,
    );
    console.log(
      `  requests per 1,000 labelled contacts: ${per1000(requests)} (${per1000(requests - kinds.setup)} without the one-time setup of the field and tags; goal <= 20; one request per contact would be 1,000)`,
    );
    console.log(
      `  wall time ${seconds.toFixed(1)} s; AC's bound for these requests ${bound.toFixed(1)} s (${requests} at ${requestsPerSecond}/s: ${byRate.toFixed(1)} s; ${acceptedImports} imports at ${importsPerMinute}/min: ${byImports.toFixed(1)} s): ${(seconds / bound).toFixed(2)}x the bound`,
    );
    console.log(`  one field write per contact instead: >= ${(labelled / requestsPerSecond).toFixed(0)} s at ${requestsPerSecond}/s`);
  } finally {
    await product.close();
    await fake.close();
    await dns.close();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await benchLabels({
    contacts: Number(process.argv[2] ?? 50_000),
    requestsPerSecond: Number(process.argv[3] ?? 5),
    importsPerMinute: Number(process.argv[4] ?? 100),
    importMs: Number(process.argv[5] ?? 200),
  });
}
