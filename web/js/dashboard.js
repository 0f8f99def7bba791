// The dashboard page (web/dashboard.html), in one of two modes:
//
//   ?wall=1&token=TOKEN  wall screen: dark, huge numbers, needs no interaction, reconnects by itself.
//                        On 1008/4001 (token revoked or unknown) it says so and keeps retrying slowly.
//   otherwise            supervisor view for a logged-in user: per area, per scanner, bills and
//                        parents in progress, scans per minute, latest scans. On 1008/4001 without a
//                        live login it goes to the login page.
//
// `scope` (all | area:NAME | bill:CODE) is passed through to /ws/dashboard. The protocol
// (docs/protocol.md, sections 11-14) lives in livestate.js; the socket in dashsocket.js.

import { DashSocket, jittered } from "./dashsocket.js";
import { FIELDS, LiveState } from "./livestate.js";
import { drawRateChart } from "./rate-chart.js";
import { headings, labelRow } from "./tables.js";
import { el, linkOrText } from "./dom.js";
import { KeyedChildren } from "./keyed.js";
import { billHrefFor, codeHref, lookupHref, scansHref, targetHref } from "./hrefs.js";
import { fillNav } from "./nav.js";

const TICK_MS = 5000; // repaint the sliding minute window even when nothing arrives
const AUTH_RETRY_MS = 60000; // wall screen with a refused token: try again about once a minute
const RESYNC_EVERY_MS = 5 * 60 * 1000; // fresh snapshot now and then (e.g. after midnight on the hub)
const RESYNC_ANSWER_MS = 10000; // ask again when a resync is not answered
const ROWS_SHOWN = 100;
const SENT_LATER_MS = 60000; // a scan that reached the hub this much later than made says so

const POLICY_VIOLATION = 1008;
const SESSION_REVOKED = 4001;

const TOKEN_KEY = "tt.wall.token";

const params = new URLSearchParams(location.search);
const WALL = ["1", "true", "yes"].includes((params.get("wall") || "").toLowerCase());
const TOKEN = takeToken();
const SCOPE = params.get("scope") || "";

/**
 * The wall-screen token: read once from the URL, then kept in this tab's sessionStorage and taken
 * out of the address, so that it stays out of the history, bookmarks and screenshots of the
 * address bar; a reload of the wall screen finds it in sessionStorage.
 */
function takeToken() {
  const token = params.get("token");
  if (!token) return WALL ? sessionStorage.getItem(TOKEN_KEY) || "" : "";
  sessionStorage.setItem(TOKEN_KEY, token);
  params.delete("token");
  const query = params.toString();
  history.replaceState(history.state, "", `${location.pathname}${query ? `?${query}` : ""}${location.hash}`);
  return token;
}

const state = new LiveState();
const view = {
  status: "connecting",
  authProblem: null, // words shown while the hub refuses this screen or login
  user: null, // supervisor mode: /api/me's user
  updatedAt: null, // when the last snapshot or delta was applied (ms)
  serverOffsetMs: 0, // hub clock minus ours, from the newest event
  resyncSentAt: null,
  lastResyncAt: Date.now(),
  resultWords: null, // (code, data) -> {title, say}, from messages.js when it is there
  authDetail: "", // the hub's close reason when it refused us
  renders: 0, // renders so far, and what the last one took (ms): for the console and the browser tests
  renderMs: null,
};

const root = document.getElementById(WALL ? "wall" : "supervisor");
const numberFormat = new Intl.NumberFormat();

// ---- helpers --------------------------------------------------------------------------------------

function fmt(n) {
  return typeof n === "number" && Number.isFinite(n) ? numberFormat.format(n) : "–";
}

function words(name) {
  const text = String(name || "").replace(/_/g, " ").toLowerCase();
  return text.replace(/\b\p{L}/gu, (c) => c.toUpperCase());
}

function scopeLabel(scope) {
  if (!scope || scope === "all") return "All areas";
  const [kind, ...rest] = scope.split(":");
  const value = rest.join(":");
  return kind === "area" ? words(value) : kind === "bill" ? `Bill ${value}` : scope;
}

function hhmmss(ms) {
  const d = new Date(ms);
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((v) => String(v).padStart(2, "0")).join(":");
}

function nowSeconds() {
  return (Date.now() + view.serverOffsetMs) / 1000;
}

function setNumber(node, value) {
  const text = fmt(value);
  if (node.textContent === text) return;
  const before = node.dataset.value ? Number(node.dataset.value) : null;
  node.textContent = text;
  node.dataset.value = String(value ?? "");
  if (WALL) node.style.setProperty("--chars", String(Math.max(2, text.length)));
  // A number that went up glows once; while it glows, further rises do not restart the glow (a
  // restart would force a layout in every frame, and under steady scanning it would never fade).
  if (WALL && before !== null && value > before) node.classList.add("bump");
}

function bind(name, text) {
  for (const node of root.querySelectorAll(`[data-bind="${name}"]`)) node.textContent = text;
}

/**
 * A table of the supervisor view whose rows follow a list of items: `build` makes the row of an
 * item, `signature` says everything that row shows (the row is built again only when it changes).
 */
function keyedTable(id, key, signature, build) {
  const table = document.getElementById(id);
  const heads = headings(table);
  const rows = new KeyedChildren(table.tBodies[0], key, signature, (item) => labelRow(build(item), heads));
  const empty = root.querySelector(`[data-empty-for="${id}"]`);
  return (items) => {
    rows.update(items);
    if (empty) empty.hidden = items.length > 0;
    table.hidden = items.length === 0;
  };
}

function progress(count, capacity) {
  const share = capacity > 0 ? Math.min(1, count / capacity) : 0;
  const fill = el("span", { class: "fill" });
  fill.style.width = `${(share * 100).toFixed(1)}%`; // through CSSOM: the CSP refuses style="" attributes
  return el("span", { class: "progress" }, el("span", { class: "bar" }, fill),
    el("span", { class: "ratio", text: `${count}/${capacity}` }));
}

// ---- connection -----------------------------------------------------------------------------------

function socketUrl() {
  const url = new URL("ws/dashboard", location.href);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  if (SCOPE) url.searchParams.set("scope", SCOPE);
  if (TOKEN) url.searchParams.set("token", TOKEN);
  return url.toString();
}

function onMessage(message) {
  if (message.t === "error") console.warn("dashboard: hub error", message);
  if (message.t === "snapshot") {
    socket.resetBackoff();
    view.authProblem = null;
    view.authDetail = "";
    view.resyncSentAt = null;
    view.lastResyncAt = Date.now();
  }
  const outcome = state.apply(message);
  if (outcome.resync) requestResync();
  if (message.t === "snapshot" || (message.t === "delta" && outcome.changed)) {
    view.updatedAt = Date.now();
    if (message.t === "delta" && state.lastEventAt !== null && message.events && message.events.length) {
      view.serverOffsetMs = state.lastEventAt * 1000 - Date.now();
    }
  }
  if (outcome.changed || outcome.resync) scheduleRender(outcome.changed ? partsOf(message) : NO_PARTS);
}

function requestResync() {
  if (socket.send({ t: "resync" })) {
    view.resyncSentAt = Date.now();
    view.lastResyncAt = Date.now();
  }
}

function onClose(code, reason) {
  // every close reconnects (1012 restart, 4008 slow consumer, 1006 network ...); only the delay differs
  if (code === POLICY_VIOLATION || code === SESSION_REVOKED) {
    if (WALL) {
      view.authProblem = TOKEN
        ? "This wall-screen link is not valid any more (token revoked or unknown). Ask an admin for a new link."
        : "This wall screen has no token. Open it with the link an admin issued (…/dashboard.html?wall=1&token=…).";
      view.authDetail = reason;
      scheduleRender();
      return jittered(AUTH_RETRY_MS);
    }
    checkLogin(reason);
    return jittered(AUTH_RETRY_MS);
  }
  scheduleRender();
  return socket.nextBackoff();
}

/** Supervisor refused: without a live login go to the login page; with one, the scope is not allowed. */
async function checkLogin(reason) {
  let response;
  try {
    response = await fetch("api/me", { credentials: "same-origin", cache: "no-store" });
  } catch {
    socket.reconnectNow(); // the hub is unreachable: the ordinary backoff will sort it out
    return;
  }
  if (response.status === 401 || response.status === 403) {
    goToLogin();
    return;
  }
  view.authProblem = "The hub refused this dashboard for your login.";
  view.authDetail = reason;
  scheduleRender();
}

function goToLogin() {
  const next = location.pathname + location.search;
  location.replace(`index.html?next=${encodeURIComponent(next)}`);
}

const socket = new DashSocket(socketUrl(), {
  onMessage,
  onClose,
  onStatus: (status) => {
    view.status = status;
    if (status === "connecting") state.awaitingSnapshot = true; // a new connection starts with a snapshot
    scheduleRender();
  },
});

// ---- rendering ------------------------------------------------------------------------------------
//
// One render per animation frame at most, in the frame after something changed: every message that
// arrived since the last frame is shown by one render. A hidden tab gets no frames; its messages
// still update `state`, and the render it is due happens in the first frame after it is shown again.
// The numbers and the banner are redrawn by every render (they are few); the chart and the
// supervisor's tables only when a message touched them (`dirty`), and their rows only where they
// changed (keyed.js): a render costs what changed since the last frame, not all that is shown.

const PARTS = ["chart", "nav", "areas", "scanners", "bills", "parents", "events"];
const DELTA_PARTS = { areas: "areas", scanners: "scanners", per_minute: "chart", parents: "parents", bills: "bills",
  events: "events" };
const NO_PARTS = [];

const dirty = new Set(PARTS); // the first render draws everything
let due = false; // a render is wanted
let frame = null; // the animation frame it waits for

/** The parts of the page a hub message changes, besides the numbers. */
function partsOf(message) {
  switch (message.t) {
    case "snapshot": return PARTS;
    case "delta": return Object.keys(message).filter((key) => key in DELTA_PARTS).map((key) => DELTA_PARTS[key]);
    case "presence": return ["areas", "scanners"];
    case "names": return ["scanners", "events"];
    default: return NO_PARTS;
  }
}

function scheduleRender(parts = NO_PARTS) {
  for (const part of parts) dirty.add(part);
  due = true;
  requestFrame();
}

function requestFrame() {
  if (due && frame === null && !document.hidden) frame = requestAnimationFrame(renderFrame);
}

function renderFrame() {
  frame = null;
  due = false;
  const started = performance.now();
  render();
  dirty.clear();
  view.renders += 1;
  view.renderMs = performance.now() - started;
}

function isStale() {
  return view.status !== "open" || !state.ready || state.hubStale || view.authProblem !== null;
}

function render() {
  // The chart first: it reads the canvas's size and style, which is cheap only before this frame's
  // writes (after them it would force a layout of the whole page in the middle of the render).
  if (dirty.has("chart")) renderChart();
  const stale = isStale();
  document.body.classList.remove("loading");
  document.body.dataset.connection = view.status;
  document.body.dataset.stale = String(stale);
  document.body.classList.toggle("stale", stale);
  document.body.dataset.seq = state.seq === null ? "" : String(state.seq);

  renderBanner();
  bind("scope-label", scopeLabel(state.scope || SCOPE));
  bind("conn-label", view.status === "open" ? (state.hubStale ? "Live, behind" : "Live")
    : view.status === "connecting" ? "Connecting" : "Offline");
  bind("updated", view.updatedAt ? `Updated ${hhmmss(view.updatedAt)}` : "");

  const counters = state.counters;
  for (const node of root.querySelectorAll("[data-counter]")) {
    setNumber(node, counters ? counters[node.dataset.counter] : null);
  }
  const metrics = {
    rate: state.ready ? state.scansPerMinuteNow(nowSeconds()) : null,
    online: state.ready ? state.online.length : null,
    "bills-open": state.ready ? state.bills.size : null,
    "parents-open": state.ready ? state.parents.size : null,
  };
  for (const node of root.querySelectorAll("[data-metric]")) {
    const name = node.dataset.metric;
    if (name in metrics) setNumber(node, metrics[name]);
  }
  if (!WALL) renderSupervisor();
}

function renderBanner() {
  const banner = document.getElementById("banner");
  let text = null;
  let kind = "stale";
  if (view.authProblem) {
    text = view.authProblem + (WALL ? " Trying again every minute." : "")
      + (view.authDetail ? ` (hub: ${view.authDetail})` : "");
    kind = "auth";
  } else if (view.status !== "open") {
    const wait = socket.retryAt ? Math.max(0, Math.round((socket.retryAt - Date.now()) / 1000)) : 0;
    text = "Not connected to the hub: numbers may be out of date. "
      + (view.status === "waiting" && wait > 0 ? `Reconnecting in ${wait} s…` : "Reconnecting…");
  } else if (!state.ready) {
    text = "Loading…";
    kind = "info";
  } else if (state.hubStale) {
    text = "The hub cannot hear the other hubs just now: numbers may be behind.";
  }
  banner.hidden = text === null;
  banner.dataset.kind = kind;
  document.getElementById("banner-text").textContent = text ?? "";
}

function renderChart() {
  const canvas = root.querySelector("canvas");
  if (!canvas || !state.ready || canvas.clientWidth === 0) return;
  drawRateChart(canvas, state.minuteSeries(nowSeconds()), nowSeconds(), { axes: !WALL });
}

function renderSupervisor() {
  if (dirty.has("nav")) renderNav();
  if (dirty.has("areas")) renderAreas();
  if (dirty.has("scanners")) renderScanners();
  if (dirty.has("bills")) fillBills([...state.bills.values()].sort(fullestFirst).slice(0, ROWS_SHOWN));
  if (dirty.has("parents")) fillParents([...state.parents.values()].sort(fullestFirst).slice(0, ROWS_SHOWN));
  if (dirty.has("events")) renderEvents();
}

function fullestFirst(a, b) {
  return (b.count / b.capacity) - (a.count / a.capacity);
}

/** Plain code-unit order: cheap enough to sort thousands of scanners in every frame. */
function byText(a, b) {
  const x = String(a);
  const y = String(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

function renderAreas() {
  const onlineByArea = new Map();
  for (const entry of state.online) onlineByArea.set(entry.area, (onlineByArea.get(entry.area) ?? 0) + 1);
  const names = [...new Set([...state.areas.keys(), ...[...onlineByArea.keys()].filter(Boolean)])].sort();
  const canSwitch = (!view.user || view.user.area === null || view.user.area === undefined) && state.scope === "all";
  fillAreas(names.map((area) => ({ area, canSwitch, online: onlineByArea.get(area) ?? 0,
    counters: state.areas.get(area) ?? Object.fromEntries(FIELDS.map((f) => [f, 0])) })));
}

const fillAreas = WALL ? null : keyedTable("areas-table", (a) => a.area, (a) => JSON.stringify(a),
  ({ area, canSwitch, online, counters }) => el("tr", { "data-area": area },
    el("th", { scope: "row" }, canSwitch ? el("a", { href: pageUrl(`area:${area}`), text: words(area) }) : words(area)),
    el("td", { class: "n", text: fmt(online) }),
    ...FIELDS.map((f) => el("td", { class: "n", text: fmt(counters[f]) }))));

/** Today's scanners and the online ones, online first, then by scans. */
function renderScanners() {
  const online = state.onlineByDevice();
  const devices = new Map(state.scanners);
  for (const [device, entry] of online) {
    if (!devices.has(device)) devices.set(device, { device, user: entry.user, area: entry.area });
  }
  const rows = [...devices.values()].sort((a, b) => (online.has(b.device) - online.has(a.device))
    || ((b.accepted ?? 0) - (a.accepted ?? 0)) || byText(a.device, b.device));
  document.querySelector('[data-metric="online-of"]').textContent = state.ready
    ? `${fmt(online.size)} online of ${fmt(devices.size)}` : "";
  fillScanners(rows.slice(0, ROWS_SHOWN).map((scanner) => {
    const live = online.get(scanner.device);
    return { scanner, label: deviceLabel(scanner.device), since: live ? live.since : null, parent: live ? live.parent : null };
  }));
}

const fillScanners = WALL ? null : keyedTable("scanners-table", (row) => row.scanner.device,
  ({ scanner: s, label, since, parent }) => JSON.stringify([s.user, s.area, s.accepted, s.rejected, s.children_linked,
    s.parents_completed, label, since, parent]),
  ({ scanner: s, label, since, parent }) => {
    const live = since !== null;
    return el("tr", { class: live ? "online" : "offline", "data-device": s.device, "data-online": String(live) },
      el("td", {}, el("span", { class: "dot", title: live ? `online since ${hhmmss(since)}` : "offline" }),
        el("span", { class: "sr", text: live ? "online" : "offline" })),
      el("td", { class: "mono", title: s.device }, linkOrText(href(scansHref("device", s.device)), label)),
      el("td", {}, linkOrText(href(scansHref("user", s.user)), s.user || "–")),
      el("td", { text: s.area ? words(s.area) : "–" }),
      el("td", { class: "mono" }, parent ? linkOrText(href(lookupHref(parent)), parent) : ""),
      el("td", { class: "n", text: fmt(s.accepted ?? 0) }),
      el("td", { class: "n", text: fmt(s.rejected ?? 0) }),
      el("td", { class: "n", text: fmt(s.children_linked ?? 0) }),
      el("td", { class: "n", text: fmt(s.parents_completed ?? 0) }));
  });

const fillBills = WALL ? null : keyedTable("bills-table", (b) => b.code,
  (b) => JSON.stringify([b.area, b.destination, b.vehicle, b.count, b.capacity, b.actual_kg, b.expected_kg]),
  (b) => el("tr", { "data-bill": b.code },
    el("th", { scope: "row", class: "mono" }, linkOrText(href(billHrefFor(role(), b.code)), b.code)),
    el("td", { text: words(b.area) }),
    el("td", { class: "text", text: b.destination || "–" }),
    el("td", { class: "text", text: b.vehicle || "–" }),
    el("td", {}, progress(b.count, b.capacity)),
    el("td", { class: "n", text: `${kg(b.actual_kg)} / ${kg(b.expected_kg)}` })));

const fillParents = WALL ? null : keyedTable("parents-table", (p) => p.code,
  (p) => JSON.stringify([p.area, p.count, p.capacity]),
  (p) => el("tr", { "data-parent": p.code },
    el("th", { scope: "row", class: "mono" }, linkOrText(href(lookupHref(p.code)), p.code)),
    el("td", { text: words(p.area) }),
    el("td", {}, progress(p.count, p.capacity))));

/** Where a supervisor's click leads; a wall screen, where no one clicks, shows plain text. */
function href(url) {
  return WALL ? null : url;
}

/** The logged-in user's role (links to bill detail are for billers and admins). */
function role() {
  return view.user ? view.user.role : null;
}

/**
 * A scanner as people know it: the name an admin gave it, else its id. Ids can be long (a scanner
 * page uses a UUID): the start is enough to tell them apart.
 */
function deviceLabel(device) {
  const name = state.names.get(device);
  if (name) return name;
  const text = String(device ?? "");
  return text.length > 20 ? `${text.slice(0, 17)}…` : text;
}

function kg(value) {
  const n = Number(value);
  return Number.isFinite(n) ? numberFormat.format(n) : String(value ?? "–");
}

function pageUrl(scope) {
  const next = new URLSearchParams(params);
  if (scope === "all") next.delete("scope");
  else next.set("scope", scope);
  const query = next.toString();
  return `${location.pathname}${query ? `?${query}` : ""}`;
}

function renderNav() {
  const nav = document.getElementById("scope-nav");
  const admin = view.user && (view.user.area === null || view.user.area === undefined);
  const links = [];
  if (admin && state.scope && state.scope !== "all") links.push(el("a", { href: pageUrl("all"), text: "All areas" }));
  nav.replaceChildren(...links);
  const pages = document.getElementById("pages-nav");
  if (view.user && pages.dataset.role !== view.user.role) fillNav(pages, view.user.role); // once: links stay clickable
  const who = document.getElementById("who");
  who.textContent = view.user ? `${view.user.username} (${view.user.role}${view.user.area ? `, ${words(view.user.area)}` : ""})` : "";
}

const OPS = {
  parent: "Parent", child: "Child", undo: "Undo", bill_create: "New bill", bill_add: "Onto bill",
  bill_finish: "Finish bill", bill_reopen: "Reopen bill", invalid: "Unreadable",
  move_child: "Moved (admin)", take_out: "Taken out (admin)", take_off_bill: "Off bill (admin)",
  reassign_area: "Reassigned (admin)", delete_bag: "Deleted (admin)", bill_edit: "Bill edited",
  return_open: "Return ticket", return_add: "Returned", return_finish: "Finalise return",
  return_cancel: "Cancel return",
};

/**
 * When a scan was made (the scanner's clock, `client_at`) and when the hub got it (`at`), in ms.
 * A scan made offline reaches the hub later: the list shows when it was made.
 */
function eventTimes(e) {
  const received = Number(e.at) * 1000;
  const made = Number(e.client_at) * 1000;
  return { made: Number.isFinite(made) && made > 0 ? made : received, received };
}

function renderEvents() {
  const items = state.events.slice().reverse();
  fillEvents.update(items);
  const empty = root.querySelector('[data-empty-for="events"]');
  if (empty) empty.hidden = items.length > 0;
}

const fillEvents = WALL ? null : new KeyedChildren(document.getElementById("events"),
  (e) => `${e.device}\u0001${e.seq}\u0001${e.at}\u0001${e.op}\u0001${e.code}`,
  (e) => JSON.stringify([e, deviceLabel(e.device), view.resultWords !== null]),
  (e) => {
    const ok = e.result === "OK";
    const { made, received } = eventTimes(e);
    const later = Math.abs(received - made) > SENT_LATER_MS;
    const target = Boolean(e.target) && e.target !== e.code;
    let said = null;
    if (!ok && view.resultWords) {
      try {
        said = view.resultWords(e.result, { ...(e.data ?? {}), code: e.code });
      } catch {
        said = null;
      }
    }
    return el("li", { class: ok ? "ok" : "rejected", "data-result": e.result, "data-code": e.code },
      el("time", { datetime: new Date(made).toISOString(), text: hhmmss(made),
        title: later ? `scanned ${hhmmss(made)}, reached the hub ${hhmmss(received)}` : null }),
      el("span", { class: "result", text: ok ? "OK" : e.result }),
      el("span", { class: "what" },
        el("b", { text: OPS[e.op] ?? words(e.op) }), " ",
        linkOrText(href(codeHref(e.op, e.code, role())), e.code || "", { class: "mono" }), target ? " → " : null,
        target ? linkOrText(href(targetHref(e.op, e.target, role())), e.target, { class: "mono" }) : null,
        ok ? null : el("span", { class: "why", title: said?.say || null, text: said?.title || words(e.result) }),
        later ? el("span", { class: "later", text: `reached the hub ${hhmmss(received)}` }) : null),
      el("span", { class: "who", title: e.device }, linkOrText(href(scansHref("user", e.user)), e.user || "?"), " · ",
        linkOrText(href(scansHref("device", e.device)), deviceLabel(e.device)), e.area ? ` · ${words(e.area)}` : null));
  });

// ---- housekeeping ---------------------------------------------------------------------------------

function tick() {
  const now = Date.now();
  if (view.status === "open" && state.awaitingSnapshot && view.resyncSentAt !== null
      && now - view.resyncSentAt > RESYNC_ANSWER_MS) {
    requestResync();
  } else if (view.status === "open" && state.ready && !state.awaitingSnapshot
      && now - view.lastResyncAt > RESYNC_EVERY_MS) {
    state.awaitingSnapshot = true;
    requestResync();
  }
  scheduleRender(["chart"]); // the minute window slides
}

/** Every second: the wall clock and the banner's countdown (cheap; the tables wait for `tick`). */
function tickFast() {
  if (WALL) {
    const d = new Date();
    document.getElementById("wall-clock").textContent =
      `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
  }
  if (view.status === "waiting") renderBanner();
}

async function loadResultWords() {
  // The scanner pages' words for result codes (web/js/messages.js): a short title and a sentence.
  // Loaded on the side: without it the codes are shown in plain words.
  try {
    const messages = await import("./messages.js");
    if (typeof messages.describe === "function") {
      view.resultWords = (code, data) => {
        if (!messages.MESSAGES || !(code in messages.MESSAGES)) return null;
        const words = messages.describe(code, data);
        return words && typeof words.title === "string" ? words : null;
      };
    }
  } catch (error) {
    console.info("dashboard: result codes in plain words", error);
  }
  scheduleRender(["events"]);
}

async function keepScreenOn() {
  try {
    if ("wakeLock" in navigator) await navigator.wakeLock.request("screen");
  } catch {
    // not allowed here (e.g. plain http): the screen's own settings decide
  }
}

async function start() {
  document.body.classList.add(WALL ? "mode-wall" : "mode-supervisor");
  document.body.dataset.mode = WALL ? "wall" : "supervisor";
  root.hidden = false;
  if (WALL) {
    document.title = `TraceTrack wall: ${scopeLabel(SCOPE)}`;
    keepScreenOn();
    root.addEventListener("animationend", (event) => event.target.classList.remove("bump"));
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") keepScreenOn();
    });
  } else {
    try {
      const response = await fetch("api/me", { credentials: "same-origin", cache: "no-store" });
      if (response.status === 401 || response.status === 403) {
        goToLogin();
        return;
      }
      if (response.ok) view.user = (await response.json()).user ?? null;
    } catch {
      // the hub is unreachable: the socket keeps trying and the banner says so
    }
  }
  loadResultWords();
  window.addEventListener("online", () => socket.reconnectNow());
  window.addEventListener("resize", () => scheduleRender(["chart"]));
  document.addEventListener("visibilitychange", requestFrame);
  setInterval(tick, TICK_MS);
  setInterval(tickFast, 1000);
  tick();
  tickFast();
  socket.start();
}

window.ttDashboard = { state, view, socket }; // for the console and the browser tests
start();
