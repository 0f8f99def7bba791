// The lookup page: scan (keyboard wedge: code + Enter) or type a code and see everything about the
// bag: kind, state, area, counts, its parent or children, its bill, and its history as a timeline.
// `?code=X` opens a bag directly. Admins get the corrections of the contract, each asking for what
// it needs and a confirmation before it is sent; the bag is read again after each.

import { ApiError, answered, call, getJson, idempotencyKey } from "./api.js";
import { normalise } from "./bagcodes.js";
import { el, linkOrText } from "./dom.js";
import { billHrefFor, codeHref, lookupHref, scansHref, targetHref } from "./hrefs.js";
import { areaWords, kg, kindWords, opWords, resultWords, statusWords, when } from "./labels.js";
import { explainError, hideMessage, show, startPage } from "./pagebase.js";

const $ = (id) => document.getElementById(id);
let session = null;
let shown = null; // the bag on screen, as /api/bags/{code} answered it

/** Open `code`: read it from the hub and show it; `push` adds it to the browser's history. */
async function lookup(code, push = true) {
  const normal = normalise(code);
  if (!normal) return;
  if (push && new URLSearchParams(location.search).get("code") !== normal) {
    history.pushState(null, "", `?code=${encodeURIComponent(normal)}`);
  }
  document.title = `${normal} · Lookup · TraceTrack`;
  closeFix();
  try {
    const answer = await getJson(`/api/bags/${encodeURIComponent(normal)}`);
    hideMessage();
    render(answer);
  } catch (error) {
    clear();
    if (error instanceof ApiError && error.status === 404) {
      show("error", { title: "No such bag", say: `There is no bag with the code ${normal}. Check the label and scan it again.` });
      $("page-message").append(el("a", { id: "prefix-search", href: `/bags.html?${new URLSearchParams({ prefix: normal })}`,
        text: `Bags whose code starts with ${normal}` }));
    } else {
      show("error", explainError(error));
    }
  } finally {
    document.body.dataset.code = normal;
    document.body.dataset.ready = "true";
    refocus();
  }
}

function clear() {
  shown = null;
  $("bag").hidden = true;
  $("history-block").hidden = true;
}

function fact(label, ...value) {
  return [el("dt", { text: label }), el("dd", {}, ...value)];
}

function render({ bag, history: events, history_truncated: truncated }) {
  shown = bag;
  $("bag").hidden = false;
  $("bag").dataset.kind = bag.kind;
  $("bag-code").textContent = bag.code;
  const status = $("bag-status");
  status.dataset.status = bag.status;
  status.textContent = statusWords(bag.status);
  const parent = bag.kind === "parent";
  const facts = [
    ...fact("Kind", parent ? `Parent bag${bag.format ? ` (${bag.format})` : ""}` : "Child bag"),
    ...fact("Area", areaWords(bag.area)),
  ];
  if (parent) {
    facts.push(...fact("Children", `${bag.child_count}/${bag.capacity}`));
    facts.push(...fact("Expected weight", kg(bag.expected_kg)));
    facts.push(...fact("Bill", bag.bill
      ? el("span", {}, linkOrText(billHrefFor(session.user.role, bag.bill.code), bag.bill.code, { id: "bag-bill" }), ` · ${statusWords(bag.bill.status)}`)
      : "none"));
  } else {
    facts.push(...fact("Parent bag", bag.parent
      ? el("span", {}, linkOrText(lookupHref(bag.parent.code), bag.parent.code, { id: "bag-parent" }),
        ` · ${bag.parent.child_count}/${bag.parent.capacity}`)
      : "none"));
  }
  facts.push(...fact("Created", `${when(bag.created_at)}${bag.created_by ? ` by ${bag.created_by}` : ""}`));
  if (bag.completed_at) facts.push(...fact("Full since", when(bag.completed_at)));
  $("bag-facts").replaceChildren(...facts);

  const children = parent ? bag.children || [] : [];
  $("bag-children-block").hidden = !parent;
  $("children-count").textContent = parent ? `${children.length}/${bag.capacity}` : "";
  $("bag-children").replaceChildren(...children.map((child) => el("li", { "data-code": child.code },
    el("a", { href: lookupHref(child.code), text: child.code, class: "mono" }),
    el("span", { class: "by", text: `${when(child.linked_at)}${child.linked_by ? ` · ${child.linked_by}` : ""}` }))));

  $("history-block").hidden = false;
  $("history-count").textContent = `(${events.length}${truncated ? "+" : ""})`;
  $("history-truncated").hidden = !truncated;
  $("history").replaceChildren(...events.map(historyItem));
  renderCorrections();
}

function historyItem(event) {
  const ok = event.result === "OK";
  const role = session.user.role;
  // the bag on screen is not a link to itself
  const code = linkOrText(event.code === shown.code ? null : codeHref(event.op, event.code, role), event.code,
    { class: "mono" });
  const target = event.target ? el("span", {}, " → ", linkOrText(
    event.target === shown.code ? null : targetHref(event.op, event.target, role), event.target, { class: "mono" })) : null;
  return el("li", { class: ok ? "ok" : "rejected", "data-kind": event.kind, "data-op": event.op, "data-result": event.result },
    el("span", { class: "kind", text: kindWords(event.kind) }),
    el("span", { class: "what" }, el("b", { text: opWords(event.op) }), " ", code, target),
    el("span", { class: "result", text: resultWords(event.result) }),
    el("span", { class: "who" },
      linkOrText(scansHref("user", event.user), event.user || "–", { class: "user" }), " · ",
      linkOrText(scansHref("device", event.device), event.device || "–", { class: "device mono" })),
    el("time", { datetime: event.at, text: when(event.at) }));
}

// ---- corrections (admins) ----------------------------------------------------------------------

/** The corrections that make sense for the bag on screen: [label, what it asks, endpoint]. */
function corrections(bag) {
  const base = `/api/bags/${encodeURIComponent(bag.code)}`;
  const list = [];
  if (bag.kind === "child") {
    list.push({ id: "move", label: "Move to another parent", needs: "parent", method: "POST", path: `${base}/move`,
      question: `Move ${bag.code} into another parent bag${bag.parent ? ` (out of ${bag.parent.code})` : ""}?`,
      done: (body) => `${bag.code} is now in ${body.parent}.` });
    if (bag.parent) {
      list.push({ id: "take-out", label: "Take out of parent", method: "POST", path: `${base}/take-out`,
        question: `Take ${bag.code} out of ${bag.parent.code}?`, done: () => `${bag.code} is out of ${bag.parent.code}.` });
    }
  } else {
    if (bag.bill) {
      list.push({ id: "take-off-bill", label: "Take off bill", method: "POST", path: `${base}/take-off-bill`,
        question: `Take ${bag.code} off bill ${bag.bill.code}?`, done: () => `${bag.code} is off bill ${bag.bill.code}.` });
    }
    list.push({ id: "reassign", label: "Move to another area", needs: "area", method: "POST", path: `${base}/reassign`,
      question: `Move ${bag.code} and its children to another dispatch area (now ${areaWords(bag.area)})?`,
      done: (body) => `${bag.code} and its children are now in ${areaWords(body.area)}.` });
  }
  list.push({ id: "delete", label: "Delete bag", method: "DELETE", path: base,
    question: `Delete ${bag.code}? Only for a bag created by mistake; its history is kept.`, done: () => `${bag.code} is deleted.` });
  return list;
}

// The correction whose form is open, with its Idempotency-Key: the same key while a request is not
// answered (offline, hub busy), so that sending it again is a replay; a new one after an answer.
let pending = null;

function renderCorrections() {
  const admin = session.user.role === "admin";
  $("corrections").hidden = !admin;
  if (!admin) return;
  $("fix-buttons").replaceChildren(...corrections(shown).map((fix) => {
    const button = el("button", { type: "button", class: "small", "data-fix": fix.id, text: fix.label });
    button.addEventListener("click", () => openFix(fix));
    return button;
  }));
}

function openFix(fix) {
  pending = { fix, key: idempotencyKey() };
  $("fix-form").hidden = false;
  $("fix-form").dataset.fix = fix.id;
  $("fix-question").textContent = fix.question;
  $("fix-parent-label").hidden = fix.needs !== "parent";
  $("fix-area-label").hidden = fix.needs !== "area";
  $("fix-parent").value = "";
  if (fix.needs === "parent") $("fix-parent").focus();
  else if (fix.needs === "area") fillAreas().then(() => $("fix-area").focus());
  else $("fix-confirm").focus();
}

function closeFix() {
  pending = null;
  $("fix-form").hidden = true;
}

async function fillAreas() {
  const select = $("fix-area");
  if (select.options.length) return;
  try {
    const { areas } = await getJson("/api/areas");
    for (const area of areas) if (area.name !== shown.area) select.append(new Option(area.label, area.name));
  } catch (error) {
    show("error", explainError(error));
  }
}

async function confirmFix(event) {
  event.preventDefault();
  if (!pending) return;
  const { fix, key } = pending;
  let body;
  if (fix.needs === "parent") {
    const parent = normalise($("fix-parent").value);
    if (!parent) {
      show("error", { title: "Parent bag needed", say: "Scan or type the parent bag to move it into." });
      return;
    }
    body = { parent };
  } else if (fix.needs === "area") {
    body = { area: $("fix-area").value };
  }
  const code = shown.code;
  $("fix-confirm").disabled = true;
  try {
    await call(fix.method, fix.path, body, { "Idempotency-Key": key });
    closeFix();
    if (fix.id === "delete") {
      clear();
      show("ok", { title: "Bag deleted", say: fix.done(body) });
      return;
    }
    await lookup(code, false);
    show("ok", { title: "Corrected", say: fix.done(body) });
  } catch (error) {
    show("error", explainError(error));
    if (answered(error) && pending) pending.key = idempotencyKey(); // what is sent next is another request
  } finally {
    $("fix-confirm").disabled = false;
  }
}

// ---- the scan input ----------------------------------------------------------------------------

/** Back to the scan input, its text selected, so the next scan replaces it. */
function refocus() {
  if (!$("fix-form").hidden) return;
  const input = $("code");
  input.focus({ preventScroll: true });
  input.select();
}

async function main() {
  session = await startPage();
  if (!session) return;
  const input = $("code");
  $("find").addEventListener("submit", (event) => {
    event.preventDefault();
    lookup(input.value);
  });
  input.addEventListener("keydown", (event) => {
    if (event.key !== "Tab" || !input.value) return; // some scanners end a code with Tab
    event.preventDefault();
    lookup(input.value);
  });
  // a scan while nothing has the focus lands in the input
  document.addEventListener("keydown", () => {
    if (document.activeElement === document.body) input.focus();
  }, true);
  $("fix-form").addEventListener("submit", confirmFix);
  $("fix-cancel").addEventListener("click", () => {
    closeFix();
    refocus();
  });
  window.addEventListener("popstate", () => {
    const code = new URLSearchParams(location.search).get("code");
    if (code) lookup(code, false);
    else clear();
  });
  const code = new URLSearchParams(location.search).get("code");
  if (code) {
    input.value = normalise(code);
    await lookup(code, false);
  } else {
    document.body.dataset.ready = "true";
    refocus();
  }
}

main().catch((error) => show("error", explainError(error)));
