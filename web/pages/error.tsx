import type { FC } from "hono/jsx";

export const ErrorPage: FC<{ title: string; message: string; requestId?: string; signedIn: boolean }> = ({ title, message, requestId, signedIn }) => (
  <div class="narrow">
    <h1>{title}</h1>
    <div class="card stack">
      <p>{message}</p>
      {requestId ? <p class="small muted">Reference: {requestId}</p> : null}
      <p class="actions">
        <a class="button primary" href="/">
          {signedIn ? "Go to your dashboard" : "Go to the start page"}
        </a>
      </p>
    </div>
  </div>
);
