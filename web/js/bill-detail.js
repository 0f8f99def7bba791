// The bill detail page (web/bill.html?code=X, billers and admins): the bill with its parents and
// weights, its destination and vehicle editable (PATCH /api/bills/{code}, audited by the hub), and
// a Print button: web/css/manifest.css turns the same page into a dispatch manifest on paper.

import { ApiError, answered, call, getJson, idempotencyKey } from "./api.js";
import { normalise } from "./bagcodes.js";
import { el } from "./dom.js";
import { lookupHref } from "./hrefs.js";
import { areaWords, kg, statusWords, when } from "./labels.js";
import { explainError, hideMessage, show, startPage } from "./pagebase.js";
import { labelCells } from "./tables.js";

const $ = (id) => document.getElementById(id);
let bill = null;
let editKey = null; // the Idempotency-Key of the edit being made: sent again unanswered, it is a replay

const fact = (label, value, id) => [el("dt", { text: label }), el("dd", { id, text: value })];

/** A weight as the API writes it ("15.00") from a number of kilograms. */
const kgText = (n) => (Number.isFinite(n) ? n.toFixed(2) : "");

async function load(code) {
  try {
    const answer = await getJson(`/api/bills/${encodeURIComponent(code)}`);
    hideMessage();
    render(answer.bill);
  } catch (error) {
    bill = null;
    $("manifest").hidden = true;
    $("bill-tools").hidden = true;
    if (error instanceof ApiError && error.status === 404) {
      show("error", { title: "No such bill", say: `There is no bill with the number ${code}. Check the number.` });
    } else {
      show("error", explainError(error));
    }
  } finally {
    document.body.dataset.ready = "true";
  }
}

function render(info) {
  bill = info;
  document.title = `Bill ${info.code} · TraceTrack`;
  $("manifest").hidden = false;
  $("bill-tools").hidden = false;
  $("bill-code").textContent = info.code;
  const status = $("bill-status");
  status.dataset.status = info.status;
  status.textContent = statusWords(info.status);
  const count = info.parent_count ?? info.count ?? (info.parents || []).length;
  $("bill-facts").replaceChildren(
    ...fact("Destination", info.destination || "–", "bill-destination"),
    ...fact("Vehicle", info.vehicle || "–", "bill-vehicle"),
    ...fact("Area", areaWords(info.area), "bill-area"),
    ...fact("Parent bags", `${count}/${info.capacity}`, "bill-count"),
    ...fact("Weight", kg(info.actual_kg), "bill-actual"),
    ...fact("Expected weight", kg(info.expected_kg), "bill-expected"),
    ...fact("Created", `${when(info.created_at)}${info.created_by ? ` by ${info.created_by}` : ""}`, "bill-created"),
    ...fact("Finished", when(info.completed_at), "bill-finished"),
  );
  const parents = (info.parents || []).map((p) => (typeof p === "string" ? { code: p } : p));
  $("parents").tBodies[0].replaceChildren(...parents.map((p, index) => el("tr", { "data-code": p.code },
    el("td", { class: "n", text: String(index + 1) }),
    el("td", { class: "mono" }, el("a", { href: lookupHref(p.code), text: p.code })),
    el("td", { class: "n", text: p.child_count ?? "–" }),
    el("td", { class: "n", text: p.child_count === undefined ? "–" : kg(kgText(p.child_count)) }), // one child: 1 kg
    el("td", { class: "n", text: kg(p.expected_kg) }),
    el("td", { class: "added", text: `${when(p.added_at)}${p.added_by ? ` · ${p.added_by}` : ""}` }))));
  labelCells($("parents"));
  $("no-parents").hidden = parents.length > 0;
  $("parents").hidden = parents.length === 0;
  const children = parents.reduce((sum, p) => sum + (Number(p.child_count) || 0), 0);
  $("total-children").textContent = String(children);
  $("total-actual").textContent = kg(info.actual_kg);
  $("total-expected").textContent = kg(info.expected_kg);
  $("printed").textContent = `Printed ${new Date().toLocaleString()}`;
}

function openEdit() {
  editKey = idempotencyKey();
  $("edit").hidden = false;
  $("edit-destination").value = bill.destination || "";
  $("edit-vehicle").value = bill.vehicle || "";
  $("edit-destination").focus();
}

async function saveEdit(event) {
  event.preventDefault();
  const change = {};
  const destination = $("edit-destination").value.trim();
  const vehicle = $("edit-vehicle").value.trim().toUpperCase();
  if (destination !== (bill.destination || "")) change.destination = destination;
  if (vehicle !== (bill.vehicle || "")) change.vehicle = vehicle;
  if (Object.keys(change).length === 0) {
    $("edit").hidden = true;
    show("info", { title: "Nothing changed", say: "The destination and vehicle are as they were." });
    return;
  }
  $("edit-save").disabled = true;
  try {
    await call("PATCH", `/api/bills/${encodeURIComponent(bill.code)}`, change, { "Idempotency-Key": editKey });
    $("edit").hidden = true;
    await load(bill.code);
    show("ok", { title: "Saved", say: `Bill ${bill.code}: destination and vehicle saved.` });
  } catch (error) {
    show("error", explainError(error));
    if (answered(error)) editKey = idempotencyKey(); // a changed form is another request
  } finally {
    $("edit-save").disabled = false;
  }
}

async function main() {
  const session = await startPage(["biller", "admin"]);
  if (!session) return;
  $("print").addEventListener("click", () => {
    $("printed").textContent = `Printed ${new Date().toLocaleString()}`;
    window.print();
  });
  $("edit-open").addEventListener("click", openEdit);
  $("edit").addEventListener("submit", saveEdit);
  $("edit-cancel").addEventListener("click", () => {
    $("edit").hidden = true;
  });
  $("find").addEventListener("submit", (event) => {
    event.preventDefault();
    const code = normalise($("code").value);
    if (code) location.search = `?code=${encodeURIComponent(code)}`;
  });
  const code = normalise(new URLSearchParams(location.search).get("code") || "");
  if (!code) {
    $("find").hidden = false;
    $("code").focus();
    document.body.dataset.ready = "true";
    return;
  }
  await load(code);
}

main().catch((error) => show("error", explainError(error)));
