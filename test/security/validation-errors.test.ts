// What a failed validation becomes (server/middleware/validate.ts): the pure mapping, without an app.
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { AppError } from "../../core/errors.ts";
import { validationError, validationHook } from "../../server/middleware/validate.ts";

const Body = z.strictObject({
  name: z.string().min(1, "must not be empty"),
  scope: z.strictObject({ lists: z.array(z.string().min(1, "must name a list")) }).optional(),
});

function errorOf(schema: z.ZodType, input: unknown): z.ZodError {
  const result = schema.safeParse(input);
  if (result.success) throw new Error("expected a validation failure");
  return result.error;
}

describe("validationError", () => {
  it("names the field of the first problem by its path, joined with dots, and keeps zod's message", () => {
    const err = validationError("json", errorOf(Body, { name: "x", scope: { lists: ["a", ""] } }));
    expect(err).toBeInstanceOf(AppError);
    expect(err).toMatchObject({ code: "invalid_input", field: "scope.lists.1", message: "must name a list" });
  });

  it("names a top-level field by its name alone", () => {
    expect(validationError("json", errorOf(Body, { name: "" }))).toMatchObject({ field: "name", message: "must not be empty" });
  });

  it("names the target when the problem is the whole input", () => {
    expect(validationError("query", errorOf(z.string(), 3))).toMatchObject({ code: "invalid_input", field: "query" });
  });

  it("names a key the route does not take by its own path, at the top and inside an object", () => {
    expect(validationError("json", errorOf(Body, { name: "x", admin: true }))).toMatchObject({
      code: "invalid_input",
      field: "admin",
      message: "is not a field this route accepts",
    });
    expect(validationError("json", errorOf(Body, { name: "x", scope: { lists: [], owner: "me" } }))).toMatchObject({
      field: "scope.owner",
      message: "is not a field this route accepts",
    });
  });

  it("names an unknown key with an empty name by the object holding it", () => {
    expect(validationError("json", errorOf(Body, { name: "x", scope: { lists: [], "": 1 } }))).toMatchObject({ field: "scope" });
  });

  it("answers an error without issues as invalid input of the target", () => {
    expect(validationError("form", new z.ZodError([]))).toMatchObject({ code: "invalid_input", field: "form", message: "is invalid" });
  });
});

describe("validationHook", () => {
  it("throws the mapped error for a failed validation and lets a good one through", () => {
    const error = errorOf(Body, { name: "" });
    const hook = validationHook as unknown as (result: unknown) => unknown;
    expect(() => hook({ success: false, target: "json", error })).toThrow(AppError);
    expect(() => hook({ success: false, target: "json", error })).toThrow("must not be empty");
    expect(hook({ success: true, target: "json", data: { name: "x" } })).toBeUndefined();
  });
});
