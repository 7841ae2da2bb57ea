import type { Context, MiddlewareHandler } from "hono";
import type { Child } from "hono/jsx";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { AppEnv } from "../server/env.ts";
import { AppError } from "../core/errors.ts";
import { csrfTokenFor } from "../server/middleware/auth.ts";
import { readForm } from "../server/middleware/body.ts";
import { Layout, type LayoutProps } from "./components/layout.tsx";
import { formValues } from "./forms.ts";
import { isAdmin } from "../core/services/topups.ts";

/** Short confirmations after a redirect, chosen by key so no text comes from the URL. */
const NOTICES: Record<string, string> = {
  "signed-out": "You are signed out.",
  welcome: "Your account is ready. Start by connecting ActiveCampaign.",
  "welcome-no-credits":
    "Your account is ready. Free credits go to one new account per network each day, so this one starts with none: ask your Listwarden operator for credits, then connect ActiveCampaign.",
  connected: "Connected. Choose what to check below.",
  "connection-deleted": "Connection deleted. Its past runs stay in your history.",
  "connection-saved": "Saved.",
  "key-replaced": "ActiveCampaign accepted the new API key. It is saved, and the old one is no longer used.",
  approved: "Approved. The changes are being applied in ActiveCampaign.",
  undo: "Undoing: the memberships this run unsubscribed are re-subscribed where they are still as it left them.",
  "plan-changed": "The plan is updated: the counts below are the new plan. Nothing was checked or charged again.",
  "schedule-created": "Schedule saved. Its first run is shown below.",
  "schedule-saved": "Schedule saved.",
  "monitor-on": "Saved. New contacts are checked as they arrive.",
  "monitor-off": "Saved. Monitoring is off and its webhook is removed from ActiveCampaign.",
  "monitor-saved": "Saved.",
  "webhook-registered": "A new webhook URL is registered in ActiveCampaign; the old one no longer works.",
  "schedule-paused": "Schedule paused. It will not run until you resume it.",
  "schedule-resumed": "Schedule resumed.",
  "schedule-deleted": "Schedule deleted. The runs it started stay in your history.",
  "token-deleted": "API token deleted. Programs using it can no longer sign in with it.",
  "credits-requested": "Request sent. The operator has been told; you get an e-mail when they answer.",
  paid: "Thank you. Your credits are added as soon as the payment is confirmed (usually within seconds); paused runs resume on their own.",
  "checkout-cancelled": "The payment was cancelled; nothing was charged.",
  "reset-sent": "If an account uses this e-mail address, we have sent it a link to choose a new password. The link works once, for an hour.",
  "password-reset": "Your password is changed. Sign in with the new one; every other session was signed out.",
  "notifications-saved": "Saved. You hear about the events ticked below.",
  "request-approved": "Approved: the credits are added and the requester is told.",
  "request-declined": "Declined: the requester is told.",
  granted: "Credits granted.",
};

/** A page for signed-in users: anyone else is sent to sign in, and back here afterwards. */
export const requirePage: MiddlewareHandler<AppEnv> = async (c, next) => {
  if (c.var.principal) return next();
  return redirectToLogin(c);
};

export function redirectToLogin(c: Context<AppEnv>) {
  const url = new URL(c.req.url);
  const next = c.req.method === "GET" && url.pathname !== "/" ? `?next=${encodeURIComponent(url.pathname + url.search)}` : "";
  return c.redirect(`/login${next}`, 303);
}

export function csrfToken(c: Context<AppEnv>): string {
  const p = c.var.principal;
  return p?.sessionHash ? csrfTokenFor(c.var.deps, p.sessionHash) : "";
}

export type PageOptions = Omit<LayoutProps, "principal" | "csrfToken" | "notice" | "admin">;

export function render(c: Context<AppEnv>, options: PageOptions, body: Child, status = 200) {
  const notice = NOTICES[c.req.query("notice") ?? ""];
  return c.html(
    <Layout {...options} principal={c.var.principal} csrfToken={csrfToken(c)} notice={notice} admin={c.var.principal ? isAdmin(c.var.deps, c.var.principal) : false}>
      {body}
    </Layout>,
    status as ContentfulStatusCode,
  );
}

export async function formBody(c: Context<AppEnv>, arrays: string[] = []) {
  return formValues(await readForm(c), arrays);
}

export const str = (v: string | string[] | undefined) => (typeof v === "string" ? v : "");

/** The status to answer a form with a service's error: the error's own, or 400. */
export const statusOf = (err: unknown) => (err instanceof AppError ? err.status : 400);

/** A "not found" belongs on the error page, not next to a field. */
export function rethrowNotFound(err: unknown): void {
  if (err instanceof AppError && err.code === "not_found") throw err;
}
