import type { FC } from "hono/jsx";
import type { NotificationEvent, NotificationSettings } from "../../core/services/notifications.ts";
import { NOTIFICATION_EVENTS } from "../../core/services/notifications.ts";
import { PostForm, TextField } from "../components/form.tsx";
import { PageHeader } from "../components/layout.tsx";
import type { FieldErrors } from "../forms.ts";

export const EVENT_LABELS: Record<NotificationEvent, string> = {
  run_needs_review: "A run needs your review",
  run_paused_credits: "A run paused: out of credits",
  run_failed: "A run failed",
  run_completed: "A run is done",
  scheduled_run_applied: "A scheduled run applied its changes by itself",
  scheduled_run_held: "A scheduled run was held for review",
  connection_key_refused: "ActiveCampaign refused a connection's API key",
  monitor_waiting_credits: "New contacts wait to be checked: out of credits",
  monitor_webhook_lost: "ActiveCampaign stopped calling Listwarden about new contacts",
  monitor_digest: "Daily digest of new contacts checked (when a connection's monitoring asks for it)",
};

const LABELS = { email: "E-mail address", webhookUrl: "Webhook URL", events: "Events" };

export const NotificationsPage: FC<{ settings: NotificationSettings; values: { email: string; webhookUrl: string; events: string[] }; errors: FieldErrors; csrfToken: string }> = ({
  settings,
  values,
  errors,
  csrfToken,
}) => (
  <div class="narrow-wide">
    <PageHeader title="Notifications" />
    <p class="lead">Hear when a run needs you or ends: by e-mail, in Slack or any service that takes a webhook. Each message links to the run.</p>
    <PostForm action="/settings/notifications" class="card stack" csrfToken={csrfToken} errors={errors} labels={LABELS} submit="Save">
      <TextField
        name="email"
        label={LABELS.email}
        type="email"
        value={values.email}
        error={errors.email}
        autocomplete="email"
        spellcheck={false}
        hint={settings.emailAvailable ? "Leave empty for no e-mails." : "This server cannot send e-mail yet (its operator has not set MAIL_URL); the address is kept for when it can."}
      />
      <TextField
        name="webhookUrl"
        label={LABELS.webhookUrl}
        type="url"
        value={values.webhookUrl}
        error={errors.webhookUrl}
        spellcheck={false}
        hint="A Slack incoming webhook (https://hooks.slack.com/services/…) or any https URL: it gets a JSON message with Slack's text and blocks, and the event's facts under “listwarden”. Leave empty for none."
      />
      <fieldset class="group" id="f-events">
        <legend>What you hear about</legend>
        {NOTIFICATION_EVENTS.map((e) => (
          <div class="choice">
            <input type="checkbox" name="events" value={e} id={`ev-${e}`} checked={values.events.includes(e)} />
            <label for={`ev-${e}`}>{EVENT_LABELS[e]}</label>
          </div>
        ))}
      </fieldset>
    </PostForm>
  </div>
);
