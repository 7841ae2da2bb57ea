import { Agent } from "undici";
import { testConfig } from "../core/config.ts";
import { createLogger } from "../core/logger.ts";
import { startListwarden } from "../boot/start.ts";

/**
 * Issue 11: one network sends a burst of wrong guesses for one account (the last one right)
 * while a user on another network signs in. Prints how many guesses were really checked (401),
 * whether the right one got in, and the other user's sign-in time. Real sockets on loopback:
 * the attacker from 127.0.0.2, the user from 127.0.0.3.
 */
const BURST = Number(process.argv[2] ?? 200);

const lw = await startListwarden({
  config: testConfig({ PORT: 0, HOST: "127.0.0.1", WORKER: false, LOG_LEVEL: "silent", SIGNUP_PER_HOUR: 100, SIGNUP_CREDITS_PER_DAY: 100 }),
  logger: createLogger({ level: "silent" }),
  dbFile: ":memory:",
});
const base = `http://127.0.0.1:${new URL(lw.url).port}`;
const from = (address: string) => new Agent({ connect: { localAddress: address } as Agent.Options["connect"], connections: 512 });
const attacker = from("127.0.0.2");
const user = from("127.0.0.3");
const post = (agent: Agent, path: string, body: unknown) =>
  fetch(`${base}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body), dispatcher: agent } as RequestInit);

const password = "correct horse battery";
for (const email of ["victim@example.com", "user@example.com"]) {
  const res = await post(user, "/api/auth/signup", { email, password });
  if (res.status !== 201) throw new Error(`sign-up failed: ${res.status} ${await res.text()}`);
}

const started = performance.now();
const burst = Array.from({ length: BURST }, (_, i) =>
  post(attacker, "/api/auth/login", { email: "victim@example.com", password: i === BURST - 1 ? password : `wrong guess ${i}` }).then((r) => r.status),
);
const legit = (async () => {
  // Once the burst's requests have arrived and are waiting for their hashes.
  await new Promise((resolve) => setTimeout(resolve, 200));
  const t0 = performance.now();
  const res = await post(user, "/api/auth/login", { email: "user@example.com", password });
  return { status: res.status, ms: performance.now() - t0 };
})();
const [statuses, legitResult] = await Promise.all([Promise.all(burst), legit]);
const count = (s: number) => statuses.filter((x) => x === s).length;
console.log(`burst of ${BURST} from one network, the last guess right (${Math.round(performance.now() - started)} ms in all):`);
console.log(`  checked (401): ${count(401)}, refused (429): ${count(429)}, right guess: ${statuses.at(-1)}`);
console.log(`  other network's sign-in during the burst: ${legitResult.status} in ${Math.round(legitResult.ms)} ms`);
await lw.close();
await attacker.close();
await user.close();
