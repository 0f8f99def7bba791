// The returns page (billers, admins): open a return ticket, scan the parent bags that came back
// onto it (each leaves its bill, whose new count and weight the hub sends back), then finalise the
// ticket or cancel it (every parent goes back onto its bill). Every change is an operation of the
// scanner protocol (docs/protocol.md, ops `return_*`) through the same durable outbox as the
// scanner and bill pages; the page keeps what the acks said of recent tickets in localStorage.

import { ScanPage, showRecent } from "./ui.js";
import { normalise, parentFormat } from "./bagcodes.js";
import { signal } from "./feedback.js";
import { loadState, storeState } from "./pagestate.js";

const STATE_KEY = "tt.returns.state";
const KEEP_TICKETS = 30;
const CANCEL_ARMED_MS = 4000;
const STATUS_WORDS = { open: "OPEN", finalised: "FINALISED", cancelled: "CANCELLED", unknown: "…" };
const $ = (id) => document.getElementById(id);

const state = loadState(STATE_KEY, "ticket", "tickets");

function saveState() {
  storeState(STATE_KEY, state, "ticket", "tickets", KEEP_TICKETS);
}

function remember(code, info) {
  const known = state.tickets[code] || {};
  delete state.tickets[code]; // re-insert: the most recent ticket goes last
  state.tickets[code] = { ...known, ...info };
}

function kg(value) {
  const number = Number.parseFloat(value);
  return Number.isFinite(number) ? number.toLocaleString(undefined, { maximumFractionDigits: 2 }) : "–";
}

function billWords(bill) {
  return `bill ${bill.bill} now ${bill.count}/${bill.capacity}, ${kg(bill.actual_kg)} kg`;
}

function label(entry) {
  const f = entry.fields;
  switch (f.op) {
    case "return_open": return `Ticket ${f.ticket}`;
    case "return_add": return `${f.parent} → ${f.ticket}`;
    case "return_finish": return `Finalise ${f.ticket}`;
    case "return_cancel": return `Cancel ${f.ticket}`;
    default: return `${f.op} ${f.ticket || ""}`;
  }
}

function done(entry) {
  const d = entry.data || {};
  if (d.from_bill) return `(off ${d.from_bill.bill})`;
  return typeof d.count === "number" ? `· ${d.count} on ticket` : "";
}

const page = new ScanPage({ kind: "returns", roles: ["biller", "admin"], label, done, onAck });

function onAck(entry, ack, late) {
  const f = entry.fields;
  const d = ack.data || {};
  if (typeof d.ticket === "string" && typeof d.status === "string") {
    remember(d.ticket, { count: d.count, status: d.status, area: d.area, known: true });
  }
  if (f.op === "return_add" && ack.ok) remember(f.ticket, { lastParent: f.parent, lastBill: d.from_bill });
  if (f.op === "return_open" && !ack.ok && state.ticket === f.ticket && ack.code !== "RETURN_NOT_OPEN") {
    state.ticket = null; // not opened: back to the form
  }
  saveState();
  render();
  if (late) return;
  if (!ack.ok) {
    signal(ack.code === "ALREADY_RETURNED" && d.ticket === f.ticket ? "warn" : "error");
    page.result(entry, "error", page.explain(entry, ack));
    return;
  }
  if (f.op === "return_open") {
    signal("ok");
    page.result(entry, "ok", d.created
      ? { title: `Ticket ${d.ticket} open`, say: "Scan each parent bag that came back." }
      : { title: `Ticket ${d.ticket} resumed`, say: `${d.count} parent bags are on it. Scan the next one.` });
  } else if (f.op === "return_add") {
    signal("ok");
    page.result(entry, "ok", { title: `${d.count} returned`, say: `${f.parent} is off ${billWords(d.from_bill)}.` });
  } else if (f.op === "return_finish") {
    signal("complete");
    page.result(entry, "complete", {
      title: `Ticket ${d.ticket} finalised`, say: `${d.count} parent bags stay off their bills.`,
    });
  } else if (f.op === "return_cancel") {
    signal("undo");
    const bills = (d.bills || []).map(billWords).join("; ");
    page.result(entry, "info", {
      title: `Ticket ${d.ticket} cancelled`, say: `${d.count} parent bags are back on their bills${bills ? `: ${bills}` : ""}.`,
    });
  }
}

/** Open (or resume) ticket `code`: the page shows it at once, the hub's ack confirms it. */
async function openTicket(code) {
  const ticket = normalise(code);
  if (!ticket) return false;
  if (parentFormat(ticket)) {
    signal("error");
    page.message("error", { title: "That is a bag label", say: `${ticket} is a parent bag, not a ticket number. Type the ticket's own number.` });
    return false;
  }
  state.ticket = ticket;
  remember(ticket, { status: state.tickets[ticket]?.status || "unknown" });
  saveState();
  render();
  await page.submit({ op: "return_open", ticket });
  render();
  return true;
}

async function scanned(code) {
  if (!state.ticket) {
    signal("error");
    page.message("error", { title: "No ticket", say: "Open a return ticket first." });
    return;
  }
  await page.submit({ op: "return_add", ticket: state.ticket, parent: code });
  render();
}

async function ticketOp(op) {
  if (!state.ticket) return;
  await page.submit({ op, ticket: state.ticket });
  render();
}

let cancelArmed = null;

/** Cancel puts every bag back onto its bill: the button asks for a second press first. */
function cancelPressed() {
  if (!cancelArmed) {
    $("cancel").textContent = "Press again to cancel";
    $("cancel").dataset.armed = "true";
    cancelArmed = setTimeout(disarmCancel, CANCEL_ARMED_MS);
    return;
  }
  disarmCancel();
  ticketOp("return_cancel");
}

function disarmCancel() {
  clearTimeout(cancelArmed);
  cancelArmed = null;
  $("cancel").textContent = "Cancel ticket";
  delete $("cancel").dataset.armed;
}

function otherTicket() {
  state.ticket = null;
  saveState();
  render();
  page.message("info", { title: "Returns", say: "Open a return ticket: scan or type its number." });
}

let shownView = null;

function render() {
  const ticket = state.ticket;
  $("setup").hidden = Boolean(ticket);
  $("active").hidden = !ticket;
  $("ticket-actions").hidden = !ticket;
  document.body.dataset.ticket = ticket || "";
  const view = ticket ? "active" : "setup";
  if (view !== shownView && document.body.dataset.ready) (ticket ? $("scan") : $("ticket-code")).focus();
  shownView = view;
  if (!ticket) {
    renderRecentTickets();
    return;
  }
  const info = state.tickets[ticket] || {};
  const waiting = page.link
    ? page.link.pendingEntries().filter((e) => e.fields.op === "return_add" && e.fields.ticket === ticket).length : 0;
  const status = info.status || "unknown";
  $("ticket-title").textContent = ticket;
  $("ticket-status").dataset.status = status;
  $("ticket-status").textContent = STATUS_WORDS[status] || status;
  $("count").textContent = String((info.count || 0) + waiting);
  $("counter").dataset.state = waiting ? "waiting" : status === "open" ? "confirmed" : "complete";
  $("waiting-note").textContent = waiting ? `${waiting} waiting to be saved` : "";
  $("last-bill").textContent = info.lastBill ? `Last: ${info.lastParent} off ${billWords(info.lastBill)}` : "";
  const closed = status === "finalised" || status === "cancelled";
  $("finish").hidden = closed;
  $("cancel").hidden = closed;
  $("prompt").textContent = closed ? `Ticket ${status}: open another for more returns` : "Scan returned parent bags";
}

function renderRecentTickets() {
  const codes = Object.keys(state.tickets).reverse().slice(0, 8);
  showRecent("tickets-recent", "tickets-recent-title", codes.map((code) => {
    const info = state.tickets[code];
    return [code, `${typeof info.count === "number" ? ` · ${info.count} returned` : ""}`
      + `${info.status && info.status !== "open" && info.status !== "unknown" ? ` · ${info.status}` : ""}`,
    openTicket];
  }));
}

async function main() {
  render();
  const forget = await page.startScanning(["setup", "active", "ticket-actions"], scanned, render);
  if (!forget) return;
  $("open").addEventListener("submit", async (event) => {
    event.preventDefault();
    const code = $("ticket-code").value;
    $("open").reset();
    await openTicket(code);
  });
  $("finish").addEventListener("click", () => { forget(); ticketOp("return_finish"); });
  $("cancel").addEventListener("click", () => { forget(); cancelPressed(); });
  $("other").addEventListener("click", () => { forget(); otherTicket(); });
  page.message("info", state.ticket ? { title: `Ticket ${state.ticket}`, say: "Scan returned parent bags onto it." }
    : { title: "Returns", say: "Open a return ticket: scan or type its number." });
  document.body.dataset.ready = "true";
  shownView = null;
  render();
}

main();
