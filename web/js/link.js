// The scanner protocol client (docs/protocol.md), shared by the scanner and the bill scanner.
//
// `ScanLink` keeps one websocket to /ws/scan open, reconnecting with exponential backoff and
// jitter; sends `hello` and, after the `welcome`, every operation of the durable outbox in seq
// order, keeping at most `max_inflight` unacked; removes an operation from the outbox only when
// its final ack arrives (an ack with `retry: true` keeps it, and it is sent again after a delay).
//
// Events (all CustomEvent, details in `detail`):
//   state    {state, code}   state: connecting | online | offline | login | replaced | taken | blocked
//   pending  {count}         operations waiting for their ack
//   ack      {entry, ack, late}  a final ack; `late` when the scan was made before this
//                            connection came up or the ack took long (sent from the outbox)
//   retry    {entry, ack}    the hub could not save it now; it stays in the outbox
//   welcome  {welcome}

import { decode, encode } from "./msgpack.js";
import { Outbox } from "./outbox.js";
import { saveFormats } from "./bagcodes.js";

const BACKOFF_FIRST_MS = 500;
const BACKOFF_MAX_MS = 15000;
const CONNECT_TIMEOUT_MS = 10000;
// The heartbeat: a Wi-Fi link that dies without a word leaves the socket "open" for half a minute
// or more. A connection quiet for PING_AFTER_MS is sent a ping; one that then stays silent for
// ANSWER_MS is dead (the hub answers pings at once, even while acks wait on a commit): the page
// says Offline and reconnects, 2.5 s (plus a tick) after the last frame.
const PING_AFTER_MS = 1000;
const ANSWER_MS = 1500;
const HEARTBEAT_TICK_MS = 250;
const LATE_ACK_MS = 5000;
const KICK_GAP_MS = 5000; // a scan made while waiting to reconnect may try at once, this often
const RETRY_FIRST_MS = 1000;

export class ScanLink extends EventTarget {
  /**
   * `kind`: "scanner" or "bills"; `owner`: the user's name. Each page kind and user has its own
   * device id, seqs and outbox.
   */
  constructor(kind, owner, url = null) {
    super();
    this.kind = kind;
    this.owner = owner;
    this.url = url || `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}/ws/scan`;
    this.state = "starting";
    this.closeCode = null;
    this.outbox = null;
    // seq -> entry: the outbox in memory. Filled in seq order (the outbox's, then each new seq),
    // so the Map's own order is seq order: no sorting per ack, even with thousands waiting.
    this.waiting = new Map();
    this.ws = null;
    this.inflight = new Set(); // sent on this connection, no ack yet
    this.sent = new Set(); // sent on this connection
    this.maxInflight = 1;
    this.attempt = 0;
    this.timer = null;
    this.connectTimer = null;
    this.lastAttemptAt = 0;
    this.lastFrameAt = 0;
    this.pingSentAt = 0; // when the last ping went out
    this.onlineSince = 0;
    this.hold = false; // after a RETRY ack: send nothing until the connection is quiet
    this.retryDelay = RETRY_FIRST_MS;
    this.retryAfter = 0; // the hub's own wait (RATE_LIMITED's data.retry_after_ms), when longer
    this.retryTimer = null;
    this.welcome = null;
    this.stopped = false;
    this.chain = Promise.resolve(); // outbox writes and acks, strictly in order
  }

  get device() {
    return this.outbox ? this.outbox.device : "";
  }

  get pendingCount() {
    return this.waiting.size;
  }

  /** Open the outbox and start connecting. */
  async start() {
    this.outbox = await Outbox.open(this.kind, this.owner);
    for (const entry of await this.outbox.pending()) this.waiting.set(entry.seq, entry);
    this._emit("pending", { count: this.waiting.size });
    window.addEventListener("online", () => this.reconnectNow());
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") this._kick(0);
    });
    setInterval(() => this._heartbeat(), HEARTBEAT_TICK_MS);
    this._connect();
  }

  /** Store the operation `fields` in the outbox (it gets its seq there), then send it. */
  async submit(fields) {
    const stored = this.chain.then(async () => {
      const entry = await this.outbox.add(fields);
      this.waiting.set(entry.seq, entry);
      return entry;
    });
    this.chain = stored.catch(() => {});
    const entry = await stored;
    this._emit("pending", { count: this.waiting.size });
    if (this.state === "online") this._pump();
    else this._kick(KICK_GAP_MS);
    return entry;
  }

  /** Whether the operation `seq` still waits for its final ack. */
  isPending(seq) {
    return this.waiting.has(seq);
  }

  /** Pending entries (in seq order). */
  pendingEntries() {
    return [...this.waiting.values()];
  }

  /** Connect now instead of waiting for the backoff (e.g. "Use here" after 4002). */
  reconnectNow() {
    if (this.stopped || this.state === "online" || this.state === "connecting" || this.state === "login") return;
    clearTimeout(this.timer);
    this._connect();
  }

  /** Close for good (logout). The outbox stays. */
  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    this._cancelRetry();
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      ws.close(1000, "logout");
    }
  }

  // --- connection ------------------------------------------------------------------------

  _connect() {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = null;
    this.lastAttemptAt = Date.now();
    this._setState("connecting");
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch {
      this._closed(1006);
      return;
    }
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    this.inflight.clear();
    this.sent.clear();
    this.hold = false;
    this._cancelRetry();
    clearTimeout(this.connectTimer);
    this.connectTimer = setTimeout(() => {
      if (this.ws === ws && this.state !== "online") this._drop(ws);
    }, CONNECT_TIMEOUT_MS);
    ws.onopen = () => {
      this.chain = this.chain.then(async () => {
        const lastSeq = await this.outbox.lastSeq();
        if (this.ws === ws) this._send({ t: "hello", device: this.device, last_seq: lastSeq });
      }).catch(() => {});
    };
    ws.onmessage = (event) => {
      if (this.ws === ws) this._receive(event.data);
    };
    ws.onclose = (event) => {
      if (this.ws === ws) this._closed(event.code);
    };
    ws.onerror = () => {}; // a close event follows
  }

  /** Give up on a connection that does not answer; reconnect. */
  _drop(ws) {
    this.ws = null;
    try {
      ws.close(4000, "no answer");
    } catch {
      // already closed
    }
    this._closed(1006);
  }

  _closed(code) {
    this.ws = null;
    this.inflight.clear();
    this.sent.clear();
    this.hold = false;
    clearTimeout(this.connectTimer);
    this._cancelRetry();
    if (this.stopped) return;
    if (code === 4001) {
      this._setState("login", code);
    } else if (code === 1008) {
      this._checkLogin();
    } else if (code === 4002) {
      this._setState("replaced", code); // the newer connection of this device continues
    } else if (code === 4003) {
      this._setState("taken", code); // another user's device: only an admin's release helps
    } else {
      this._setState("offline", code);
      // 1002, 1003 and 1009 mean a bug on one side: keep trying, but slowly
      this._schedule([1002, 1003, 1009].includes(code));
    }
  }

  /** 1008 is "login required" or "origin not allowed": ask the hub which. */
  async _checkLogin() {
    let status = 0;
    try {
      status = (await fetch("/api/me", { cache: "no-store", credentials: "same-origin" })).status;
    } catch {
      status = 0;
    }
    if (status === 401) {
      this._setState("login", 1008);
    } else if (status === 200) {
      this._setState("blocked", 1008);
      this._schedule(true);
    } else {
      this._setState("offline", 1008);
      this._schedule(false);
    }
  }

  _schedule(slow) {
    clearTimeout(this.timer);
    const base = slow ? BACKOFF_MAX_MS : Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** this.attempt);
    this.attempt += 1;
    const delay = base / 2 + Math.random() * (base / 2); // jitter: no reconnect storm after a restart
    this.timer = setTimeout(() => this._connect(), delay);
  }

  /** Try at once when waiting for a reconnect and the last attempt is `gap` ms ago. */
  _kick(gap) {
    if (this.stopped || this.state !== "offline" || this.timer === null) return;
    if (Date.now() - this.lastAttemptAt < gap) return;
    this._connect();
  }

  /**
   * Judged from the ping sent, not from the last frame alone: a background tab's timers may run
   * a minute late, and a connection is only dead when a ping went unanswered.
   */
  _heartbeat() {
    if (this.state !== "online" || !this.ws) return;
    const now = Date.now();
    const asked = this.pingSentAt > this.lastFrameAt;
    if (asked && now - this.pingSentAt > ANSWER_MS) {
      this._drop(this.ws);
    } else if (!asked && now - this.lastFrameAt >= PING_AFTER_MS) {
      this.pingSentAt = now;
      this._send({ t: "ping", id: now });
    }
  }

  _send(message) {
    try {
      this.ws.send(encode(message));
    } catch {
      // the close event follows
    }
  }

  _setState(state, code = null) {
    this.state = state;
    this.closeCode = code;
    this._emit("state", { state, code });
  }

  _emit(name, detail = {}) {
    this.dispatchEvent(new CustomEvent(name, { detail }));
  }

  // --- messages --------------------------------------------------------------------------

  _receive(data) {
    this.lastFrameAt = Date.now();
    let message;
    try {
      message = typeof data === "string" ? JSON.parse(data) : decode(data);
    } catch {
      return;
    }
    if (!message || typeof message !== "object") return;
    if (message.t === "welcome") this._welcome(message);
    else if (message.t === "ack") this._ack(message);
    else if (message.t === "error") this._error(message);
  }

  _welcome(welcome) {
    clearTimeout(this.connectTimer);
    this.welcome = welcome;
    this.maxInflight = Math.max(1, Number(welcome.max_inflight) || 1);
    saveFormats(welcome.formats);
    this.attempt = 0;
    this.onlineSince = Date.now();
    const applied = Number(welcome.applied_seq) || 0;
    this.chain = this.chain.then(() => this.outbox.raiseSeq(applied)).catch(() => {});
    this._setState("online");
    this._emit("welcome", { welcome });
    this._pump();
  }

  /** Send waiting operations in seq order while fewer than max_inflight are unacked. */
  _pump() {
    if (this.state !== "online" || this.hold || !this.ws) return;
    for (const entry of this.waiting.values()) {
      if (this.inflight.size >= this.maxInflight) break;
      if (this.sent.has(entry.seq)) continue;
      this._send({ t: "op", seq: entry.seq, at: entry.at, ...entry.fields });
      this.sent.add(entry.seq);
      this.inflight.add(entry.seq);
    }
  }

  _ack(ack) {
    const seq = Number(ack.seq);
    this.inflight.delete(seq);
    const entry = this.waiting.get(seq);
    if (ack.retry) {
      // Nothing was recorded: keep it, and send nothing more until every ack due is in, then
      // resend from the lowest waiting seq after a delay (so the order stays as scanned).
      this.sent.delete(seq);
      this.hold = true;
      this.retryAfter = Math.max(this.retryAfter, Number(ack.data && ack.data.retry_after_ms) || 0);
      if (entry) this._emit("retry", { entry, ack });
      this._releaseHold();
      return;
    }
    if (entry) {
      this.waiting.delete(seq);
      const late = entry.at < this.onlineSince || Date.now() - entry.at > LATE_ACK_MS;
      this.chain = this.chain.then(async () => {
        const settled = await this.outbox.settle(seq, ack);
        this._emit("ack", { entry: settled, ack, late });
        this._emit("pending", { count: this.waiting.size });
      }).catch((error) => console.error("outbox", error));
    }
    if (this.hold) this._releaseHold();
    else this.retryDelay = RETRY_FIRST_MS;
    this._pump();
  }

  _releaseHold() {
    if (this.inflight.size > 0 || this.retryTimer) return;
    const ws = this.ws;
    const delay = Math.max(this.retryDelay, this.retryAfter);
    this.retryAfter = 0;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (this.ws !== ws) return;
      this.hold = false;
      this.sent = new Set(this.inflight);
      this._pump();
    }, delay);
    this.retryDelay = Math.min(this.retryDelay * 2, BACKOFF_MAX_MS);
  }

  _cancelRetry() {
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
  }

  /** An `error` frame: nothing was recorded. If it names one of ours, that one is refused. */
  _error(message) {
    const seq = Number(message.seq);
    if (Number.isInteger(seq) && this.inflight.has(seq)) {
      this._ack({ t: "ack", seq, ok: false, code: "BAD_REQUEST", msg: String(message.msg || ""), retry: false,
        replay: false, data: { reason: String(message.msg || "") } });
    }
  }
}
