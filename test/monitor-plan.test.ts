// The change monitoring plans for one checked contact (planFor, worker/monitor/check.ts), called
// directly: monitoring acts without a review, so only what the rules allow may be planned.
import { describe, expect, it } from "vitest";
import type { AcContact } from "../core/ac/index.ts";
import { actionsSchema } from "../core/domain/scope-actions.ts";
import type { MonitorRow } from "../core/monitors/store.ts";
import { planFor } from "../worker/monitor/check.ts";

type Row = Parameters<typeof planFor>[2];

const monitor = (scope: object, deleteConfirmed = false) => ({ scope: JSON.stringify(scope), deleteConfirmed }) as unknown as MonitorRow;
const row = (lists: string[]) => ({ lists: JSON.stringify(lists) }) as unknown as Row;
const contact = (lists: [string, number][]): AcContact => ({
  id: "7",
  email: "jo@example.com",
  firstName: "",
  lastName: "",
  bouncedHard: false,
  bouncedSoft: false,
  lists: lists.map(([listId, status]) => ({ listId, status })) as AcContact["lists"],
});
const unsubscribeBad = actionsSchema.parse({ deliverable: "keep", risky: "keep", undeliverable: "unsubscribe", unknown: "keep" });
const deleteBad = actionsSchema.parse({ deliverable: "keep", risky: "keep", undeliverable: "delete", unknown: "keep" });
const ALL = { kind: "all" };
const WATCHED = { kind: "lists", listIds: ["1", "3"] };

describe("planFor", () => {
  it("unsubscribes from each list the contact joined, where it is active", () => {
    const plan = planFor(monitor(ALL), unsubscribeBad, row(["1", "2", "4"]), contact([["1", 1], ["2", 2], ["3", 1], ["4", 1]]), "mailbox_not_found");
    expect(plan).toEqual([
      { kind: "unsubscribe", listId: 1 },
      { kind: "unsubscribe", listId: 4 },
    ]);
  });

  it("unsubscribes only from watched lists, joined or, when no event named one, active", () => {
    const active = contact([["1", 1], ["2", 1], ["3", 1]]);
    expect(planFor(monitor(WATCHED), unsubscribeBad, row(["2", "3"]), active, "mailbox_not_found")).toEqual([{ kind: "unsubscribe", listId: 3 }]);
    expect(planFor(monitor(WATCHED), unsubscribeBad, row(["2"]), active, "mailbox_not_found")).toEqual([
      { kind: "unsubscribe", listId: 1 },
      { kind: "unsubscribe", listId: 3 },
    ]);
    expect(planFor(monitor(WATCHED), unsubscribeBad, row([]), contact([["1", 2], ["3", 1]]), "mailbox_not_found")).toEqual([{ kind: "unsubscribe", listId: 3 }]);
    expect(planFor(monitor(ALL), unsubscribeBad, row([]), contact([["1", 2], ["2", 1]]), "mailbox_not_found")).toEqual([{ kind: "unsubscribe", listId: 2 }]);
  });

  it("plans nothing for a contact active nowhere, or for a reason its actions keep", () => {
    expect(planFor(monitor(ALL), unsubscribeBad, row(["1"]), contact([["1", 2]]), "mailbox_not_found")).toEqual([]);
    expect(planFor(monitor(ALL), unsubscribeBad, row(["1"]), contact([["1", 1]]), "accepted_email")).toEqual([]);
  });

  it("follows a reason's override before its status's action", () => {
    const actions = actionsSchema.parse({ deliverable: "keep", risky: "keep", undeliverable: "unsubscribe", unknown: "keep", overrides: [{ reason: "mailbox_not_found", action: "keep" }] });
    expect(planFor(monitor(ALL), actions, row(["1"]), contact([["1", 1]]), "mailbox_not_found")).toEqual([]);
    expect(planFor(monitor(ALL), actions, row(["1"]), contact([["1", 1]]), "null_mx")).toEqual([{ kind: "unsubscribe", listId: 1 }]);
  });

  it("deletes only when the user confirmed deletes for this monitor, and then unsubscribes from nothing", () => {
    expect(planFor(monitor(ALL, false), deleteBad, row(["1"]), contact([["1", 1]]), "mailbox_not_found")).toEqual([]);
    expect(planFor(monitor(ALL, true), deleteBad, row(["1"]), contact([["1", 1]]), "mailbox_not_found")).toEqual([{ kind: "delete", listId: 0 }]);
  });

  it("deletes nothing for a reason whose action is not delete, though deletes are confirmed", () => {
    expect(planFor(monitor(ALL, true), unsubscribeBad, row(["1"]), contact([["1", 1]]), "mailbox_not_found")).toEqual([{ kind: "unsubscribe", listId: 1 }]);
    expect(planFor(monitor(ALL, true), deleteBad, row(["1"]), contact([["1", 1]]), "accepted_email")).toEqual([]);
  });

  it("labels a reason whose status or override says so, before the action", () => {
    const labelled = actionsSchema.parse({ ...unsubscribeBad, label: { statuses: ["undeliverable"] } });
    expect(planFor(monitor(ALL), labelled, row(["1"]), contact([["1", 1]]), "mailbox_not_found")).toEqual([
      { kind: "label", listId: 0 },
      { kind: "unsubscribe", listId: 1 },
    ]);
    expect(planFor(monitor(ALL), labelled, row(["1"]), contact([["1", 1]]), "accepted_email")).toEqual([]);
  });
});
