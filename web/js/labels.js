// Readable words for what the records API answers in codes: operations of a bag's history (the
// contract's op names recorded in scans.op), timeline kinds, bag and bill states, areas, times.

import { MESSAGES, describe } from "./messages.js";

export const OPS = {
  parent: "Parent bag scanned",
  child: "Child put into parent",
  undo: "Undone",
  bill_create: "Bill created",
  bill_add: "Put on bill",
  bill_finish: "Bill finished",
  bill_reopen: "Bill reopened",
  move_child: "Moved to another parent",
  take_out: "Taken out of parent",
  take_off_bill: "Taken off bill",
  reassign_area: "Moved to another area",
  delete_bag: "Bag deleted",
  bill_edit: "Bill details changed",
  return_open: "Return ticket opened",
  return_add: "Returned on ticket",
  return_finish: "Return finished",
  return_cancel: "Return cancelled",
};

export const KINDS = { scan: "Scan", undo: "Undo", correction: "Correction", import: "Import", return: "Return" };

export const STATUSES = {
  empty: "Empty", filling: "Filling", complete: "Full", on_bill: "On a bill",
  loose: "Not in a parent", in_parent: "In a parent", open: "Open", completed: "Finished",
};

export function words(name) {
  const text = String(name ?? "").replace(/_/g, " ").toLowerCase();
  return text.replace(/\b\p{L}/gu, (c) => c.toUpperCase());
}

export const opWords = (op) => OPS[op] || words(op);
export const kindWords = (kind) => KINDS[kind] || words(kind);
export const statusWords = (status) => STATUSES[status] || words(status);
export const areaWords = (area) => (area ? words(area) : "–");

/** "OK" or the operator's title for a refusal code ("Parent bag is full"). */
export function resultWords(code) {
  if (!code || code === "OK") return "OK";
  return MESSAGES[code] ? describe(code).title : words(code);
}

/** A time of the API (ISO 8601) in the reader's local form; "–" when there is none. */
export function when(iso) {
  if (!iso) return "–";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? String(iso) : date.toLocaleString();
}

export function kg(value) {
  return value === null || value === undefined || value === "" ? "–" : `${value} kg`;
}
