// The bill scanner (billers): create a bill, scan complete parent bags onto it, finish it,
// reopen it. Every change is an operation of the same protocol and outbox as the scanner page.
//
// The hub sends a bill's count, capacity, status and weights with every bill ack; the page keeps
// the last ones per bill (with the destination and vehicle typed here) in localStorage.

import { ScanPage, showRecent } from "./ui.js";
import { normalise, parentFormat } from "./bagcodes.js";
import { describe, local } from "./messages.js";
import { signal } from "./feedback.js";
import { loadState, storeState } from "./pagestate.js";

const STATE_KEY = "tt.bills.state";
const KEEP_BILLS = 30;
const $ = (id) => document.getElementById(id);

const state = loadState(STATE_KEY, "bill", "bills");

function saveState() {
  storeState(STATE_KEY, state, "bill", "bills", KEEP_BILLS);
}

function remember(code, info) {
  delete state.bills[code]; // re-insert: the most recent bill goes last
  state.bills[code] = info;
}

function kg(value) {
  const number = Number.parseFloat(value);
  return Number.isFinite(number) ? number.toLocaleString(undefined, { maximumFractionDigits: 2 }) : "–";
}

function label(entry) {
  const f = entry.fields;
  switch (f.op) {
    case "bill_create": return `New bill ${f.bill} (${f.capacity})`;
    case "bill_add": return `${f.parent} → ${f.bill}`;
    case "bill_finish": return `Finish ${f.bill}`;
    case "bill_reopen": return `Reopen ${f.bill}`;
    case "undo": return `Undo ${f.code}`;
    default: return `${f.op} ${f.code || f.bill || ""}`;
  }
}

function done(entry) {
  const d = entry.data || {};
  if (typeof d.count !== "number" || !d.capacity) return "";
  return `${d.count}/${d.capacity}${d.status === "completed" ? " finished" : ""}`;
}

const page = new ScanPage({ kind: "bills", roles: ["biller", "admin"], label, done, onAck });

function onAck(entry, ack, late) {
  const f = entry.fields;
  const d = ack.data || {};
  if (typeof d.bill === "string" && typeof d.status === "string" && typeof d.count === "number") {
    remember(d.bill, {
      ...(state.bills[d.bill] || {}), capacity: d.capacity, count: d.count, status: d.status,
      actual_kg: d.actual_kg, expected_kg: d.expected_kg, known: true,
    });
  }
  if (f.op === "bill_create" && !ack.ok) {
    if (ack.code === "BILL_EXISTS") {
      // someone's bill of that number: what was typed here may not be its details
      remember(f.bill, { known: false });
      refreshBill(f.bill);
    } else if (state.bill === f.bill) {
      state.bill = null; // not created: back to the form
    }
  }
  if (f.op === "undo" && ack.ok) {
    const undone = page.known().find((e) => e.fields.op === "bill_add" && e.fields.parent === f.code && e.status === "ok" && !e.undone);
    if (undone) page.markUndone(undone.seq).then(() => page.render());
  }
  saveState();
  render();
  if (late) return;
  if (!ack.ok) {
    signal(ack.code === "ALREADY_ON_BILL" && d.bill === f.bill ? "warn" : "error");
    page.result(entry, "error", page.explain(entry, ack));
    return;
  }
  if (f.op === "bill_create") {
    signal("ok");
    page.result(entry, "ok", { title: `Bill ${d.bill} created`, say: `Scan full parent bags onto it (0/${d.capacity}).` });
  } else if (f.op === "bill_add") {
    const full = d.count >= d.capacity;
    signal(full ? "complete" : "ok");
    page.result(entry, full ? "complete" : "ok", {
      title: `${d.count}/${d.capacity}`,
      say: `${f.parent} is on bill ${d.bill}. Weight ${kg(d.actual_kg)} kg.${full ? " The bill is full: finish it." : ""}`,
    });
  } else if (f.op === "bill_finish") {
    signal("complete");
    page.result(entry, "complete", { title: `Bill ${d.bill} finished`, say: `${d.count} parent bags, ${kg(d.actual_kg)} kg.` });
  } else if (f.op === "bill_reopen") {
    signal("ok");
    page.result(entry, "ok", { title: `Bill ${d.bill} is open again`, say: "Scan parent bags onto it, or undo the last one." });
  } else if (f.op === "undo") {
    signal("undo");
    page.result(entry, "info", { title: "Undone", say: `${f.code} is off bill ${d.bill} again (${d.count}/${d.capacity}).` });
  }
}

/**
 * A parent bag's label scanned or typed where a bill number belongs (the hub refuses such a bill
 * number too): say so before anything is sent, with the field selected for the right number.
 */
function refusedBagLabel(bill, input) {
  if (!parentFormat(bill)) return false;
  signal("error");
  page.message("error", local("BILL_IS_BAG", { code: bill }));
  input.focus();
  input.select();
  return true;
}

async function create(event) {
  event.preventDefault();
  const bill = normalise($("bill-code").value);
  const capacity = Number($("bill-capacity").value);
  const destination = $("bill-destination").value.trim();
  const vehicle = $("bill-vehicle").value.trim();
  if (refusedBagLabel(bill, $("bill-code"))) return;
  if (!bill || !Number.isInteger(capacity) || capacity < 1 || capacity > 1000) {
    signal("error");
    page.message("error", describe("INVALID_BILL"));
    return;
  }
  state.bill = bill;
  remember(bill, { capacity, destination, vehicle, count: 0, status: "open", actual_kg: "0", expected_kg: "0", known: false });
  saveState();
  $("create").reset();
  render();
  await page.submit({ op: "bill_create", bill, capacity, destination, vehicle });
  render();
}

function openBill(code) {
  const bill = normalise(code);
  if (!bill || refusedBagLabel(bill, $("open-code"))) return false;
  state.bill = bill;
  remember(bill, state.bills[bill] || { known: false });
  saveState();
  render();
  page.message("info", { title: `Bill ${bill}`, say: "Scan full parent bags onto it." });
  refreshBill(bill);
  return true;
}

/** Ask the hub for a bill's details (count, weights, destination, vehicle); offline it waits for acks. */
async function refreshBill(bill) {
  try {
    const response = await fetch(`/api/bills/${encodeURIComponent(bill)}`, { credentials: "same-origin", cache: "no-store" });
    if (!response.ok) return;
    // the parents' list is for the bill detail page; the scanner keeps the counts only
    const { bill: { parent_count: count, parents, ...info } } = await response.json();
    remember(bill, { ...(state.bills[bill] || {}), ...info, count, known: true });
    saveState();
    render();
  } catch {
    // unreachable: the next ack brings the numbers
  }
}

async function scanned(code) {
  if (!state.bill) {
    signal("error");
    page.message("error", local("NO_BILL"));
    return;
  }
  await page.submit({ op: "bill_add", bill: state.bill, parent: code });
  render();
}

async function undo() {
  await page.undoLast("bill_add", (fields) => fields.parent);
}

async function billOp(op) {
  if (!state.bill) return;
  await page.submit({ op, bill: state.bill });
  render();
}

function otherBill() {
  state.bill = null;
  saveState();
  render();
  page.message("info", { title: "Bills", say: "Create a bill, or open one." });
}

let shownView = null;

function render() {
  const bill = state.bill;
  $("setup").hidden = Boolean(bill);
  $("active").hidden = !bill;
  $("bill-actions").hidden = !bill; // undo, finish, other bill: only with a bill open
  document.body.dataset.bill = bill || "";
  const view = bill ? "active" : "setup";
  if (view !== shownView && document.body.dataset.ready) {
    (bill ? $("scan") : $("bill-code")).focus(); // the view changed: its first field takes the keys
  }
  shownView = view;
  if (!bill) {
    renderRecentBills();
    return;
  }
  const info = state.bills[bill] || {};
  const waiting = page.link
    ? page.link.pendingEntries().filter((e) => e.fields.op === "bill_add" && e.fields.bill === bill).length : 0;
  const confirmed = info.count || 0;
  const capacity = info.capacity || 0;
  const shown = capacity ? Math.min(capacity, confirmed + waiting) : confirmed + waiting;
  $("bill-title").textContent = bill;
  const route = [info.destination && `to ${info.destination}`, info.vehicle && `vehicle ${info.vehicle}`].filter(Boolean);
  $("bill-route").textContent = route.join(" · ") || (info.known === false && !info.capacity ? "details show after the next scan" : "");
  const status = info.status || "unknown";
  $("bill-status").dataset.status = status;
  $("bill-status").textContent = { open: "OPEN", completed: "FINISHED", unknown: "…" }[status] || status;
  $("count").textContent = String(shown);
  $("capacity").textContent = capacity ? String(capacity) : "?";
  $("counter").dataset.state = waiting ? "waiting" : status === "completed" ? "complete" : "confirmed";
  $("bar-done").style.width = capacity ? `${(100 * confirmed) / capacity}%` : "0%";
  $("bar-waiting").style.width = capacity ? `${(100 * (shown - confirmed)) / capacity}%` : "0%";
  $("waiting-note").textContent = waiting ? `${waiting} waiting to be saved` : "";
  $("actual-kg").textContent = info.actual_kg !== undefined ? kg(info.actual_kg) : "–";
  $("expected-kg").textContent = info.expected_kg !== undefined ? kg(info.expected_kg) : "–";
  $("finish").hidden = status === "completed";
  $("reopen").hidden = status !== "completed";
  $("prompt").textContent = status === "completed" ? "Finished – reopen to change it" : "Scan full parent bags";
}

function renderRecentBills() {
  const codes = Object.keys(state.bills).reverse().slice(0, 8);
  showRecent("bills-recent", "bills-recent-title", codes.map((code) => {
    const info = state.bills[code];
    return [code, `${typeof info.count === "number" && info.capacity ? ` · ${info.count}/${info.capacity}` : ""}`
      + `${info.status === "completed" ? " · finished" : ""}`, openBill];
  }));
}

async function main() {
  render();
  const forget = await page.startScanning(["setup", "active", "bill-actions"], scanned, render);
  if (!forget) return;
  $("create").addEventListener("submit", (event) => create(event));
  $("continue").addEventListener("submit", (event) => {
    event.preventDefault();
    if (openBill($("open-code").value)) $("continue").reset();
  });
  $("undo").addEventListener("click", () => { forget(); undo(); });
  $("finish").addEventListener("click", () => { forget(); billOp("bill_finish"); });
  $("reopen").addEventListener("click", () => { forget(); billOp("bill_reopen"); });
  $("other").addEventListener("click", () => { forget(); otherBill(); });
  page.message("info", state.bill ? { title: `Bill ${state.bill}`, say: "Scan full parent bags onto it." }
    : { title: "Bills", say: "Create a bill, or open one." });
  document.body.dataset.ready = "true";
  shownView = null;
  render();
}

main();
