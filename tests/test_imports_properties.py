"""Hostile import files, drawn by hypothesis: never a 500, and all-or-nothing is never partial."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import asyncpg
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from hub.settings import Settings
from tests.conftest import ADMIN_PASSWORD
from tests.http_support import edge_client
from tests.imports_support import state_of, upload

codes = st.sampled_from(["KID0001", "KID0002", "kid0003", " KID0004\t", "SB50001", "SB50002", "M444-50001",
                         "sb50001", "SB5000", "NOTAPARENT", "x", "", "=cmd()", "KID\u200b0005"])
junk = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12)
cells = codes | junk
headers = st.sampled_from([["child", "parent"], ["Parent", "Child", "extra"], ["child"], ["\ufeffchild", "parent"],
                           ["parent", "bill"], []])
delimiters = st.sampled_from([",", ";", "\t"])


@st.composite
def csv_texts(draw: st.DrawFn) -> bytes:
    delimiter = draw(delimiters)
    header = draw(headers)
    rows = draw(st.lists(st.lists(cells, max_size=4), max_size=12))
    quote = draw(st.booleans())

    def line(values: list[str]) -> str:
        return delimiter.join(f'"{v}"' if quote else v for v in values)

    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    return newline.join([line(header), *(line(r) for r in rows)]).encode()


files = csv_texts() | st.binary(max_size=300)


@pytest.fixture
def client(settings: Settings, clean_db: asyncpg.Pool) -> Iterator[TestClient]:
    with edge_client(settings.replace(api_requests_per_minute=1_000_000)) as test_client:
        yield test_client


def test_no_file_makes_an_import_fail_or_apply_part_of_an_all_or_nothing_file(
        client: TestClient, database_url: str, caplog: pytest.LogCaptureFixture) -> None:
    admin = client.post("/api/login", json={"username": "admin", "password": ADMIN_PASSWORD}).cookies["tt_session"]
    client.cookies.clear()

    @hypothesis_settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(data=files, mode=st.sampled_from(["all", "rows"]), kind=st.sampled_from(["links", "bills"]))
    def check(data: bytes, mode: str, kind: str) -> None:
        before = state_of(database_url)
        answer = upload(client, admin, data, kind=kind, mode=mode)
        assert answer.status_code in (200, 400), (answer.status_code, answer.text)
        if answer.status_code == 400:
            assert answer.json()["error"].startswith("IMPORT_") and answer.json()["message"]
            assert state_of(database_url) == before
            return
        record = answer.text.splitlines()[-1]
        assert '"event": "finished"' in record, record
        if mode == "all" and '"status": "refused"' in record:
            assert state_of(database_url) == before
        if mode == "all" and '"status": "done"' in record:
            assert '"bad": 0' in record

    with caplog.at_level(logging.ERROR):
        check()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
