import { FakeAc, startFakeAcServer, type FakeAcOptions } from "./fake-ac.ts";
import { buildWorld, seedWorld, type World } from "./world.ts";

/** The key the sandbox accepts unless told otherwise (AC keys are long hex strings). */
export const SANDBOX_API_KEY = "5a4d8b0c2e6f4a1b9c3d7e5f0a2b4c6d8e0f1a3b5c7d9e1f3a5b7c9d1e3f5a7b9c1d";

export interface SandboxOptions {
  /** 0 picks a free port. */
  port?: number;
  /** Contacts of the demo world to seed; 0 leaves the account empty. */
  contacts?: number;
  /** Requests per second the account allows (AC: 5). */
  requestsPerSecond?: number;
  apiKey?: string;
  fake?: Omit<FakeAcOptions, "baseUrl" | "apiKeys" | "requestsPerSecond">;
}

export interface Sandbox {
  /** The account's API URL, e.g. http://127.0.0.1:4010 (as AC's Settings → Developer shows it). */
  url: string;
  apiKey: string;
  fake: FakeAc;
  /** The seeded world, or null for an empty account. */
  world: World | null;
  close(): Promise<void>;
}

/** A sandbox ActiveCampaign account over HTTP on 127.0.0.1, seeded with the demo world. */
export async function startSandbox(opts: SandboxOptions = {}): Promise<Sandbox> {
  const apiKey = opts.apiKey ?? SANDBOX_API_KEY;
  // Imports as AC's: unknown for about a second after they are queued, then a moment to run.
  const fake = new FakeAc({ requestLogLimit: 10_000, importUnknownMs: 1_000, importProcessMs: 500, ...opts.fake, apiKeys: [apiKey], requestsPerSecond: opts.requestsPerSecond ?? 5 });
  const world = opts.contacts ? buildWorld({ contacts: opts.contacts }) : null;
  if (world) seedWorld(fake, world);
  const server = await startFakeAcServer(fake, { port: opts.port ?? 0 });
  return { url: server.url, apiKey, fake, world, close: () => server.close() };
}
