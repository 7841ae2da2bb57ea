import { describe, expect, it } from "vitest";
import { AcError, isContactGone, isWeather, type AcErrorDetail } from "../core/ac/index.ts";

// What counts as weather (never a final failure) and as a contact gone from AC (issue 20,
// mutation testing): the two rules the apply, undo and monitoring stages decide on.

describe("isWeather", () => {
  it("takes a 429 as weather even when the client would not send it again, and any retryable error", () => {
    expect(isWeather(new AcError("rate_limited", "slow down", { status: 429 }))).toBe(true);
    expect(isWeather(new AcError("server", "bad gateway", { status: 502, retryable: true }))).toBe(true);
    expect(isWeather(new AcError("timeout", "no answer", { retryable: true }))).toBe(true);
  });

  it("does not take AC refusing the request itself as weather", () => {
    expect(isWeather(new AcError("validation", "bad field", { status: 422 }))).toBe(false);
    expect(isWeather(new AcError("server", "internal error", { status: 500 }))).toBe(false);
  });
});

describe("isContactGone", () => {
  const gone = (details: AcErrorDetail[] | undefined, kind: "validation" | "not_found" = "validation") =>
    isContactGone(new AcError(kind, "refused", { status: 422, ...(details ? { details } : {}) }));

  it("reads AC's words for a missing contact in a detail's title or its text", () => {
    expect(gone([{ title: "The related contact does not exist." }])).toBe(true);
    expect(gone([{ title: "Invalid", detail: "The related contact does not exist." }])).toBe(true);
  });

  it("reads a related_missing code whose pointer ends at the contact", () => {
    expect(gone([{ title: "Missing", code: "related_missing", pointer: "/data/attributes/contact" }])).toBe(true);
    expect(gone([{ title: "Missing", code: "related_missing", pointer: "/data/attributes/list" }])).toBe(false);
    expect(gone([{ title: "Missing", code: "related_missing", pointer: "/data/attributes/contacts" }])).toBe(false);
    expect(gone([{ title: "Missing", code: "related_missing" }])).toBe(false);
    expect(gone([{ title: "Missing", code: "invalid", pointer: "/data/attributes/contact" }])).toBe(false);
  });

  it("is gone when any one of several details says so", () => {
    expect(gone([{ title: "Field is invalid", code: "invalid" }, { title: "The related contact does not exist." }])).toBe(true);
  });

  it("is only a validation answer (422) with such a detail: other kinds, other words and no details are not", () => {
    expect(gone([{ title: "The related contact does not exist." }], "not_found")).toBe(false);
    expect(gone([{ title: "Invalid", detail: "The related list does not exist." }])).toBe(false);
    expect(gone([])).toBe(false);
    expect(gone(undefined)).toBe(false);
  });
});
