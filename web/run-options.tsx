import type { Child, FC } from "hono/jsx";
import { ACTIONS, type Action } from "../db/schema/index.ts";
import type { AcNamed } from "../core/ac/index.ts";
import { DEFAULT_ACTIONS, DEFAULT_LABEL_FIELD, DEFAULT_LABEL_REASON_FIELD, DEFAULT_TAG_PREFIX, labelOf, type RunActions, type RunScope } from "../core/domain/scope-actions.ts";
import { STATUS_BY_REASON, VERIFICATION_REASONS, VERIFICATION_STATUSES, type VerificationReason, type VerificationStatus } from "../verify/taxonomy.ts";
import { controlAttrs, FieldError, SelectField, TextField } from "./components/form.tsx";
import { labelField, labelOverrideField, overrideField, type FieldErrors } from "./forms.ts";
import { ACTION_LABELS, plural, REASON_LABELS, STATUS_HELP, STATUS_LABELS } from "./labels.ts";
import type { ScopeSizes } from "../core/services/estimate.ts";

/** A list's or tag's contact count beside its name; the connection page's script fills in those still being counted. */
const Size: FC<{ n: number | null | undefined; bind: string }> = ({ n, bind }) =>
  n === undefined ? null : (
    <span class="size muted" data-size={bind}>
      {n === null ? "counting…" : plural(n, "contact")}
    </span>
  );

/**
 * What a run checks and does: the fields the Clean form and the schedule form share (scope,
 * an action per result, per-reason overrides, mailbox probing), their values as the page
 * shows them, and how the posted fields become a run's scope and actions.
 */
export interface RunOptionValues extends Record<VerificationStatus, Action> {
  scope: "lists" | "tag" | "all";
  listIds: string[];
  tagId: string;
  smtpProbe: boolean;
  /** Reasons whose action differs from their status's. */
  overrides: Partial<Record<VerificationReason, Action>>;
  /** Label in ActiveCampaign (issue 17): per status, per reason (absent: as its status), and how. */
  labels: Record<VerificationStatus, boolean>;
  labelOverrides: Partial<Record<VerificationReason, boolean>>;
  labelField: string;
  labelReason: boolean;
  labelReasonField: string;
  labelTags: boolean;
  tagPrefix: string;
  runAutomations: boolean;
}

const NO_LABELS = Object.fromEntries(VERIFICATION_STATUSES.map((s) => [s, false])) as Record<VerificationStatus, boolean>;

export const DEFAULT_RUN_OPTIONS: RunOptionValues = {
  scope: "lists",
  listIds: [],
  tagId: "",
  smtpProbe: false,
  ...DEFAULT_ACTIONS,
  overrides: {},
  labels: NO_LABELS,
  labelOverrides: {},
  labelField: DEFAULT_LABEL_FIELD,
  labelReason: false,
  labelReasonField: DEFAULT_LABEL_REASON_FIELD,
  labelTags: false,
  tagPrefix: DEFAULT_TAG_PREFIX,
  runAutomations: false,
};

const isAction = (v: unknown): v is Action => typeof v === "string" && (ACTIONS as readonly string[]).includes(v);
const one = (v: string | string[] | undefined) => (typeof v === "string" ? v : "");

/** The values a browser posted, kept for the page that shows the form again with its errors. */
export function runOptionValues(raw: Record<string, string | string[]>): RunOptionValues {
  const values: RunOptionValues = { ...DEFAULT_RUN_OPTIONS, overrides: {}, labels: { ...NO_LABELS }, labelOverrides: {} };
  const scope = one(raw.scope);
  if (scope === "lists" || scope === "tag" || scope === "all") values.scope = scope;
  values.listIds = Array.isArray(raw.listIds) ? raw.listIds : [];
  values.tagId = one(raw.tagId);
  values.smtpProbe = one(raw.smtpProbe) === "on";
  for (const s of VERIFICATION_STATUSES) {
    const a = one(raw[s]);
    if (isAction(a)) values[s] = a;
  }
  for (const r of VERIFICATION_REASONS) {
    const a = one(raw[overrideField(r)]);
    if (isAction(a)) values.overrides[r] = a;
    const l = one(raw[labelOverrideField(r)]);
    if (l === "on" || l === "off") values.labelOverrides[r] = l === "on";
  }
  for (const s of VERIFICATION_STATUSES) values.labels[s] = one(raw[labelField(s)]) === "on";
  if (typeof raw.labelField === "string") values.labelField = raw.labelField;
  if (typeof raw.labelReasonField === "string") values.labelReasonField = raw.labelReasonField;
  if (typeof raw.tagPrefix === "string") values.tagPrefix = raw.tagPrefix;
  values.labelReason = one(raw.labelReason) === "on";
  values.labelTags = one(raw.labelTags) === "on";
  values.runAutomations = one(raw.runAutomations) === "on";
  return values;
}

/** A saved scope and actions (a schedule's) as form values. */
export function runOptionValuesOf(scope: RunScope, actions: RunActions, smtpProbe: boolean): RunOptionValues {
  return {
    scope: scope.kind,
    listIds: scope.kind === "lists" ? scope.listIds : [],
    tagId: scope.kind === "tag" ? scope.tagId : "",
    smtpProbe,
    deliverable: actions.deliverable,
    risky: actions.risky,
    undeliverable: actions.undeliverable,
    unknown: actions.unknown,
    overrides: Object.fromEntries(actions.overrides.flatMap((o) => (o.action ? [[o.reason, o.action]] : []))),
    labels: Object.fromEntries(VERIFICATION_STATUSES.map((s) => [s, labelOf(actions).statuses.includes(s)])) as Record<VerificationStatus, boolean>,
    labelOverrides: Object.fromEntries(actions.overrides.flatMap((o) => (o.label === undefined ? [] : [[o.reason, o.label]]))),
    labelField: labelOf(actions).fieldName,
    labelReason: labelOf(actions).reasonFieldName !== null,
    labelReasonField: labelOf(actions).reasonFieldName ?? DEFAULT_LABEL_REASON_FIELD,
    labelTags: labelOf(actions).tagPrefix !== null,
    tagPrefix: labelOf(actions).tagPrefix ?? DEFAULT_TAG_PREFIX,
    runAutomations: labelOf(actions).runAutomations,
  };
}

export function usesDeleteValues(v: RunOptionValues): boolean {
  return VERIFICATION_STATUSES.some((s) => v[s] === "delete") || Object.values(v.overrides).includes("delete");
}

/** Field names as the error summary shows them. */
export const RUN_OPTION_LABELS: Record<string, string> = {
  scope: "What to check",
  listIds: "Lists",
  tagId: "Tag",
  deliverable: "Deliverable",
  risky: "Risky",
  undeliverable: "Undeliverable",
  unknown: "Unknown",
  smtpProbe: "Mailbox probing",
  labelField: "Field for the result",
  labelReasonField: "Field for the reason",
  tagPrefix: "Tag prefix",
  ...Object.fromEntries(VERIFICATION_REASONS.map((r) => [overrideField(r), `${REASON_LABELS[r]} (${STATUS_LABELS[STATUS_BY_REASON[r]]})`])),
  ...Object.fromEntries(VERIFICATION_REASONS.map((r) => [labelOverrideField(r), `${REASON_LABELS[r]}: label (${STATUS_LABELS[STATUS_BY_REASON[r]]})`])),
};

export const LABEL_HELP =
  "Writes the result into a custom field (and, if you like, a tag) in ActiveCampaign, for segments and automations. Changes nobody's subscriptions; goes with any action.";

export const ACTION_HELP: Record<Action, string> = {
  keep: "Leave the contact as it is.",
  unsubscribe: "Unsubscribe from the lists checked (only where the contact is active).",
  delete: "Delete the contact from ActiveCampaign.",
};

const REASONS_BY_STATUS = Object.fromEntries(
  VERIFICATION_STATUSES.map((s) => [s, VERIFICATION_REASONS.filter((r) => STATUS_BY_REASON[r] === s)]),
) as Record<VerificationStatus, VerificationReason[]>;

const ScopeChoice: FC<{ kind: RunOptionValues["scope"]; label: string; checked: boolean; disabled?: boolean }> = (p) => (
  <div class="choice">
    <input type="radio" name="scope" value={p.kind} id={`scope-${p.kind}`} checked={p.checked} disabled={p.disabled} />
    <label for={`scope-${p.kind}`}>{p.label}</label>
  </div>
);

/** The account's lists as checkboxes (`listIds`), with their sizes when known; a line when it has none. */
export const ListChecklist: FC<{ lists: AcNamed[]; chosen: string[]; error: string | undefined; sizes?: ScopeSizes | undefined }> = ({ lists, chosen, error, sizes }) =>
  lists.length === 0 ? (
    <p class="hint indent">This account has no lists.</p>
  ) : (
    <fieldset class="indent sub" id="f-listIds" aria-describedby={error ? "f-listIds-error" : undefined}>
      <legend class="visually-hidden">Lists</legend>
      <FieldError name="listIds" error={error} />
      <div class="checklist">
        {lists.map((l) => (
          <div class="choice">
            <input type="checkbox" name="listIds" value={l.id} id={`list-${l.id}`} checked={chosen.includes(l.id)} data-scope="lists" />
            <label for={`list-${l.id}`}>{l.name || `List ${l.id}`}</label> <Size n={sizes ? (sizes.lists[l.id] ?? null) : undefined} bind={`list:${l.id}`} />
          </div>
        ))}
      </div>
    </fieldset>
  );

export const ScopeFieldset: FC<{ legend: string; lists: AcNamed[]; tags: AcNamed[]; values: RunOptionValues; errors: FieldErrors; sizes?: ScopeSizes }> = ({
  legend,
  lists,
  tags,
  values,
  errors,
  sizes,
}) => (
  <fieldset class={errors.listIds || errors.tagId || errors.scope ? "group has-error" : "group"} id="f-scope">
    <legend>{legend}</legend>
    <FieldError name="scope" error={errors.scope} />

    <ScopeChoice kind="lists" label="Contacts on these lists" checked={values.scope === "lists"} disabled={lists.length === 0} />
    <ListChecklist lists={lists} chosen={values.listIds} error={errors.listIds} sizes={sizes} />

    <ScopeChoice kind="tag" label="Contacts with a tag" checked={values.scope === "tag"} disabled={tags.length === 0} />
    {tags.length === 0 ? (
      <p class="hint indent">This account has no tags.</p>
    ) : (
      <SelectField
        name="tagId"
        label="Tag"
        labelClass="visually-hidden"
        class="indent"
        error={errors.tagId}
        select={{ "data-scope": "tag" }}
        placeholder="Choose a tag…"
        value={values.tagId}
        options={tags.map((t) => {
          const n = sizes?.tags[t.id];
          return { value: t.id, label: `${t.name || `Tag ${t.id}`}${typeof n === "number" ? ` (${plural(n, "contact")})` : ""}` };
        })}
      />
    )}

    <ScopeChoice kind="all" label="All contacts in the account" checked={values.scope === "all"} />
    {sizes ? (
      <p class="hint indent">
        <Size n={sizes.all} bind="all" />
      </p>
    ) : null}
  </fieldset>
);

/**
 * An action per result, then (in "More options") an action per reason. `warning` follows the
 * fixed text of the delete warning, which shows while any choice is Delete.
 */
export const ActionsFieldset: FC<{ legend: string; intro: string; values: RunOptionValues; errors: FieldErrors; warning: Child }> = ({ legend, intro, values, errors, warning }) => {
  const overrideErrors = VERIFICATION_REASONS.some((r) => errors[overrideField(r)]);
  const anyOverride = Object.keys(values.overrides).length > 0 || Object.keys(values.labelOverrides).length > 0;
  return (
    <fieldset class="group">
      <legend>{legend}</legend>
      <p class="hint">{intro}</p>
      <div class="action-grid">
        {VERIFICATION_STATUSES.map((s) => (
          <div class={errors[s] ? "action-row has-error" : "action-row"}>
            <div>
              <label for={`f-${s}`} class="action-label">
                <span class={`swatch s-${s}`} aria-hidden="true"></span>
                {STATUS_LABELS[s]}
              </label>
              <p class="hint" id={`f-${s}-hint`}>
                {STATUS_HELP[s]}
              </p>
              <FieldError name={s} error={errors[s]} />
            </div>
            <div class="action-controls">
              <select {...controlAttrs(s, errors[s], `f-${s}-hint`)} data-action-select data-status={s}>
                {ACTIONS.map((a) => (
                  <option value={a} selected={values[s] === a}>
                    {ACTION_LABELS[a]}
                  </option>
                ))}
              </select>
              <div class="choice label-choice">
                <input type="checkbox" name={labelField(s)} id={`f-${labelField(s)}`} value="on" checked={values.labels[s]} data-label-status={s} />
                <label for={`f-${labelField(s)}`}>
                  Label <span class="visually-hidden">{STATUS_LABELS[s]} contacts</span> in ActiveCampaign
                </label>
              </div>
            </div>
          </div>
        ))}
      </div>
      <p class="hint">
        <strong>Unsubscribe</strong>: {ACTION_HELP.unsubscribe} <strong>Delete</strong>: {ACTION_HELP.delete} <strong>Label</strong>: {LABEL_HELP}
      </p>

      <p class="preset" data-needs-script hidden>
        <span>A common choice:</span>
        <button type="button" class="secondary compact" data-preset-reason="disposable" data-preset-action="delete">
          Delete disposable addresses
        </button>
        <span class="hint">Throwaway mailboxes that stop working within days.</span>
      </p>

      <details class="more-options" id="f-overrides" open={anyOverride || overrideErrors}>
        <summary>More options: a different action or label for some reasons</summary>
        <div class="more-options-body">
          <p class="hint">
            Each result has its reasons. Choose an action (or whether to label) for a reason to treat it differently from the rest of its result; the others follow their result’s choices.
          </p>
          {VERIFICATION_STATUSES.map((s) => (
            <fieldset class="override-group">
              <legend class="h4">
                <span class={`swatch s-${s}`} aria-hidden="true"></span>
                {STATUS_LABELS[s]}
              </legend>
              {REASONS_BY_STATUS[s].map((r) => {
                const name = overrideField(r);
                const error = errors[name];
                const lname = labelOverrideField(r);
                const lerror = errors[lname];
                const label = values.labelOverrides[r];
                return (
                  <div class={error || lerror ? "override-row has-error" : "override-row"}>
                    <label for={`f-${name}`}>{REASON_LABELS[r]}</label>
                    <FieldError name={name} error={error ?? lerror} />
                    <select {...controlAttrs(name, error)} data-action-select data-override-of={s}>
                      <option value="" selected={values.overrides[r] === undefined}>
                        Same as {STATUS_LABELS[s]}
                      </option>
                      {ACTIONS.map((a) => (
                        <option value={a} selected={values.overrides[r] === a}>
                          {ACTION_LABELS[a]}
                        </option>
                      ))}
                    </select>
                    <select {...controlAttrs(lname, lerror)} class="label-select" aria-label={`Label ${REASON_LABELS[r]} in ActiveCampaign`}>
                      <option value="" selected={label === undefined}>
                        Label: same as {STATUS_LABELS[s]}
                      </option>
                      <option value="on" selected={label === true}>
                        Label
                      </option>
                      <option value="off" selected={label === false}>
                        Do not label
                      </option>
                    </select>
                  </div>
                );
              })}
            </fieldset>
          ))}
        </div>
      </details>

      <LabelSettings values={values} errors={errors} />

      <div class="notice warn" id="delete-warning" role="note" hidden={!usesDeleteValues(values)}>
        <p>
          <strong>Delete is permanent after 30 days.</strong> Deleted contacts disappear from every list, automation and report in ActiveCampaign. ActiveCampaign can
          restore them for 30 days only. Unsubscribe is the safer choice.
        </p>
        {warning}
      </div>
    </fieldset>
  );
};

/** How labels are written: the field's name, the reason's field, tags, automations. */
const LabelSettings: FC<{ values: RunOptionValues; errors: FieldErrors }> = ({ values, errors }) => {
  const anyError = errors.labelField || errors.labelReasonField || errors.tagPrefix;
  const anyLabel = Object.values(values.labels).some(Boolean) || Object.values(values.labelOverrides).some(Boolean);
  return (
    <details class="more-options label-settings" id="f-label" open={Boolean(anyError) || anyLabel}>
      <summary>Label in ActiveCampaign: the field, tags and automations</summary>
      <div class="more-options-body stack">
        <p class="hint">
          Contacts you label get one of four words in a custom field: deliverable, risky, undeliverable or unknown, so a segment can match them. The field is created
          on first use and added to all lists; a field of that name already there is used.
        </p>
        <TextField name="labelField" label="Field for the result" value={values.labelField} error={errors.labelField} autocomplete="off" />
        <div class="choice">
          <input type="checkbox" name="labelReason" id="f-labelReason" value="on" checked={values.labelReason} />
          <label for="f-labelReason">Also write the reason (e.g. accept_all, mailbox_not_found) in a second field</label>
        </div>
        <div class="indent" data-shown-by="f-labelReason">
          <TextField name="labelReasonField" label="Field for the reason" value={values.labelReasonField} error={errors.labelReasonField} autocomplete="off" />
        </div>
        <div class="choice">
          <input type="checkbox" name="labelTags" id="f-labelTags" value="on" checked={values.labelTags} aria-describedby="f-labelTags-hint" />
          <label for="f-labelTags">Add a tag per result</label>
        </div>
        <p class="hint indent" id="f-labelTags-hint">
          Each labelled contact gets the tag of its result (with the prefix below: {values.tagPrefix || DEFAULT_TAG_PREFIX}risky) and loses the tag of an earlier result
          that no longer holds.
        </p>
        <div class="indent" data-shown-by="f-labelTags">
          <TextField name="tagPrefix" label="Tag prefix" value={values.tagPrefix} error={errors.tagPrefix} autocomplete="off" spellcheck={false} />
        </div>
        <div class="choice">
          <input type="checkbox" name="runAutomations" id="f-runAutomations" value="on" checked={values.runAutomations} aria-describedby="f-runAutomations-hint" />
          <label for="f-runAutomations">Let ActiveCampaign automations react to the new values</label>
        </div>
        <p class="hint indent" id="f-runAutomations-hint">
          Off by default: the values are written without starting automations. Turn it on if an automation should start when a contact becomes, say, risky.
        </p>
      </div>
    </details>
  );
};

export const SmtpFieldset: FC<{ legend: string; allowed: boolean; checked: boolean }> = ({ legend, allowed, checked }) =>
  allowed ? (
    <fieldset class="group">
      <legend>{legend}</legend>
      <div class="choice">
        <input type="checkbox" name="smtpProbe" id="f-smtpProbe" value="on" checked={checked} aria-describedby="f-smtpProbe-hint" />
        <label for="f-smtpProbe">Ask each mail server whether the mailbox exists (SMTP probe)</label>
      </div>
      <p class="hint indent" id="f-smtpProbe-hint">
        Finds mailboxes that no longer exist. Slower; no e-mail is sent. Without it we check syntax, the domain’s mail servers, disposable and role addresses and typos.
      </p>
    </fieldset>
  ) : (
    <p class="hint">We check syntax, the domain’s mail servers, disposable and role addresses, and typos. Mailbox probing (SMTP) is turned off on this server.</p>
  );
