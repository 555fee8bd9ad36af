"""Reading the rows of an uploaded CSV or Excel file, and writing cells that spreadsheets will not run."""

from __future__ import annotations

import codecs
import csv
from collections.abc import Generator, Iterator
from datetime import date, datetime
from typing import IO, Any

# What a header may say, lowercased, for each value of a row.
HEADERS = {
    "email": "email",
    "e-mail": "email",
    "mail": "email",
    "email address": "email",
    "name": "full_name",
    "display name": "full_name",
    "displayname": "full_name",
    "full name": "full_name",
    "full_name": "full_name",
    "role": "role",
    "aliases": "aliases",
    "alias": "aliases",
    "card": "card",
    "card number": "card",
    "pin": "pin",
}
COLUMNS = ("email", "full_name", "role", "aliases", "card", "pin")
MAX_CELL = 1000  # longer cells are cut (and then refused by the field that cannot hold them)


class ImportFileError(Exception):
    """The file cannot be read as a user list; the message says why, for the admin."""


def file_format_of(name: str) -> str | None:
    lowered = name.lower()
    if lowered.endswith(".csv") or lowered.endswith(".txt"):
        return "csv"
    if lowered.endswith(".xlsx"):
        return "xlsx"
    return None


def rows_read(file: IO[bytes], file_format: str) -> Generator[tuple[int, dict[str, str]]]:
    """The file's data rows as (row number in the file, {column: text}), blank rows left out. Streams: one row in
    memory at a time (openpyxl in read-only mode for .xlsx)."""
    raw_rows = _csv_rows(file) if file_format == "csv" else _xlsx_rows(file)
    try:
        yield from _rows_named(raw_rows)
    finally:
        raw_rows.close()  # while the file is open: the CSV reader lets go of it


def _rows_named(raw_rows: Iterator[list[str]]) -> Iterator[tuple[int, dict[str, str]]]:
    header = next(raw_rows, None)
    if header is None:
        raise ImportFileError("The file is empty: it needs a header row with at least an Email column.")
    columns = [HEADERS.get(str(cell).strip().lower()) for cell in header]
    if "email" not in columns:
        raise ImportFileError(
            "The first row must name the columns, with at least Email (also understood: Name, Role, Aliases, Card, "
            "PIN)."
        )
    for number, cells in enumerate(raw_rows, start=2):
        values = {column: "" for column in COLUMNS if column in columns}
        for column, cell in zip(columns, cells, strict=False):
            if column is not None and cell:
                values[column] = cell.strip()[:MAX_CELL]
        if any(values.values()):
            yield number, values


def _csv_rows(file: IO[bytes]) -> Generator[list[str]]:
    lines = codecs.iterdecode(file, "utf-8-sig")  # line by line, a character split across reads decoded whole
    try:
        first = next(lines, "")
        delimiter = ";" if first.count(";") > first.count(",") else ","
        yield from csv.reader(_chain(first, lines), delimiter=delimiter)
    except csv.Error as exc:
        raise ImportFileError(f"The CSV file cannot be read: {exc}.") from exc
    except UnicodeDecodeError as exc:
        raise ImportFileError("The CSV file is not UTF-8 text: save it as “CSV UTF-8” and upload it again.") from exc


def _chain(first: str, rest: Iterator[str]) -> Iterator[str]:
    yield first
    yield from rest


def _xlsx_rows(file: IO[bytes]) -> Generator[list[str]]:
    from zipfile import BadZipFile

    from openpyxl import load_workbook

    try:
        workbook = load_workbook(file, read_only=True, data_only=True)
    except (BadZipFile, KeyError, ValueError, OSError) as exc:
        raise ImportFileError("The file is not an Excel workbook (.xlsx) that can be read.") from exc
    try:
        sheet = workbook.worksheets[0]
        for row in sheet.iter_rows(values_only=True):
            yield [_cell_text(value) for value in row]
    finally:
        workbook.close()


def _cell_text(value: Any) -> str:
    """A cell as the text it shows: 4711 rather than 4711.0 for a card number typed as a number."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell_safe(value: object) -> str:
    """A cell for a CSV file people open in a spreadsheet: text that starts like a formula (`=cmd|...`, `+`, `-`,
    `@`) gets a leading apostrophe, so the spreadsheet shows it and never runs it (OWASP's CSV injection advice)."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


class Echo:
    """A file-like object whose write returns what it was given: csv.writer into a streaming response."""

    def write(self, value: str) -> str:
        return value


def csv_line(cells: list[object]) -> str:
    return str(csv.writer(Echo()).writerow([cell_safe(cell) for cell in cells]))
