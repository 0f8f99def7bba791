// The scanner page (dispatchers): scan a parent bag, then its children, one after another.
//
// Each scan is classified here only to pick the operation: a code of a parent format starts (or
// switches to) that parent; anything else is a child of the current parent; with no current
// parent, any code is sent as a parent scan (the hub answers NOT_A_PARENT for a child's code, and
// records it). Every child scan names its parent explicitly, so a scan replayed later from the
// outbox can never land in whatever parent is current then.
//
// The current parent and the last known count of each parent come from the acks and are kept in
// localStorage: a reload continues where the operator was.

import { ScanPage, keepFocus, keyboardToggle, onScan } from "./ui.js";
import { parentFormat } from "./bagcodes.js";
import { local } from "./messages.js";
import { signal } from "./feedback.js";
import { loadState, storeState } from "./pagestate.js";

const STATE_KEY = "tt.scanner.state";
const KEEP_PARENTS = 50;
const $ = (id) => document.getElementById(id);

const state = loadState(STATE_KEY, "parent", "parents");

function saveState() {
  storeState(STATE_KEY, state, "parent", "parents", KEEP_PARENTS);
}

function label(entry) {
  const f = entry.fields;
  if (f.op === "parent") return `Parent ${f.code}`;
  if (f.op === "child") return `${f.code} → ${f.parent}`;
  if (f.op === "undo") return `Undo ${f.code}`;
  return `${f.op} ${f.code || ""}`;
}

function done(entry) {
  const d = entry.data || {};
  return typeof d.count === "number" && d.capacity ? `${d.count}/${d.capacity}` : "";
}

const page = new ScanPage({ kind: "scanner", label, done, onAck });

function onAck(entry, ack, late) {
  const f = entry.fields;
  const d = ack.data || {};
  if (typeof d.parent === "string" && typeof d.count === "number" && typeof d.capacity === "number"
      && d.status === undefined) { // a parent's view (a bill's view has a status)
    state.parents[d.parent] = { count: d.count, capacity: d.capacity, complete: Boolean(d.complete) };
  }
  if (f.op === "parent" && !ack.ok && state.parent === f.code) state.parent = null; // not a parent we can fill
  if (f.op === "undo" && ack.ok) {
    const undone = page.known().find((e) => e.fields.op === "child" && e.fields.code === f.code && e.status === "ok" && !e.undone);
    if (undone) page.markUndone(undone.seq).then(() => page.render());
  }
  saveState();
  render();
  if (late) return; // acks of scans sent from the outbox are summarised together
  if (!ack.ok) {
    const kind = ack.code === "ALREADY_IN_PARENT" ? "warn" : "error"; // nothing changed: a softer warning
    signal(kind);
    page.result(entry, kind, page.explain(entry, ack));
  } else if (f.op === "child" && d.complete) {
    celebrate(entry, d);
  } else if (f.op === "undo") {
    signal("undo");
    page.result(entry, "info", { title: "Undone", say: `${f.code} is out of parent bag ${d.parent} again (${d.count}/${d.capacity}).` });
  } else if (f.op === "parent") {
    signal("ok");
    page.result(entry, "ok", {
      title: d.created ? `New parent ${d.parent}` : `Parent ${d.parent}`,
      say: d.complete ? `This parent bag is already full (${d.count}/${d.capacity}). Scan the next parent bag.`
        : `${d.count}/${d.capacity}. Scan its children.`,
    });
  } else {
    signal("ok");
    page.result(entry, "ok", { title: `${d.count}/${d.capacity}`, say: `${f.code} is in ${d.parent}.` });
  }
}

async function scanned(code) {
  hideCelebration();
  const format = parentFormat(code);
  if (format || !state.parent) {
    if (format) {
      state.parent = code;
      state.parents[code] = state.parents[code] || { count: null, capacity: format.capacity, complete: false };
      saveState();
    }
    render();
    await page.submit({ op: "parent", code });
  } else {
    await page.submit({ op: "child", code, parent: state.parent });
  }
  render();
}

async function undo() {
  hideCelebration();
  await page.undoLast("child", (fields) => fields.code);
}

function switchParent() {
  hideCelebration();
  state.parent = null;
  saveState();
  render();
  signal("undo");
  page.message("info", local("NO_PARENT"));
}

let celebrationTimer = null;

function celebrate(entry, d) {
  signal("complete");
  page.result(entry, "complete", local("PARENT_COMPLETE", d));
  $("celebrate-title").textContent = `${d.parent} is full!`;
  $("celebrate-count").textContent = `${d.count}/${d.capacity}`;
  $("celebrate").hidden = false;
  clearTimeout(celebrationTimer);
  celebrationTimer = setTimeout(hideCelebration, 3500);
}

function hideCelebration() {
  $("celebrate").hidden = true;
}

function render() {
  const parent = state.parent;
  const info = parent ? state.parents[parent] : null;
  const capacity = (info && info.capacity) || (parent && parentFormat(parent) ? parentFormat(parent).capacity : 0);
  const waiting = parent && page.link
    ? page.link.pendingEntries().filter((e) => e.fields.op === "child" && e.fields.parent === parent).length : 0;
  const confirmed = (info && info.count) || 0;
  const shown = capacity ? Math.min(capacity, confirmed + waiting) : confirmed + waiting;
  const complete = Boolean(info && info.complete);
  $("prompt").textContent = !parent ? "Scan a parent bag" : complete ? "Full – scan the next parent bag" : "Scan the children";
  $("parent-code").textContent = parent || "no parent bag";
  $("count").textContent = parent ? String(shown) : "–";
  $("capacity").textContent = parent ? String(capacity || "?") : "–";
  $("counter").dataset.state = !parent ? "none" : waiting ? "waiting" : complete ? "complete" : "confirmed";
  $("bar-done").style.width = capacity ? `${(100 * confirmed) / capacity}%` : "0%";
  $("bar-waiting").style.width = capacity ? `${(100 * (shown - confirmed)) / capacity}%` : "0%";
  $("waiting-note").textContent = waiting ? `${waiting} waiting to be saved` : "";
  document.body.dataset.parent = parent || "";
}

async function main() {
  const input = $("scan");
  render();
  if (!(await page.start())) return;
  page.link.addEventListener("pending", render);
  $("to-bills").hidden = !["biller", "admin"].includes(page.user.user.role);
  const forget = onScan(input, (code) => scanned(code).catch((error) => {
    signal("error");
    page.message("error", { title: "Not saved on this device", say: String(error) });
  }));
  keepFocus(input);
  keyboardToggle($("keyboard"), [input]);
  $("undo").addEventListener("click", () => { forget(); undo(); });
  $("switch").addEventListener("click", () => { forget(); switchParent(); });
  $("celebrate").addEventListener("click", hideCelebration);
  page.message("info", state.parent ? { title: `Parent ${state.parent}`, say: "Scan its children." } : local("NO_PARENT"));
  render();
  document.body.dataset.ready = "true";
}

main();
