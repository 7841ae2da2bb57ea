import type { Child, FC, PropsWithChildren } from "hono/jsx";
import { html } from "hono/html";
import type { RunStatus } from "../db/schema/index.ts";
import type { Principal } from "../core/deps.ts";
import { assetUrl } from "./assets.ts";
import type { FieldErrors } from "./forms.ts";
import { RUN_STATUS_WORDS, when } from "./labels.ts";

export type NavItem = "home" | "credits" | "tokens" | "connect" | null;

export interface LayoutProps {
  title: string;
  principal: Principal | null;
  csrfToken: string;
  nav?: NavItem;
  notice?: string | undefined;
  /** Extra scripts (from web/static) besides app.js. */
  scripts?: ("run.js")[];
  /** Reloads the page every few seconds when scripts are off (a run in progress). */
  refreshWithoutScript?: number;
}

/** The page shell. Every value in it passes through JSX escaping; only the doctype is raw. */
export const Layout: FC<PropsWithChildren<LayoutProps>> = (props) => {
  const signedIn = props.principal !== null;
  return html`<!DOCTYPE html>${(
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        {/* Same-origin form posts must carry an Origin header for the CSRF check. */}
        <meta name="referrer" content="same-origin" />
        <meta name="csrf-token" content={props.csrfToken} />
        <title>{`${props.title} · Listwarden`}</title>
        <link rel="icon" href={assetUrl("icon.svg")} type="image/svg+xml" />
        <link rel="stylesheet" href={assetUrl("app.css")} />
        <script src={assetUrl("app.js")} defer></script>
        {(props.scripts ?? []).map((s) => (
          <script src={assetUrl(s)} defer></script>
        ))}
        {props.refreshWithoutScript ? (
          <noscript>
            <meta http-equiv="refresh" content={String(props.refreshWithoutScript)} />
          </noscript>
        ) : null}
      </head>
      <body>
        <a class="skip" href="#main">
          Skip to content
        </a>
        <header class="top">
          <div class="top-inner">
            <a class="brand" href="/">
              <img src={assetUrl("icon.svg")} alt="" width="28" height="28" />
              <span>Listwarden</span>
            </a>
            <nav aria-label="Main">
              {signedIn ? (
                <ul>
                  <li>
                    <a href="/" aria-current={props.nav === "home" ? "page" : undefined}>
                      Home
                    </a>
                  </li>
                  <li>
                    <a href="/credits" aria-current={props.nav === "credits" ? "page" : undefined}>
                      Credits
                    </a>
                  </li>
                  <li>
                    <a href="/tokens" aria-current={props.nav === "tokens" ? "page" : undefined}>
                      API tokens
                    </a>
                  </li>
                  <li>
                    <form method="post" action="/logout" class="inline">
                      <CsrfField token={props.csrfToken} />
                      <button type="submit" class="link" title={`Signed in as ${props.principal?.email ?? ""}`}>
                        Sign out
                      </button>
                    </form>
                  </li>
                </ul>
              ) : (
                <ul>
                  <li>
                    <a href="/login">Sign in</a>
                  </li>
                  <li>
                    <a href="/signup">Create account</a>
                  </li>
                </ul>
              )}
            </nav>
          </div>
        </header>
        <main id="main" tabindex={-1}>
          {props.notice ? (
            <p class="notice ok" role="status">
              {props.notice}
            </p>
          ) : null}
          {props.children}
        </main>
        <footer class="foot">
          {signedIn ? <span>Signed in as {props.principal?.email}</span> : <span>List hygiene for ActiveCampaign</span>}
        </footer>
      </body>
    </html>
  )}`;
};

export const CsrfField: FC<{ token: string }> = ({ token }) => <input type="hidden" name="_csrf" value={token} />;

/** Marks a run a schedule started. */
export const ScheduledTag: FC<{ scheduleId: string | null }> = ({ scheduleId }) => (scheduleId ? <span class="tag">Scheduled</span> : null);

/** A list of the form's problems at its top, each linking to its field (read out first). */
export const ErrorSummary: FC<{ errors: FieldErrors; labels: Record<string, string> }> = ({ errors, labels }) => {
  const entries = Object.entries(errors).filter((e): e is [string, string] => typeof e[1] === "string");
  if (entries.length === 0) return null;
  return (
    <div class="error-summary" role="alert" tabindex={-1} id="error-summary">
      <h2>{entries.length === 1 ? "There is a problem" : "There are problems"}</h2>
      <ul>
        {entries.map(([field, message]) => (
          <li>{field === "_form" || !labels[field] ? message : <a href={`#f-${field}`}>{`${labels[field]}: ${message}`}</a>}</li>
        ))}
      </ul>
    </div>
  );
};

export interface TextFieldProps {
  name: string;
  label: string;
  value?: string | undefined;
  error?: string | undefined;
  hint?: Child;
  type?: "text" | "email" | "password" | "url";
  autocomplete?: string;
  required?: boolean;
  placeholder?: string;
  spellcheck?: boolean;
  autofocus?: boolean;
}

/** A labelled input with its hint and its error tied to it (aria-describedby). */
export const TextField: FC<TextFieldProps> = (p) => {
  const id = `f-${p.name}`;
  const describedBy = [p.hint ? `${id}-hint` : null, p.error ? `${id}-error` : null].filter(Boolean).join(" ");
  return (
    <div class={p.error ? "field has-error" : "field"}>
      <label for={id}>{p.label}</label>
      {p.hint ? (
        <p class="hint" id={`${id}-hint`}>
          {p.hint}
        </p>
      ) : null}
      {p.error ? (
        <p class="field-error" id={`${id}-error`}>
          <span class="visually-hidden">Error: </span>
          {p.error}
        </p>
      ) : null}
      <input
        id={id}
        name={p.name}
        type={p.type ?? "text"}
        value={p.value ?? ""}
        autocomplete={p.autocomplete}
        required={p.required}
        placeholder={p.placeholder}
        spellcheck={p.spellcheck === false ? false : undefined}
        autofocus={p.autofocus}
        aria-invalid={p.error ? "true" : undefined}
        aria-describedby={describedBy || undefined}
      />
    </div>
  );
};

export const StatusBadge: FC<{ status: RunStatus }> = ({ status }) => {
  const words = RUN_STATUS_WORDS[status];
  return <span class={`badge ${words.tone}`}>{words.badge}</span>;
};

/** A date in UTC, which app.js rewrites into the reader's time zone. */
export const Time: FC<{ iso: string | null }> = ({ iso }) => (iso ? <time datetime={iso}>{when(iso)}</time> : <span>—</span>);

export const PageHeader: FC<PropsWithChildren<{ title: string; back?: { href: string; label: string } }>> = (p) => (
  <div class="page-header">
    {p.back ? (
      <p class="back">
        <a href={p.back.href}>← {p.back.label}</a>
      </p>
    ) : null}
    <h1>{p.title}</h1>
    {p.children}
  </div>
);
