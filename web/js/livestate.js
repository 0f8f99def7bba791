// What a dashboard shows, kept in step with the hub (docs/protocol.md, sections 12 and 13).
//
// Pure: no DOM, no socket. `apply(message)` takes one decoded hub message and says whether the
// view changed and whether the page must send {"t": "resync"}:
//
// - `snapshot` replaces everything and sets `seq`;
// - `delta` (batches `from` to `seq`) with seq <= ours is old news and is ignored; one with
//   from = ours + 1 is applied (counters, areas, scanners, per_minute, parents, bills replace; events
//   append); anything else is a gap: ask for a resync once and ignore deltas until the snapshot that
//   answers it arrives;
// - `presence` replaces the online list (`online`) or changes it (`changed` entries set by device,
//   `gone` devices removed); `stale` sets the hub's stale flag.
//
// After each delta the totals are checked against the per-area counters (they are equal at every
// seq for the scopes `all` and `area:NAME`); a mismatch also asks for a resync. This catches a day
// change on the hub, after which a delta carries only the areas scanned since midnight while the
// hub has already dropped yesterday's.

export const FIELDS = ["accepted", "rejected", "children_linked", "parents_completed", "bills_completed"];
export const MAX_EVENTS = 50;
export const MINUTES_SHOWN = 60;

const NOTHING = Object.freeze({ changed: false, resync: false });
const CHANGED = Object.freeze({ changed: true, resync: false });
const RESYNC = Object.freeze({ changed: false, resync: true });

function zeroCounters() {
  return Object.fromEntries(FIELDS.map((name) => [name, 0]));
}

function counters(value) {
  const out = zeroCounters();
  if (value && typeof value === "object") {
    for (const name of FIELDS) out[name] = Number(value[name] ?? 0);
  }
  return out;
}

export class LiveState {
  constructor() {
    this.reset();
  }

  /** Forget everything (e.g. before following another scope). */
  reset() {
    this.seq = null; // seq of the last snapshot or delta applied; null before the first snapshot
    this.scope = null;
    this.day = null;
    this.counters = null; // null for a bill scope, which has no counters
    this.areas = new Map(); // area -> counters
    this.scanners = new Map(); // device -> {device, user, area, ...counters}
    this.perMinute = new Map(); // minute (epoch seconds) -> scans
    this.parents = new Map(); // code -> parent being filled
    this.bills = new Map(); // code -> open bill
    this.events = []; // oldest first, at most MAX_EVENTS
    this.online = [];
    this.names = new Map(); // device -> the name an admin gave it
    this.hubStale = false;
    this.awaitingSnapshot = false; // a resync was asked for and its snapshot has not come yet
    this.snapshots = 0;
    this.deltas = 0;
    this.resyncs = 0;
    this.lastEventAt = null; // `at` (epoch seconds) of the newest event received in a delta
  }

  /** True once a snapshot has been applied. */
  get ready() {
    return this.seq !== null;
  }

  /** Apply one decoded hub message; returns {changed, resync}. */
  apply(message) {
    if (!message || typeof message !== "object") return NOTHING;
    switch (message.t) {
      case "snapshot":
        this.applySnapshot(message);
        return CHANGED;
      case "delta":
        return this.applyDelta(message);
      case "presence":
        this.applyPresence(message);
        return CHANGED;
      case "stale":
        this.hubStale = message.stale === true;
        return CHANGED;
      case "names":
        for (const [device, name] of Object.entries(message.names ?? {})) {
          if (typeof name === "string") this.names.set(device, name);
          else this.names.delete(device);
        }
        return CHANGED;
      default:
        return NOTHING; // pong, error, anything newer
    }
  }

  applySnapshot(s) {
    this.seq = Number(s.seq);
    this.scope = s.scope ?? null;
    this.day = s.day ?? null;
    this.counters = s.counters ? counters(s.counters) : null;
    this.areas = new Map(Object.entries(s.areas ?? {}).map(([area, c]) => [area, counters(c)]));
    this.scanners = new Map((s.scanners ?? []).map((row) => [row.device, row]));
    this.perMinute = new Map((s.per_minute ?? []).map(([minute, scans]) => [Number(minute), Number(scans)]));
    this.parents = new Map();
    for (const parent of s.parents ?? []) this.setParent(parent);
    this.bills = new Map();
    for (const bill of s.bills ?? []) this.setBill(bill);
    this.events = (s.events ?? []).slice(-MAX_EVENTS);
    if ("online" in s) this.online = Array.isArray(s.online) ? s.online : [];
    if ("stale" in s) this.hubStale = s.stale === true;
    if ("names" in s) this.names = new Map(Object.entries(s.names ?? {}));
    this.awaitingSnapshot = false;
    this.snapshots += 1;
    this.trimMinutes();
  }

  applyDelta(d) {
    const seq = Number(d.seq);
    if (this.seq === null || seq <= this.seq || this.awaitingSnapshot) return NOTHING;
    if (Number(d.from) !== this.seq + 1) return this.askResync();
    this.seq = seq;
    this.deltas += 1;
    if (d.counters) this.counters = counters(d.counters);
    for (const [area, c] of Object.entries(d.areas ?? {})) this.areas.set(area, counters(c));
    for (const row of d.scanners ?? []) this.scanners.set(row.device, row);
    for (const [minute, scans] of d.per_minute ?? []) this.perMinute.set(Number(minute), Number(scans));
    for (const parent of d.parents ?? []) this.setParent(parent);
    for (const bill of d.bills ?? []) this.setBill(bill);
    if (d.events && d.events.length) {
      this.events = this.events.concat(d.events).slice(-MAX_EVENTS);
      this.lastEventAt = Number(d.events[d.events.length - 1].at);
    }
    this.trimMinutes();
    if (!this.consistent()) return this.askResync();
    return CHANGED;
  }

  askResync() {
    this.awaitingSnapshot = true;
    this.resyncs += 1;
    return RESYNC;
  }

  /** The scope's totals equal the sum of its areas' counters (scopes `all` and `area:NAME`). */
  consistent() {
    if (this.counters === null || String(this.scope ?? "").startsWith("bill:")) return true;
    const sums = zeroCounters();
    for (const c of this.areas.values()) for (const name of FIELDS) sums[name] += c[name];
    return FIELDS.every((name) => sums[name] === this.counters[name]);
  }

  setParent(parent) {
    // a parent with count 0 or complete is no longer being filled; one dropped is no longer listed
    this.parents.delete(parent.code); // set anew: the list is in the order of the last change
    if (Number(parent.count) !== 0 && parent.complete !== true && parent.dropped !== true) {
      this.parents.set(parent.code, parent);
    }
  }

  setBill(bill) {
    // a bill whose status is not open is no longer in progress; one dropped is no longer listed
    this.bills.delete(bill.code);
    if (bill.status === "open" && bill.dropped !== true) this.bills.set(bill.code, bill);
  }

  /** Keep the last hour of minutes, counted back from the newest minute known. */
  trimMinutes() {
    let newest = -Infinity;
    for (const minute of this.perMinute.keys()) newest = Math.max(newest, minute);
    for (const minute of [...this.perMinute.keys()]) {
      if (minute <= newest - MINUTES_SHOWN * 60) this.perMinute.delete(minute);
    }
  }

  /**
   * Scans per minute over the hour ending at `nowSeconds`: an array of MINUTES_SHOWN numbers,
   * oldest minute first, the current (partial) minute last.
   */
  minuteSeries(nowSeconds) {
    const current = Math.floor(nowSeconds / 60) * 60;
    const series = [];
    for (let i = MINUTES_SHOWN - 1; i >= 0; i--) series.push(this.perMinute.get(current - i * 60) ?? 0);
    return series;
  }

  /**
   * Scans in the last sixty seconds at `nowSeconds`: the current minute's scans plus the share of
   * the previous minute that still lies inside the window.
   */
  scansPerMinuteNow(nowSeconds) {
    const current = Math.floor(nowSeconds / 60) * 60;
    const elapsed = (nowSeconds - current) / 60;
    const now = this.perMinute.get(current) ?? 0;
    const before = this.perMinute.get(current - 60) ?? 0;
    return Math.round(now + before * (1 - elapsed));
  }

  /** Online scanners, by device. */
  applyPresence(p) {
    if ("online" in p) {
      this.online = Array.isArray(p.online) ? p.online : [];
      return;
    }
    const online = this.onlineByDevice();
    for (const device of Array.isArray(p.gone) ? p.gone : []) online.delete(device);
    for (const entry of Array.isArray(p.changed) ? p.changed : []) online.set(entry.device, entry);
    this.online = [...online.values()];
  }

  onlineByDevice() {
    return new Map(this.online.map((entry) => [entry.device, entry]));
  }
}
