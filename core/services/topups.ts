import { and, desc, eq } from "drizzle-orm";
import { createRequire } from "node:module";
import type Stripe from "stripe";
import { schema, transaction } from "../../db/index.ts";
import { newId } from "../../db/ids.ts";
import { paymentsEnabled } from "../config.ts";
import type { Deps, Principal } from "../deps.ts";
import { AppError, notFound } from "../errors.ts";
import { findUserByEmail } from "./accounts.ts";
import { balanceOf, grantCredits } from "./credits.ts";

/**
 * How a workspace gets credits in the app. With a payment provider configured (Stripe), it buys
 * a pack through Stripe Checkout and the signed webhook credits it, once. Without one, it asks
 * the operator, who is e-mailed and approves on the operator page (users with the admin role).
 */

export interface TopUpOptions {
  mode: "checkout" | "request";
  packs: { index: number; credits: number; amount: number; currency: string; price: string }[];
}

export function priceWords(amount: number, currency: string): string {
  return new Intl.NumberFormat("en-US", { style: "currency", currency: currency.toUpperCase() }).format(amount / 100);
}

export function topUpOptions(deps: Deps): TopUpOptions {
  const currency = deps.config.CREDIT_CURRENCY;
  return {
    mode: paymentsEnabled(deps.config) ? "checkout" : "request",
    packs: deps.config.CREDIT_PACKS.map((p, index) => ({ index, ...p, currency, price: priceWords(p.amount, currency) })),
  };
}

// ---- Stripe Checkout ------------------------------------------------------------------------

/** Seconds a webhook's signature stays valid: Stripe's own default. Older ones are replays. */
export const WEBHOOK_TOLERANCE_S = 300;

/**
 * The Stripe SDK, loaded on the first payment rather than when the server starts: it is 8 MB
 * of resident memory, which a server without payments configured never needs.
 */
let StripeSdk: typeof Stripe | undefined;

function stripe(deps: Deps): Stripe {
  if (!paymentsEnabled(deps.config)) throw new AppError("conflict", "Buying credits is not set up on this server; request credits instead");
  StripeSdk ??= createRequire(import.meta.url)("stripe") as typeof Stripe;
  return new StripeSdk(deps.config.STRIPE_SECRET_KEY!, { maxNetworkRetries: 1, timeout: 20_000, ...(deps.stripeApi ?? {}) });
}

/** Starts a Stripe Checkout for one pack; the answer is the page to send the browser to. */
export async function startCheckout(deps: Deps, { ctx, pack }: { ctx: Principal; pack: number }): Promise<{ purchaseId: string; url: string }> {
  const client = stripe(deps);
  const chosen = deps.config.CREDIT_PACKS[pack];
  if (!chosen) throw new AppError("invalid_input", "Choose one of the packs offered", "pack");
  const now = deps.clock.now();
  const id = newId("pur", now);
  const currency = deps.config.CREDIT_CURRENCY;
  deps.db
    .insert(schema.creditPurchases)
    .values({ id, workspaceId: ctx.workspaceId, userId: ctx.userId, credits: chosen.credits, amount: chosen.amount, currency, provider: "stripe", createdAt: new Date(now) })
    .run();
  const base = deps.publicUrl;
  let session: Stripe.Checkout.Session;
  try {
    session = await client.checkout.sessions.create(
      {
        mode: "payment",
        line_items: [{ quantity: 1, price_data: { currency, unit_amount: chosen.amount, product_data: { name: `${chosen.credits.toLocaleString("en-US")} Listwarden credits` } } }],
        client_reference_id: id,
        metadata: { purchaseId: id, workspaceId: ctx.workspaceId },
        customer_email: ctx.email,
        success_url: `${base}/credits?notice=paid`,
        cancel_url: `${base}/credits?notice=checkout-cancelled`,
      },
      { idempotencyKey: `purchase:${id}` },
    );
  } catch (err) {
    deps.logger.error({ purchaseId: id, reason: (err as Error).message }, "Stripe Checkout could not be started");
    throw new AppError("internal", "The payment page could not be opened; try again in a moment");
  }
  deps.db.update(schema.creditPurchases).set({ providerRef: session.id }).where(eq(schema.creditPurchases.id, id)).run();
  if (!session.url) throw new AppError("internal", "The payment page could not be opened; try again in a moment");
  deps.logger.info({ purchaseId: id, workspaceId: ctx.workspaceId, credits: chosen.credits }, "checkout started");
  return { purchaseId: id, url: session.url };
}

export type WebhookOutcome = "credited" | "duplicate" | "ignored";

/**
 * A Stripe webhook: its signature is checked (and its age, so an old event sent again is
 * refused), each event id is handled once, and a paid Checkout credits its purchase once,
 * only if the amount and currency are the ones asked. Throws AppError("invalid_input") for a
 * forged, altered or stale event.
 */
export function handleStripeWebhook(deps: Deps, { payload, signature }: { payload: string; signature: string | undefined }): WebhookOutcome {
  const client = stripe(deps);
  let event: Stripe.Event;
  try {
    if (!signature) throw new Error("no Stripe-Signature header");
    event = client.webhooks.constructEvent(payload, signature, deps.config.STRIPE_WEBHOOK_SECRET!, WEBHOOK_TOLERANCE_S, undefined, deps.clock.now());
  } catch (err) {
    deps.logger.warn({ reason: (err as Error).message.slice(0, 200) }, "payment webhook refused");
    throw new AppError("invalid_input", "The signature of this event is not valid, or the event is too old");
  }
  return transaction(deps.db, (tx) => {
    const fresh = tx
      .insert(schema.providerEvents)
      .values({ id: event.id, type: event.type, receivedAt: new Date(deps.clock.now()) })
      .onConflictDoNothing()
      .run().changes;
    if (fresh === 0) return "duplicate";
    if (event.type !== "checkout.session.completed" && event.type !== "checkout.session.async_payment_succeeded" && event.type !== "checkout.session.expired") return "ignored";
    const session = event.data.object as Stripe.Checkout.Session;
    const purchase = tx.select().from(schema.creditPurchases).where(eq(schema.creditPurchases.providerRef, session.id)).get();
    if (!purchase || purchase.id !== session.client_reference_id) {
      deps.logger.warn({ eventId: event.id }, "payment webhook for an unknown checkout");
      return "ignored";
    }
    if (event.type === "checkout.session.expired") {
      if (purchase.status === "open") tx.update(schema.creditPurchases).set({ status: "expired" }).where(eq(schema.creditPurchases.id, purchase.id)).run();
      return "ignored";
    }
    if (session.payment_status !== "paid") return "ignored";
    if (session.amount_total !== purchase.amount || session.currency?.toLowerCase() !== purchase.currency) {
      deps.logger.error({ purchaseId: purchase.id, eventId: event.id }, "paid amount differs from the pack's price; not credited");
      return "ignored";
    }
    const granted = grantCredits(tx, deps.clock, {
      workspaceId: purchase.workspaceId,
      amount: purchase.credits,
      reason: `Bought ${purchase.credits.toLocaleString("en-US")} credits (${priceWords(purchase.amount, purchase.currency)})`,
      idempotencyKey: `purchase:${purchase.id}`,
    });
    tx.update(schema.creditPurchases).set({ status: "paid", paidAt: new Date(deps.clock.now()) }).where(eq(schema.creditPurchases.id, purchase.id)).run();
    deps.logger.info({ purchaseId: purchase.id, workspaceId: purchase.workspaceId, credits: purchase.credits }, "credits bought");
    return granted ? "credited" : "duplicate";
  });
}

// ---- requests to the operator ---------------------------------------------------------------

const MAX_PENDING_REQUESTS = 3;
export const MAX_REQUEST = 1_000_000;

export interface CreditRequestView {
  id: string;
  workspaceId: string;
  email: string;
  credits: number;
  note: string;
  status: "pending" | "approved" | "declined";
  granted: number | null;
  createdAt: string;
  decidedAt: string | null;
  /** The workspace's balance now (for the operator). */
  balance: number;
}

type RequestRow = typeof schema.creditRequests.$inferSelect;

function requestView(deps: Deps, r: RequestRow): CreditRequestView {
  return {
    id: r.id,
    workspaceId: r.workspaceId,
    email: r.email,
    credits: r.credits,
    note: r.note,
    status: r.status,
    granted: r.granted,
    createdAt: r.createdAt.toISOString(),
    decidedAt: r.decidedAt?.toISOString() ?? null,
    balance: balanceOf(deps.db, r.workspaceId),
  };
}

/** Asks the operator for credits; the operators (admin users) are e-mailed a link to approve it. */
export function requestCredits(deps: Deps, { ctx, credits, note }: { ctx: Principal; credits: number; note: string }): CreditRequestView {
  if (!Number.isSafeInteger(credits) || credits < 1 || credits > MAX_REQUEST) {
    throw new AppError("invalid_input", `Ask for a whole number of credits from 1 to ${MAX_REQUEST.toLocaleString("en-US")}`, "credits");
  }
  const cleanNote = note.trim().slice(0, 500);
  const now = deps.clock.now();
  const row = transaction(deps.db, (tx) => {
    const pending = tx
      .select({ id: schema.creditRequests.id })
      .from(schema.creditRequests)
      .where(and(eq(schema.creditRequests.workspaceId, ctx.workspaceId), eq(schema.creditRequests.status, "pending")))
      .all().length;
    if (pending >= MAX_PENDING_REQUESTS) throw new AppError("conflict", `You have ${pending} requests waiting for the operator; wait for an answer before asking again`);
    return tx
      .insert(schema.creditRequests)
      .values({ id: newId("creq", now), workspaceId: ctx.workspaceId, userId: ctx.userId, email: ctx.email, credits, note: cleanNote, createdAt: new Date(now) })
      .returning()
      .get();
  });
  const base = deps.publicUrl;
  for (const admin of deps.db.select({ email: schema.users.email }).from(schema.users).where(eq(schema.users.role, "admin")).all()) {
    deps.mailer.sendLater(
      {
        to: admin.email,
        subject: `Credit request: ${credits.toLocaleString("en-US")} credits for ${ctx.email}`,
        text: `${ctx.email} asks for ${credits.toLocaleString("en-US")} credits.${cleanNote ? `\n\nTheir note: ${cleanNote}` : ""}\n\nApprove or decline it on the operator page: ${base}/operator`,
      },
      "credit request to an operator",
    );
  }
  deps.logger.info({ requestId: row.id, workspaceId: ctx.workspaceId, credits }, "credits requested");
  return requestView(deps, row);
}

export function listOwnCreditRequests(deps: Deps, { ctx }: { ctx: Pick<Principal, "workspaceId"> }): CreditRequestView[] {
  return deps.db
    .select()
    .from(schema.creditRequests)
    .where(eq(schema.creditRequests.workspaceId, ctx.workspaceId))
    .orderBy(desc(schema.creditRequests.createdAt))
    .limit(10)
    .all()
    .map((r) => requestView(deps, r));
}

/** The operator's role, read from the database on every use (a revoked admin loses it at once). */
export function isAdmin(deps: Deps, ctx: Pick<Principal, "userId">): boolean {
  return deps.db.select({ role: schema.users.role }).from(schema.users).where(eq(schema.users.id, ctx.userId)).get()?.role === "admin";
}

function requireAdmin(deps: Deps, ctx: Pick<Principal, "userId">): void {
  if (!isAdmin(deps, ctx)) throw new AppError("forbidden", "Only the operator of this Listwarden (an admin) can do this");
}

export function listCreditRequests(deps: Deps, { ctx, status = "pending" }: { ctx: Principal; status?: "pending" | "approved" | "declined" }): CreditRequestView[] {
  requireAdmin(deps, ctx);
  return deps.db
    .select()
    .from(schema.creditRequests)
    .where(eq(schema.creditRequests.status, status))
    .orderBy(desc(schema.creditRequests.createdAt))
    .limit(100)
    .all()
    .map((r) => requestView(deps, r));
}

/** Approves (granting `credits`, by default what was asked) or declines a request; the requester is e-mailed. */
export function decideCreditRequest(deps: Deps, { ctx, id, approve, credits }: { ctx: Principal; id: string; approve: boolean; credits?: number }): CreditRequestView {
  requireAdmin(deps, ctx);
  const now = deps.clock.now();
  const row = transaction(deps.db, (tx) => {
    const request = tx.select().from(schema.creditRequests).where(eq(schema.creditRequests.id, id)).get();
    if (!request) throw notFound("Credit request");
    if (request.status !== "pending") throw new AppError("conflict", `This request was already ${request.status}`);
    const amount = credits ?? request.credits;
    if (approve) {
      if (!Number.isSafeInteger(amount) || amount < 1 || amount > 1_000_000_000) throw new AppError("invalid_input", "Grant a whole number of credits from 1 to 1,000,000,000", "credits");
      grantCredits(tx, deps.clock, { workspaceId: request.workspaceId, amount, reason: "Requested credits, approved by the operator", idempotencyKey: `request:${request.id}` });
    }
    return tx
      .update(schema.creditRequests)
      .set({ status: approve ? "approved" : "declined", granted: approve ? amount : null, decidedBy: ctx.email, decidedAt: new Date(now) })
      .where(eq(schema.creditRequests.id, id))
      .returning()
      .get()!;
  });
  deps.mailer.sendLater(
    {
      to: row.email,
      subject: approve ? `${(row.granted ?? 0).toLocaleString("en-US")} credits added to your Listwarden` : "Your credit request was declined",
      text: approve
        ? `The operator added ${(row.granted ?? 0).toLocaleString("en-US")} credits to your workspace. Runs paused for credits resume on their own.\n\n${deps.publicUrl}/credits`
        : `The operator declined your request for ${row.credits.toLocaleString("en-US")} credits.\n\n${deps.publicUrl}/credits`,
    },
    "credit request answer",
  );
  deps.logger.info({ requestId: id, approved: approve, granted: row.granted }, "credit request decided");
  return requestView(deps, row);
}

/** The operator grants credits to a user by e-mail, as `listwarden credits grant` does. */
export function grantToEmail(deps: Deps, { ctx, email, credits, reason }: { ctx: Principal; email: string; credits: number; reason: string }): { email: string; balance: number } {
  requireAdmin(deps, ctx);
  const user = findUserByEmail(deps.db, email);
  if (!user) throw new AppError("invalid_input", "No user signed up with this e-mail address", "email");
  if (!Number.isSafeInteger(credits) || credits < 1 || credits > 1_000_000_000) throw new AppError("invalid_input", "Grant a whole number of credits from 1 to 1,000,000,000", "credits");
  transaction(deps.db, (tx) => grantCredits(tx, deps.clock, { workspaceId: user.workspaceId, amount: credits, reason: reason.trim() || "Granted by an operator" }));
  deps.logger.info({ workspaceId: user.workspaceId, credits, by: ctx.userId }, "credits granted by an operator");
  return { email: user.email, balance: balanceOf(deps.db, user.workspaceId) };
}
