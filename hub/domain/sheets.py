"""Reading an import file (CSV or Excel) into numbered rows of the columns an import needs.

Pure: bytes in, rows or a `SheetError` out. A hostile file (a zip bomb, a huge field, bytes that
are not text) is refused with a reason before it can take much memory or time.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from hub.codes import ApiCode

COLUMNS = {"links": ("child", "parent"), "bills": ("parent", "bill")}
"""The columns each kind of import reads, in the order the rows hold them."""
XLSX_MAGIC = b"PK\x03\x04"
MAX_UNPACKED_BYTES = 200 * 1024 * 1024
"""An Excel file whose parts would unpack to more than this is refused as a zip bomb."""
MAX_RATIO = 200
"""... and so is one that would unpack to more than this many times its own size."""
MAX_CELL = 200
"""A cell longer than this is cut short: no code is that long, so the row is refused anyway."""
DELIMITERS = ",;\t"
HEADER_COLUMNS = 50
"""An Excel header is looked for in this many columns: a sheet's declared width can be 16,384."""


class SheetError(Exception):
    """The file cannot be imported at all; `code` says why in a word, `message` in a sentence."""

    def __init__(self, code: ApiCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Row:
    """One data row: its number in the file (the header is row 1) and the needed cells, in order."""

    number: int
    cells: tuple[str, ...]


def read_rows(data: bytes, kind: str, max_rows: int) -> list[Row]:
    """The file's rows of the columns `kind` needs; blank rows are skipped, but count towards
    `max_rows` (a sheet can hold a million of them in a few bytes).

    SheetError: IMPORT_UNREADABLE (neither UTF-8 CSV nor Excel), IMPORT_COLUMNS (a needed column
    is missing), IMPORT_EMPTY (no data rows), IMPORT_TOO_MANY_ROWS (more than `max_rows`).
    """
    needed = COLUMNS[kind]
    lines = _xlsx_lines(data, needed, max_rows) if data.startswith(XLSX_MAGIC) else _csv_lines(data)
    header = next(lines, None)
    if header is None:
        raise SheetError(ApiCode.IMPORT_EMPTY, "The file is empty.")
    positions = _positions(header, needed)
    rows: list[Row] = []
    for number, line in enumerate(lines, start=2):
        if number - 1 > max_rows:
            raise _too_many(max_rows)
        cells = tuple(line[i][:MAX_CELL] if i < len(line) else "" for i in positions)
        if any(cell.strip() for cell in cells):
            rows.append(Row(number, cells))
    if not rows:
        raise SheetError(ApiCode.IMPORT_EMPTY, "The file has a header but no rows.")
    return rows


def _positions(header: list[str], needed: tuple[str, ...]) -> list[int]:
    names = [cell.strip().lower() for cell in header]
    missing = [name for name in needed if name not in names]
    if missing:
        found = ", ".join(repr(name[:40]) for name in names if name) or "nothing"
        raise SheetError(ApiCode.IMPORT_COLUMNS,
                         f"The first row must name the columns {' and '.join(needed)}; "
                         f"missing {', '.join(missing)} (found {found[:300]}).")
    return [names.index(name) for name in needed]


def _too_many(max_rows: int) -> SheetError:
    return SheetError(ApiCode.IMPORT_TOO_MANY_ROWS, f"The file has more than {max_rows} rows; split it.")


def _csv_lines(data: bytes) -> Iterator[list[str]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SheetError(ApiCode.IMPORT_UNREADABLE,
                         f"The file is neither an Excel workbook nor UTF-8 text (byte {exc.start + 1}).") from None
    if "\x00" in text:
        raise SheetError(ApiCode.IMPORT_UNREADABLE, "The file holds NUL characters: it is not a CSV file.")
    first = text.partition("\n")[0]
    delimiter = max(DELIMITERS, key=first.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        yield from reader
    except csv.Error as exc:
        raise SheetError(ApiCode.IMPORT_UNREADABLE,
                         f"The CSV is malformed near line {reader.line_num}: {exc}.") from None


def _xlsx_lines(data: bytes, needed: tuple[str, ...], max_rows: int) -> Iterator[list[str]]:
    """The header (its first `HEADER_COLUMNS` cells), then the rows up to the last needed column.

    Never the sheet's declared width: openpyxl pads every row to it, and every missing row up to
    the declared height, so a tiny file naming cell XFD1048576 would take hours. A sheet declared
    taller than `max_rows` (and the header) is refused before any row is read.
    """
    _check_unpacked_size(data)
    # Imported here: openpyxl takes a while to import and only imports need it.
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        try:
            sheet = workbook.worksheets[0]
            if (sheet.max_row or 0) > max_rows + 1:
                raise _too_many(max_rows)
            first = next(sheet.iter_rows(min_row=1, max_row=1, max_col=HEADER_COLUMNS, values_only=True), None)
            if first is None:
                return
            header = [_cell_text(value) for value in first]
            yield header
            width = max(_positions(header, needed)) + 1
            for values in sheet.iter_rows(min_row=2, max_col=width, values_only=True):
                yield [_cell_text(value) for value in values]
        finally:
            workbook.close()
    except SheetError:
        raise
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many kinds of error on a malformed file
        raise SheetError(ApiCode.IMPORT_UNREADABLE,
                         f"The Excel file cannot be read ({type(exc).__name__}).") from None


def _check_unpacked_size(data: bytes) -> None:
    """Refuse a workbook whose parts would unpack too large, before any is unpacked.

    zipfile never unpacks more than an entry's declared size, so the declared sizes bound the work.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, ValueError, OSError, EOFError):
        raise SheetError(ApiCode.IMPORT_UNREADABLE, "The file looks like an Excel workbook but is damaged.") from None
    if unpacked > MAX_UNPACKED_BYTES or unpacked > MAX_RATIO * len(data):
        raise SheetError(ApiCode.IMPORT_UNREADABLE,
                         f"The Excel file would unpack to {unpacked} bytes: refused as a zip bomb.")


def _cell_text(value: Any) -> str:
    """A cell as text: whole numbers without ".0" (a code typed into Excel becomes a number)."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return str(value)[:MAX_CELL]
