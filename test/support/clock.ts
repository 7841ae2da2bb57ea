import type { Clock } from "../../core/lib/clock.ts";

/** A clock tests move by hand; after `run()` it also moves with real time. */
export class FakeClock implements Clock {
  #ticking: number | null = null;

  constructor(private t = Date.parse("2026-11-02T09:00:00Z")) {}
  now(): number {
    return this.#ticking === null ? this.t : this.t + (Date.now() - this.#ticking);
  }
  advance(ms: number): void {
    this.t += ms;
  }
  set(iso: string): void {
    this.t = Date.parse(iso);
    if (this.#ticking !== null) this.#ticking = Date.now();
  }
  /** From now on, time also passes by itself (for waits measured in real time, like greylisting delays). */
  run(): this {
    if (this.#ticking === null) this.#ticking = Date.now();
    return this;
  }
}
