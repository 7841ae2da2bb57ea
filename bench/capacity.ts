import { fork } from "node:child_process";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { RunView } from "../core/services/runs.ts";
import { startProductProcess } from "./product.ts";
import { api, benchSignUp, steadyRatio, waitFor } from "./runs.ts";

/**
 * Capacity: K ActiveCampaign accounts, each its own fake with its own 5 req/s limit (in a
 * separate process), run at once by one product process with DNS-level checks. Prints, per K,
 * each account's achieved rate / allowed rate during its fetch (min and median over the
 * accounts), and the K at which the ratio falls below 0.95: how many accounts one process
 * drives at AC's full rate.
 */

interface AccountStats {
  pages: number[];
  status429: number;
}

async function forkAccounts(accounts: number, contacts: number) {
  const child = fork(fileURLToPath(new URL("./capacity-fakes.ts", import.meta.url)), [String(accounts), String(contacts)], {
    execArgv: ["--import", "tsx"],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const next = <T>(type: string) =>
    new Promise<T>((resolve) => {
      const on = (msg: { type: string }) => {
        if (msg.type !== type) return;
        child.off("message", on);
        resolve(msg as T);
      };
      child.on("message", on);
    });
  const ready = await next<{ accounts: { url: string; apiKey: string }[]; dns: string }>("ready");
  return {
    ...ready,
    async clear() {
      const done = next("cleared");
      child.send({ type: "clear" });
      await done;
    },
    async stats() {
      const done = next<{ accounts: AccountStats[] }>("stats");
      child.send({ type: "stats" });
      return (await done).accounts;
    },
    async close() {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.send({ type: "close" });
      await exited;
    },
  };
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

export async function benchCapacity(opts: { accounts: number; contacts: number }): Promise<{ min: number; median: number }> {
  const { accounts, contacts } = opts;
  const fakes = await forkAccounts(accounts, contacts);
  // The product in its own process, as npm start runs it: the CPU per contact is its own.
  const lw = await startProductProcess({
    AC_ALLOW_PRIVATE_HOSTS: true,
    AC_REQUESTS_PER_SECOND: 5,
    DNS_SERVERS: fakes.dns,
    SIGNUP_CREDITS: accounts * contacts + 1_000,
    WORKER_CONCURRENCY: accounts,
  });
  try {
    const { cookie, csrfToken } = await benchSignUp(lw.url, "capacity@example.com");
    const connections: string[] = [];
    for (const [i, a] of fakes.accounts.entries()) {
      connections.push((await api<{ id: string }>(lw.url, cookie, csrfToken, "POST", "/api/connections", { apiUrl: a.url, apiKey: a.apiKey, name: `Account ${i + 1}` })).id);
    }
    await fakes.clear();
    const keepAll = { deliverable: "keep", risky: "keep", undeliverable: "keep", unknown: "keep" };
    const started = performance.now();
    const cpuStart = lw.cpuSeconds();
    const runs = await Promise.all(connections.map((connectionId) => api<RunView>(lw.url, cookie, csrfToken, "POST", "/api/runs", { connectionId, scope: { kind: "all" }, actions: keepAll })));
    for (const run of runs) await waitFor(lw.url, cookie, run.id, ["completed"]);
    const seconds = (performance.now() - started) / 1000;
    const cpuSeconds = lw.cpuSeconds() - cpuStart;
    const stats = await fakes.stats();
    const ratios = stats.map((s) => steadyRatio(s.pages, 5));
    const status429 = stats.reduce((n, s) => n + s.status429, 0);
    const result = { min: Math.min(...ratios), median: median(ratios) };
    console.log(
      `  ${String(accounts).padStart(3)} accounts × ${contacts} contacts: per-account rate / allowed min ${result.min.toFixed(3)}, median ${result.median.toFixed(3)}; ` +
        `${((accounts * contacts) / seconds).toFixed(0)} contacts/s in all; CPU ${((cpuSeconds / (accounts * contacts)) * 1e6).toFixed(0)} µs per contact (${((cpuSeconds / seconds) * 100).toFixed(0)}% of one core); 429s ${status429}`,
    );
    return result;
  } finally {
    await lw.close();
    await fakes.close();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const contacts = Number(process.argv[2] ?? 3_000);
  const steps = (process.argv[3] ?? "8,16,24,32,40,48,64").split(",").map(Number);
  console.log(`capacity: accounts at AC's full rate (5 req/s each) in one process, DNS-level checks`);
  // One account alone sets what "full rate" is for this product: the limiter keeps a margin
  // under AC's 5 req/s (sized by measured round trips) so that jitter does not cost 429s.
  const alone = await benchCapacity({ accounts: 1, contacts });
  const full = 0.95 * alone.median;
  console.log(`  one account alone reaches ${alone.median.toFixed(3)} of AC's rate (the limiter's margin); "full rate" below is at least 0.95 of that (${full.toFixed(3)}), per account, the slowest included`);
  let atFullRate = 1;
  for (const accounts of steps) {
    const { min } = await benchCapacity({ accounts, contacts });
    if (min < full) {
      console.log(`  the slowest account falls below ${full.toFixed(3)} at ${accounts} accounts: one process drives ${atFullRate} accounts at full rate (of the steps tried)`);
      break;
    }
    atFullRate = accounts;
  }
  if (atFullRate === steps.at(-1)) console.log(`  every step stayed at full rate: at least ${atFullRate} accounts`);
}
