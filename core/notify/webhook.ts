import { AcError, assertPublicHost, createGuardedDispatcher, type LookupAll } from "../ac/index.ts";
import type { Dispatcher } from "undici";
import { AppError } from "../errors.ts";

export interface WebhookOptions {
  /** WEBHOOK_ALLOW_PRIVATE_HOSTS: local testing only. */
  allowPrivateHosts: boolean;
  lookup?: LookupAll;
}

const URL_HINT = "The webhook URL must look like https://hooks.slack.com/services/…";

/**
 * A webhook URL as the user typed it, checked like an ActiveCampaign URL (core/ac/url.ts):
 * https only, no user name or password, and a public host, checked after DNS (and again at
 * connect time when it is called). Throws AppError("invalid_input") on the `webhookUrl` field.
 */
export async function checkWebhookUrl(input: string, opts: WebhookOptions): Promise<string> {
  const raw = input.trim();
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new AppError("invalid_input", URL_HINT, "webhookUrl");
  }
  const http = url.protocol === "http:" && opts.allowPrivateHosts;
  if (url.protocol !== "https:" && !http) throw new AppError("invalid_input", `${URL_HINT}: it must start with https://`, "webhookUrl");
  if (url.username || url.password) throw new AppError("invalid_input", `${URL_HINT}: without a user name or password`, "webhookUrl");
  if (url.href.length > 2000) throw new AppError("invalid_input", "The webhook URL is longer than 2,000 characters", "webhookUrl");
  try {
    await assertPublicHost(url.hostname, { allowPrivateHosts: opts.allowPrivateHosts, lookup: opts.lookup });
  } catch (err) {
    if (!(err instanceof AcError)) throw err;
    const why = err.kind === "unreachable" ? "its host name could not be found" : "it must be on a public host, not this machine or a private network";
    throw new AppError("invalid_input", `The webhook URL cannot be used: ${why}`, "webhookUrl");
  }
  return url.href;
}

let guarded: Dispatcher | undefined;

/**
 * POSTs a JSON message to a webhook URL. Connections go through the guarded dispatcher, which
 * refuses non-public addresses after DNS (rebinding); redirects are not followed; the answer's
 * body is not read beyond its status. Throws with a short reason when the receiver did not take it.
 */
export async function postWebhook(url: string, body: unknown, opts: WebhookOptions & { timeoutMs?: number; fetch?: typeof fetch }): Promise<void> {
  const target = new URL(url);
  if (!opts.allowPrivateHosts) await assertPublicHost(target.hostname, { allowPrivateHosts: false, lookup: opts.lookup });
  const init: RequestInit & { dispatcher?: Dispatcher } = {
    method: "POST",
    headers: { "content-type": "application/json", "user-agent": "Listwarden-Webhook/1" },
    body: JSON.stringify(body),
    redirect: "manual",
    signal: AbortSignal.timeout(opts.timeoutMs ?? 10_000),
  };
  if (!opts.allowPrivateHosts) init.dispatcher = guarded ??= createGuardedDispatcher(opts.lookup ? { lookup: opts.lookup } : {});
  const res = await (opts.fetch ?? globalThis.fetch)(target, init);
  await res.body?.cancel();
  if (res.status < 200 || res.status >= 300) throw new Error(`the webhook answered ${res.status}`);
}
