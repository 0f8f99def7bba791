"""How an operation from an HTTP request becomes a writer submission and its result an answer."""

from __future__ import annotations

import json

import pytest

from hub.api.operations import answer, device_for, status_of
from hub.batch import Result
from hub.codes import Code
from hub.domain.rules import Actor, Outcome, Role, TakeOut
from hub.protocol import DEVICE_PATTERN, RESERVED_DEVICES

ADMIN = Actor(7, "root", Role.ADMIN, None)
BILLER = Actor(8, "bina", Role.BILLER, "lucknow")
UNKNOWN = Outcome(Code.UNKNOWN_BILL, {"bill": "B9"})


def test_a_key_names_the_same_device_for_the_same_operation_and_none_a_new_one() -> None:
    take_out, other = TakeOut("C0001"), TakeOut("C0002")
    assert device_for(ADMIN, "fix-1", take_out) == device_for(ADMIN, "fix-1", TakeOut("C0001"))
    assert device_for(ADMIN, "fix-1", other) != device_for(ADMIN, "fix-1", take_out)
    assert device_for(BILLER, "fix-1", take_out) != device_for(ADMIN, "fix-1", take_out)
    assert device_for(ADMIN, None, take_out) != device_for(ADMIN, None, take_out)
    long = device_for(Actor(2**62, "x", Role.ADMIN, None), "k" * 64, take_out)
    assert DEVICE_PATTERN.fullmatch(long) and long.startswith(RESERVED_DEVICES)
    assert DEVICE_PATTERN.fullmatch(device_for(ADMIN, None, take_out))


@pytest.mark.parametrize(("code", "status"), [
    (Code.OK, 200), (Code.INVALID_CODE, 400), (Code.UNKNOWN_AREA, 400), (Code.FORBIDDEN, 403),
    (Code.UNKNOWN_BAG, 404), (Code.UNKNOWN_PARENT, 404), (Code.PARENT_FULL, 409), (Code.BILL_NOT_OPEN, 409),
    (Code.CONFLICT, 409), (Code.RETRY, 503), (Code.RATE_LIMITED, 503),
])
def test_each_result_code_has_its_status(code: Code, status: int) -> None:
    assert status_of(code) == status


def test_a_retry_is_busy_with_retry_after() -> None:
    busy = answer(Result(Outcome(Code.RETRY)), ADMIN, UNKNOWN)
    assert busy.status_code == 503 and busy.headers["Retry-After"] == "1"
    assert json.loads(busy.body)["error"] == "BUSY"


def test_another_areas_bill_is_answered_as_unknown_to_a_non_admin_only() -> None:
    wrong = Result(Outcome(Code.WRONG_AREA, {"area": "indore"}))
    hidden = answer(wrong, BILLER, UNKNOWN)
    assert hidden.status_code == 404
    assert json.loads(hidden.body) == {"error": "UNKNOWN_BILL", "message": Code.UNKNOWN_BILL.message,
                                       "data": {"bill": "B9"}}
    shown = answer(wrong, ADMIN, UNKNOWN)
    assert shown.status_code == 409 and json.loads(shown.body)["error"] == "WRONG_AREA"


def test_a_replay_says_so() -> None:
    replayed = answer(Result(Outcome(Code.OK, {"x": 1}), replay=True), ADMIN, UNKNOWN)
    assert replayed.headers["Idempotent-Replayed"] == "true"
    assert json.loads(replayed.body) == {"result": "OK", "data": {"x": 1}}
