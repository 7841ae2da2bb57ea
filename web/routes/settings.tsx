import type { Hono } from "hono";
import type { Deps } from "../../core/deps.ts";
import type { AppEnv } from "../../server/env.ts";
import { principal } from "../../server/middleware/auth.ts";
import { getNotificationSettings, updateNotificationSettings, type NotificationEvent } from "../../core/services/notifications.ts";
import { errorsFromAppError } from "../forms.ts";
import { NotificationsPage } from "../pages/settings.tsx";
import { csrfToken, formBody, render, requirePage, rethrowNotFound, statusOf, str } from "../render.tsx";

/** The workspace's notification settings: an e-mail address, a webhook URL, the events. */
export function settingsPages(web: Hono<AppEnv>, deps: Deps): void {
  web.get("/settings/notifications", requirePage, (c) => {
    const ctx = principal(c);
    const settings = getNotificationSettings(deps, { ctx });
    // A workspace that never chose an address is offered its user's.
    const values = { email: settings.email ?? (settings.webhookUrl ? "" : ctx.email), webhookUrl: settings.webhookUrl ?? "", events: settings.events };
    return render(c, { title: "Notifications", nav: "settings" }, <NotificationsPage settings={settings} values={values} errors={{}} csrfToken={csrfToken(c)} />);
  });

  web.post("/settings/notifications", requirePage, async (c) => {
    const ctx = principal(c);
    const raw = await formBody(c, ["events"]);
    const values = { email: str(raw.email), webhookUrl: str(raw.webhookUrl), events: Array.isArray(raw.events) ? raw.events : [] };
    try {
      await updateNotificationSettings(deps, { ctx, input: { email: values.email, webhookUrl: values.webhookUrl, events: values.events as NotificationEvent[] } });
    } catch (err) {
      rethrowNotFound(err);
      const settings = getNotificationSettings(deps, { ctx });
      return render(c, { title: "Notifications", nav: "settings" }, <NotificationsPage settings={settings} values={values} errors={errorsFromAppError(err)} csrfToken={csrfToken(c)} />, statusOf(err));
    }
    return c.redirect("/settings/notifications?notice=notifications-saved", 303);
  });
}
