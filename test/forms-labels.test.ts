import { describe, expect, it } from "vitest";
import { actionsSchema } from "../core/domain/scope-actions.ts";
import { cleanForm, parseForm, scheduleForm } from "../web/forms.ts";
import { runOptionValues, runOptionValuesOf } from "../web/run-options.tsx";

const ACTIONS = { deliverable: "keep", risky: "keep", undeliverable: "unsubscribe", unknown: "keep" };
const errorsOf = (result: ReturnType<typeof parseForm>) => (result.ok ? {} : result.errors);

describe("Label in ActiveCampaign on the Clean and schedule forms (issue 17)", () => {
  it("gives the API's label choices: per status, per reason, the fields, tags and automations", () => {
    const body = {
      scope: "all",
      listIds: [],
      ...ACTIONS,
      "label-risky": "on",
      "label-unknown": "on",
      "override-disposable": "delete",
      "label-override-disposable": "on",
      "label-override-greylisted": "off",
      labelField: " Verification ",
      labelReason: "on",
      labelReasonField: "Verification reason",
      labelTags: "on",
      tagPrefix: "lw-",
      runAutomations: "on",
    };
    const parsed = parseForm(cleanForm, body);
    expect(parsed).toEqual({
      ok: true,
      data: {
        scope: { kind: "all" },
        actions: {
          ...ACTIONS,
          overrides: [
            { reason: "disposable", action: "delete", label: true },
            { reason: "greylisted", label: false },
          ],
          label: { statuses: ["risky", "unknown"], fieldName: "Verification", reasonFieldName: "Verification reason", tagPrefix: "lw-", runAutomations: true },
        },
        smtpProbe: false,
      },
    });
    // Shown again as the form had it, and from a saved schedule's actions alike.
    const values = runOptionValues(body);
    expect(values).toMatchObject({ labels: { risky: true, unknown: true, deliverable: false }, labelOverrides: { disposable: true, greylisted: false }, labelTags: true, tagPrefix: "lw-" });
    const saved = runOptionValuesOf({ kind: "all" }, actionsSchema.parse((parsed as { data: { actions: unknown } }).data.actions), false);
    expect(saved).toMatchObject({ labels: values.labels, labelOverrides: values.labelOverrides, labelField: "Verification", labelReason: true, labelTags: true, runAutomations: true });
  });

  it("stores no label settings when nothing is labelled, whatever the settings fields say", () => {
    expect(parseForm(cleanForm, { scope: "all", listIds: [], ...ACTIONS, labelField: "", labelTags: "on", tagPrefix: "!!" })).toEqual({
      ok: true,
      data: { scope: { kind: "all" }, actions: { ...ACTIONS, overrides: [] }, smtpProbe: false },
    });
  });

  it("words the label settings' rules for their fields", () => {
    const base = { scope: "all", listIds: [], ...ACTIONS, "label-risky": "on" };
    expect(errorsOf(parseForm(cleanForm, { ...base, labelField: "  " }))).toEqual({ labelField: "Enter the name of the field to write, e.g. Email status" });
    expect(errorsOf(parseForm(cleanForm, { ...base, labelField: "x".repeat(61) }))).toEqual({ labelField: "Use at most 60 characters" });
    expect(errorsOf(parseForm(cleanForm, { ...base, labelTags: "on", tagPrefix: "-bad" }))).toEqual({
      tagPrefix: "Start with a letter or digit; use at most 30 letters, digits, spaces or _ . : - (e.g. lw-)",
    });
    expect(errorsOf(parseForm(cleanForm, { ...base, labelField: "Status", labelReason: "on", labelReasonField: "status" }))).toEqual({
      labelReasonField: "Give the reason a field of its own: a name other than the result's field",
    });
    expect(errorsOf(parseForm(cleanForm, { ...base, "label-override-disposable": "maybe" }))).toEqual({ "label-override-disposable": expect.any(String) });
  });

  it("the schedule form takes the same label choices", () => {
    const parsed = parseForm(scheduleForm, { scope: "all", listIds: [], ...ACTIONS, "label-deliverable": "on", labelField: "Email status", dayOfMonth: "1", hour: "6", timeZone: "UTC", holdThreshold: "30" });
    expect(parsed.ok && parsed.data.actions.label).toEqual({ statuses: ["deliverable"], fieldName: "Email status", reasonFieldName: null, tagPrefix: null, runAutomations: false });
  });
});
