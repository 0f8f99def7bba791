"""web/js/msgpack.js against Python's msgpack: the same values give the same bytes, both ways.

The module runs in Node and in headless Chromium (the browser the pages run in). Values travel
to JavaScript in a tagged JSON form, so that ints, floats, strings and binary keep their exact
types: JavaScript encodes the value and must produce `msgpack.packb`'s bytes; it decodes
`msgpack.packb`'s bytes and must give exactly the tagged value back (a whole-number float such
as 2.0 is out of scope: JavaScript cannot tell it from the int 2, and the protocol sends ints).
"""

from __future__ import annotations

import math
from typing import Any

import msgpack
import pytest

from tests.browser.browsers import Unavailable, chromium_path, node_path, run_module, skip_loudly

INTS = [
    0, 1, 5, 127,                               # positive fixint
    128, 200, 255,                              # uint 8
    256, 1000, 65535,                           # uint 16
    65536, 2**31 - 1, 2**31, 2**32 - 1,         # uint 32
    2**32, 2**53 - 1, 2**53, 2**53 + 1, 2**63, 2**64 - 1,  # uint 64 (beyond 2**53: BigInt)
    -1, -17, -32,                               # negative fixint
    -33, -100, -128,                            # int 8
    -129, -1000, -32768,                        # int 16
    -32769, -(2**31),                           # int 32
    -(2**31) - 1, -(2**53) + 1, -(2**53), -(2**53) - 1, -(2**63),  # int 64
]
FLOATS = [0.5, -0.5, 1.5, 3.141592653589793, 0.1, -2.5e-300, 1e300, 5e-324, 1.7976931348623157e308,
          -0.0, math.inf, -math.inf, math.nan]
STRINGS = ["", "a", "SB00017", "x" * 31, "x" * 32, "x" * 255, "x" * 256, "y" * 65535, "z" * 65536,
           "Grüße, नमस्ते, 日本語 and 🚚📦", "é" * 20, "ह" * 100, "📦" * 100,
           " sb00001\r", "\u200bzero\u200dwidth", "\x00nul\x1fcontrol"]
BINARY = [b"", b"\x00", bytes(range(256)), b"\xff" * 255, b"\xab" * 256, b"\x01" * 65535, b"\x02" * 65536]
ARRAYS = [[], [1, 2, 3], list(range(15)), list(range(16)), list(range(-500, 500)), [None] * 65535,
          [None] * 65536,
          [None, True, False, 1, -1, 1.5, "s", b"b", [], {}]]
MAPS = [
    {}, {"t": "ping"}, {f"k{i}": i for i in range(15)}, {f"k{i}": i for i in range(16)},
    {f"k{i}": i for i in range(65536)},
    {"__proto__": 1, "constructor": "x", "toString": None},
]
PROTOCOL = [
    {"t": "hello", "device": "scan-7f3a9c1e-0b4d-4c51-9d2e-2f1a7e0c9b11", "last_seq": 0},
    {"t": "op", "seq": 2, "op": "child", "code": "C1001", "parent": "SB00017", "at": 1795881601200},
    {"t": "welcome", "device": "hh-7f3a", "applied_seq": 3,
     "user": {"username": "ravi", "role": "dispatcher", "area": None}, "max_inflight": 256,
     "formats": [{"name": "standard", "pattern": "^SB[0-9]{5}$", "capacity": 30},
                 {"name": "mini", "pattern": "^M444-[0-9]{5}$", "capacity": 15}],
     "server_time": 1795881600000},
    {"t": "ack", "seq": 3, "ok": False, "code": "ALREADY_IN_PARENT", "msg": "This bag is already in this parent bag.",
     "retry": False, "replay": True, "data": {"parent": "SB00017", "count": 1, "capacity": 30, "complete": False}},
    {"t": "ack", "seq": 2**62 - 1, "ok": True, "code": "OK", "msg": "Done.", "retry": False, "replay": False,
     "data": {"bill": "B-1", "actual_kg": "30.00", "expected_kg": "30.00", "status": "open"}},
    {"nested": [{"a": [{"b": [[[]], {"c": {"d": [1, [2, [3, [4]]]]}}]}]}]},
]
VALUES = [None, True, False, *INTS, *FLOATS, *STRINGS, *BINARY, *ARRAYS, *MAPS, *PROTOCOL]


def tag(value: Any) -> dict[str, Any]:
    """A value in a JSON form that keeps its exact MessagePack type."""
    if value is None:
        return {"t": "nil"}
    if isinstance(value, bool):
        return {"t": "bool", "v": value}
    if isinstance(value, int):
        return {"t": "int", "v": str(value)}
    if isinstance(value, float):
        return {"t": "float", "v": repr(value)}  # repr spells nan, inf, -inf and -0.0 as float() reads them
    if isinstance(value, str):
        return {"t": "str", "v": value}
    if isinstance(value, bytes):
        return {"t": "bin", "v": value.hex()}
    if isinstance(value, list):
        return {"t": "arr", "v": [tag(item) for item in value]}
    if isinstance(value, dict):
        return {"t": "map", "v": [[tag(k), tag(v)] for k, v in value.items()]}
    raise TypeError(type(value))


# Runs in the JavaScript runtime: rebuild each value from its tags and encode it, which must give
# Python's bytes; decode Python's bytes, which must give the tagged value back. Only the failures
# travel back (the data is megabytes: the 16- and 32-bit lengths need big strings, arrays and maps).
HARNESS = r"""
(mp, cases) => {
  const digits = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, "0"));
  const hex = (bytes) => { let s = ""; for (const b of bytes) s += digits[b]; return s; };
  const unhex = (s) => { const out = new Uint8Array(s.length / 2); for (let i = 0; i < out.length; i++) out[i] = parseInt(s.substr(2 * i, 2), 16); return out; };
  const floatOf = (v) => ({ nan: NaN, inf: Infinity, "-inf": -Infinity })[v] ?? Number(v);
  const safe = (n) => n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER);
  const build = (t) => {
    switch (t.t) {
      case "nil": return null;
      case "bool": return t.v;
      case "int": { const n = BigInt(t.v); return safe(n) ? Number(n) : n; }
      case "float": return floatOf(t.v);
      case "str": return t.v;
      case "bin": return unhex(t.v);
      case "arr": return t.v.map(build);
      case "map": { const o = {}; for (const [k, v] of t.v) Object.defineProperty(o, build(k), { value: build(v), enumerable: true, writable: true, configurable: true }); return o; }
    }
    throw new Error("unknown tag " + t.t);
  };
  // Does the decoded JavaScript value `v` stand exactly for the tagged Python value `t`?
  const matches = (v, t, path) => {
    const fail = (why) => { throw new Error(`${path}: ${why}`); };
    switch (t.t) {
      case "nil": if (v !== null) fail("not null"); return;
      case "bool": if (v !== t.v) fail(`not ${t.v}`); return;
      case "int": {
        const n = BigInt(t.v);
        if (safe(n) ? (typeof v !== "number" || v !== Number(n)) : (typeof v !== "bigint" || v !== n)) fail(`int ${String(v)} (${typeof v}) != ${t.v}`);
        return;
      }
      case "float": {
        const want = floatOf(t.v);
        if (typeof v !== "number" || !(Object.is(v, want) || (Number.isNaN(v) && Number.isNaN(want)))) fail(`float ${String(v)} != ${t.v}`);
        return;
      }
      case "str": if (v !== t.v) fail("string differs"); return;
      case "bin": if (!(v instanceof Uint8Array) || hex(v) !== t.v) fail("binary differs"); return;
      case "arr":
        if (!Array.isArray(v) || v.length !== t.v.length) fail("array length differs");
        t.v.forEach((item, i) => matches(v[i], item, `${path}[${i}]`));
        return;
      case "map": {
        if (v === null || typeof v !== "object" || Array.isArray(v) || v instanceof Uint8Array) fail("not a map");
        const keys = Object.keys(v);
        if (keys.length !== t.v.length) fail("map size differs");
        t.v.forEach(([k, item], i) => {
          if (keys[i] !== k.v) fail(`key ${i} is ${keys[i]}, not ${k.v}`);
          matches(v[k.v], item, `${path}.${k.v}`);
        });
        return;
      }
    }
    fail("unknown tag " + t.t);
  };
  const failures = [];
  cases.forEach(({ value, packed }, i) => {
    let encoded;
    try { encoded = hex(mp.encode(build(value))); } catch (e) { encoded = String(e); }
    if (encoded !== packed) failures.push(`case ${i}: encoded ${encoded.slice(0, 60)} != ${packed.slice(0, 60)}`);
    try { matches(mp.decode(unhex(packed)), value, `case ${i}`); } catch (e) { failures.push(`decode ${String(e)}`); }
  });
  return { checked: cases.length, failures };
}
"""


@pytest.fixture(params=["node", "chromium"])
def runtime(request: pytest.FixtureRequest) -> str:
    try:
        node_path() if request.param == "node" else chromium_path()
    except Unavailable as exc:
        skip_loudly(f"msgpack.js in {request.param}", exc)
    return str(request.param)


# Edge cases: ints beyond 2**53 come back as BigInt; bad input is refused with an error, not misread.
EDGES = r"""
(mp) => {
  const unhex = (s) => Uint8Array.from(s.match(/../g) || [], (h) => parseInt(h, 16));
  const refusal = (f) => { try { f(); return "accepted"; } catch (e) { return e.name; } };
  return {
    big: typeof mp.decode(unhex("cf0020000000000000")),
    safe: typeof mp.decode(unhex("cf001fffffffffffff")),
    float32: mp.decode(unhex("ca3fc00000")),
    truncated: refusal(() => mp.decode(unhex("da0005616263"))),
    trailing: refusal(() => mp.decode(unhex("c0c0"))),
    ext: refusal(() => mp.decode(unhex("d40102"))),
    badUtf8: refusal(() => mp.decode(unhex("a2c328"))),
    hugeArray: refusal(() => mp.decode(unhex("ddffffffff"))),
    tooBig: refusal(() => mp.encode(1n << 64n)),
    undefinedLeftOut: Array.from(mp.encode({ a: 1, b: undefined })),
  };
}
"""


def test_javascript_msgpack_matches_python(runtime: str) -> None:
    cases = [{"value": tag(value), "packed": msgpack.packb(value).hex()} for value in VALUES]
    out = run_module(runtime, "js/msgpack.js", f"(mp, cases) => ({{ ...({HARNESS})(mp, cases), edges: ({EDGES})(mp) }})",
                     cases)
    labels = "\n".join(f"case {i}: {value!r:.60}" for i, value in enumerate(VALUES))
    assert out["checked"] == len(VALUES)
    assert not out["failures"], "\n".join(out["failures"]) + "\n\n" + labels

    edges = out["edges"]
    assert edges["big"] == "bigint" and edges["safe"] == "number"
    assert edges["float32"] == 1.5
    assert edges["truncated"] == "RangeError" and edges["trailing"] == "RangeError"
    assert edges["ext"] == "TypeError" and edges["badUtf8"] == "TypeError" and edges["hugeArray"] == "RangeError"
    assert edges["tooBig"] == "RangeError"
    assert bytes(edges["undefinedLeftOut"]) == msgpack.packb({"a": 1})
