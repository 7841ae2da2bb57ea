import { isIPv4 } from "node:net";

/** Whether `host` is a loopback address (127.0.0.0/8 or ::1): the only places the sandbox listens. */
export function isLoopback(host: string): boolean {
  return (isIPv4(host) && host.startsWith("127.")) || host === "::1";
}
