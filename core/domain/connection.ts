import { z } from "zod";
import { cleanName } from "./names.ts";

/**
 * The rules of a connection's input, defined once: the API validates with them and the
 * dashboard's forms parse with them too, putting the messages in their own words
 * (web/forms.ts). Messages name no field: the edges place it.
 */

const WHERE = "copy it from Settings → Developer in ActiveCampaign";

/** Header values are visible ASCII; anything else would make fetch throw with the key in the message. */
export const API_KEY_SHAPE = /^[\x21-\x7e]+$/;

export const apiKeySchema = z
  .string({ error: `is required: ${WHERE}` })
  .trim()
  .min(1, `is required: ${WHERE}`)
  .min(20, `looks too short: ${WHERE}`)
  .max(200, "is too long")
  .regex(API_KEY_SHAPE, "must be the key exactly as ActiveCampaign shows it, without spaces");

export const apiUrlSchema = z
  .string({ error: `is required: ${WHERE}` })
  .trim()
  .min(1, `is required: ${WHERE}`)
  .max(300, "is too long");

export const DISPLAY_NAME_MAX = 100;

/**
 * A name people read (connections, API tokens): hidden characters removed, at most
 * DISPLAY_NAME_MAX characters. The first bound only keeps the cleaning cheap.
 */
export const displayNameSchema = z
  .string({ error: "must be text" })
  .max(10 * DISPLAY_NAME_MAX, `must be at most ${DISPLAY_NAME_MAX} characters`)
  .transform(cleanName)
  .pipe(z.string().max(DISPLAY_NAME_MAX, `must be at most ${DISPLAY_NAME_MAX} characters`));

/** An API token's name: a display name that is not empty once cleaned. */
export const tokenNameSchema = displayNameSchema.pipe(z.string().min(1, "is required"));

export const connectionInputSchema = z.object({ name: displayNameSchema.optional(), apiUrl: apiUrlSchema, apiKey: apiKeySchema });
export const connectionUpdateSchema = z.object({ name: displayNameSchema.optional(), apiKey: apiKeySchema.optional() });
