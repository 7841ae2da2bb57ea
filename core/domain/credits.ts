import { z } from "zod";

/** The most one request to the operator asks for. */
export const MAX_CREDIT_REQUEST = 1_000_000;

const wholeCredits = (max: number) =>
  z.coerce
    .number({ error: "must be a number" })
    .int("must be a whole number")
    .min(1, "must be at least 1")
    .max(max, `must be at most ${max.toLocaleString("en-US")}`);

/** Asking the operator for credits (POST /api/credits/requests and the credits page's form). */
export const creditRequestSchema = z.object({
  credits: wholeCredits(MAX_CREDIT_REQUEST),
  note: z.string().trim().max(500, "must be at most 500 characters").default(""),
});

/** Buying a pack through the checkout: its index among CREDIT_PACKS. */
export const checkoutSchema = z.object({ pack: z.coerce.number({ error: "must be a number" }).int().min(0) });

/** The operator granting credits (the operator page; `listwarden credits grant` has the same bounds). */
export const grantSchema = z.object({
  email: z.string().trim().min(1, "is required").max(254),
  credits: wholeCredits(1_000_000_000),
  reason: z.string().trim().max(200).default(""),
});
