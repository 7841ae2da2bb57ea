import { zValidator } from "@hono/zod-validator";
import type { ValidationTargets } from "hono";
import type { z } from "zod";
import { AppError } from "../../core/errors.ts";

/** zod validation at the edge; the first problem becomes an error naming its field. */
export function validate<T extends z.ZodType, Target extends keyof ValidationTargets>(target: Target, schema: T) {
  return zValidator(target, schema, (result) => {
    if (!result.success) {
      const issue = result.error.issues[0];
      const field = issue?.path.map(String).join(".") || target;
      throw new AppError("invalid_input", `${field}: ${issue?.message ?? "is invalid"}`, field);
    }
  });
}
