import type { Child, FC, PropsWithChildren } from "hono/jsx";
import type { FieldErrors } from "../forms.ts";

/**
 * The pieces of the dashboard's forms: the form itself (PostForm: CSRF token, error summary,
 * buttons), a field (label, hint, problem and control tied together for screen readers),
 * text, select and confirmation fields, and forms that are a single button.
 */

/** Class names, leaving out the ones that do not apply. */
export const classes = (...names: (string | false | null | undefined)[]) => names.filter(Boolean).join(" ");

export const CsrfField: FC<{ token: string }> = ({ token }) => <input type="hidden" name="_csrf" value={token} />;

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

/** What a field's control carries: its id (`f-<name>`, which the error summary links to), its name, and its hint and problem tied to it. */
export interface ControlAttrs {
  id: string;
  name: string;
  "aria-invalid": "true" | undefined;
  "aria-describedby": string | undefined;
}

/** The attributes of the control of field `name`; `hints` are the ids of the texts that describe it, read before its problem. */
export function controlAttrs(name: string, error: string | undefined, ...hints: (string | undefined)[]): ControlAttrs {
  const describedBy = [...hints, error ? `f-${name}-error` : undefined].filter(Boolean).join(" ");
  return { id: `f-${name}`, name, "aria-invalid": error ? "true" : undefined, "aria-describedby": describedBy || undefined };
}

/** A field's problem, next to it; its id is in the control's aria-describedby. */
export const FieldError: FC<{ name: string; error?: string | undefined }> = ({ name, error }) =>
  error ? (
    <p class="field-error" id={`f-${name}-error`}>
      <span class="visually-hidden">Error: </span>
      {error}
    </p>
  ) : null;

export interface FieldProps {
  name: string;
  label: Child;
  error?: string | undefined;
  hint?: Child;
  /** Ids of texts outside the field that describe it as well (read before its own hint). */
  describedBy?: string;
  /** Classes besides "field" (and "has-error"). */
  class?: string;
  labelClass?: string;
  /** More attributes of the field's box, e.g. data-shown-by for app.js. */
  box?: Record<string, string>;
  /** The input or select, given the attributes that tie it to its label, hint and problem. */
  control: (attrs: ControlAttrs) => Child;
}

/** A form field: its label, hint, problem and control, tied together for screen readers. */
export const Field: FC<FieldProps> = (p) => {
  const hintId = p.hint ? `f-${p.name}-hint` : undefined;
  return (
    <div class={classes("field", p.error && "has-error", p.class)} {...p.box}>
      <label for={`f-${p.name}`} class={p.labelClass}>
        {p.label}
      </label>
      {p.hint ? (
        <p class="hint" id={hintId}>
          {p.hint}
        </p>
      ) : null}
      <FieldError name={p.name} error={p.error} />
      {p.control(controlAttrs(p.name, p.error, p.describedBy, hintId))}
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

export const TextField: FC<TextFieldProps> = (p) => (
  <Field
    name={p.name}
    label={p.label}
    hint={p.hint}
    error={p.error}
    control={(attrs) => (
      <input
        {...attrs}
        type={p.type ?? "text"}
        value={p.value ?? ""}
        autocomplete={p.autocomplete}
        required={p.required}
        placeholder={p.placeholder}
        spellcheck={p.spellcheck === false ? false : undefined}
        autofocus={p.autofocus}
      />
    )}
  />
);

export interface SelectOption {
  value: string;
  label: string;
}

export interface SelectFieldProps extends Omit<FieldProps, "control"> {
  value: string;
  /** Options, or groups of them (optgroup). */
  options: (SelectOption | { group: string; options: SelectOption[] })[];
  /** A first option with no value, e.g. "Choose a tag…". */
  placeholder?: string;
  /** More attributes of the select, e.g. data- hooks for app.js. */
  select?: Record<string, string | undefined>;
}

export const SelectField: FC<SelectFieldProps> = ({ value, options, placeholder, select, ...field }) => {
  const option = (o: SelectOption) => (
    <option value={o.value} selected={o.value === value}>
      {o.label}
    </option>
  );
  return (
    <Field
      {...field}
      control={(attrs) => (
        <select {...attrs} {...select}>
          {placeholder !== undefined ? <option value="">{placeholder}</option> : null}
          {options.map((o) => ("group" in o ? <optgroup label={o.group}>{o.options.map(option)}</optgroup> : option(o)))}
        </select>
      )}
    />
  );
};

/** A checkbox to tick as a confirmation, with its problem above it. */
export const CheckboxField: FC<{ name: string; label: Child; error?: string | undefined; checked?: boolean; required?: boolean; class?: string }> = (p) => (
  <div class={classes("field", p.error && "has-error", p.class)}>
    <FieldError name={p.name} error={p.error} />
    <div class="choice">
      <input type="checkbox" value="on" checked={p.checked} required={p.required} {...controlAttrs(p.name, p.error)} />
      <label for={`f-${p.name}`}>{p.label}</label>
    </div>
  </div>
);

export interface PostFormProps {
  action: string;
  class: string;
  /** The session's CSRF token; none before there is a session (sign-in, sign-up). */
  csrfToken?: string;
  errors: FieldErrors;
  /** The fields' names as the error summary says them. */
  labels: Record<string, string>;
  /** What the submit button says. */
  submit: Child;
  submitClass?: string;
  /** Before everything else, e.g. the form's heading. */
  heading?: Child;
  /** Beside the submit button, e.g. a Cancel link. */
  actions?: Child;
  /** Below the buttons. */
  note?: Child;
}

/** A dashboard form: the server checks it (novalidate), its problems are listed first, its buttons come last. */
export const PostForm: FC<PropsWithChildren<PostFormProps>> = (p) => (
  <form method="post" action={p.action} class={p.class} novalidate>
    {p.heading}
    {p.csrfToken !== undefined ? <CsrfField token={p.csrfToken} /> : null}
    <ErrorSummary errors={p.errors} labels={p.labels} />
    {p.children}
    <div class="actions">
      <button type="submit" class={p.submitClass ?? "primary"}>
        {p.submit}
      </button>
      {p.actions}
    </div>
    {p.note}
  </form>
);

export interface ButtonFormProps {
  action: string;
  csrfToken: string;
  /** "actions" (a row of buttons, the default) or "inline" (within text). */
  formClass?: "actions" | "inline";
  buttonClass?: string;
  /** The button's name for screen readers when its text is too short to say what it acts on. */
  ariaLabel?: string;
  title?: string;
  /** What follows the button: a note, a "Keep it" link. */
  after?: Child;
}

/** A form that is a single button: POSTs to `action` with the CSRF token. */
export const ButtonForm: FC<PropsWithChildren<ButtonFormProps>> = (p) => (
  <form method="post" action={p.action} class={p.formClass ?? "actions"}>
    <CsrfField token={p.csrfToken} />
    <button type="submit" class={p.buttonClass} aria-label={p.ariaLabel} title={p.title}>
      {p.children}
    </button>
    {p.after}
  </form>
);
