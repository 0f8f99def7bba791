// MessagePack for the subset the scanner protocol uses (docs/protocol.md, section 2).
//
// Types: nil, booleans, integers (every width; beyond Number.MAX_SAFE_INTEGER as BigInt), float 64
// (float 32 is read too), UTF-8 strings, binary (Uint8Array), arrays and maps with string keys.
// Extension types are not part of the protocol and are refused when decoding.
//
// Encoding picks the smallest representation, exactly as Python's `msgpack.packb` does, so the
// same value gives the same bytes in the browser and in the hub (tests/test_msgpack_js.py).
// A JavaScript number that is a whole number is sent as an integer (the protocol's integers are
// MessagePack ints); any other number as float 64. Map entries whose value is `undefined` are
// left out, as JSON.stringify does.

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder("utf-8", { fatal: true });

const UINT64_MAX = (1n << 64n) - 1n;
const INT64_MIN = -(1n << 63n);

class Writer {
  constructor() {
    this.bytes = new Uint8Array(256);
    this.view = new DataView(this.bytes.buffer);
    this.length = 0;
  }

  reserve(n) {
    const need = this.length + n;
    if (need <= this.bytes.length) return;
    let size = this.bytes.length * 2;
    while (size < need) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.bytes.subarray(0, this.length));
    this.bytes = grown;
    this.view = new DataView(grown.buffer);
  }

  u8(value) {
    this.reserve(1);
    this.bytes[this.length++] = value;
  }

  u16(value) {
    this.reserve(2);
    this.view.setUint16(this.length, value);
    this.length += 2;
  }

  u32(value) {
    this.reserve(4);
    this.view.setUint32(this.length, value);
    this.length += 4;
  }

  u64(value) {
    this.reserve(8);
    this.view.setBigUint64(this.length, value);
    this.length += 8;
  }

  i64(value) {
    this.reserve(8);
    this.view.setBigInt64(this.length, value);
    this.length += 8;
  }

  f64(value) {
    this.reserve(8);
    this.view.setFloat64(this.length, value);
    this.length += 8;
  }

  raw(chunk) {
    this.reserve(chunk.length);
    this.bytes.set(chunk, this.length);
    this.length += chunk.length;
  }

  result() {
    return this.bytes.slice(0, this.length);
  }
}

/** Encode `value` as MessagePack; returns a Uint8Array. */
export function encode(value) {
  const writer = new Writer();
  write(writer, value, 0);
  return writer.result();
}

const MAX_DEPTH = 64;

function write(w, value, depth) {
  if (depth > MAX_DEPTH) throw new RangeError("msgpack: value nested too deeply");
  if (value === null || value === undefined) {
    w.u8(0xc0);
  } else if (value === false) {
    w.u8(0xc2);
  } else if (value === true) {
    w.u8(0xc3);
  } else if (typeof value === "number") {
    writeNumber(w, value);
  } else if (typeof value === "bigint") {
    writeBigInt(w, value);
  } else if (typeof value === "string") {
    writeString(w, value);
  } else if (value instanceof Uint8Array) {
    writeBinary(w, value);
  } else if (value instanceof ArrayBuffer) {
    writeBinary(w, new Uint8Array(value));
  } else if (Array.isArray(value)) {
    writeHeader(w, value.length, 0x90, 16, 0xdc, 0xdd);
    for (const item of value) write(w, item, depth + 1);
  } else if (value instanceof Map) {
    const entries = [...value.entries()].filter(([, v]) => v !== undefined);
    writeMap(w, entries, depth);
  } else if (typeof value === "object") {
    const entries = Object.entries(value).filter(([, v]) => v !== undefined);
    writeMap(w, entries, depth);
  } else {
    throw new TypeError(`msgpack: cannot encode a ${typeof value}`);
  }
}

function writeMap(w, entries, depth) {
  writeHeader(w, entries.length, 0x80, 16, 0xde, 0xdf);
  for (const [key, item] of entries) {
    write(w, key, depth + 1);
    write(w, item, depth + 1);
  }
}

// fix (inline length below `fixLimit`), 16-bit and 32-bit length headers of arrays and maps
function writeHeader(w, length, fixBase, fixLimit, code16, code32) {
  if (length < fixLimit) {
    w.u8(fixBase | length);
  } else if (length <= 0xffff) {
    w.u8(code16);
    w.u16(length);
  } else if (length <= 0xffffffff) {
    w.u8(code32);
    w.u32(length);
  } else {
    throw new RangeError("msgpack: too many items");
  }
}

function writeNumber(w, value) {
  if (Number.isInteger(value) && !Object.is(value, -0)) {
    if (value >= 0 && value < 0x80) {
      w.u8(value);
    } else if (value < 0 && value >= -0x20) {
      w.u8(value & 0xff);
    } else if (value > 0 && value <= 0xff) {
      w.u8(0xcc);
      w.u8(value);
    } else if (value < 0 && value >= -0x80) {
      w.u8(0xd0);
      w.u8(value & 0xff);
    } else if (value > 0 && value <= 0xffff) {
      w.u8(0xcd);
      w.u16(value);
    } else if (value < 0 && value >= -0x8000) {
      w.u8(0xd1);
      w.u16(value & 0xffff);
    } else if (value > 0 && value <= 0xffffffff) {
      w.u8(0xce);
      w.u32(value);
    } else if (value < 0 && value >= -0x80000000) {
      w.u8(0xd2);
      w.u32(value >>> 0);
    } else if (value > 0 && value <= 2 ** 64 - 1) {
      // Whole numbers this large are exact in a float64: convert without loss.
      w.u8(0xcf);
      w.u64(BigInt(value));
    } else if (value < 0 && value >= -(2 ** 63)) {
      w.u8(0xd3);
      w.i64(BigInt(value));
    } else {
      w.u8(0xcb);
      w.f64(value);
    }
    return;
  }
  w.u8(0xcb);
  w.f64(value);
}

function writeBigInt(w, value) {
  if (value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER)) {
    writeNumber(w, Number(value));
  } else if (value > 0n && value <= UINT64_MAX) {
    w.u8(0xcf);
    w.u64(value);
  } else if (value < 0n && value >= INT64_MIN) {
    w.u8(0xd3);
    w.i64(value);
  } else {
    throw new RangeError("msgpack: integer does not fit in 64 bits");
  }
}

function writeString(w, value) {
  const bytes = utf8Encoder.encode(value);
  const n = bytes.length;
  if (n < 32) {
    w.u8(0xa0 | n);
  } else if (n <= 0xff) {
    w.u8(0xd9);
    w.u8(n);
  } else if (n <= 0xffff) {
    w.u8(0xda);
    w.u16(n);
  } else if (n <= 0xffffffff) {
    w.u8(0xdb);
    w.u32(n);
  } else {
    throw new RangeError("msgpack: string too long");
  }
  w.raw(bytes);
}

function writeBinary(w, bytes) {
  const n = bytes.length;
  if (n <= 0xff) {
    w.u8(0xc4);
    w.u8(n);
  } else if (n <= 0xffff) {
    w.u8(0xc5);
    w.u16(n);
  } else if (n <= 0xffffffff) {
    w.u8(0xc6);
    w.u32(n);
  } else {
    throw new RangeError("msgpack: binary too long");
  }
  w.raw(bytes);
}

/**
 * Decode one MessagePack value from `data` (Uint8Array, ArrayBuffer or a view).
 * Maps become plain objects (keys as strings), binary becomes Uint8Array, integers beyond the
 * safe range become BigInt. Throws on truncated input, trailing bytes, extension types and
 * invalid UTF-8.
 */
export function decode(data) {
  let bytes;
  if (data instanceof Uint8Array) bytes = data;
  else if (data instanceof ArrayBuffer) bytes = new Uint8Array(data);
  else if (ArrayBuffer.isView(data)) bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  else throw new TypeError("msgpack: decode needs bytes");
  const reader = new Reader(bytes);
  const value = reader.value(0);
  if (reader.pos !== bytes.length) throw new RangeError("msgpack: extra bytes after the value");
  return value;
}

class Reader {
  constructor(bytes) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.pos = 0;
  }

  need(n) {
    if (this.pos + n > this.bytes.length) throw new RangeError("msgpack: data ends too early");
    const at = this.pos;
    this.pos += n;
    return at;
  }

  u8() { return this.view.getUint8(this.need(1)); }
  u16() { return this.view.getUint16(this.need(2)); }
  u32() { return this.view.getUint32(this.need(4)); }

  value(depth) {
    if (depth > MAX_DEPTH) throw new RangeError("msgpack: data nested too deeply");
    const code = this.u8();
    if (code < 0x80) return code;
    if (code < 0x90) return this.map(code & 0x0f, depth);
    if (code < 0xa0) return this.array(code & 0x0f, depth);
    if (code < 0xc0) return this.string(code & 0x1f);
    if (code >= 0xe0) return code - 0x100;
    switch (code) {
      case 0xc0: return null;
      case 0xc2: return false;
      case 0xc3: return true;
      case 0xc4: return this.binary(this.u8());
      case 0xc5: return this.binary(this.u16());
      case 0xc6: return this.binary(this.u32());
      case 0xca: return this.view.getFloat32(this.need(4));
      case 0xcb: return this.view.getFloat64(this.need(8));
      case 0xcc: return this.u8();
      case 0xcd: return this.u16();
      case 0xce: return this.u32();
      case 0xcf: return wholeNumber(this.view.getBigUint64(this.need(8)));
      case 0xd0: return this.view.getInt8(this.need(1));
      case 0xd1: return this.view.getInt16(this.need(2));
      case 0xd2: return this.view.getInt32(this.need(4));
      case 0xd3: return wholeNumber(this.view.getBigInt64(this.need(8)));
      case 0xd9: return this.string(this.u8());
      case 0xda: return this.string(this.u16());
      case 0xdb: return this.string(this.u32());
      case 0xdc: return this.array(this.u16(), depth);
      case 0xdd: return this.array(this.u32(), depth);
      case 0xde: return this.map(this.u16(), depth);
      case 0xdf: return this.map(this.u32(), depth);
      default:
        throw new TypeError(`msgpack: type 0x${code.toString(16)} is not used by the protocol`);
    }
  }

  string(n) {
    const at = this.need(n);
    return utf8Decoder.decode(this.bytes.subarray(at, at + n));
  }

  binary(n) {
    const at = this.need(n);
    return this.bytes.slice(at, at + n);
  }

  array(n, depth) {
    // Every item takes at least one byte: refuse absurd lengths before allocating.
    if (n > this.bytes.length - this.pos) throw new RangeError("msgpack: data ends too early");
    const items = new Array(n);
    for (let i = 0; i < n; i++) items[i] = this.value(depth + 1);
    return items;
  }

  map(n, depth) {
    if (2 * n > this.bytes.length - this.pos) throw new RangeError("msgpack: data ends too early");
    const result = {};
    for (let i = 0; i < n; i++) {
      const key = this.value(depth + 1);
      const item = this.value(depth + 1);
      // defineProperty: a key "__proto__" is data, never the prototype
      Object.defineProperty(result, String(key), {
        value: item, enumerable: true, writable: true, configurable: true,
      });
    }
    return result;
  }
}

function wholeNumber(big) {
  return big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big;
}
