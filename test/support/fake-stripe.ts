import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import Stripe from "stripe";

export interface FakeSession {
  id: string;
  object: "checkout.session";
  mode: string;
  status: "open" | "complete" | "expired";
  payment_status: "unpaid" | "paid";
  amount_total: number;
  currency: string;
  client_reference_id: string | null;
  customer_email: string | null;
  metadata: Record<string, string>;
  success_url: string;
  cancel_url: string;
  url: string;
}

/**
 * Stripe's API as far as Listwarden uses it, on loopback: POST /v1/checkout/sessions (the
 * form-encoded body stripe-node sends, the secret key checked as Stripe checks it) and GET of a
 * session. `paidEvent` makes the webhook Stripe would send when the customer pays, signed with
 * Stripe's own helper (stripe.webhooks.generateTestHeaderString), as Stripe signs it.
 */
export class FakeStripe {
  readonly sessions = new Map<string, FakeSession>();
  readonly requests: { method: string; path: string; idempotencyKey: string | undefined }[] = [];
  #server: Server | null = null;
  #seq = 0;
  url = "";
  readonly #signer = new Stripe("sk_test_signer");

  constructor(
    readonly secretKey: string,
    readonly webhookSecret: string,
  ) {}

  async start(): Promise<{ host: string; port: number; protocol: "http" }> {
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const path = (req.url ?? "").split("?")[0]!;
        this.requests.push({ method: req.method ?? "", path, idempotencyKey: req.headers["idempotency-key"] as string | undefined });
        const send = (status: number, body: unknown) => res.writeHead(status, { "content-type": "application/json", "request-id": `req_${++this.#seq}` }).end(JSON.stringify(body));
        if (req.headers.authorization !== `Bearer ${this.secretKey}`) return send(401, { error: { type: "invalid_request_error", message: "Invalid API Key provided" } });
        if (req.method === "POST" && path === "/v1/checkout/sessions") {
          const form = new URLSearchParams(Buffer.concat(chunks).toString("utf8"));
          const unit = Number(form.get("line_items[0][price_data][unit_amount]"));
          const quantity = Number(form.get("line_items[0][quantity]") ?? 1);
          const id = `cs_test_${++this.#seq}${"x".repeat(8)}`;
          const metadata: Record<string, string> = {};
          for (const [k, v] of form) {
            const m = /^metadata\[(.+)\]$/.exec(k);
            if (m) metadata[m[1]!] = v;
          }
          const session: FakeSession = {
            id,
            object: "checkout.session",
            mode: form.get("mode") ?? "",
            status: "open",
            payment_status: "unpaid",
            amount_total: unit * quantity,
            currency: form.get("line_items[0][price_data][currency]") ?? "",
            client_reference_id: form.get("client_reference_id"),
            customer_email: form.get("customer_email"),
            metadata,
            success_url: form.get("success_url") ?? "",
            cancel_url: form.get("cancel_url") ?? "",
            url: `${this.url}/pay/${id}`,
          };
          this.sessions.set(id, session);
          return send(200, session);
        }
        const got = /^\/v1\/checkout\/sessions\/([^/]+)$/.exec(path);
        if (req.method === "GET" && got && this.sessions.has(got[1]!)) return send(200, this.sessions.get(got[1]!));
        return send(404, { error: { type: "invalid_request_error", message: "Unrecognized request URL" } });
      });
    });
    await new Promise<void>((resolve) => this.#server!.listen(0, "127.0.0.1", resolve));
    const { port } = this.#server.address() as AddressInfo;
    this.url = `http://127.0.0.1:${port}`;
    return { host: "127.0.0.1", port, protocol: "http" };
  }

  /** The customer pays: the session is paid, and the event Stripe would post is returned, signed. */
  pay(sessionId: string, opts: { timestampS?: number; secret?: string; eventId?: string; amountTotal?: number } = {}): { payload: string; signature: string } {
    const session = this.sessions.get(sessionId);
    if (!session) throw new Error(`no session ${sessionId}`);
    session.status = "complete";
    session.payment_status = "paid";
    if (opts.amountTotal !== undefined) session.amount_total = opts.amountTotal;
    return this.event("checkout.session.completed", session, opts);
  }

  event(type: string, object: unknown, opts: { timestampS?: number; secret?: string; eventId?: string } = {}): { payload: string; signature: string } {
    const timestamp = opts.timestampS ?? Math.floor(Date.now() / 1000);
    const payload = JSON.stringify({
      id: opts.eventId ?? `evt_test_${++this.#seq}`,
      object: "event",
      api_version: "2025-01-27.acacia",
      created: timestamp,
      livemode: false,
      pending_webhooks: 1,
      type,
      data: { object },
    });
    return { payload, signature: this.#signer.webhooks.generateTestHeaderString({ payload, secret: opts.secret ?? this.webhookSecret, timestamp }) };
  }

  close(): Promise<void> {
    return new Promise((resolve) => (this.#server ? this.#server.close(() => resolve()) : resolve()));
  }
}
