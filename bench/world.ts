import type { Zone } from "../test/support/dns-server.ts";

/** 500 working domains plus a few broken ones; about 8% of addresses are undeliverable. */
export function benchWorld(): { zone: Zone; email(i: number): string } {
  const zone: Zone = { "mx.bench.test": { a: ["127.0.0.2"] }, "nullmx.bench.test": { mx: "null" }, "nomail.bench.test": {} };
  for (let d = 0; d < 500; d++) zone[`d${d}.bench.test`] = { mx: [{ priority: 10, exchange: "mx.bench.test" }] };
  return {
    zone,
    email(i) {
      if (i % 50 === 0) return `user${i}@nullmx.bench.test`;
      if (i % 37 === 0) return `user${i}@nomail.bench.test`;
      if (i % 41 === 0) return `user${i}@gone${i % 7}.bench.test`;
      return `user${i}@d${i % 500}.bench.test`;
    },
  };
}

const MX_HOSTS = 16;

/**
 * A world for the SMTP probe: 64 domains on 16 loopback MX hosts (127.0.0.2 to .17), every
 * address a real mailbox; the domains of every 4th host greylist a first attempt (450 4.7.1)
 * and accept the same triplet once `delayMs` has passed, as postgrey does.
 */
export function greylistWorld(contacts: number) {
  const zone: Zone = {};
  const hostOf = (h: number) => `127.0.0.${h + 2}`;
  for (let d = 0; d < 64; d++) {
    zone[`g${d}.bench.test`] = { mx: [{ priority: 10, exchange: `mx${d % MX_HOSTS}.bench.test` }] };
  }
  for (let h = 0; h < MX_HOSTS; h++) zone[`mx${h}.bench.test`] = { a: [hostOf(h)] };
  const email = (i: number) => `user${i}@g${i % 64}.bench.test`;
  const greylisting = (host: number) => host % 4 === 0;
  return {
    zone,
    email,
    /** Whether the address's mail server greylists it. */
    greylisted: (i: number) => greylisting((i % 64) % MX_HOSTS),
    mx(delayMs: number) {
      const mailboxes = new Set(Array.from({ length: contacts }, (_, i) => email(i)));
      const firstSeen = new Map<string, number>();
      return Array.from({ length: MX_HOSTS }, (_, h) => ({
        host: hostOf(h),
        rcpt: ({ recipient }: { recipient: string }) => {
          const address = recipient.toLowerCase();
          if (greylisting(h) && mailboxes.has(address)) {
            const seen = firstSeen.get(address);
            if (seen === undefined) firstSeen.set(address, Date.now());
            if (seen === undefined || Date.now() - seen < delayMs) return { code: 450, text: "4.7.1 Greylisted, try again later" };
          }
          return mailboxes.has(address) ? ("accept" as const) : { code: 550, text: "5.1.1 User unknown" };
        },
      }));
    },
  };
}
