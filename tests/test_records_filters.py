"""The list parameters without a database: cursors round-trip and refuse anything else, dates are
days of the hub's time zone, a non-admin's filter is their area, and prefixes are normalised."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.datastructures import QueryParams

from hub.api import cursor
from hub.api.cursor import Order
from hub.api.errors import ApiError
from hub.api.filters import audit_filter, bag_filter, bill_filter, page, return_filter, scan_filter
from hub.codes import ApiCode
from hub.domain.filters import BagKind, BagStatus, ReturnFilter, ReturnStatus, TimeRange
from hub.domain.rules import Actor, Role
from hub.domain.text import text_problem
from hub.store.keyset import prefix_end

KOLKATA = ZoneInfo("Asia/Kolkata")
ADMIN = Actor(1, "admin", Role.ADMIN, None)
DISPATCHER = Actor(2, "dina", Role.DISPATCHER, "indore")
times = st.datetimes(timezones=st.just(UTC))  # as PostgreSQL returns every timestamptz
ids = st.integers(1, 2**63 - 1)


@given(at=times, row_id=ids, order=st.sampled_from([o for o in Order if not o.by_code]))
def test_a_time_cursor_gives_back_its_key(at: datetime, row_id: int, order: Order) -> None:
    raw = cursor.encode(order, (at, row_id))
    assert raw is not None and raw.isascii()
    assert cursor.decode(order, raw) == (at, row_id)
    for other in Order:
        if other is not order:
            with pytest.raises(ApiError):
                cursor.decode(other, raw)


@given(code=st.text(min_size=1, max_size=40).filter(lambda code: text_problem(code, 40) is None))
def test_a_code_cursor_gives_back_its_code(code: str) -> None:
    raw = cursor.encode(Order.BAG_CODES, (code,))
    assert raw is not None and cursor.decode(Order.BAG_CODES, raw) == (code,)


@given(raw=st.text(max_size=500) | st.binary(max_size=300).map(lambda b: cursor.encode(Order.BAGS, None) or b.hex()))
def test_anything_else_is_an_invalid_cursor(raw: str) -> None:
    try:
        key = cursor.decode(Order.BAGS, raw)
    except ApiError as exc:
        assert exc.code is ApiCode.INVALID_CURSOR
    else:  # only a well-formed key of this list gets through
        assert key[0].tzinfo is not None and 0 < key[1] < 2**63  # type: ignore[union-attr, misc]


def test_dates_are_days_of_the_hub_time_zone() -> None:
    def span(**params: str) -> TimeRange:
        return bag_filter(QueryParams(params), ADMIN, KOLKATA).filter.created

    assert span(**{"from": "2026-12-01", "to": "2026-12-01"}) == TimeRange(
        datetime(2026, 11, 30, 18, 30, tzinfo=UTC), datetime(2026, 12, 1, 18, 30, tzinfo=UTC))
    assert span(**{"from": "2026-12-01T08:00", "to": "2026-12-01T10:00:00Z"}) == TimeRange(
        datetime(2026, 12, 1, 2, 30, tzinfo=UTC), datetime(2026, 12, 1, 10, 0, tzinfo=UTC))


def test_a_non_admin_lists_their_own_area() -> None:
    assert bag_filter(QueryParams(""), DISPATCHER, UTC).filter.area == "indore"
    assert bag_filter(QueryParams("area=indore"), DISPATCHER, UTC).filter.area == "indore"
    with pytest.raises(ApiError) as refused:
        scan_filter(QueryParams("area=akola"), DISPATCHER, UTC)
    assert refused.value.code is ApiCode.FORBIDDEN
    assert bag_filter(QueryParams(""), ADMIN, UTC).filter.area is None
    assert scan_filter(QueryParams("area=akola"), ADMIN, UTC).filter.area == "akola"


def test_values_are_read_as_a_scan_reads_them() -> None:
    flt = bag_filter(QueryParams({"prefix": " sb0\u200b01\t", "status": "on_bill"}), ADMIN, UTC).filter
    assert (flt.prefix, flt.status, flt.kind) == ("SB001", BagStatus.ON_BILL, None)
    assert bag_filter(QueryParams({"prefix": "\u200b"}), ADMIN, UTC).filter.prefix is None
    assert bag_filter(QueryParams("kind=child&status=loose"), ADMIN, UTC).filter.kind is BagKind.CHILD
    assert scan_filter(QueryParams("user=Dina"), ADMIN, UTC).filter.user == "dina"
    assert page(QueryParams(""), Order.BAGS).limit == 50 and page(QueryParams("limit=200"), Order.BAGS).limit == 200


def test_each_reader_hands_back_the_parameters_its_filter_used() -> None:
    """What an export's audit records: a prefix normalised, a user name lower-cased, an empty one gone."""
    bags = bag_filter(QueryParams({"prefix": " l\x00k\u200b", "kind": "child", "area": "", "from": "2026-12-01"}),
                      ADMIN, UTC)
    assert bags.params == {"prefix": "LK", "kind": "child", "from": "2026-12-01"} and bags.filter.prefix == "LK"
    assert bag_filter(QueryParams({"prefix": "\x00\u200b"}), ADMIN, UTC).params == {}
    scans = scan_filter(QueryParams({"user": "Dina", "result": "rejected", "device": ""}), DISPATCHER, UTC)
    assert scans.params == {"user": "dina", "result": "rejected"} and scans.filter.user == "dina"
    audit = audit_filter(QueryParams({"actor": "ADMIN", "action": "export"}), UTC)
    assert audit.params == {"actor": "admin", "action": "export"} and audit.filter.actor == "admin"
    assert bill_filter(QueryParams("q=van&status="), ADMIN, UTC).params == {"q": "van"}
    assert return_filter(QueryParams("status=open"), DISPATCHER).params == {"status": "open"}


@given(prefix=st.text(min_size=1, max_size=6), rest=st.text(max_size=6))
def test_the_prefix_range_holds_exactly_the_codes_that_start_with_it(prefix: str, rest: str) -> None:
    end = prefix_end(prefix)
    code = prefix + rest
    assert code >= prefix and (end is None or code < end)
    assert end is None or not end.startswith(prefix)


def _raw_cursor(*values: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


@pytest.mark.parametrize("code", ["SB\u0000", "SB\u001b[2J", "\u202eSB", "SB\u2028"])
def test_a_code_cursor_with_a_control_character_is_invalid(code: str) -> None:
    with pytest.raises(ApiError) as refused:
        cursor.decode(Order.BAG_CODES, _raw_cursor("bag-codes", code))
    assert refused.value.code is ApiCode.INVALID_CURSOR


@pytest.mark.parametrize("order", [o for o in Order if not o.by_code])
@pytest.mark.parametrize("at", ["0001-01-01T00:00:00+05:30", "9999-12-31T23:59:59-05:00"])
def test_a_time_cursor_out_of_range_in_utc_is_invalid(at: str, order: Order) -> None:
    with pytest.raises(ApiError) as refused:
        cursor.decode(order, _raw_cursor(order.value, at, 1))
    assert refused.value.code is ApiCode.INVALID_CURSOR


@pytest.mark.parametrize("params", [{"from": "0001-01-01T00:00:00+05:30"}, {"to": "9999-12-31T23:59:59-05:00"},
                                    {"from": "0001-01-01"}, {"to": "9999-12-31"}, {"to": "0001-01-01T00:00"}])
def test_dates_out_of_range_in_utc_are_invalid_filters(params: dict[str, str]) -> None:
    with pytest.raises(ApiError) as refused:
        scan_filter(QueryParams(params), ADMIN, KOLKATA)
    assert refused.value.code is ApiCode.INVALID_FILTER


def test_dates_at_the_edges_of_utc_are_kept() -> None:
    edges = QueryParams({"from": "0001-01-01T00:00:00Z", "to": "9999-12-31T23:59:59Z"})
    span = scan_filter(edges, ADMIN, KOLKATA).filter.at
    assert span == TimeRange(datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC))


def test_the_returns_filter_is_read_like_the_other_lists() -> None:
    assert return_filter(QueryParams("status=open"), DISPATCHER).filter == ReturnFilter("indore", ReturnStatus.OPEN)
    assert return_filter(QueryParams("area=akola&status="), ADMIN).filter == ReturnFilter("akola", None)
    for params, code in (("area=akola", ApiCode.FORBIDDEN), ("status=shipped", ApiCode.INVALID_FILTER),
                         ("status=open&status=open", ApiCode.INVALID_FILTER), ("colour=red", ApiCode.INVALID_FILTER)):
        with pytest.raises(ApiError) as refused:
            return_filter(QueryParams(params), DISPATCHER)
        assert refused.value.code is code, params
