import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
let built = false;

/**
 * The product as `npm start` runs it: the build (dist/listwarden.mjs) in a process of its own,
 * on a fresh data directory, so what a benchmark reads of it — CPU, peak memory — is the
 * server's alone, not the benchmark's, the fake AC's or tsx's. Settings are the environment
 * variables of README's configuration table (over the loosened sign-up limits the tests use).
 */
export async function startProductProcess(env: Record<string, string | number | boolean>) {
  // BENCH_PREBUILT=1: run dist/listwarden.mjs as it is, to compare two builds (copy each there in turn).
  if (!built && !process.env.BENCH_PREBUILT) {
    execFileSync(process.execPath, [path.join(ROOT, "boot", "build.mjs")], { stdio: "inherit" });
    built = true;
  }
  const dataDir = mkdtempSync(path.join(tmpdir(), "lw-bench-"));
  // A free port chosen here, so the product can log at "warn" (what it logs at "info" costs CPU
  // the old in-process benchmark did not spend) and still be found.
  const port = await freePort();
  // BENCH_NODE_ARGS: flags for the product's Node, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"
  // to profile it under the benchmark's load (the profile is written when it stops).
  const nodeArgs = (process.env.BENCH_NODE_ARGS ?? "").split(" ").filter(Boolean);
  const child = spawn(process.execPath, [...nodeArgs, path.join(ROOT, "dist", "listwarden.mjs")], {
    cwd: dataDir,
    env: {
      PATH: process.env.PATH,
      NODE_ENV: "test",
      HOST: "127.0.0.1",
      DATA_DIR: dataDir,
      LOG_LEVEL: "warn",
      SIGNUP_PER_HOUR: "10000",
      SIGNUP_CREDITS_PER_DAY: "10000",
      SIGNUP_CREDITS_SITE_PER_DAY: "100000000",
      DNS_HEALTH_DOMAINS: "off",
      ...Object.fromEntries(Object.entries(env).map(([k, v]) => [k, typeof v === "boolean" ? (v ? "on" : "off") : String(v)])),
      PORT: String(port),
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
  // Errors show; warnings (429s retried, which the benchmarks count themselves) do not.
  createInterface({ input: child.stdout }).on("line", (line) => {
    if (/"level":(50|60)/.test(line)) process.stderr.write(`${line}\n`);
  });
  const url = `http://127.0.0.1:${port}`;
  for (;;) {
    const up = await fetch(`${url}/healthz`).then((r) => r.ok, () => false);
    if (up) break;
    if (child.exitCode !== null) throw new Error(`the product exited (${child.exitCode}) before serving`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const pid = child.pid!;
  const status = () => readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status())?.[1] ?? NaN);
  const ticks = clockTicks();
  return {
    url,
    pid,
    /** CPU seconds the product's process has used (all its threads: JavaScript, GC, SQLite). */
    cpuSeconds: () => processCpuSeconds(pid),
    /**
     * CPU seconds of its main thread alone, where JavaScript and SQLite run: the one that caps
     * the contacts per second (the others are V8's GC helpers and libuv's pool).
     */
    mainThreadCpuSeconds: () => cpuOf(`/proc/${pid}/task/${pid}/stat`, ticks),
    /** Resident memory now and at its peak so far, in MB. */
    rssMb: () => kb("VmRSS") / 1024,
    peakRssMb: () => kb("VmHWM") / 1024,
    async close() {
      child.kill("SIGTERM");
      await exited;
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

let ticksPerSecond: number | undefined;

/** The unit of /proc/pid/stat's CPU times (100 on Linux unless built otherwise). */
function clockTicks(): number {
  if (ticksPerSecond !== undefined) return ticksPerSecond;
  try {
    ticksPerSecond = Number(execFileSync("getconf", ["CLK_TCK"]).toString().trim()) || 100;
  } catch {
    ticksPerSecond = 100;
  }
  return ticksPerSecond;
}

/**
 * CPU seconds a process has used, all its threads: for the benchmark's other processes (the
 * fake AC) too, so a figure says how much of the machine's cores the product had.
 */
export function processCpuSeconds(pid: number): number {
  return cpuOf(`/proc/${pid}/stat`, clockTicks());
}

function cpuOf(statFile: string, ticks: number): number {
  // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
  const stat = readFileSync(statFile, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / ticks;
}
