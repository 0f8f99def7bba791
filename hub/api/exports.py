"""Exports: any filter of the lists as a CSV or Excel file, streamed, never held in memory.

Each dataset is a list of `hub.api` (its filter reader, its store function, its item), walked in
keyset chunks of CHUNK rows: one short query per chunk, so a long export holds no snapshot open and
no more than a chunk in memory. The rows are exactly the list's items (same columns, same confinement
to the reader's dispatch area). A client that goes away cancels the export at its next chunk. Each
export is audited with who, the dataset, the filters and the rows sent.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import tzinfo
from typing import Any

import anyio
import asyncpg
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from hub.api import filters
from hub.api.access import requires
from hub.api.bags import bag_item
from hub.api.bills import bill_item
from hub.api.errors import ApiError, api_error
from hub.api.scans import scan_item
from hub.codes import ApiCode
from hub.domain.filters import BagFilter, BagKind, BagStatus, BillFilter, ScanFilter
from hub.domain.rules import Actor, Role
from hub.exports import Cell, Workbook, csv_chunk
from hub.readreplica import Reads
from hub.store import audit
from hub.store import bags as bags_store
from hub.store import bills as bills_store
from hub.store import scans as scans_store
from hub.store.keyset import Key, Page

CHUNK = 2000
"""Rows read per query, and the most an export holds at once."""
FORMATS = {"csv": "text/csv; charset=utf-8",
           "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


@dataclass(frozen=True)
class Dataset:
    """A list as an export: how its filter is read, its store function, and one row's columns."""

    read_filter: Callable[[filters.QueryParams, Actor, tzinfo], filters.Reading[Any]]
    fetch: Callable[[Any, Any, Key | None, int], Awaitable[Page]]
    item: Callable[[asyncpg.Record], Mapping[str, Any]]
    columns: tuple[str, ...]
    roles: frozenset[Role] = frozenset(Role)
    """Who may export it: those who may read the list."""


def _bags_filter(params: filters.QueryParams, actor: Actor, zone: tzinfo) -> filters.Reading[BagFilter]:
    return filters.bag_filter(params, actor, zone, extra=())


def _links_filter(params: filters.QueryParams, actor: Actor, zone: tzinfo) -> filters.Reading[BagFilter]:
    """The bags filter, narrowed to children in a parent: a links row is a child and its parent."""
    read = _bags_filter(params, actor, zone)
    if read.filter.kind is BagKind.PARENT or read.filter.status not in (None, BagStatus.IN_PARENT):
        raise ApiError(ApiCode.INVALID_FILTER, "Links are listed by their child: use kind=child or no kind, "
                                               "and status in_parent or none.")
    return replace(read, filter=replace(read.filter, kind=BagKind.CHILD, status=BagStatus.IN_PARENT))


def _link_item(row: asyncpg.Record) -> dict[str, Any]:
    item = bag_item(row)
    return {"child": item["code"], "parent": item["parent"], "area": item["area"], "created_at": item["created_at"]}


def _bills_filter(params: filters.QueryParams, actor: Actor, zone: tzinfo) -> filters.Reading[BillFilter]:
    return filters.bill_filter(params, actor, zone, extra=())


def _scans_filter(params: filters.QueryParams, actor: Actor, zone: tzinfo) -> filters.Reading[ScanFilter]:
    return filters.scan_filter(params, actor, zone, extra=())


DATASETS: dict[str, Dataset] = {
    "bags": Dataset(_bags_filter, bags_store.list_bags, bag_item,
                    ("code", "kind", "area", "status", "child_count", "capacity", "created_at", "parent", "bill")),
    "links": Dataset(_links_filter, bags_store.list_bags, _link_item, ("child", "parent", "area", "created_at")),
    "bills": Dataset(_bills_filter, bills_store.list_bills, bill_item,
                     ("code", "area", "status", "parent_count", "capacity", "destination", "vehicle", "created_at",
                      "completed_at"), frozenset({Role.ADMIN, Role.BILLER})),
    "scans": Dataset(_scans_filter, scans_store.list_scans, scan_item,
                     ("id", "at", "client_at", "device", "user", "area", "op", "code", "target", "result", "detail")),
}


def _cell(value: Any) -> Cell:
    """A list item's value as a file cell: text and whole numbers as they are, the rest as text."""
    kind = type(value)
    if kind is str or kind is int or value is None:
        return value  # type: ignore[no-any-return]
    if kind is bool:
        return "true" if value else "false"
    if kind is dict or kind is list:
        return json.dumps(value, separators=(",", ":"))
    return str(value)


class _Counter:
    rows = 0


async def _chunks(reads: Reads, dataset: Dataset, flt: Any, counter: _Counter) -> AsyncIterator[list[list[Cell]]]:
    """The filter's rows, CHUNK at a time, each chunk its own query after the previous chunk's key
    (at most two chunks are held: the one being sent and the next one being read). Each chunk is
    read where reads that may lag go: a replica that goes away mid-export costs one chunk's retry."""
    fetching = asyncio.ensure_future(reads.read(dataset.fetch, flt, None, CHUNK))
    try:
        while True:
            page = await fetching
            if page.next is not None:  # the next chunk's query runs while this one is encoded and sent
                fetching = asyncio.ensure_future(reads.read(dataset.fetch, flt, page.next, CHUNK))
            rows = [[_cell(value) for value in dataset.item(row).values()] for row in page.rows]
            counter.rows += len(rows)
            yield rows
            if page.next is None:
                return
    finally:
        fetching.cancel()


@requires()
async def export(request: Request, actor: Actor) -> Response:
    """A list as a file: the same rows, filters and area confinement as the list, streamed.
    ---
    summary: Export a list as CSV or Excel
    tags: [exports]
    parameters:
      - {name: dataset, in: path, required: true, schema: {type: string, enum: [bags, links, bills, scans]}}
      - {name: format, in: path, required: true, schema: {type: string, enum: [csv, xlsx]}}
    description: The query takes the filters of the matching list (bags and links take those of the bags list).
    responses:
      "200":
        description: The file, as an attachment
        content:
          text/csv: {schema: {type: string}}
          application/vnd.openxmlformats-officedocument.spreadsheetml.sheet: {schema: {type: string, format: binary}}
      "400": {$ref: "#/components/responses/Error", description: "INVALID_FILTER: not a filter of the list"}
      "401": {$ref: "#/components/responses/Error", description: UNAUTHENTICATED}
      "403": {$ref: "#/components/responses/Error", description: "FORBIDDEN: another area; bills for a dispatcher"}
      "404": {$ref: "#/components/responses/Error", description: "NOT_FOUND: no such dataset or format"}
    """
    hub = request.app.state.hub
    name, fmt = request.path_params["dataset"], request.path_params["format"]
    dataset = DATASETS.get(name)
    if dataset is None or fmt not in FORMATS:
        return api_error(ApiCode.NOT_FOUND, f"Export one of {', '.join(DATASETS)} as .csv or .xlsx.")
    if actor.role not in dataset.roles:
        return api_error(ApiCode.FORBIDDEN, "Bills are for billers and admins.")
    read = dataset.read_filter(request.query_params, actor, hub.settings.zone)
    counter = _Counter()
    chunks = _chunks(hub.reads, dataset, read.filter, counter)
    body = _csv_body(chunks, dataset) if fmt == "csv" else _xlsx_body(chunks, dataset, name)

    async def audited() -> AsyncIterator[bytes]:
        complete = False
        try:
            async for part in body:
                yield part
            complete = True
        finally:
            with anyio.CancelScope(shield=True):  # a client gone away is audited too
                await audit.insert_audit(hub.pool, actor.user_id, "export", f"export:{name}", None,
                                         {"dataset": name, "format": fmt, "filters": dict(read.params),
                                          "rows": counter.rows, "complete": complete})

    return StreamingResponse(audited(), media_type=FORMATS[fmt],
                             headers={"Content-Disposition": f'attachment; filename="{name}.{fmt}"'})


async def _csv_body(chunks: AsyncIterator[list[list[Cell]]], dataset: Dataset) -> AsyncIterator[bytes]:
    yield csv_chunk([list(dataset.columns)])
    async for rows in chunks:
        yield csv_chunk(rows)


async def _xlsx_body(chunks: AsyncIterator[list[list[Cell]]], dataset: Dataset, title: str) -> AsyncIterator[bytes]:
    """Write the workbook to a temporary file a chunk at a time (in a thread), then send it."""
    book = Workbook(dataset.columns, title)
    try:
        async for rows in chunks:
            await asyncio.to_thread(book.append, rows)
        await asyncio.to_thread(book.save)
        for part in book.chunks():
            yield part
    finally:
        book.close()


routes = [Route("/api/exports/{dataset}.{format}", export, methods=["GET"])]
