import type { Clock } from "../../core/lib/clock.ts";

export class FakeClock implements Clock {
  constructor(private t = Date.parse("2026-11-02T09:00:00Z")) {}
  now(): number {
    return this.t;
  }
  advance(ms: number): void {
    this.t += ms;
  }
  set(iso: string): void {
    this.t = Date.parse(iso);
  }
}
