import type { FC, PropsWithChildren } from "hono/jsx";
import { html } from "hono/html";
import type { Principal } from "../../core/deps.ts";
import { assetUrl } from "../assets.ts";
import { ButtonForm } from "./form.tsx";

export type NavItem = "home" | "uploads" | "credits" | "tokens" | "connect" | "settings" | "operator" | null;

export interface LayoutProps {
  title: string;
  principal: Principal | null;
  csrfToken: string;
  nav?: NavItem;
  notice?: string | undefined;
  /** Extra scripts (from web/static) besides app.js. */
  scripts?: ("run.js" | "connection.js")[];
  /** The signed-in user is the operator (admin role): the nav shows the operator page. */
  admin?: boolean;
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
                    <a href="/uploads" aria-current={props.nav === "uploads" ? "page" : undefined}>
                      Verify a file
                    </a>
                  </li>
                  <li>
                    <a href="/credits" aria-current={props.nav === "credits" ? "page" : undefined}>
                      Credits
                    </a>
                  </li>
                  <li>
                    <a href="/settings/notifications" aria-current={props.nav === "settings" ? "page" : undefined}>
                      Notifications
                    </a>
                  </li>
                  <li>
                    <a href="/tokens" aria-current={props.nav === "tokens" ? "page" : undefined}>
                      API tokens
                    </a>
                  </li>
                  {props.admin ? (
                    <li>
                      <a href="/operator" aria-current={props.nav === "operator" ? "page" : undefined}>
                        Operator
                      </a>
                    </li>
                  ) : null}
                  <li>
                    <ButtonForm action="/logout" csrfToken={props.csrfToken} formClass="inline" buttonClass="link" title={`Signed in as ${props.principal?.email ?? ""}`}>
                      Sign out
                    </ButtonForm>
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
