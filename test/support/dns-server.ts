export * from "../../sandbox/dns.ts";
