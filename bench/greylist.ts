import { pathToFileURL } from "node:url";
import type { RunView } from "../core/services/runs.ts";
import { api, forkFakeAc, startBenchProduct, waitFor } from "./runs.ts";

/**
 * A hygiene run with the SMTP probe on, at AC's real 5 requests per second, against loopback
 * mail servers where a quarter of the domains greylist for `delayMs`. Verification is a stream
 * (issue 10): a greylisted address is parked and the rest go on, so the run should take about
 * its fetch time plus one greylisting delay. Prints wall / (fetch + one delay); goal ≤ 1.2.
 */
export async function benchGreylist(opts: { contacts: number; requestsPerSecond: number; delayMs: number }): Promise<void> {
  const { contacts, requestsPerSecond, delayMs } = opts;
  const fake = await forkFakeAc(contacts, requestsPerSecond, { name: "greylist", delayMs });
  const product = await startBenchProduct(
    {
      AC_REQUESTS_PER_SECOND: requestsPerSecond,
      DNS_SERVERS: [fake.dns!],
      SMTP_PROBE: true,
      SMTP_PORT: fake.smtpPort!,
      SMTP_HELO: "probe.listwarden.test",
      SMTP_MAIL_FROM: "bounces@probe.listwarden.test",
      SMTP_GREYLIST_DELAYS_MS: [delayMs],
      SMTP_REPLY_TIMEOUT_MS: 5_000,
      SIGNUP_CREDITS: contacts + 1_000,
    },
    fake,
  );
  const { url, cookie, csrfToken, connectionId } = product;
  try {
    await fake.clear();

    const started = performance.now();
    const run = await api<RunView>(url, cookie, csrfToken, "POST", "/api/runs", { connectionId, scope: { kind: "all" }, smtpProbe: true });
    const done = await waitFor(url, cookie, run.id, ["awaiting_review", "completed"]);
    const wall = (performance.now() - started) / 1000;
    const t = done.timings;
    const fetchSeconds = (Date.parse(t.fetchedAt!) - Date.parse(t.startedAt!)) / 1000;
    const ideal = fetchSeconds + delayMs / 1000;
    const byReason = Object.entries(done.counts.byReason).map(([k, v]) => `${k} ${v}`).join(", ");
    console.log(`greylist: ${contacts} contacts at ${requestsPerSecond} req/s, SMTP probe on, a quarter of the domains greylisting for ${(delayMs / 1000).toFixed(1)} s`);
    console.log(`  results: ${byReason}${done.notes.length ? `; notes: ${done.notes.join(" / ")}` : ""}`);
    console.log(`  fetch ${fetchSeconds.toFixed(1)} s; wall ${wall.toFixed(1)} s from start to ${done.status.replace("_", " ")}`);
    console.log(`  wall / (fetch + one delay) = ${wall.toFixed(1)} / ${ideal.toFixed(1)} = ${(wall / ideal).toFixed(2)} (goal <= 1.2)`);
    console.log(`  contacts decided per second: ${(contacts / wall).toFixed(1)}`);
  } finally {
    await product.close();
    await fake.close();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await benchGreylist({ contacts: Number(process.argv[2] ?? 2_500), requestsPerSecond: Number(process.argv[3] ?? 5), delayMs: Number(process.argv[4] ?? 5_000) });
}
