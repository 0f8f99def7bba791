"""Export files, written a chunk of rows at a time so that no export holds more than a chunk.

CSV is encoded chunk by chunk as it is sent; Excel goes through openpyxl's write-only mode into a
temporary file (a sheet holds at most 1,048,576 rows, so a longer export continues on a new sheet),
which is then sent and removed.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Iterator, Sequence
from typing import Any

from hub.domain.cells import defused

SHEET_ROWS = 1_048_576
"""Rows an Excel sheet holds, its header row included."""
SEND_BYTES = 1 << 20

Cell = str | int | None


def csv_chunk(rows: Sequence[Sequence[Cell]]) -> bytes:
    """Rows as CSV lines (UTF-8), text cells defused against formula injection."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerows([[defused(c) if isinstance(c, str) else c for c in row] for row in rows])
    return out.getvalue().encode()


def _special(value: str) -> bool:
    """Text openpyxl would not store as plain text (a formula, an error value) or would refuse."""
    return value.startswith(("=", "#")) or any(ord(c) < 32 for c in value)


class Workbook:
    """An Excel file being written to a temporary file; `close()` removes it."""

    def __init__(self, columns: Sequence[str], title: str) -> None:
        from openpyxl import Workbook as OpenpyxlWorkbook  # imported here: slow to import, only exports need it

        self._book = OpenpyxlWorkbook(write_only=True)
        self._columns = list(columns)
        self._title = title
        self._sheets = 0
        self._sheet: Any = None
        self._rows_in_sheet = SHEET_ROWS
        handle, self.path = tempfile.mkstemp(prefix="tracetrack-export-", suffix=".xlsx")
        os.close(handle)

    def append(self, rows: Sequence[Sequence[Cell]]) -> None:
        """Add rows (blocking: call it in a thread)."""
        for row in rows:
            if self._rows_in_sheet == SHEET_ROWS:
                self._new_sheet()
            self._sheet.append([self._text(v) if isinstance(v, str) and _special(v) else v for v in row])
            self._rows_in_sheet += 1

    def _text(self, value: str) -> Any:
        """A cell that is text whatever it holds: never a formula, an error value or a refused character."""
        from openpyxl.cell import WriteOnlyCell
        from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

        cell = WriteOnlyCell(self._sheet)
        cell._value = ILLEGAL_CHARACTERS_RE.sub("", value)[:32767]
        cell.data_type = "s"
        return cell

    def _new_sheet(self) -> None:
        self._sheets += 1
        self._sheet = self._book.create_sheet(self._title if self._sheets == 1 else f"{self._title} {self._sheets}")
        self._sheet.append(self._columns)
        self._rows_in_sheet = 1

    def save(self) -> None:
        """Finish the file (blocking: call it in a thread)."""
        if self._sheet is None:
            self._new_sheet()
        self._book.save(self.path)

    def chunks(self) -> Iterator[bytes]:
        with open(self.path, "rb") as saved:
            while chunk := saved.read(SEND_BYTES):
                yield chunk

    def close(self) -> None:
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
