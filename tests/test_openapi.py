"""/openapi.json holds to the code: one documented operation per route and method, nothing else, a
valid OpenAPI 3.1 document, and every error code it names is a code of `hub.codes`."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from openapi_spec_validator import validate
from starlette.routing import Route
from starlette.testclient import TestClient

from hub.api.openapi import document
from hub.app import create_app
from hub.codes import ApiCode, Code
from hub.settings import Settings

DOCS = Path(__file__).resolve().parent.parent / "docs"
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
ERROR_REF = "#/components/responses/Error"
CODE_LIST = re.compile(r"^([A-Z][A-Z0-9_]*(?:,\s*[A-Z][A-Z0-9_]*)*)(?::\s.*)?$", re.DOTALL)
CODE_WORD = re.compile(r"`([A-Z][A-Z0-9_]+)`")


def _routes() -> list[Route]:
    app = create_app(Settings(database_url="postgresql://unused/unused"))  # routes only: no lifespan runs
    return [route for route in app.routes if isinstance(route, Route)]


def _served() -> set[tuple[str, str]]:
    return {(route.path, method.lower()) for route in _routes() for method in (route.methods or set()) - {"HEAD"}}


def _document() -> dict[str, Any]:
    app = create_app(Settings(database_url="postgresql://unused/unused"))
    return document(app.routes)


def _operations(doc: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(path, method): operation for path, item in doc["paths"].items()
            for method, operation in item.items() if method in METHODS}


def test_every_route_has_an_operation_with_a_summary_and_responses() -> None:
    operations = _operations(_document())
    missing = sorted(served for served in _served() if served not in operations)
    assert not missing, f"routes without a documented operation (docstring: summary, ---, YAML): {missing}"
    for key, operation in operations.items():
        assert isinstance(operation.get("summary"), str) and operation["summary"], key
        assert isinstance(operation.get("responses"), dict) and operation["responses"], key


def test_every_documented_operation_is_a_route() -> None:
    assert set(_operations(_document())) <= _served()


def test_every_docstring_is_a_summary_line_then_the_yaml() -> None:
    for route in _routes():
        lines = (route.endpoint.__doc__ or "").splitlines()
        assert lines and lines[0].strip(), f"{route.path}: the docstring starts with a one-line summary"
        assert [line.strip() for line in lines].count("---") == 1, f"{route.path}: one '---' line before the YAML"


def test_the_document_is_valid_openapi_3_1() -> None:
    doc = _document()
    assert doc["openapi"].startswith("3.1")
    validate(doc)


def _error_responses(doc: dict[str, Any]) -> list[tuple[tuple[str, str], int, str]]:
    found = []
    for key, operation in _operations(doc).items():
        for status, response in operation["responses"].items():
            if response.get("$ref") == ERROR_REF:
                found.append((key, int(status), response.get("description", "")))
    return found


def named_codes(description: str) -> list[str]:
    """The codes an error answer's description names, sorted: the list it starts with, and any code
    in backticks after it. A description is optional (a bare reference names no code)."""
    match = CODE_LIST.match(description)
    leading = re.split(r",\s*", match.group(1)) if match else []
    return sorted({*leading, *CODE_WORD.findall(description)})


def test_every_error_code_named_is_a_code_of_the_hub() -> None:
    """An error answer's description starts with its codes; an API code's status is the response's."""
    errors = _error_responses(_document())
    assert errors
    for key, status, description in errors:
        for name in named_codes(description):
            assert name in Code.__members__ or name in ApiCode.__members__, f"{key} {status}: unknown code {name}"
            if name not in Code.__members__:
                assert ApiCode[name].status == status, f"{key}: {name} is answered {ApiCode[name].status}"


@pytest.mark.parametrize(("description", "codes"), [
    ("UNKNOWN_USER", ["UNKNOWN_USER"]),
    ("WEAK_PASSWORD, BAD_REQUEST: the password is too short", ["BAD_REQUEST", "WEAK_PASSWORD"]),
    ("BUSY", ["BUSY"]),
    ("Not found (`UNKNOWN_THING`)", ["UNKNOWN_THING"]),
    ("The JSON body is not an object; METRICS_TOKEN is unset", []),
    ("", []),
])
def test_the_codes_a_description_names(description: str, codes: list[str]) -> None:
    assert named_codes(description) == codes


def test_the_document_is_served_to_anyone(client: TestClient) -> None:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    served = response.json()
    assert served["info"]["title"] == "TraceTrack Hub"
    assert set(_operations(served)) == set(_operations(_document()))
    session = served["components"]["securitySchemes"]["session"]
    assert (session["type"], session["in"], session["name"]) == ("apiKey", "cookie", "tt_session")


def test_the_api_document_says_where_the_openapi_document_is() -> None:
    intro = (DOCS / "api.md").read_text().partition("| Method |")[0]
    assert "`/openapi.json`" in intro
    assert "not served" not in intro
