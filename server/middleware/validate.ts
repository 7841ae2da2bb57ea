import type { Hook } from "@hono/zod-openapi";
import type { ValidationTargets } from "hono";
import type { z } from "zod";
import { AppError } from "../../core/errors.ts";
import type { AppEnv } from "../env.ts";

/**
 * What a failed validation of a route's input becomes: the first problem, as an AppError with
 * its field in `field` (the path joined with dots; never in the message: the JSON answer and
 * the forms place it). A key the route does not take is named by its own path.
 */
export function validationError(target: keyof ValidationTargets, error: z.ZodError): AppError {
  const issue = error.issues[0];
  if (issue?.code === "unrecognized_keys") {
    // Stryker disable next-line StringLiteral: zod names at least one key in an unrecognized_keys issue
    const key = issue.keys[0] ?? "";
    const field = [...issue.path.map(String), key].filter(Boolean).join(".");
    return new AppError("invalid_input", "is not a field this route accepts", field);
  }
  const field = issue?.path.map(String).join(".") || target;
  return new AppError("invalid_input", issue?.message ?? "is invalid", field);
}

/** The default hook of every API router (server/openapi.ts): a failed validation is thrown to jsonErrors. */
export const validationHook: Hook<unknown, AppEnv, string, void> = (result) => {
  if (!result.success) throw validationError(result.target, result.error);
};
