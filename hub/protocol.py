"""The scanner protocol's messages: decoding frames, checking fields, encoding replies.

`docs/protocol.md` is the specification; this module follows it exactly.
"""

from __future__ import annotations

import json
import math
import re
import reprlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import msgpack

from hub.codes import Code
from hub.domain import rules
from hub.domain.bagcodes import normalise
from hub.domain.rules import Operation, Outcome
from hub.domain.text import text_problem

DEVICE_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{1,64}\Z")
"""A device id, the whole string (unlike `$`, `\\Z` admits no trailing newline)."""
RESERVED_DEVICES = ("api:", "import:")
"""Device ids the hub gives its own HTTP operations and imports: no scanner may say hello as one
(it would read their recorded results by replay)."""
MAX_SEQ = 2**62
MAX_CODE_CHARS = 100
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_AT = 253_402_300_799_999
"""The latest client time the hub records: 9999-12-31 23:59:59.999 UTC, in ms since the epoch."""
MAX_REASON = 200
"""Characters of an error's words: a reason echoes what was sent, and is stored and shown with the scan."""

_shown = reprlib.Repr()
_shown.maxlevel = 2
_shown.maxdict = _shown.maxlist = _shown.maxtuple = _shown.maxset = 4
_shown.maxstring = _shown.maxlong = _shown.maxother = 40


def shown(value: Any) -> str:
    """A short, safe rendering of a client's value for an error's words (bounded whatever it is)."""
    return _shown.repr(value)


class ProtocolError(Exception):
    """A frame that is not a valid message; `seq` is set when the frame named one."""

    def __init__(self, message: str, seq: int | None = None) -> None:
        super().__init__(message[:MAX_REASON])
        self.seq = seq


def decode(frame: bytes | str) -> dict[str, Any]:
    """A binary frame is msgpack, a text frame JSON; either must hold a map with a string `t`."""
    try:
        message = json.loads(frame) if isinstance(frame, str) else msgpack.unpackb(frame, raw=False)
    except Exception as exc:  # noqa: BLE001 - every decoder failure is the client's malformed frame
        raise ProtocolError(f"frame is not valid {'JSON' if isinstance(frame, str) else 'msgpack'}: "
                            f"{type(exc).__name__}") from None
    if not isinstance(message, dict) or not isinstance(message.get("t"), str):
        raise ProtocolError("a message is a map with a string field 't'")
    return message


def encode(message: dict[str, Any], binary: bool) -> bytes | str:
    """Total: whatever a client sent that is echoed (a ping's `id`) is encoded somehow, never raises.

    A value that does not survive the trip (bytes in JSON, a lone surrogate in msgpack, NaN in
    JSON, nesting deeper than the encoder's limit) goes out in the nearest form the encoding has.
    """
    try:
        return _encode(message, binary)
    except (TypeError, ValueError, OverflowError, RecursionError):
        return _encode(_encodable(message, binary, 0), binary)


_PACKER = msgpack.Packer(use_bin_type=True)
"""One packer for every frame (it empties itself after each, a failed one too): `packb` made one per
frame, a third of the time it took to encode an ack."""


def _encode(message: Any, binary: bool) -> bytes | str:
    if binary:
        frame: bytes = _PACKER.pack(message)
        return frame
    return json.dumps(message, separators=(",", ":"), allow_nan=False)


_MAX_DEPTH = 32
_SURROGATE = re.compile("[\ud800-\udfff]")


def _encodable(value: Any, binary: bool, depth: int) -> Any:
    """`value` with every part the encoding cannot carry replaced (beyond _MAX_DEPTH: nil)."""
    if depth > _MAX_DEPTH:
        return None
    if isinstance(value, dict):
        return {_encodable_key(key): _encodable(item, binary, depth + 1) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encodable(item, binary, depth + 1) for item in value]
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value) if binary else value
    if isinstance(value, float):
        return value if binary or math.isfinite(value) else None
    if isinstance(value, int) and not isinstance(value, bool):
        return value if not binary or -(2**63) <= value < 2**64 else str(value)
    if isinstance(value, bytes):
        return value if binary else value.decode("utf-8", "replace")
    if value is None or isinstance(value, bool):
        return value
    return shown(value)


def _encodable_key(key: Any) -> str:
    if isinstance(key, str):
        return key
    if isinstance(key, bytes):
        return key.decode("utf-8", "replace")
    return shown(key)


@dataclass(frozen=True)
class Hello:
    device: str
    last_seq: int


def _field(message: dict[str, Any], name: str, kind: type, seq: int | None = None) -> Any:
    value = message.get(name)
    if kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, kind)
    if not ok:
        raise ProtocolError(f"field '{name}' must be {'an integer' if kind is int else 'a string'}", seq)
    return value


def parse_hello(message: dict[str, Any]) -> Hello:
    if message["t"] != "hello":
        raise ProtocolError("the first message must be 'hello'")
    device = _field(message, "device", str)
    if not DEVICE_PATTERN.fullmatch(device):
        raise ProtocolError("'device' must be 1-64 characters of A-Z a-z 0-9 . _ : -")
    if device.startswith(RESERVED_DEVICES):
        raise ProtocolError(f"device ids starting {' or '.join(RESERVED_DEVICES)} are the hub's own")
    last_seq = message.get("last_seq")
    if last_seq is None:  # absent or nil: not known, as for every optional field
        last_seq = 0
    if not isinstance(last_seq, int) or isinstance(last_seq, bool) or not 0 <= last_seq < MAX_SEQ:
        raise ProtocolError("'last_seq' must be a whole number from 0")
    return Hello(device, last_seq)


def _code(message: dict[str, Any], name: str, seq: int) -> str:
    raw = _field(message, name, str, seq)
    if len(raw) > MAX_CODE_CHARS:
        raise ProtocolError(f"field '{name}' is longer than {MAX_CODE_CHARS} characters", seq)
    return normalise(raw)


def _text(message: dict[str, Any], name: str, seq: int) -> str:
    value = message.get(name, "")
    if not isinstance(value, str):
        raise ProtocolError(f"field '{name}' must be a string", seq)
    return value.strip()


def _area(message: dict[str, Any], seq: int) -> str | None:
    """The optional dispatch area a new parent or bill goes to (admins name it; see docs)."""
    if message.get("area") is None:
        return None
    area: str = _field(message, "area", str, seq)
    problem = text_problem(area, MAX_CODE_CHARS)
    if problem is not None:
        raise ProtocolError(f"field 'area' {problem}", seq)
    return area


def _client_ms(message: dict[str, Any], seq: int) -> int | None:
    at = message.get("at")
    if at is None:
        return None
    if not isinstance(at, int) or isinstance(at, bool) or not 0 <= at <= MAX_AT:
        raise ProtocolError("field 'at' must be a whole number of milliseconds since the epoch, "
                            "from 0 to the end of the year 9999", seq)
    return at


def parse_seq(message: dict[str, Any]) -> int:
    seq: int = _field(message, "seq", int)
    if not 0 < seq < MAX_SEQ:
        raise ProtocolError("'seq' must be a whole number from 1")
    return seq


def parse_operation(message: dict[str, Any], seq: int) -> Operation:
    """The operation an 'op' message asks for, with its codes normalised; every field is checked,
    `at` included (see `parse_client_time`)."""
    _client_ms(message, seq)
    kind = message.get("op")
    if kind == "parent":
        return rules.ScanParent(_code(message, "code", seq), _area(message, seq))
    if kind == "child":
        return rules.ScanChild(_code(message, "code", seq), _code(message, "parent", seq))
    if kind == "undo":
        return rules.Undo(_code(message, "code", seq))
    if kind == "bill_create":
        return rules.CreateBill(_code(message, "bill", seq), _field(message, "capacity", int, seq),
                                _text(message, "destination", seq), _text(message, "vehicle", seq),
                                _area(message, seq))
    if kind == "bill_add":
        return rules.AddToBill(_code(message, "bill", seq), _code(message, "parent", seq))
    if kind == "bill_finish":
        return rules.FinishBill(_code(message, "bill", seq))
    if kind == "bill_reopen":
        return rules.ReopenBill(_code(message, "bill", seq))
    if isinstance(kind, str) and kind.startswith("return_"):
        return _return_operation(kind, message, seq)
    raise ProtocolError(f"unknown op {shown(kind)}", seq)


def _return_operation(kind: str, message: dict[str, Any], seq: int) -> Operation:
    """The return-ticket ops: each names its `ticket`; `return_add` also the `parent` that came back."""
    if kind == "return_open":
        return rules.ReturnOpen(_code(message, "ticket", seq), _area(message, seq))
    if kind == "return_add":
        return rules.ReturnAdd(_code(message, "ticket", seq), _code(message, "parent", seq))
    if kind == "return_finish":
        return rules.ReturnFinish(_code(message, "ticket", seq))
    if kind == "return_cancel":
        return rules.ReturnCancel(_code(message, "ticket", seq))
    raise ProtocolError(f"unknown op {shown(kind)}", seq)


def parse_client_time(message: dict[str, Any]) -> datetime | None:
    """The scanner's clock when the scan was made: None when absent, or when `parse_operation`
    refused the message (a malformed `at` makes the op a BAD_REQUEST)."""
    try:
        at = _client_ms(message, 0)
    except ProtocolError:
        return None
    return None if at is None else EPOCH + timedelta(milliseconds=at)


def ack(seq: int, outcome: Outcome, replay: bool) -> dict[str, Any]:
    return {"t": "ack", "seq": seq, "ok": outcome.ok, "code": outcome.code.value,
            "msg": outcome.code.message, "retry": outcome.code.retry, "replay": replay,
            "data": outcome.data}


def error(message: str, seq: int | None = None) -> dict[str, Any]:
    reply: dict[str, Any] = {"t": "error", "code": Code.BAD_REQUEST.value, "msg": message[:MAX_REASON]}
    if seq is not None:
        reply["seq"] = seq
    return reply
