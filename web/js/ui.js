// What the scanner and the bill scanner pages share: the header (user, connection, waiting
// count), the message panel, the list of recent scans, the scan input with its focus trap and
// double-scan guard, and the summary of acks that arrive late (scans sent from the outbox).

import { ScanLink } from "./link.js";
import { closeMessage, describe, local } from "./messages.js";
import { normalise } from "./bagcodes.js";
import { currentUser, goToLogin, logout } from "./session.js";
import { signal, unlockAudio } from "./feedback.js";

const DOUBLE_SCAN_MS = 400;
const RECENT_SHOWN = 25;

const $ = (id) => document.getElementById(id);

export function registerServiceWorker() {
  if ("serviceWorker" in navigator) navigator.serviceWorker.register("/sw.js").catch(() => {});
}

/**
 * Keep the focus on `input` whatever is clicked or touched, so the wedge scanner's keystrokes
 * always land in it. `allowed(element)` names other fields that may hold the focus.
 */
export function keepFocus(input, allowed = () => false) {
  const visible = () => input.isConnected && !input.disabled && input.offsetParent !== null;
  const refocus = () => {
    const active = document.activeElement;
    if (!visible() || active === input || (active && active !== document.body && allowed(active))) return;
    input.focus({ preventScroll: true });
  };
  input.addEventListener("blur", () => setTimeout(refocus, 0));
  document.addEventListener("click", () => setTimeout(refocus, 0));
  // a press or touch anywhere but another field must not take the focus from the input
  document.addEventListener("mousedown", (event) => {
    const target = event.target;
    if (target === input || !visible() || allowed(target)) return;
    event.preventDefault();
  });
  // keys typed while the focus is elsewhere go to the input (focus moves before the character lands)
  document.addEventListener("keydown", (event) => {
    const active = document.activeElement;
    if (active !== input && !(active && active !== document.body && allowed(active)) && visible()) input.focus();
  }, true);
  window.addEventListener("focus", refocus);
  document.addEventListener("visibilitychange", refocus);
  setInterval(refocus, 1000);
  refocus();
}

/**
 * Call `handler(code)` for every scan: a wedge scanner types the code and presses Enter (some
 * send Tab). An empty scan (the second Enter of a double Enter) is ignored, and so is the same
 * code again when its first character came within DOUBLE_SCAN_MS of the previous scan's Enter
 * (one label read twice). Returns `forget()`: after another action (undo, switch) the same code
 * scanned again counts.
 */
export function onScan(input, handler) {
  let last = { code: "", at: -Infinity };
  let started = null; // when the first character of the scan being typed arrived
  const forget = () => {
    last = { code: "", at: -Infinity };
  };
  input.addEventListener("keydown", (event) => {
    unlockAudio();
    if (event.key !== "Enter" && event.key !== "Tab") {
      if (started === null && input.value === "") started = performance.now();
      return;
    }
    event.preventDefault();
    const code = normalise(input.value);
    const began = started ?? performance.now();
    input.value = "";
    started = null;
    if (!code) return;
    if (code === last.code && began - last.at < DOUBLE_SCAN_MS) return;
    last = { code, at: performance.now() };
    handler(code);
  });
  document.addEventListener("pointerdown", unlockAudio);
  return forget;
}

/** The soft keyboard: off by default on handhelds with a scanner, one touch to type by hand. */
export function keyboardToggle(button, inputs) {
  const apply = (on) => {
    for (const input of inputs) input.inputMode = on ? "text" : "none";
    button.setAttribute("aria-pressed", String(on));
    button.textContent = on ? "⌨ Keyboard on" : "⌨ Keyboard off";
  };
  let on = localStorage.getItem("tt.keyboard") === "on";
  apply(on);
  button.addEventListener("click", () => {
    on = !on;
    localStorage.setItem("tt.keyboard", on ? "on" : "off");
    apply(on);
    inputs[0].blur();
    inputs[0].focus();
  });
}

/**
 * One scanning page: the user, the link to the hub, the message panel and the recent list.
 * `label(entry)` says what an entry was ("Child C1001 → SB00017"); `done(entry)` what its success
 * means ("17/30"); `onAck(entry, ack, late)` updates the page's own state.
 */
/**
 * The recently opened bills or tickets as buttons: `picks` are [code, label, open] of each, newest
 * first; list `listId` shows them, its title `titleId` only when there is one.
 */
export function showRecent(listId, titleId, picks) {
  const items = picks.map(([code, label, open]) => {
    const li = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.className = "bill-pick";
    button.textContent = `${code}${label}`;
    button.addEventListener("click", () => open(code));
    li.append(button);
    return li;
  });
  $(listId).replaceChildren(...items);
  $(titleId).hidden = picks.length === 0;
}

export class ScanPage {
  constructor({ kind, roles, label, done, onAck, onState }) {
    this.kind = kind;
    this.roles = roles;
    this.label = label;
    this.done = done;
    this.onAck = onAck;
    this.onState = onState || (() => {});
    this.entries = new Map(); // seq -> entry, the recent ones
    this.late = [];
    this.lateTimer = null;
    this.user = null;
    this.link = null;
    this.newest = 0; // seq of the operation submitted last
    this.lastState = null;
    this.lost = false; // the connection was lost and is not back yet
  }

  /** Check the login, open the outbox, connect. False when the page must not be used. */
  async start() {
    registerServiceWorker();
    this.user = await currentUser();
    if (!this.user) {
      goToLogin();
      return false;
    }
    const { user } = this.user;
    $("user").textContent = user.username;
    $("area").textContent = user.area ? user.area.replace(/_/g, " ") : "all areas";
    $("logout").addEventListener("click", () => this.logout());
    if (this.roles && !this.roles.includes(user.role)) return false;
    this.link = new ScanLink(this.kind, user.username);
    this.link.addEventListener("state", (event) => this._state(event.detail));
    this.link.addEventListener("pending", () => this._pending());
    this.link.addEventListener("ack", (event) => this._ack(event.detail));
    this.link.addEventListener("retry", (event) => this._retry(event.detail));
    this.link.addEventListener("welcome", (event) => {
      const { user: who } = event.detail.welcome;
      if (who && who.username) $("user").textContent = who.username;
    });
    $("use-here").addEventListener("click", () => this.link.reconnectNow());
    await this.link.start();
    document.body.dataset.device = this.link.device;
    for (const entry of (await this.link.outbox.recent(RECENT_SHOWN)).reverse()) {
      this.entries.set(entry.seq, entry);
    }
    this.render();
    return true;
  }

  /**
   * `start` for a page that scans onto something it opens first (a bill, a return ticket): for a
   * role the page is not for, hide `panels` and say so; otherwise hand every scan to `scanned` (a
   * scan that could not be stored is said on the page), re-render on `pending`, keep the focus on
   * the scan input outside #setup and wire the keyboard toggle. The scan input's `forget`, or null
   * when the page must not be used.
   */
  async startScanning(panels, scanned, render) {
    if (!(await this.start())) {
      if (this.user) {
        for (const id of panels) $(id).hidden = true;
        $("wrong-role").hidden = false;
        this.message("error", local("FORBIDDEN_PAGE"));
      }
      return null;
    }
    this.link.addEventListener("pending", render);
    const input = $("scan");
    const forget = onScan(input, (code) => scanned(code).catch((error) => {
      signal("error");
      this.message("error", { title: "Not saved on this device", say: String(error) });
    }));
    keepFocus(input, (element) => Boolean(element.closest("#setup")));
    keyboardToggle($("keyboard"), [input]);
    return forget;
  }

  async logout() {
    const waiting = this.link ? this.link.pendingCount : 0;
    if (waiting > 0 && !confirm(`${waiting} scan(s) are not sent yet. They stay on this device and are sent `
      + "after your next login here. Log out anyway?")) return;
    if (this.link) {
      this.link.stop();
      await this.link.outbox.clearLog();
    }
    await logout();
  }

  /**
   * Store and send an operation. The message panel shows it at once as waiting for the hub: the
   * previous scan's green must never stand for this one.
   */
  async submit(fields) {
    const entry = await this.link.submit(fields);
    this._remember(entry);
    this.newest = entry.seq;
    if (this.link.state !== "online") {
      signal("queued");
      this.message("queued", local("QUEUED"));
    } else {
      this.message("pending", local("WAITING", { what: this.label(entry) }));
    }
    this.render();
    return entry;
  }

  /**
   * Show an ack's result for `entry`, unless a newer operation is still waiting: then a success
   * would pass for the newer one's, and only a refusal shows (the operator must see it).
   */
  result(entry, kind, words) {
    const newer = this.newest > entry.seq && this.link.isPending(this.newest);
    if (newer && kind !== "error" && kind !== "warn") return;
    this.message(kind, words);
  }

  _remember(entry) {
    this.entries.set(entry.seq, entry);
    if (this.entries.size > RECENT_SHOWN) this.entries.delete(Math.min(...this.entries.keys()));
  }

  /** Recent entries, newest first. */
  recent() {
    return [...this.entries.values()].sort((a, b) => b.seq - a.seq);
  }

  /** Every entry this page knows, the waiting ones included, newest first. */
  known() {
    const all = new Map(this.entries);
    for (const entry of this.link.pendingEntries()) if (!all.has(entry.seq)) all.set(entry.seq, entry);
    return [...all.values()].sort((a, b) => b.seq - a.seq);
  }

  /**
   * Undo the operator's last `op` (newest first, unless already undone): `codeOf(fields)` names the
   * bag the undo carries. Says so when there is nothing to undo.
   */
  async undoLast(op, codeOf) {
    let target = null;
    for (const entry of this.known()) {
      const f = entry.fields;
      if (f.op === "undo" && entry.status !== "error") break;
      if (f.op === op && !entry.undone && (entry.status === "ok" || entry.status === "pending")) {
        target = entry;
        break;
      }
    }
    if (!target) {
      signal("error");
      this.message("error", local("NOTHING_TO_UNDO"));
      return;
    }
    const code = codeOf(target.fields);
    this.message("info", local("UNDO_SENT", { code }));
    await this.submit({ op: "undo", code });
  }

  async markUndone(seq) {
    const entry = this.entries.get(seq);
    if (entry) this.entries.set(seq, { ...entry, undone: true });
    await this.link.outbox.patch(seq, { undone: true });
  }

  /** Show `{title, say}` in the message panel; kind: ok | warn | error | queued | info | complete. */
  message(kind, { title, say }) {
    const panel = $("message");
    panel.dataset.kind = kind;
    $("msg-title").textContent = title;
    $("msg-say").textContent = say;
  }

  /** The result of an ack, as the message panel shows it. */
  explain(entry, ack) {
    return describe(ack.code, { ...(ack.data || {}), code: entry.fields.code || entry.fields.parent }, ack.msg);
  }

  _state({ state, code }) {
    const conn = $("conn");
    // Each retry after a loss goes through "connecting": the header keeps saying Offline until
    // the hub answers again, rather than flickering between the two.
    if (state === "offline") this.lost = true;
    else if (state !== "connecting") this.lost = false;
    const shown = state === "connecting" && this.lost ? "offline" : state;
    conn.dataset.state = shown;
    const text = {
      connecting: "Connecting…", online: "Online", offline: "Offline",
      login: "Log in again", replaced: "Open elsewhere", taken: "Not your scanner", blocked: "Connection refused",
    }[shown] || shown;
    $("conn-text").textContent = text;
    const banner = $("banner");
    if (state === "replaced" || state === "taken") {
      banner.hidden = false;
      // the device id is what an admin releases: tell it
      $("banner-text").textContent = state === "replaced" ? closeMessage(code) : `${closeMessage(code)} (${this.link.device})`;
      $("use-here").textContent = state === "replaced" ? "Use here" : "Try again";
    } else if (state === "blocked") {
      banner.hidden = false;
      $("banner-text").textContent = local("ORIGIN").say;
    } else {
      banner.hidden = true;
    }
    if (state === "offline" && code && code !== 1006) $("conn").title = closeMessage(code);
    if (this.lastState === "online" && state === "offline" && this.link.pendingCount > 0) {
      signal("queued"); // the scans waiting for an ack will not get one on this connection
      this.message("queued", local("QUEUED"));
    }
    this.lastState = state;
    if (state === "login") {
      this.message("error", local("LOGIN"));
      goToLogin();
    }
    this.onState(state);
  }

  _pending() {
    const count = this.link.pendingCount;
    const el = $("pending");
    el.dataset.count = String(count);
    el.textContent = count === 0 ? "All sent ✓" : `${count} waiting`;
  }

  _ack({ entry, ack, late }) {
    this._remember(entry);
    this.onAck(entry, ack, late);
    if (late) {
      this.late.push({ entry, ack });
      clearTimeout(this.lateTimer);
      this.lateTimer = setTimeout(() => this._summariseLate(), 600);
    }
    this.render();
  }

  _retry({ entry, ack }) {
    const shown = this.entries.get(entry.seq);
    if (shown) this.entries.set(entry.seq, { ...shown, retrying: true });
    // a whole batch may come back: one signal for it, unless the reason is another one
    if (Date.now() - (this.lastRetrySignal || 0) > 3000 || ack.code !== this.lastRetryCode) {
      this.lastRetrySignal = Date.now();
      this.lastRetryCode = ack.code;
      signal("warn");
      this.message("warn", this.explain(entry, ack));
    }
    this.render();
  }

  /** Acks of scans sent from the outbox come in a burst: one signal and one message for all. */
  _summariseLate() {
    const acks = this.late;
    this.late = [];
    if (acks.length === 1) {
      const [{ entry, ack }] = acks;
      const kind = ack.ok ? "ok" : "error";
      signal(kind);
      this.message(kind, ack.ok ? { title: "Saved", say: `${this.label(entry)} ${this.done(entry)}`.trim() }
        : this.explain(entry, ack));
      return;
    }
    const failed = acks.filter(({ ack }) => !ack.ok).length;
    signal(failed ? "error" : "ok");
    this.message(failed ? "error" : "ok",
      local(failed ? "SENT_LATER_FAILED" : "SENT_LATER_OK", { total: acks.length, failed }));
  }

  /** Redraw the waiting count and the list, at most once a frame (acks may come by the thousand). */
  render() {
    if (this.renderQueued) return;
    this.renderQueued = true;
    requestAnimationFrame(() => {
      this.renderQueued = false;
      this._render();
    });
  }

  _render() {
    this._pending();
    const list = $("recent");
    const items = this.recent().slice(0, RECENT_SHOWN).map((entry) => this._row(entry));
    list.replaceChildren(...items);
  }

  _row(entry) {
    const li = document.createElement("li");
    const status = entry.undone ? "undone" : entry.status;
    li.dataset.seq = String(entry.seq);
    li.dataset.status = status;
    li.className = `row ${status}`;
    const icon = document.createElement("span");
    icon.className = "icon";
    icon.textContent = { pending: "○", ok: "✓", error: "✗", undone: "↶" }[status] || "";
    const what = document.createElement("span");
    what.className = "what";
    what.textContent = this.label(entry);
    const result = document.createElement("span");
    result.className = "result";
    if (status === "pending") {
      result.textContent = entry.retrying ? "Hub busy, sending again…" : "Waiting to send…";
    } else if (status === "undone") {
      result.textContent = "Undone";
    } else if (status === "ok") {
      result.textContent = `Saved ${this.done(entry)}`.trim();
    } else {
      result.textContent = describe(entry.result, { ...(entry.data || {}), code: entry.fields.code }, entry.msg).title;
    }
    const time = document.createElement("time");
    time.textContent = new Date(entry.at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
    li.append(icon, what, result, time);
    return li;
  }
}
