import { zValidator } from "@hono/zod-validator";
import type { Context, ValidationTargets } from "hono";
import type { AppEnv } from "../env.ts";
import type { z } from "zod";
import { AppError } from "../../core/errors.ts";
import { jsonBody } from "./body.ts";

/**
 * zod validation at the edge; the first problem becomes an error with its field in `field`
 * (never in the message: the JSON answer and the forms place it). For JSON
 * bodies, jsonBody runs first (415 for another Content-Type, 400 for unreadable JSON).
 */
export function validate<T extends z.ZodType, Target extends keyof ValidationTargets>(target: Target, schema: T) {
  const validator = zValidator(target, schema, (result) => {
    if (!result.success) {
      const issue = result.error.issues[0];
      if (issue?.code === "unrecognized_keys") {
        const field = [...issue.path.map(String), issue.keys[0] ?? ""].filter(Boolean).join(".");
        throw new AppError("invalid_input", "is not a field this route accepts", field);
      }
      const field = issue?.path.map(String).join(".") || target;
      throw new AppError("invalid_input", issue?.message ?? "is invalid", field);
    }
  });
  if (target !== "json") return validator;
  const withBody: typeof validator = async (c, next) => {
    let result: Response | void = undefined;
    await jsonBody(c as unknown as Context<AppEnv>, async () => {
      result = await validator(c, next);
    });
    return result;
  };
  return withBody;
}
