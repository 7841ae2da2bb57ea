import { z } from "@hono/zod-openapi";
import { loginSchema, resetPasswordSchema, resetRequestSchema, signupSchema } from "../../core/domain/account.ts";
import { requireAuth, SESSION_COOKIE } from "../middleware/auth.ts";
import { CHANGE, errors, json, jsonRequest, NO_CONTENT, READ, route, SIGNED_IN, SIGNED_IN_CHANGE } from "../openapi.ts";
import { User } from "../schemas.ts";

const tags = ["auth"];

export const Session = z
  .object({
    user: User,
    csrfToken: z.string().openapi({ description: "Send it as X-CSRF-Token with every change made with the session cookie" }),
  })
  .openapi("Session");

const sessionCookie = {
  headers: z.object({
    "Set-Cookie": z.string().openapi({ description: `The session cookie (${SESSION_COOKIE}, HttpOnly, SameSite=Lax, 14 days) and a device cookie` }),
  }),
};

export const signup = route({
  method: "post",
  path: "/signup",
  tags,
  summary: "Create an account and sign in",
  description:
    "Creates a workspace and its first user, signed in. Sign-ups are limited per client network; the first new accounts of a network each day get free credits. " +
    "An e-mail that already has an account is refused without saying so (409).",
  security: [],
  request: { body: jsonRequest(signupSchema.strict()) },
  responses: {
    201: { ...json(Session.extend({ creditsGranted: z.number().int().openapi({ description: "Free credits this account starts with" }) }), "Signed up and in"), ...sessionCookie },
    ...errors(...CHANGE, 401, 409, 415, 429),
  },
});

export const login = route({
  method: "post",
  path: "/login",
  tags,
  summary: "Sign in",
  description: "Failed attempts are limited per account, per client network and per device (429 with Retry-After).",
  security: [],
  request: { body: jsonRequest(loginSchema.strict()) },
  responses: { 200: { ...json(Session, "Signed in"), ...sessionCookie }, ...errors(...CHANGE, 401, 415, 429) },
});

export const logout = route({
  method: "post",
  path: "/logout",
  tags,
  summary: "Sign out",
  description: "Ends the session and clears its cookie.",
  security: SIGNED_IN_CHANGE,
  middleware: [requireAuth],
  responses: { 204: NO_CONTENT, ...errors(...CHANGE, 401) },
});

export const me = route({
  method: "get",
  path: "/me",
  tags,
  summary: "Who is signed in",
  security: SIGNED_IN,
  middleware: [requireAuth],
  responses: {
    200: json(z.object({ user: User, csrfToken: z.string().nullable().openapi({ description: "The session's CSRF token; null for a bearer token" }) }), "The signed-in user"),
    ...errors(...READ, 401),
  },
});

export const requestReset = route({
  method: "post",
  path: "/password-reset",
  tags,
  summary: "E-mail a password reset link",
  description:
    "If an account uses the address, it is e-mailed a link that works once, for an hour. The answer is the same whether it has an account or not. Limited per address and per client network.",
  security: [],
  request: { body: jsonRequest(resetRequestSchema.strict()) },
  responses: { 202: json(z.object({ message: z.string() }), "Asked (whatever the address)"), ...errors(...CHANGE, 415, 429) },
});

export const resetPassword = route({
  method: "post",
  path: "/password-reset/confirm",
  tags,
  summary: "Choose a new password with a reset link's token",
  description: "The token works once, before it expires; every session of the account is signed out.",
  security: [],
  request: { body: jsonRequest(resetPasswordSchema.strict()) },
  responses: { 204: NO_CONTENT, ...errors(...CHANGE, 415, 429) },
});
