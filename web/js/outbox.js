// The durable outbox of one scanning page, in IndexedDB: every operation gets its seq and is
// stored here BEFORE it is sent; it leaves the outbox only when its final ack arrives. A page
// reload, a browser restart or a dead battery loses nothing (docs/protocol.md, section 9).
//
// One database per page kind ("scanner", "bills") and user, holding:
//   meta    key/value: "device" (this outbox's device id), "seq" (the last seq ever given out)
//   outbox  the operations not yet finally acked, by seq
//   log     the recent operations with their results (what the page lists), by seq
//
// The seq counter and the device id live together: the device id is generated once
// (crypto.randomUUID) and copied to localStorage; if the IndexedDB is ever wiped, its counter is
// gone too, so a new device id is made instead of reusing seqs the hub has already seen.

const VERSION = 1;
const LOG_KEEP = 300;

function promised(request) {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

function finished(tx) {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error || new Error("IndexedDB transaction aborted"));
  });
}

function newDeviceId(kind) {
  const uuid = crypto.randomUUID ? crypto.randomUUID()
    : Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
  return `${kind}-${uuid}`;
}

/**
 * The IndexedDB name of `owner`'s outbox of page kind `kind`. A device id belongs to the user who
 * first said hello with it (docs/protocol.md section 3), so each user of a shared handheld has an
 * outbox and a device id of their own; scans left unsent at a logout wait for that user's next
 * login here. The first user seen keeps the one outbox of earlier page versions, with what it holds.
 */
function databaseName(kind, owner) {
  const key = `tt.outboxes.${kind}`;
  let names = {};
  try {
    names = JSON.parse(localStorage.getItem(key)) || {};
  } catch {
    names = {};
  }
  if (!names[owner]) {
    names[owner] = Object.keys(names).length === 0 ? `tracetrack-${kind}` : `tracetrack-${kind}-${owner}`;
    localStorage.setItem(key, JSON.stringify(names));
  }
  return names[owner];
}

export class Outbox {
  /** Open (or create) the outbox of page kind `kind` for the user `owner`. */
  static async open(kind, owner) {
    const request = indexedDB.open(databaseName(kind, owner), VERSION);
    request.onupgradeneeded = () => {
      const db = request.result;
      if (!db.objectStoreNames.contains("meta")) db.createObjectStore("meta");
      if (!db.objectStoreNames.contains("outbox")) db.createObjectStore("outbox", { keyPath: "seq" });
      if (!db.objectStoreNames.contains("log")) db.createObjectStore("log", { keyPath: "seq" });
    };
    const db = await promised(request);
    const outbox = new Outbox(db, kind);
    await outbox._bindDevice();
    await outbox._trimLog();
    return outbox;
  }

  constructor(db, kind) {
    this.db = db;
    this.kind = kind;
    this.device = "";
    // A newer page version (another tab) may need to upgrade the database: let it.
    db.onversionchange = () => db.close();
  }

  async _bindDevice() {
    const tx = this.db.transaction("meta", "readwrite");
    const meta = tx.objectStore("meta");
    let device = await promised(meta.get("device"));
    if (!device) {
      device = newDeviceId(this.kind);
      meta.put(device, "device");
      meta.put(0, "seq");
    }
    await finished(tx);
    this.device = device;
    localStorage.setItem(`tt.device.${this.kind}`, device);
  }

  /**
   * Give the operation `fields` (op, code, parent, bill ...) the next seq and store it in the
   * outbox and the log, in one transaction. Returns the stored entry
   * `{seq, at, fields, status: "pending"}`.
   */
  async add(fields) {
    const tx = this.db.transaction(["meta", "outbox", "log"], "readwrite");
    const meta = tx.objectStore("meta");
    const seq = ((await promised(meta.get("seq"))) || 0) + 1;
    const entry = { seq, at: Date.now(), fields, status: "pending" };
    meta.put(seq, "seq");
    tx.objectStore("outbox").put(entry);
    tx.objectStore("log").put(entry);
    await finished(tx);
    return entry;
  }

  /** Every operation still waiting for its final ack, in seq order. */
  async pending() {
    const tx = this.db.transaction("outbox", "readonly");
    return promised(tx.objectStore("outbox").getAll());
  }

  /** The highest seq ever given out on this device. */
  async lastSeq() {
    const tx = this.db.transaction("meta", "readonly");
    return (await promised(tx.objectStore("meta").get("seq"))) || 0;
  }

  /** Never give out a seq at or below `seq` (the hub has applied up to it). */
  async raiseSeq(seq) {
    const tx = this.db.transaction("meta", "readwrite");
    const meta = tx.objectStore("meta");
    const current = (await promised(meta.get("seq"))) || 0;
    if (seq > current) meta.put(seq, "seq");
    await finished(tx);
  }

  /** The final ack of `seq` arrived: out of the outbox, result into the log, in one transaction. */
  async settle(seq, ack) {
    const tx = this.db.transaction(["outbox", "log"], "readwrite");
    const entry = (await promised(tx.objectStore("log").get(seq))) || { seq };
    const settled = {
      ...entry,
      status: ack.ok ? "ok" : "error",
      result: ack.code,
      msg: ack.msg,
      data: ack.data || {},
      replay: Boolean(ack.replay),
      ackedAt: Date.now(),
    };
    tx.objectStore("outbox").delete(seq);
    tx.objectStore("log").put(settled);
    await finished(tx);
    return settled;
  }

  /** Change fields of a log entry (e.g. mark it undone). */
  async patch(seq, changes) {
    const tx = this.db.transaction("log", "readwrite");
    const store = tx.objectStore("log");
    const entry = await promised(store.get(seq));
    if (entry) store.put({ ...entry, ...changes });
    await finished(tx);
  }

  /** The latest `limit` log entries, newest first. */
  async recent(limit = 50) {
    const tx = this.db.transaction("log", "readonly");
    const entries = [];
    await new Promise((resolve, reject) => {
      const request = tx.objectStore("log").openCursor(null, "prev");
      request.onerror = () => reject(request.error);
      request.onsuccess = () => {
        const cursor = request.result;
        if (!cursor || entries.length >= limit) return resolve();
        entries.push(cursor.value);
        cursor.continue();
      };
    });
    return entries;
  }

  /** Forget the log (at logout); operations still waiting stay, they are not lost. */
  async clearLog() {
    const pending = new Set((await this.pending()).map((entry) => entry.seq));
    const tx = this.db.transaction("log", "readwrite");
    const store = tx.objectStore("log");
    const keys = await promised(store.getAllKeys());
    for (const key of keys) if (!pending.has(key)) store.delete(key);
    await finished(tx);
  }

  async _trimLog() {
    const tx = this.db.transaction(["log", "outbox"], "readwrite");
    const keys = await promised(tx.objectStore("log").getAllKeys());
    const waiting = new Set(await promised(tx.objectStore("outbox").getAllKeys()));
    for (const key of keys.slice(0, Math.max(0, keys.length - LOG_KEEP))) {
      if (!waiting.has(key)) tx.objectStore("log").delete(key);
    }
    await finished(tx);
  }
}
