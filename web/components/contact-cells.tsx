import type { FC } from "hono/jsx";
import { CLASS_WORDS, classOf } from "../../core/domain/results.ts";
import { reasonLabel } from "../labels.ts";

/** A contact in a table: its address, and its name under it when it has one. */
export const ContactCell: FC<{ email: string; firstName: string; lastName: string }> = ({ email, firstName, lastName }) => {
  const name = `${firstName} ${lastName}`.trim();
  return (
    <div>
      <span class="break">{email}</span>
      {name ? <span class="sub-line">{name}</span> : null}
    </div>
  );
};

/** A contact's result in a table: its class (with "Domain OK, mailbox not checked" apart) and its reason. */
export const ResultCell: FC<{ status: string | null; reason: string | null }> = ({ status, reason }) => {
  const cls = classOf(status, reason) ?? "unknown";
  return (
    <div>
      <span class={`dot s-${cls}`} aria-hidden="true"></span>
      {CLASS_WORDS[cls]}
      {reason ? <span class="sub-line">{reasonLabel(reason)}</span> : null}
    </div>
  );
};
