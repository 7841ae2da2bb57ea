import { describe, expect, it } from "vitest";
import { HEAP_GROWING_PERCENT, keepHeapNearLive } from "../boot/heap.ts";

describe("keepHeapNearLive (the server's V8 heap growth)", () => {
  const setFlagsCalls = (execArgv: string[]) => {
    const calls: string[] = [];
    keepHeapNearLive(execArgv, (flags) => calls.push(flags));
    return calls;
  };

  it("asks V8 to let the old generation grow by half of what survived (--heap-growing-percent=50)", () => {
    expect(HEAP_GROWING_PERCENT).toBe(50);
    expect(setFlagsCalls([])).toEqual(["--heap-growing-percent=50"]);
    expect(setFlagsCalls(["--enable-source-maps", "--max-old-space-size=512"])).toEqual(["--heap-growing-percent=50"]);
  });

  it("leaves an operator's own setting, in either spelling, alone", () => {
    expect(setFlagsCalls(["--heap-growing-percent=80"])).toEqual([]);
    expect(setFlagsCalls(["--heap_growing_percent=200"])).toEqual([]);
  });

  it("is not fooled by a flag that only starts alike", () => {
    expect(setFlagsCalls(["--heap-growing-percentage=80"])).toEqual(["--heap-growing-percent=50"]);
  });
});
