import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { processEnv } from "../core/config.ts";
import { createTestApp, signUp } from "./support/app.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const tempDir = (prefix: string) => {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
};

/** The process's environment for a child, less anything that would change where data goes or how it logs. */
function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, ...extra };
  return env;
}

describe("operations", () => {
  it("npm start logs one JSON line per event with the URL said once, and stops when its own npm process gets SIGTERM", async () => {
    const data = tempDir("lw-start-");
    const child = spawn("npm", ["start"], { cwd: ROOT, env: childEnv({ PORT: "0", DATA_DIR: data, LOG_LEVEL: "info" }), stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.on("data", (chunk: Buffer) => {
        out += chunk.toString();
        const m = /Listwarden is running at (http:\/\/localhost:\d+)/.exec(out);
        if (m) resolve(m[1]!);
      });
      child.once("exit", (code) => reject(new Error(`npm start exited (${code}) before serving:\n${out}`)));
    });
    const port = new URL(url).port;
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    // npm start runs the build (dist/listwarden.mjs): the files the sources find beside them
    // are found from the bundle too — the migrations (a sign-up writes to the tables), the
    // dashboard's stylesheet and the API reference's script.
    const signup = await fetch(`http://127.0.0.1:${port}/api/auth/signup`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email: "start@example.com", password: "a long enough password" }),
    });
    expect(signup.status).toBe(201);
    expect(await (await fetch(`http://127.0.0.1:${port}/static/app.css`)).text()).toContain("{");
    expect(await (await fetch(`http://127.0.0.1:${port}/api/reference/reference.js`)).text()).toContain("SwaggerUIBundle");
    // ... and the built HTTP thread (dist/ac-http-thread.mjs), started at boot: it said nothing
    // (the server logs an error when it cannot start it).
    expect(out).not.toContain("AC HTTP thread");

    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
    // The server went with it: nothing answers on its port any more.
    await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();

    const lines = out.split("\n").filter((l) => l.trim() !== "" && !l.startsWith(">"));
    for (const line of lines) expect(() => JSON.parse(line), line).not.toThrow();
    expect(lines.filter((l) => l.includes(url))).toHaveLength(1);
    expect(lines.map((l) => (JSON.parse(l) as { msg: string }).msg)).toContain("shutting down");
  }, 60_000);

  it("`listwarden credits grant` finds the server's database through the same settings: .env in the directory it runs from", async () => {
    const data = tempDir("lw-data-");
    const t = createTestApp({ dbFile: path.join(data, "listwarden.db"), config: { SIGNUP_CREDITS: 100 } });
    const { email } = await signUp(t);
    t.db.$client.close();
    const cwd = tempDir("lw-cwd-");
    writeFileSync(path.join(cwd, ".env"), `# where npm start keeps its data\nDATA_DIR=${data}\nLOG_LEVEL=silent\n`);

    const run = (env: Record<string, string>) =>
      new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
        const child = spawn(process.execPath, [path.join(ROOT, "bin/listwarden.mjs"), "credits", "grant", email, "250"], { cwd, env: childEnv(env), stdio: ["ignore", "pipe", "pipe"] });
        let out = "";
        let err = "";
        child.stdout.on("data", (c: Buffer) => (out += c.toString()));
        child.stderr.on("data", (c: Buffer) => (err += c.toString()));
        child.once("exit", (code) => resolve({ code, out, err }));
      });
    const granted = await run({});
    expect(granted, granted.err).toMatchObject({ code: 0 });
    expect(granted.out).toContain(`Granted 250 credits to ${email}. Balance: 350 (database: ${path.join(data, "listwarden.db")})`);
    // The environment wins over the file, as for the server; and a wrong one says where it looked.
    const elsewhere = tempDir("lw-other-");
    const wrong = await run({ DATA_DIR: elsewhere });
    expect(wrong.code).toBe(1);
    expect(wrong.err).toContain(`No database at ${path.join(elsewhere, "listwarden.db")}`);
  }, 60_000);

  it("reads .env under the environment: the environment wins, the file fills in", () => {
    const dir = tempDir("lw-env-");
    const file = path.join(dir, ".env");
    writeFileSync(file, 'DATA_DIR=/srv/listwarden\nPORT=8080\nMAIL_FROM="Listwarden <lw@example.com>"\n');
    expect(processEnv({ PORT: "3001" }, file)).toMatchObject({ DATA_DIR: "/srv/listwarden", PORT: "3001", MAIL_FROM: "Listwarden <lw@example.com>" });
    expect(processEnv({ PORT: "3001" }, path.join(dir, "missing.env"))).toEqual({ PORT: "3001" });
  });
});
