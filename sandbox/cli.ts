import { createServer } from "node:net";
import { parseArgs } from "node:util";
import { guardProcess } from "../boot/process-guards.ts";
import { DEMO_CONNECTION_NAME, DEMO_CREDITS, startDemo } from "./demo.ts";
import { startSandbox } from "./server.ts";
import { describeWorld, LIST_NAMES, MAIL_HOST_ADDRESSES, MIN_WORLD_CONTACTS, TAG_NAMES } from "./world.ts";

/**
 * `npm run sandbox`: the sandbox ActiveCampaign account on its own, for building against.
 * `npm run demo`: the sandbox, its mail world and Listwarden, ready to click through.
 * Both listen on 127.0.0.1 only and stop cleanly on Ctrl-C.
 */

const USAGE = {
  sandbox: `Usage: npm run sandbox -- [--port 4010] [--contacts 1000] [--rps 5] [--api-key KEY] [--quiet]

  --port N       port on 127.0.0.1 (0 picks a free one; default 4010)
  --contacts N   contacts of the demo world to seed, 0 for an empty account (alias --seed; default 1000)
  --rps N        requests per second the account allows before answering 429 (default 5, as AC)
  --api-key KEY  the key it accepts in the Api-Token header, 20+ characters (default: a fixed sandbox key)
  --quiet        do not print one line per request`,
  demo: `Usage: npm run demo -- [--port 3000] [--contacts 5000] [--rps 5] [--verbose]

  --port N       the dashboard's port on 127.0.0.1 (0 picks a free one; default 3000)
  --contacts N   contacts in the sandbox account (at least ${MIN_WORLD_CONTACTS}; default 5000)
  --rps N        the sandbox's rate limit, and Listwarden's (default 5, as AC; try 20 for a quicker apply)
  --verbose      Listwarden's logs at info level`,
} as const;

type Command = keyof typeof USAGE;

const fmt = (n: number) => n.toLocaleString("en-US");

function intOption(value: string | undefined, name: string, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`--${name} must be a whole number from ${min} to ${max}`);
  return n;
}

class UsageError extends Error {}

async function portIsFree(port: number): Promise<boolean> {
  if (port === 0) return true;
  const probe = createServer();
  return new Promise((resolve) => {
    probe.once("error", () => resolve(false));
    probe.listen(port, "127.0.0.1", () => probe.close(() => resolve(true)));
  });
}

/** Calls `close` on the first Ctrl-C or SIGTERM and exits 0 once it is done; a second signal exits at once. */
function stopOnSignal(close: () => Promise<void>): void {
  let stopping = false;
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.on(signal, () => {
      if (stopping) process.exit(1);
      stopping = true;
      console.log("\nStopping...");
      setTimeout(() => {
        console.error("Did not stop within 15 s; exiting anyway.");
        process.exit(1);
      }, 15_000).unref();
      close().then(
        () => {
          console.log("Stopped.");
          process.exit(0);
        },
        (err: unknown) => {
          console.error(err);
          process.exit(1);
        },
      );
    });
  }
}

async function runSandbox(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: { port: { type: "string" }, contacts: { type: "string" }, seed: { type: "string" }, rps: { type: "string" }, "api-key": { type: "string" }, quiet: { type: "boolean" }, help: { type: "boolean", short: "h" } },
  });
  if (values.help) return void console.log(USAGE.sandbox);
  const port = intOption(values.port, "port", 4010, 0, 65535);
  const contacts = intOption(values.contacts ?? values.seed, "contacts", 1000, 0, 1_000_000);
  if (contacts > 0 && contacts < MIN_WORLD_CONTACTS) throw new UsageError(`--contacts must be 0 or at least ${MIN_WORLD_CONTACTS}`);
  const rps = intOption(values.rps, "rps", 5, 1, 1000);
  const apiKey = values["api-key"];
  if (apiKey !== undefined && !/^[\x21-\x7e]{20,200}$/.test(apiKey)) {
    throw new UsageError("--api-key must be 20 to 200 printable characters without spaces (Listwarden refuses shorter keys)");
  }
  if (!(await portIsFree(port))) throw new UsageError(`port ${port} on 127.0.0.1 is in use; pick another with --port`);

  const sandbox = await startSandbox({
    port,
    contacts,
    requestsPerSecond: rps,
    ...(apiKey ? { apiKey } : {}),
    fake: values.quiet
      ? {}
      : {
          onRequest: (r) => {
            const query = new URLSearchParams(r.query).toString();
            console.log(`${new Date(r.at).toISOString()} ${r.method} ${r.path}${query ? `?${decodeURIComponent(query)}` : ""} → ${r.status || "reset"}`);
          },
        },
  });
  stopOnSignal(() => sandbox.close());
  const world = sandbox.world;
  console.log(`Sandbox ActiveCampaign account (listening on 127.0.0.1 only)

  API URL   ${sandbox.url}
  API key   ${sandbox.apiKey}
  Limit     ${rps} requests per second for the whole account (429 + Retry-After above it)
  Contents  ${world ? `${fmt(world.contacts.length)} contacts, lists ${LIST_NAMES.map((n, i) => `${i + 1} ${n}`).join(", ")}; tags ${TAG_NAMES.map((n, i) => `${i + 1} ${n}`).join(", ")}` : "empty"}

Try:
  curl -H "Api-Token: ${sandbox.apiKey}" ${sandbox.url}/api/3/users/me
  curl -g -H "Api-Token: ${sandbox.apiKey}" "${sandbox.url}/api/3/contacts?listid=1&orders[id]=ASC&id_greater=0&limit=100&include=contactLists"
  curl -g -H "Api-Token: ${sandbox.apiKey}" "${sandbox.url}/api/3/contacts?ids[]=1&ids[]=2&include=contactTags,fieldValues"
  (custom fields, tags on contacts and bulk import work too: /fields, /fieldRels, /fieldValues,
  /contactTags, POST /import/bulk_import and GET /import/info?batchId=..., with AC's limits)
  Webhooks: POST /webhooks registers one; a signup form's subscriber (no key needed):
  curl -H "content-type: application/json" -d '{"email":"new@example.com","list":"1"}' ${sandbox.url}/sandbox/subscribe

Press Ctrl-C to stop.`);
}

async function runDemo(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: { port: { type: "string" }, contacts: { type: "string" }, seed: { type: "string" }, rps: { type: "string" }, verbose: { type: "boolean" }, help: { type: "boolean", short: "h" } },
  });
  if (values.help) return void console.log(USAGE.demo);
  const port = intOption(values.port, "port", 3000, 0, 65535);
  const contacts = intOption(values.contacts ?? values.seed, "contacts", 5000, MIN_WORLD_CONTACTS, 200_000);
  const rps = intOption(values.rps, "rps", 5, 1, 1000);
  if (!(await portIsFree(port))) throw new UsageError(`port ${port} on 127.0.0.1 is in use (is Listwarden already running?); pick another with --port`);

  console.log(`Starting the Listwarden demo with ${fmt(contacts)} contacts...`);
  const demo = await startDemo({
    contacts,
    port,
    requestsPerSecond: rps,
    logLevel: values.verbose ? "info" : "warn",
  });
  stopOnSignal(() => demo.close());
  guardProcess(demo.lw.deps.logger);
  const { world } = demo;
  const listCounts = world.lists.map((l) => `${l.name} (${fmt(world.contacts.filter((c) => c.lists[l.id] !== undefined).length)})`);
  console.log(`
What the sandbox account holds: ${fmt(world.contacts.length)} contacts on ${listCounts.join(", ")};
tags ${TAG_NAMES.join(", ")}. Their addresses, and what Listwarden should find:
${describeWorld(world)}

Listwarden demo: everything runs on this machine (127.0.0.1); nothing is sent anywhere else.

  Dashboard    ${demo.url}
  Sign in      ${demo.user.email}  /  ${demo.user.password}   (${fmt(DEMO_CREDITS)} credits)
  Connection   "${DEMO_CONNECTION_NAME}": a sandbox ActiveCampaign at ${demo.sandbox.url}
               (API key ${demo.sandbox.apiKey}), ${rps} requests/s like the real one
  Mail         DNS ${demo.dns.address}; SMTP servers on ${MAIL_HOST_ADDRESSES[0]}-${MAIL_HOST_ADDRESSES.at(-1)}, port ${demo.smtp.port}
  Data         ${demo.dataDir} (removed on exit)
  Credits      the demo user is also the operator: request credits on the Credits page and
               approve them on the Operator page, or from another shell:
               DATA_DIR=${demo.dataDir} npx listwarden credits grant ${demo.user.email} 1000

Try it:
  1. Open ${demo.url} and sign in.
  2. Open "${DEMO_CONNECTION_NAME}". Under "Clean this account", tick Newsletter and Customers,
     keep the defaults (undeliverable → Unsubscribe), tick "Ask each mail server whether the
     mailbox exists (SMTP probe)" and press "Start checking".
  3. Watch it fetch at ${rps} requests/s and verify as it goes: deliverable, risky,
     undeliverable and unknown, each with its reason (the list above says what to expect).
  4. It stops at Review: how many contacts would be unsubscribed, from which lists, with a
     sample. Press "Approve"; the unsubscribes go to the sandbox at ${rps} requests/s.
  5. Download the CSV report. Then clean the tag "Imported 2019" with Delete for risky
     contacts, to see the delete confirmation, or cancel a run in review.
  6. Label instead: tick "Label in ActiveCampaign" for every result (and, under "Label in
     ActiveCampaign: the field, tags and automations", a tag per result). After the review the
     field "Email status" and the lw- tags are written in imports of 250; a second run finds
     them and writes only what changed.
  7. Check new contacts as they arrive: monitoring is on for "${DEMO_CONNECTION_NAME}" (open it,
     then "New contacts: on"). Add subscribers as a signup form would, and watch them checked
     and, if undeliverable, unsubscribed within a second or two:
       curl -H "content-type: application/json" -d '{"email":"someone@vanished.test","list":"1"}' ${demo.sandbox.url}/sandbox/subscribe
       curl -H "content-type: application/json" -d '{"email":"new.reader@acme.test","list":"1"}' ${demo.sandbox.url}/sandbox/subscribe
     Contacts imported in bulk fire no webhook: the catch-up sweep finds them within 15 minutes.
  The sandbox's contact addresses resolve only in this demo's DNS (${demo.dns.address}): against
  the sandbox alone, with your system's DNS, nearly all would be "Domain does not exist".
  The sandbox answers curl too:
    curl -H "Api-Token: ${demo.sandbox.apiKey}" ${demo.sandbox.url}/api/3/lists

Press Ctrl-C to stop everything.`);
}

const [command, ...rest] = process.argv.slice(2);
try {
  if (command === "sandbox") await runSandbox(rest);
  else if (command === "demo") await runDemo(rest);
  else throw new UsageError(`${USAGE.sandbox}\n\n${USAGE.demo}`);
} catch (err) {
  if (!(err instanceof UsageError) && !(err instanceof TypeError && "code" in err && String(err.code).startsWith("ERR_PARSE_ARGS"))) throw err;
  console.error(err.message);
  if (command === "sandbox" || command === "demo") console.error(`\n${USAGE[command as Command]}`);
  process.exit(2);
}
