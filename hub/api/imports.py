"""Imports (admin): upload a CSV or Excel file of links, follow its progress, fetch its bad rows.

The file is the request body itself (no form encoding), up to IMPORT_MAX_BYTES; the answer is a
stream of NDJSON lines (started, progress..., finished), and the same progress is in PostgreSQL for
any hub process to answer `GET /api/imports/{id}`. The import runs to its end even if the uploader
goes away. Admins only: an import names any dispatch area, and is an admin's task in the brief.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from hub import importing
from hub.api.access import requires
from hub.api.errors import api_error
from hub.api.params import path_id
from hub.codes import ApiCode
from hub.domain import importplan
from hub.domain.cells import defused
from hub.domain.rules import Actor, Role
from hub.domain.sheets import COLUMNS, SheetError, read_rows
from hub.domain.text import text_problem
from hub.store import imports as store
from hub.store.batches import existing_areas

UPLOAD_PATH = "/api/imports"
UPLOAD_TYPES = frozenset({"text/csv", "application/octet-stream",
                          "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"})
MAX_NAME = 200
RECENT = 50
REPORT_CHUNK = 1000


@requires(Role.ADMIN)
async def start_import(request: Request, actor: Actor) -> Response:
    """Admin: import a file of child-parent or parent-bill links; streams NDJSON progress.
    ---
    summary: Import links from a CSV or Excel file
    tags: [imports]
    parameters:
      - {name: kind, in: query, required: true, schema: {type: string, enum: [links, bills]},
         description: "links: columns child, parent; bills: columns parent, bill"}
      - {name: mode, in: query, required: true, schema: {type: string, enum: [all, rows]},
         description: "all: nothing is applied when any row is bad; rows: good rows applied, bad ones reported"}
      - {name: area, in: query, required: false, schema: {type: string},
         description: dispatch area of parents the file creates}
      - {name: name, in: query, required: false, schema: {type: string}, description: the file's name}
    requestBody:
      required: true
      content:
        text/csv: {schema: {type: string, format: binary}}
        application/vnd.openxmlformats-officedocument.spreadsheetml.sheet: {schema: {type: string, format: binary}}
        application/octet-stream: {schema: {type: string, format: binary}}
    responses:
      "200":
        description: "NDJSON lines: {event: started|progress|finished|failed, import?, done?, rows?}"
        content: {application/x-ndjson: {schema: {type: string}}}
      "400":
        $ref: "#/components/responses/Error"
        description: "BAD_REQUEST, INVALID_TEXT, UNKNOWN_AREA, IMPORT_UNREADABLE, IMPORT_COLUMNS, IMPORT_EMPTY,
          IMPORT_TOO_MANY_ROWS: the file cannot be imported"
      "401": {$ref: "#/components/responses/Error", description: UNAUTHENTICATED}
      "403": {$ref: "#/components/responses/Error", description: "FORBIDDEN, CROSS_ORIGIN"}
      "413": {$ref: "#/components/responses/Error", description: "PAYLOAD_TOO_LARGE: the file is over IMPORT_MAX_BYTES"}
      "415": {$ref: "#/components/responses/Error", description: "UNSUPPORTED_MEDIA_TYPE: not CSV or Excel"}
    """
    hub = request.app.state.hub
    query = request.query_params
    kind, mode, area, name = query.get("kind"), query.get("mode"), query.get("area") or None, query.get("name")
    if kind not in importplan.KINDS or mode not in importplan.MODES:
        return api_error(ApiCode.BAD_REQUEST, "Give kind=links or kind=bills, and mode=all or mode=rows.")
    name = name or "upload"
    problem = text_problem(name, MAX_NAME)
    if problem is not None:
        return api_error(ApiCode.INVALID_TEXT, f"The file name {problem}.")
    if area is not None and area not in await existing_areas(hub.pool, [area]):
        return api_error(ApiCode.UNKNOWN_AREA, f"There is no dispatch area {area[:40]!r}.")
    data = await request.body()
    try:
        rows = await asyncio.to_thread(read_rows, data, kind, hub.settings.import_max_rows)
    except SheetError as exc:
        return api_error(exc.code, exc.message)
    events: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
    file = importing.ImportFile(name, data, kind, mode, area)

    async def job() -> None:
        try:
            await importing.run(hub.pool, hub.writer, actor, file, rows, events.put_nowait)
        finally:
            events.put_nowait(None)

    hub.spawn(job())

    async def lines() -> AsyncIterator[bytes]:
        while (event := await events.get()) is not None:
            yield json.dumps(event).encode() + b"\n"

    return StreamingResponse(lines(), media_type="application/x-ndjson")


@requires(Role.ADMIN)
async def list_imports(request: Request, actor: Actor) -> Response:
    """Admin: the latest imports, newest first.
    ---
    summary: List recent imports
    tags: [imports]
    responses:
      "200":
        description: The latest 50 imports
        content:
          application/json: {schema: {type: object, properties: {imports: {type: array, items: {type: object}}}}}
      "401": {$ref: "#/components/responses/Error", description: UNAUTHENTICATED}
      "403": {$ref: "#/components/responses/Error", description: FORBIDDEN}
    """
    return JSONResponse({"imports": await store.recent(request.app.state.hub.pool, RECENT)})


@requires(Role.ADMIN)
async def show_import(request: Request, actor: Actor) -> Response:
    """Admin: one import with its progress (read from PostgreSQL: any hub process answers).
    ---
    summary: Show an import
    tags: [imports]
    parameters:
      - {name: import_id, in: path, required: true, schema: {type: integer}}
    responses:
      "200":
        description: The import
        content: {application/json: {schema: {type: object, properties: {import: {type: object}}}}}
      "400": {$ref: "#/components/responses/Error", description: INVALID_ID}
      "401": {$ref: "#/components/responses/Error", description: UNAUTHENTICATED}
      "403": {$ref: "#/components/responses/Error", description: FORBIDDEN}
      "404": {$ref: "#/components/responses/Error", description: UNKNOWN_IMPORT}
    """
    record = await store.get(request.app.state.hub.pool, path_id(request, "import_id"))
    if record is None:
        return api_error(ApiCode.UNKNOWN_IMPORT)
    return JSONResponse({"import": record})


@requires(Role.ADMIN)
async def error_report(request: Request, actor: Actor) -> Response:
    """Admin: an import's bad rows as CSV (row, the row's cells, code, message).
    ---
    summary: Download an import's error report
    tags: [imports]
    parameters:
      - {name: import_id, in: path, required: true, schema: {type: integer}}
    responses:
      "200":
        description: CSV, one line per bad row
        content: {text/csv: {schema: {type: string}}}
      "400": {$ref: "#/components/responses/Error", description: INVALID_ID}
      "401": {$ref: "#/components/responses/Error", description: UNAUTHENTICATED}
      "403": {$ref: "#/components/responses/Error", description: FORBIDDEN}
      "404": {$ref: "#/components/responses/Error", description: UNKNOWN_IMPORT}
    """
    pool = request.app.state.hub.pool
    import_id = path_id(request, "import_id")
    record = await store.get(pool, import_id)
    if record is None:
        return api_error(ApiCode.UNKNOWN_IMPORT)
    columns = COLUMNS[record["kind"]]

    async def lines() -> AsyncIterator[str]:
        yield _csv_line(["row", *columns, "code", "message"])
        after = 0
        while chunk := await store.bad_rows(pool, import_id, after, REPORT_CHUNK):
            for row in chunk:
                yield _csv_line([str(row.number), *(row.cells.get(c, "") for c in columns), row.code, row.message])
            after = chunk[-1].number

    filename = f"import-{import_id}-errors.csv"
    return StreamingResponse(lines(), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def _csv_line(cells: list[str]) -> str:
    out = io.StringIO()
    csv.writer(out).writerow([defused(cell) for cell in cells])
    return out.getvalue()


routes = [
    Route(UPLOAD_PATH, start_import, methods=["POST"]),
    Route("/api/imports", list_imports, methods=["GET"]),
    Route("/api/imports/{import_id}", show_import, methods=["GET"]),
    Route("/api/imports/{import_id}/errors.csv", error_report, methods=["GET"]),
]
