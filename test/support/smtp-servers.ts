export * from "../../sandbox/smtp.ts";
