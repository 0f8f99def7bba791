"""The scanner protocol's messages: decoding frames, checking fields, encoding replies.

`docs/protocol.md` is the specification; this module follows it exactly.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgpack

from hub.codes import Code
from hub.domain import rules
from hub.domain.bagcodes import normalise
from hub.domain.rules import Operation, Outcome

DEVICE_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
MAX_SEQ = 2**62
MAX_CODE_CHARS = 100


class ProtocolError(Exception):
    """A frame that is not a valid message; `seq` is set when the frame named one."""

    def __init__(self, message: str, seq: int | None = None) -> None:
        super().__init__(message)
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
    if binary:
        return msgpack.packb(message, use_bin_type=True)
    return json.dumps(message, separators=(",", ":"))


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
    if not DEVICE_PATTERN.match(device):
        raise ProtocolError("'device' must be 1-64 characters of A-Z a-z 0-9 . _ : -")
    last_seq = message.get("last_seq", 0)
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


def parse_seq(message: dict[str, Any]) -> int:
    seq: int = _field(message, "seq", int)
    if not 0 < seq < MAX_SEQ:
        raise ProtocolError("'seq' must be a whole number from 1")
    return seq


def parse_operation(message: dict[str, Any], seq: int) -> Operation:
    """The operation an 'op' message asks for, with its codes normalised."""
    kind = message.get("op")
    if kind == "parent":
        return rules.ScanParent(_code(message, "code", seq))
    if kind == "child":
        return rules.ScanChild(_code(message, "code", seq), _code(message, "parent", seq))
    if kind == "undo":
        return rules.Undo(_code(message, "code", seq))
    if kind == "bill_create":
        return rules.CreateBill(_code(message, "bill", seq), _field(message, "capacity", int, seq),
                                _text(message, "destination", seq), _text(message, "vehicle", seq))
    if kind == "bill_add":
        return rules.AddToBill(_code(message, "bill", seq), _code(message, "parent", seq))
    if kind == "bill_finish":
        return rules.FinishBill(_code(message, "bill", seq))
    if kind == "bill_reopen":
        return rules.ReopenBill(_code(message, "bill", seq))
    raise ProtocolError(f"unknown op {kind!r}", seq)


def parse_client_time(message: dict[str, Any]) -> datetime | None:
    """The scanner's clock (ms since the epoch) when the scan was made; ignored when absent or absurd."""
    at = message.get("at")
    if not isinstance(at, (int, float)) or isinstance(at, bool) or not 0 < at < 2**53:
        return None
    return datetime.fromtimestamp(at / 1000, UTC)


def ack(seq: int, outcome: Outcome, replay: bool) -> dict[str, Any]:
    return {"t": "ack", "seq": seq, "ok": outcome.ok, "code": outcome.code.value,
            "msg": outcome.code.message, "retry": outcome.code.retry, "replay": replay,
            "data": outcome.data}


def error(message: str, seq: int | None = None) -> dict[str, Any]:
    reply: dict[str, Any] = {"t": "error", "code": Code.BAD_REQUEST.value, "msg": message}
    if seq is not None:
        reply["seq"] = seq
    return reply
