// The dashboard's websocket to the hub: MessagePack frames, reconnects with backoff, a liveness check.
//
// docs/protocol.md section 8: reconnect with exponential backoff and jitter (0.5 s doubling to 15 s)
// so that a hub restart does not cause a reconnect storm. What to do on each close code is the
// page's decision: `onClose(code, reason)` returns the delay before the next attempt in ms.
//
// A socket quiet for `pingAfterMs` is probed with {"t": "ping"}; one that answers nothing within
// `pongTimeoutMs` (a dead Wi-Fi link whose close never arrives) is dropped and reconnected, as is
// one stuck connecting for `connectTimeoutMs`: a wall screen shows its numbers as out of date
// about 2.5 s after the hub went silent, like the scanner pages.

import { decode, encode } from "./msgpack.js";

export const BACKOFF_BASE_MS = 500;
export const BACKOFF_MAX_MS = 15000;

/** Delay before attempt `attempt` (0, 1, 2 ...): half the doubled ceiling plus a random half. */
export function backoffDelay(attempt, base = BACKOFF_BASE_MS, max = BACKOFF_MAX_MS, random = Math.random) {
  const ceiling = Math.min(max, base * 2 ** Math.min(attempt, 30));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/** Jitter a fixed delay by ±`share` (so that many screens do not retry in step). */
export function jittered(ms, share = 0.2, random = Math.random) {
  return Math.round(ms * (1 - share + 2 * share * random()));
}

export class DashSocket {
  /**
   * @param {string} url ws:// or wss:// URL of /ws/dashboard with its query
   * @param {object} handlers onMessage(message), onStatus(status), onClose(code, reason) -> delay ms
   */
  constructor(url, { onMessage, onStatus = () => {}, onClose, pingAfterMs = 1000, pongTimeoutMs = 1500,
    connectTimeoutMs = 10000 } = {}) {
    this.url = url;
    this.onMessage = onMessage;
    this.onStatus = onStatus;
    this.onClose = onClose ?? (() => this.nextBackoff());
    this.pingAfterMs = pingAfterMs;
    this.pongTimeoutMs = pongTimeoutMs;
    this.connectTimeoutMs = connectTimeoutMs;
    this.ws = null;
    this.status = "idle"; // idle | connecting | open | waiting
    this.attempt = 0;
    this.retryAt = null; // when the next attempt starts (ms since the epoch), while waiting
    this.lastClose = null; // {code, reason} of the last close
    this.connects = 0;
    this._retryTimer = null;
    this._openedAt = 0;
    this._lastHeard = 0;
    this._pingSentAt = null;
    this._pingId = 0;
    this._watch = null;
  }

  start() {
    if (this._watch === null) this._watch = setInterval(() => this._watchdog(), 250);
    this._connect();
  }

  /** Send one message (MessagePack); false when the socket is not open. */
  send(message) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(encode(message));
    return true;
  }

  /** The backoff delay for the next attempt (each call doubles the next one, up to the maximum). */
  nextBackoff() {
    return backoffDelay(this.attempt++);
  }

  /** The connection is healthy again (a snapshot came): the next failure starts from the base delay. */
  resetBackoff() {
    this.attempt = 0;
  }

  /** Skip the wait: try now (e.g. the browser says it is online again). */
  reconnectNow() {
    if (this.status === "waiting") this._connect();
  }

  _setStatus(status) {
    this.status = status;
    this.onStatus(status);
  }

  _connect() {
    clearTimeout(this._retryTimer);
    this._retryTimer = null;
    this.retryAt = null;
    this._pingSentAt = null;
    this.connects += 1;
    this._setStatus("connecting");
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch (error) {
      this._closed(1006, String(error));
      return;
    }
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    this._openedAt = Date.now();
    ws.onopen = () => {
      if (this.ws !== ws) return;
      this._lastHeard = Date.now();
      this._setStatus("open");
    };
    ws.onmessage = (event) => {
      if (this.ws !== ws) return;
      this._lastHeard = Date.now();
      this._pingSentAt = null;
      let message;
      try {
        message = typeof event.data === "string" ? JSON.parse(event.data) : decode(event.data);
      } catch (error) {
        console.warn("dashboard: undecodable frame", error);
        return;
      }
      this.onMessage(message);
    };
    ws.onclose = (event) => {
      if (this.ws === ws) this._closed(event.code, event.reason);
    };
    ws.onerror = () => {}; // a close event always follows
  }

  /** Drop the current socket without waiting for its close handshake. */
  _abandon(code, reason) {
    const ws = this.ws;
    if (!ws) return;
    this.ws = null;
    ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
    try {
      ws.close();
    } catch {
      // already closing
    }
    this._closed(code, reason, true);
  }

  _closed(code, reason, abandoned = false) {
    if (!abandoned) this.ws = null;
    this.lastClose = { code, reason: reason || "" };
    let delay = this.onClose(code, reason || "");
    if (typeof delay !== "number" || !(delay >= 0)) delay = this.nextBackoff();
    this.retryAt = Date.now() + delay;
    this._setStatus("waiting");
    this._retryTimer = setTimeout(() => this._connect(), delay);
  }

  _watchdog() {
    const ws = this.ws;
    if (!ws) return;
    const now = Date.now();
    if (ws.readyState === WebSocket.CONNECTING && now - this._openedAt > this.connectTimeoutMs) {
      this._abandon(4000, "no answer while connecting");
    } else if (ws.readyState === WebSocket.OPEN) {
      if (this._pingSentAt !== null && now - this._pingSentAt > this.pongTimeoutMs) {
        this._abandon(4000, "no answer to ping");
      } else if (this._pingSentAt === null && now - this._lastHeard > this.pingAfterMs) {
        this._pingSentAt = now;
        this.send({ t: "ping", id: ++this._pingId });
      }
    }
  }
}
