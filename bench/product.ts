import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
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
  if (!built) {
    execFileSync(process.execPath, [path.join(ROOT, "boot", "build.mjs")], { stdio: "inherit" });
    built = true;
  }
  const dataDir = mkdtempSync(path.join(tmpdir(), "lw-bench-"));
  // BENCH_NODE_ARGS: flags for the product's Node, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"
  // to profile it under the benchmark's load (the profile is written when it stops).
  const nodeArgs = (process.env.BENCH_NODE_ARGS ?? "").split(" ").filter(Boolean);
  const child = spawn(process.execPath, [...nodeArgs, path.join(ROOT, "dist", "listwarden.mjs")], {
    cwd: dataDir,
    env: {
      PATH: process.env.PATH,
      NODE_ENV: "test",
      PORT: "0",
      HOST: "127.0.0.1",
      DATA_DIR: dataDir,
      SIGNUP_PER_HOUR: "10000",
      SIGNUP_CREDITS_PER_DAY: "10000",
      SIGNUP_CREDITS_SITE_PER_DAY: "100000000",
      DNS_HEALTH_DOMAINS: "off",
      ...Object.fromEntries(Object.entries(env).map(([k, v]) => [k, typeof v === "boolean" ? (v ? "on" : "off") : String(v)])),
      // The line that says where it listens is an info line; later ones are filtered below.
      LOG_LEVEL: "info",
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
  const url = await new Promise<string>((resolve, reject) => {
    let out = "";
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      const m = /Listwarden is running at (http:\/\/[^"\s]+)/.exec(out);
      if (m) {
        // Info and warning lines after the start are not read (the benchmarks count 429s themselves); errors still show.
        child.stdout.off("data", onData);
        child.stdout.on("data", (more: Buffer) => {
          for (const line of more.toString().split("\n")) if (/"level":(50|60)/.test(line)) process.stderr.write(`${line}\n`);
        });
        resolve(m[1]!.replace("localhost", "127.0.0.1"));
      }
    };
    child.stdout.on("data", onData);
    void exited.then((code) => reject(new Error(`the product exited (${code}) before serving:\n${out}`)));
  });
  const pid = child.pid!;
  const status = () => readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status())?.[1] ?? NaN);
  const ticks = Number(execFileSync("getconf", ["CLK_TCK"]).toString().trim()) || 100;
  return {
    url,
    pid,
    /** CPU seconds the product's process has used (all its threads: JavaScript, GC, SQLite). */
    cpuSeconds(): number {
      // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      return (Number(fields[11]) + Number(fields[12])) / ticks;
    },
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
