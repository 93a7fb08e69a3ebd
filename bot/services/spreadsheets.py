"""Writing /export's files: an XLSX workbook, or a zip of CSV files, streamed to disk.

Both take rows sheet by sheet, in any interleaving, and keep none of them: XlsxWriter's
``constant_memory`` mode writes each row to a temporary file as soon as the next one starts;
each CSV goes to a temporary file of its own, zipped at the end. A sheet that reaches the row
limit (XLSX's 1,048,576 rows, the header included) continues on "<name> (2)".

These are slow, blocking writes: callers run them in a worker thread. XlsxWriter is imported
here, when a workbook is made, not when the bot starts.
"""

from __future__ import annotations

import csv
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Protocol

from bot.domain.export import Cell, Column, Value

XLSX_MAX_ROWS = 1_048_576
SHEET_NAME_MAX = 31  # characters, in XLSX
_NOT_IN_NAMES = re.compile(r"[\[\]:*?/\\\x00-\x1f]")


def sheet_name(name: str, part: int, taken: set[str]) -> str:
    """A sheet's (or CSV file's) name: valid in XLSX, unique, "(2)" and on for its
    continuations."""
    base = _NOT_IN_NAMES.sub(" ", name).strip(" '") or "sheet"
    suffix = f" ({part})" if part > 1 else ""
    candidate = base[: SHEET_NAME_MAX - len(suffix)].rstrip() + suffix
    n = 2
    while candidate.lower() in taken:
        extra = f"~{n}"
        candidate = base[: SHEET_NAME_MAX - len(suffix) - len(extra)] + extra + suffix
        n += 1
    taken.add(candidate.lower())
    return candidate


class Book(Protocol):
    """A file of sheets, written row by row."""

    suffix: str

    def add_sheet(self, key: str, name: str, columns: Sequence[Column], titles: list[str]) -> None:
        """Declare a sheet (its header row is written now)."""

    def write(self, key: str, rows: Sequence[Sequence[Value]]) -> None:
        """Append rows to a sheet."""

    def close(self) -> None:
        """Finish the file."""


@dataclass
class _Open:
    """A sheet being written: the part of it open now and how many rows it holds."""

    name: str
    columns: Sequence[Column]
    titles: list[str]
    part: int = 0
    rows: int = 0
    handle: Any = None


class XlsxBook:
    """A workbook: frozen header row, autofilter, widths per column; days and moments as
    dates with a date format, numbers as numbers, everything else as text (never a formula)."""

    suffix = ".xlsx"

    def __init__(self, path: Path, max_rows: int = XLSX_MAX_ROWS) -> None:
        import xlsxwriter  # heavy, and only for an export: not at start-up

        self.max_rows = max_rows
        self._book = xlsxwriter.Workbook(
            str(path),
            {
                "constant_memory": True,
                "tmpdir": str(path.parent),
                "strings_to_formulas": False,
                "strings_to_urls": False,
                "strings_to_numbers": False,
            },
        )
        self._header = self._book.add_format({"bold": True, "bg_color": "#DDEBF7"})
        self._formats = {
            Cell.DATE: self._book.add_format({"num_format": "yyyy-mm-dd"}),
            Cell.DATETIME: self._book.add_format({"num_format": "yyyy-mm-dd hh:mm"}),
            Cell.RATE: self._book.add_format({"num_format": "0.0%"}),
        }
        self._sheets: dict[str, _Open] = {}
        self._taken: set[str] = set()

    def add_sheet(self, key: str, name: str, columns: Sequence[Column], titles: list[str]) -> None:
        sheet = _Open(name, columns, titles)
        self._sheets[key] = sheet
        self._next_part(sheet)

    def _next_part(self, sheet: _Open) -> None:
        if sheet.handle is not None:
            self._finish(sheet)
        sheet.part += 1
        worksheet = self._book.add_worksheet(sheet_name(sheet.name, sheet.part, self._taken))
        for index, column in enumerate(sheet.columns):
            fmt = self._formats.get(column.type)
            worksheet.set_column(index, index, column.width, fmt)
        worksheet.freeze_panes(1, 0)
        for index, title in enumerate(sheet.titles):
            worksheet.write_string(0, index, title, self._header)
        sheet.handle, sheet.rows = worksheet, 1

    def write(self, key: str, rows: Sequence[Sequence[Value]]) -> None:
        sheet = self._sheets[key]
        for row in rows:
            if sheet.rows >= self.max_rows:
                self._next_part(sheet)
            self._row(sheet, row)

    def _row(self, sheet: _Open, row: Sequence[Value]) -> None:
        worksheet, r = sheet.handle, sheet.rows
        for c, (column, value) in enumerate(zip(sheet.columns, row, strict=True)):
            if value is None or value == "":
                continue
            if isinstance(value, date) and column.type in (Cell.DATE, Cell.DATETIME):
                worksheet.write_datetime(r, c, value, self._formats[column.type])
            elif isinstance(value, int | float) and not isinstance(value, bool):
                worksheet.write_number(r, c, value, self._formats.get(column.type))
            else:
                worksheet.write_string(r, c, str(value))
        sheet.rows += 1

    @staticmethod
    def _finish(sheet: _Open) -> None:
        sheet.handle.autofilter(0, 0, max(sheet.rows - 1, 0), len(sheet.columns) - 1)

    def close(self) -> None:
        for sheet in self._sheets.values():
            self._finish(sheet)
        self._book.close()


def _csv_text(value: Value, column: Column) -> str:
    """A cell as CSV text: days and moments in ISO form; text that a spreadsheet would run as
    a formula (=, +, -, @ first) is quoted with an apostrophe, as spreadsheets themselves do."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, int | float):
        return f"{value:.1%}" if column.type is Cell.RATE else str(value)
    text = str(value)
    if column.type is Cell.TEXT and text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text


class CsvZip:
    """A zip of one CSV per sheet, UTF-8 with a byte-order mark (so that Excel reads Chinese
    as Chinese), comma-separated, CRLF line ends."""

    suffix = ".zip"

    def __init__(self, path: Path, max_rows: int = XLSX_MAX_ROWS) -> None:
        self.max_rows = max_rows
        self._path = path
        self._sheets: dict[str, _Open] = {}
        self._taken: set[str] = set()
        self._files: list[tuple[Path, str]] = []  # (temporary file, name in the zip)

    def add_sheet(self, key: str, name: str, columns: Sequence[Column], titles: list[str]) -> None:
        sheet = _Open(name, columns, titles)
        self._sheets[key] = sheet
        self._next_part(sheet)

    def _next_part(self, sheet: _Open) -> None:
        if sheet.handle is not None:
            sheet.handle[0].close()
        sheet.part += 1
        name = sheet_name(sheet.name, sheet.part, self._taken) + ".csv"
        temporary = self._path.with_name(f"{self._path.stem}.{len(self._files)}.csv.part")
        handle = temporary.open("w", encoding="utf-8-sig", newline="")
        self._files.append((temporary, name))
        writer = csv.writer(handle)
        writer.writerow(sheet.titles)
        sheet.handle, sheet.rows = (handle, writer), 1

    def write(self, key: str, rows: Sequence[Sequence[Value]]) -> None:
        sheet = self._sheets[key]
        for row in rows:
            if sheet.rows >= self.max_rows:
                self._next_part(sheet)
            sheet.handle[1].writerow(
                [_csv_text(v, c) for c, v in zip(sheet.columns, row, strict=True)]
            )
            sheet.rows += 1

    def close(self) -> None:
        for sheet in self._sheets.values():
            sheet.handle[0].close()
        with zipfile.ZipFile(self._path, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
            for temporary, name in self._files:
                archive.write(temporary, name)  # read from disk in blocks
                temporary.unlink()


BOOKS: dict[str, type[XlsxBook] | type[CsvZip]] = {"xlsx": XlsxBook, "csv": CsvZip}
