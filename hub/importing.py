"""Running an import: its rows through the one batch writer, progress and bad rows into PostgreSQL.

Row by row, the operations join the live batches like any scanner's; all-or-nothing, they are one
transaction of the writer (`BatchWriter.apply_group`), rolled back when any row is bad. Either way
the device is the file's own (`importplan.device_for`) and the seq its operation order, so running
the same file again replays the recorded results and changes nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg

from hub.batch import Result, Submission
from hub.codes import Code
from hub.domain import importplan
from hub.domain.importplan import PlannedRow, RowResult
from hub.domain.rules import Actor
from hub.domain.sheets import COLUMNS, Row
from hub.store import imports as store
from hub.writer import BatchWriter, DatabaseUnavailable

logger = logging.getLogger("tracetrack.imports")

WINDOW = 500
"""Operations in flight at once (row by row) or decided per step of the transaction (all-or-nothing)."""

Report = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class ImportFile:
    name: str
    data: bytes
    kind: str
    mode: str
    area: str | None


async def run(pool: asyncpg.Pool, writer: BatchWriter, actor: Actor, file: ImportFile, rows: list[Row],
              report: Report) -> dict[str, Any]:
    """Import `rows` of `file`; `report` hears the start, the progress and the final record."""
    device = importplan.device_for(file.data, file.kind)
    planned = importplan.plan(rows, file.kind, file.area)
    subs: list[Submission] = []
    for row in planned:
        for op in row.operations:
            subs.append(Submission(device, len(subs) + 1, actor, op, datetime.now(UTC)))
    import_id = await store.create(pool, store.NewImport(
        actor.user_id, file.name, hashlib.sha256(file.data).hexdigest(), file.kind, file.mode, file.area,
        device, len(rows)))
    report({"event": "started", "import": await store.get(pool, import_id)})
    progress = _Progress(pool, import_id, planned, report)
    try:
        writer.unblock(device)  # a run cut short by RETRY left the device blocked; this run resends it
        if file.mode == "all":
            committed, results = await writer.apply_group(
                subs, lambda sub, result: importplan.acceptable(sub.operation, result.outcome),  # type: ignore[arg-type]
                chunk=WINDOW, progress=progress.ops_done)
        else:
            results = []
            for start in range(0, len(subs), WINDOW):
                window = subs[start:start + WINDOW]
                results += await asyncio.gather(*(writer.submit(sub) for sub in window))
                await progress.ops_done(len(results))
            committed = True
    except (DatabaseUnavailable, *_STORE_FAILURES):
        logger.exception("import %d failed", import_id)
        await store.mark_failed(pool, import_id)
        record = await store.get(pool, import_id)
        report({"event": "failed", "import": record})
        return record or {}
    record = await _finish(pool, import_id, actor, file, planned, results, committed)
    report({"event": "finished", "import": record})
    return record


_STORE_FAILURES = (OSError, asyncio.TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)


class _Progress:
    """Rows decided so far, from operations decided so far: stored (any hub can read it) and reported."""

    def __init__(self, pool: asyncpg.Pool, import_id: int, planned: list[PlannedRow], report: Report) -> None:
        self.pool = pool
        self.import_id = import_id
        self.report = report
        self.total = len(planned)
        self.rows_after_ops: list[int] = []
        for number, row in enumerate(planned, start=1):
            self.rows_after_ops += [number - 1] * (len(row.operations) - 1) + [number]

    async def ops_done(self, ops: int) -> None:
        rows = self.rows_after_ops[ops - 1] if ops else 0
        await store.set_progress(self.pool, self.import_id, rows)
        self.report({"event": "progress", "done": rows, "rows": self.total})


async def _finish(pool: asyncpg.Pool, import_id: int, actor: Actor, file: ImportFile, planned: list[PlannedRow],
                  results: list[Result], committed: bool) -> dict[str, Any]:
    counts = {"applied": 0, "already": 0, "bad": 0}
    bad_rows: list[store.BadRow] = []
    position = 0
    for row in planned:
        mine = results[position:position + len(row.operations)]
        position += len(row.operations)
        verdict, outcome = importplan.row_result(row, [(r.outcome, r.replay) for r in mine])
        if outcome is not None and outcome.code is Code.RETRY:
            message = "The hub could not save this row just now; run the same file again to finish it."
        else:
            message = importplan.describe(outcome) if outcome is not None else ""
        counts[verdict.value] += 1
        if verdict is RowResult.BAD:
            assert outcome is not None
            bad_rows.append(store.BadRow(row.row.number, dict(zip(COLUMNS[file.kind], row.row.cells)),
                                         outcome.code.value, message))
    if not committed:
        counts = {"applied": 0, "already": counts["already"], "bad": counts["bad"]}
    status = "done" if committed else "refused"
    return await store.finish(pool, import_id, actor.user_id, status, counts, bad_rows)
