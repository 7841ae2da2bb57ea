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
