import type { Deps } from "../../core/deps.ts";
import type { DeliveryState } from "../../db/schema/index.ts";
import { postWebhook } from "../../core/notify/webhook.ts";
import { claimNotifications, messageOf, saveDelivery, webhookBody, workspaceNotifyTargets, type NotificationRow } from "../../core/services/notifications.ts";

export interface DispatcherOptions {
  /** How often start() looks for notifications to send. */
  tickMs?: number;
  /** Notifications sent per tick. */
  batch?: number;
  /** Overrides the fetch used to call webhooks (tests leave it unset). */
  fetch?: typeof fetch;
}

export interface Dispatcher {
  /** Sends what is due now; resolves with how many notifications were handled. */
  tick(): Promise<number>;
  /** Ticks until nothing is due (tests). */
  drain(): Promise<number>;
  start(): void;
  stop(): Promise<void>;
}

/** Waits before trying a channel that failed again: 1 min, 5 min, 30 min, 2 h; then it is given up. */
const RETRY_MS = [60_000, 5 * 60_000, 30 * 60_000, 2 * 3_600_000];
const LEASE_MS = 2 * 60_000;

/**
 * Sends the notifications the core recorded (core/services/notifications.ts) by e-mail and by
 * webhook, each channel once: a channel that was sent is never sent again, one that failed is
 * tried again later (up to 5 times), one the workspace did not set up is skipped. Claims are
 * leased, so several processes can run one each.
 */
export function createDispatcher(deps: Deps, opts: DispatcherOptions = {}): Dispatcher {
  const tickMs = opts.tickMs ?? 5_000;
  const batch = opts.batch ?? 20;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<number> | null = null;
  let stopped = false;

  async function deliver(n: NotificationRow): Promise<void> {
    const targets = workspaceNotifyTargets(deps.db, n.workspaceId);
    const wanted = targets.events.includes(n.event);
    const message = messageOf(n, deps.publicUrl);
    const errors: string[] = [];
    const email = async (): Promise<DeliveryState> => {
      if (n.emailState !== "pending") return n.emailState;
      if (!wanted || !targets.email || !deps.mailer.configured) return "skipped";
      try {
        await deps.mailer.send({ to: targets.email, subject: message.subject, text: `${message.text}\n\n${message.url}\n\n— Listwarden. Change what you hear about: ${deps.publicUrl}/settings/notifications` });
        return "sent";
      } catch (err) {
        errors.push(`e-mail: ${(err as Error).message.slice(0, 200)}`);
        return "pending";
      }
    };
    const webhook = async (): Promise<DeliveryState> => {
      if (n.webhookState !== "pending") return n.webhookState;
      if (!wanted || !targets.webhookUrl) return "skipped";
      try {
        await postWebhook(targets.webhookUrl, webhookBody(n, message), {
          allowPrivateHosts: deps.config.WEBHOOK_ALLOW_PRIVATE_HOSTS,
          ...(deps.acLookup ? { lookup: deps.acLookup } : {}),
          ...(opts.fetch ? { fetch: opts.fetch } : {}),
        });
        return "sent";
      } catch (err) {
        errors.push(`webhook: ${(err as Error).message.slice(0, 200)}`);
        return "pending";
      }
    };
    let [emailState, webhookState] = await Promise.all([email(), webhook()]);
    let retryAt: number | null = null;
    if (emailState === "pending" || webhookState === "pending") {
      const wait = RETRY_MS[n.attempts];
      if (wait === undefined) {
        // Given up after the last try: the failure stays in last_error.
        if (emailState === "pending") emailState = "failed";
        if (webhookState === "pending") webhookState = "failed";
      } else {
        retryAt = deps.clock.now() + wait;
      }
      deps.logger.warn({ notificationId: n.id, event: n.event, attempt: n.attempts + 1, errors }, "notification not delivered");
    } else if (emailState === "sent" || webhookState === "sent") {
      deps.logger.info({ notificationId: n.id, event: n.event, workspaceId: n.workspaceId, email: emailState, webhook: webhookState }, "notification sent");
    }
    saveDelivery(deps.db, n.id, deps.clock.now(), { email: emailState, webhook: webhookState, error: errors.length ? errors.join("; ") : null, retryAt });
  }

  async function tickOnce(): Promise<number> {
    const due = claimNotifications(deps.db, deps.clock.now(), batch, LEASE_MS);
    for (const n of due) await deliver(n);
    return due.length;
  }

  const dispatcher: Dispatcher = {
    tick() {
      // One tick at a time: a tick that overlaps waits for the running one.
      const next = (running ?? Promise.resolve(0)).then(() => tickOnce());
      running = next.finally(() => {
        if (running === tracked) running = null;
      });
      const tracked = running;
      return next;
    },
    async drain() {
      let total = 0;
      for (;;) {
        const handled = await dispatcher.tick();
        total += handled;
        if (handled === 0) return total;
      }
    },
    start() {
      stopped = false;
      const loop = () => {
        if (stopped) return;
        dispatcher
          .tick()
          .catch((err: unknown) => deps.logger.error({ err }, "notification dispatch failed"))
          .finally(() => {
            if (!stopped) timer = setTimeout(loop, tickMs);
          });
      };
      loop();
    },
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running?.catch(() => undefined);
    },
  };
  return dispatcher;
}
