/** A verifier option (or a provider rule) that cannot work; the message names it. */
export class VerifierConfigError extends Error {
  override name = "VerifierConfigError";
}
