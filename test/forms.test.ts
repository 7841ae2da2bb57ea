import { describe, expect, it } from "vitest";
import { cleanForm, connectionForm, connectionSettingsForm, loginForm, parseForm, scheduleForm, signupForm, tokenForm } from "../web/forms.ts";

const KEY = "k".repeat(40);
const WHERE = "copy it from Settings → Developer in ActiveCampaign";
const ACTIONS = { deliverable: "keep", risky: "keep", undeliverable: "unsubscribe", unknown: "keep" };
const SCHEDULE = { scope: "all", ...ACTIONS, dayOfMonth: "1", hour: "6", timeZone: "Europe/Berlin", holdThreshold: "30" };

const errorsOf = (result: ReturnType<typeof parseForm>) => (result.ok ? {} : result.errors);

describe("the dashboard's forms word the core's rules in their own words", () => {
  it("sign-up and sign-in: blank, malformed, too short and too long", () => {
    expect(errorsOf(parseForm(signupForm, { email: " ", password: "" }))).toEqual({ email: "Enter your e-mail address", password: "Use at least 10 characters" });
    expect(errorsOf(parseForm(signupForm, { email: "nope", password: "p".repeat(201) }))).toEqual({
      email: "Enter an e-mail address like you@example.com",
      password: "Use at most 200 characters",
    });
    expect(errorsOf(parseForm(signupForm, { email: `${"e".repeat(250)}@x.com`, password: "short" }))).toEqual({
      email: "That e-mail address is too long",
      password: "Use at least 10 characters",
    });
    expect(errorsOf(parseForm(loginForm, { email: "", password: "" }))).toEqual({ email: "Enter your e-mail address", password: "Enter your password" });
    // A field left out of the body is worded like a blank one, not in zod's English.
    expect(errorsOf(parseForm(loginForm, {}))).toEqual({ email: "Enter your e-mail address", password: "Enter your password" });
    expect(parseForm(signupForm, { email: " You@Example.com ", password: "p".repeat(10), _csrf: "x" })).toEqual({ ok: true, data: { email: "You@Example.com", password: "p".repeat(10) } });
  });

  it("connecting ActiveCampaign: each problem of the URL and the key has its sentence", () => {
    expect(errorsOf(parseForm(connectionForm, { name: "", apiUrl: "", apiKey: "" }))).toEqual({ apiUrl: `Enter the API URL: ${WHERE}`, apiKey: `Enter the API key: ${WHERE}` });
    expect(errorsOf(parseForm(connectionForm, { name: "n".repeat(101), apiUrl: "u".repeat(301), apiKey: "short" }))).toEqual({
      name: "Use at most 100 characters",
      apiUrl: "That URL is too long",
      apiKey: `That key looks too short: ${WHERE}`,
    });
    expect(errorsOf(parseForm(connectionForm, { apiUrl: "https://x.api-us1.com", apiKey: "has spaces but it is long enough" }))).toEqual({
      apiKey: "Paste the key exactly as ActiveCampaign shows it, without spaces",
    });
    expect(errorsOf(parseForm(connectionForm, { apiUrl: "https://x.api-us1.com", apiKey: "k".repeat(201) }))).toEqual({ apiKey: "That key is too long" });
    expect(parseForm(connectionForm, { name: " Main\u202e ", apiUrl: " https://x.api-us1.com ", apiKey: ` ${KEY} ` })).toEqual({
      ok: true,
      data: { name: "Main", apiUrl: "https://x.api-us1.com", apiKey: KEY },
    });
  });

  it("renaming a connection: an empty key field keeps the key, a typed one follows the key's rules", () => {
    expect(parseForm(connectionSettingsForm, { name: "Renamed", apiKey: "   " })).toEqual({ ok: true, data: { name: "Renamed", apiKey: undefined } });
    expect(errorsOf(parseForm(connectionSettingsForm, { name: "x", apiKey: "short" }))).toEqual({ apiKey: `That key looks too short: ${WHERE}` });
    expect(errorsOf(parseForm(connectionSettingsForm, { name: "n".repeat(1001), apiKey: "with spaces but it is long enough" }))).toEqual({
      name: "Use at most 100 characters",
      apiKey: "Paste the key exactly as ActiveCampaign shows it, without spaces",
    });
  });

  it("API tokens: a name that is empty once cleaned is refused", () => {
    expect(errorsOf(parseForm(tokenForm, { name: " \u202e " }))).toEqual({ name: "Enter a name, e.g. the program that will use it" });
    expect(errorsOf(parseForm(tokenForm, { name: "n".repeat(101) }))).toEqual({ name: "Use at most 100 characters" });
  });

  it("the Clean form gives the API's scope and actions, and words the scope's rules for its fields", () => {
    expect(parseForm(cleanForm, { scope: "lists", listIds: ["3", "3", "7"], tagId: "", ...ACTIONS, "override-disposable": "delete", "override-accept_all": "", smtpProbe: "on" })).toEqual({
      ok: true,
      data: {
        scope: { kind: "lists", listIds: ["3", "7"] },
        actions: { ...ACTIONS, overrides: [{ reason: "disposable", action: "delete" }] },
        smtpProbe: true,
      },
    });
    const cases: [Record<string, unknown>, Record<string, string>][] = [
      [{ scope: "lists", listIds: [] }, { listIds: "Pick at least one list" }],
      [{ scope: "lists", listIds: Array.from({ length: 101 }, (_, i) => String(i + 1)) }, { listIds: "Pick at most 100 lists per run" }],
      [{ scope: "lists", listIds: ["abc"] }, { listIds: "Choose from the ones shown" }],
      [{ scope: "tag", tagId: "" }, { tagId: "Pick a tag" }],
      [{ scope: "tag", tagId: "x1" }, { tagId: "Choose from the ones shown" }],
      [{ scope: "everything" }, { scope: "Choose what to check" }],
      [{ scope: "all", risky: "explode" }, { risky: "Choose Keep, Unsubscribe or Delete" }],
      [{ scope: "all", "override-disposable": "explode" }, { "override-disposable": "Choose an action from the list" }],
    ];
    for (const [fields, errors] of cases) expect(errorsOf(parseForm(cleanForm, { listIds: [], ...ACTIONS, ...fields })), JSON.stringify(fields)).toEqual(errors);
    // A select the browser did not send is a problem, not the API's default.
    expect(errorsOf(parseForm(cleanForm, { scope: "all", listIds: [], deliverable: "keep", risky: "keep", undeliverable: "keep" }))).toEqual({ unknown: "Choose Keep, Unsubscribe or Delete" });
  });

  it("the schedule form gives the API's schedule, and words the timing rules for its fields", () => {
    expect(parseForm(scheduleForm, { ...SCHEDULE, dayOfMonth: "last", timeZone: "europe/berlin", autoApply: "on", holdThreshold: " 25 " })).toEqual({
      ok: true,
      data: {
        scope: { kind: "all" },
        actions: { ...ACTIONS, overrides: [] },
        smtpProbe: false,
        dayOfMonth: "last",
        hour: 6,
        timeZone: "Europe/Berlin",
        autoApply: true,
        holdThreshold: 0.25,
        confirmDelete: false,
      },
    });
    expect(errorsOf(parseForm(scheduleForm, { ...SCHEDULE, dayOfMonth: "29", hour: "24", timeZone: "", holdThreshold: "abc" }))).toEqual({
      dayOfMonth: "Choose a day from 1 to 28, or the last day of the month",
      hour: "Choose an hour from 00:00 to 23:00",
      timeZone: "Choose a time zone",
      holdThreshold: "Enter a whole percentage from 0 to 99",
    });
    expect(errorsOf(parseForm(scheduleForm, { ...SCHEDULE, timeZone: "Mars/Base", holdThreshold: "100" }))).toEqual({
      timeZone: "Choose a time zone from the list, such as Europe/Berlin",
      holdThreshold: "Enter a whole percentage from 0 to 99",
    });
    for (const holdThreshold of ["5.5", "", "-1", "007"]) {
      expect(errorsOf(parseForm(scheduleForm, { ...SCHEDULE, holdThreshold })), holdThreshold).toEqual({ holdThreshold: "Enter a whole percentage from 0 to 99" });
    }
    // Every problem at once, the scope's among them.
    expect(Object.keys(errorsOf(parseForm(scheduleForm, { ...SCHEDULE, scope: "lists", listIds: [], hour: "x" })))).toEqual(["listIds", "hour"]);
  });
});
