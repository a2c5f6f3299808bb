"""Workbooks of plain tables through XlsxWriter: one sheet per table, a styled header row.

XlsxWriter writes each row as it comes (`constant_memory`), without an object per cell, so a
study's workbook of a few hundred thousand cells takes a fraction of what openpyxl needs
(openpyxl builds and serialises an object per cell, about 30 µs each). Text is written as
text, never read as a formula, a number or a link.
"""

from __future__ import annotations

import itertools
import math
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import xlsxwriter

#: characters XML 1.0 cannot hold (spreadsheets refuse them); removed from text cells
_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
#: sheet names are at most 31 characters, without : \\ / ? * [ ]
_SHEET_NAME_FORBIDDEN = re.compile(r"[:\\/?*\[\]]")
MAX_SHEET_NAME = 31
#: data rows a sheet holds below its header (Excel's limit is 1,048,576 rows in all)
MAX_SHEET_ROWS = 1_048_575
#: the header row: white bold text on dark blue, top-aligned
_HEADER_FORMAT = {"bold": True, "font_color": "#FFFFFF", "bg_color": "#1F4E79", "valign": "top"}


@dataclass(frozen=True)
class Sheet:
    """One worksheet: a header row, then rows of plain values in the header's order.

    The rows may be a generator: they are written as they come. Past `MAX_SHEET_ROWS` they
    continue on another sheet of the same name and a number ("Answers 2").
    """

    name: str
    header: Sequence[str]
    rows: Iterable[Sequence[Any]]
    #: column widths in characters, one per header column
    widths: Sequence[float]
    #: the rows already written as XML (`row_xml`), in pieces with their number of rows:
    #: used instead of `rows` where the workbook keeps rows in a file (constant memory)
    xml_rows: Iterable[tuple[str, int]] | None = None


@dataclass(frozen=True)
class Continued:
    """A table longer than one sheet: the sheets that hold it, in order, and its row count."""

    table: str
    sheets: tuple[str, ...]
    rows: int


def continued_note(continued: Continued) -> str:
    """The notes sheet's line about a table split across sheets."""
    return (
        f"The table {continued.table} has {continued.rows:,} rows, more than one sheet holds "
        f"({MAX_SHEET_ROWS:,}): it continues on {', '.join(continued.sheets[1:])}."
    )


def column_letter(index: int) -> str:
    """Spreadsheet column name of a 1-based index (1 -> A, 27 -> AA)."""
    letters = ""
    while index > 0:
        index, remainder = divmod(index - 1, 26)
        letters = chr(65 + remainder) + letters
    return letters


def sheet_names(names: Iterable[str]) -> list[str]:
    """Valid, distinct sheet names: forbidden characters dropped, cut to 31 characters."""
    found: list[str] = []
    for raw in names:
        name = _SHEET_NAME_FORBIDDEN.sub("", raw)[:MAX_SHEET_NAME] or "Sheet"
        candidate, counter = name, 1
        while candidate.lower() in {f.lower() for f in found}:
            counter += 1
            suffix = f" {counter}"
            candidate = name[: MAX_SHEET_NAME - len(suffix)] + suffix
        found.append(candidate)
    return found


def _clean(text: str) -> str:
    """Text without the characters XML cannot hold (most text has none: one scan, no copy)."""
    return _ILLEGAL.sub("", text) if _ILLEGAL.search(text) else text


def _write_row(worksheet: Any, row: int, values: Sequence[Any]) -> None:
    """One row through XlsxWriter's typed writers, each cell by its type; empty and non-finite
    values leave the cell empty."""
    for column, value in enumerate(values):
        _write_cell(worksheet, row, column, value)


def _write_cell(worksheet: Any, row: int, column: int, value: Any) -> None:
    """One cell of any other type (subclasses of str and numbers, dates, enums)."""
    if value is None or value == "":
        return
    if isinstance(value, bool):
        worksheet.write_boolean(row, column, value)
    elif isinstance(value, int | float):
        if math.isfinite(value):
            worksheet.write_number(row, column, value)
    else:
        if isinstance(value, datetime | date):
            value = value.isoformat()
        worksheet.write_string(row, column, _clean(str(value)))


#: an XlsxWriter escape sequence typed as text, escaped in turn (as XlsxWriter does)
_ESCAPE_LIKE = re.compile("(_x[0-9a-fA-F]{4}_)")
_EDGE_SPACE = re.compile(r"^\s|\s$")


def _cell_xml(value: Any) -> str | None:
    """The part of a `<c>` element after its reference, as XlsxWriter writes it in constant
    memory mode (inline strings); None for an empty cell."""
    kind = type(value)
    if kind is not str and kind is not bool and kind is not int and kind is not float:
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            value = bool(value)
        elif isinstance(value, int | float):
            value = float(value)
        else:
            value = value.isoformat() if isinstance(value, datetime | date) else str(value)
        kind = type(value)
    if kind is str:
        if not value:
            return None
        text = _clean(value)
        if "_x" in text:
            text = _ESCAPE_LIKE.sub(r"_x005F\1", text)
        if "\r" in text:
            text = text.replace("\r", "_x000D_")
        if "&" in text or "<" in text or ">" in text:
            text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        space = ' xml:space="preserve"' if _EDGE_SPACE.search(text) else ""
        return f' t="inlineStr"><is><t{space}>{text}</t></is></c>'
    if kind is bool:
        return f' t="b"><v>{int(value)}</v></c>'
    if not math.isfinite(value):
        return None
    return f"><v>{value:.16G}</v></c>"


def row_cell(value: Any) -> str:
    """A value as a `<c>` element of a row written without references (`row_xml`): the cells
    follow one another from column A, an empty one as <c/>."""
    written = _cell_xml(value)
    return "<c/>" if written is None else "<c" + written


def row_xml(values: Sequence[Any]) -> str:
    """A row as XML without row or cell references: a reader takes each row as the one after
    the previous and each cell as the next column (the spreadsheet schema makes both
    references optional), so rows can be written by whoever reads them, the database included.
    """
    return "<row>" + "".join(row_cell(value) for value in values) + "</row>"


#: texts up to this long are remembered as cells by `_stream_rows` (bounded by the distinct
#: short texts of one table)
_REPEATED_TEXT = 40
_REMEMBERED = 50_000  #: at most this many (short free texts are mostly unique)
_EMPTY_CELL = "<c/>"
_BOOLEAN_CELLS = (row_cell(False), row_cell(True))


def _stream_rows(worksheet: Any, rows: Iterator[Sequence[Any]], limit: int) -> int:
    """Write up to `limit` rows below the header as XML into the worksheet's row file; how many.

    The rows are written as `row_xml` writes them (no references: each row is the one after
    the previous, each cell the next column), one string per row: through XlsxWriter's
    per-cell calls a large answers table spent about 6 µs a cell, here well under 1. Short
    texts and whole numbers repeat down a column (pseudonyms, groups, keys, ratings), so each
    is made once. The header (row 0) is written out first; the dimensions are set afterwards
    so that the sheet's range and filter cover the rows.
    """
    worksheet._write_single_row(1)  # the header row, written out before ours
    target = worksheet.row_data_fh
    widest = 0
    number = 0
    # short texts and whole numbers (never true or false: their type is bool) made once each
    made: dict[str | int, str] = {}
    for values in itertools.islice(rows, limit):
        number += 1
        cells: list[str] = []
        append = cells.append
        for value in values:
            kind = type(value)
            if value is None:
                append(_EMPTY_CELL)
            elif (kind is str and len(value) <= _REPEATED_TEXT) or kind is int:
                cell = made.get(value)
                if cell is None:
                    cell = row_cell(value)
                    if len(made) < _REMEMBERED:
                        made[value] = cell
                append(cell)
            elif kind is bool:
                append(_BOOLEAN_CELLS[value])
            else:
                append(row_cell(value))
        # trailing empty cells are left out (a row may be empty: it still counts as a row)
        while cells and cells[-1] == _EMPTY_CELL:
            cells.pop()
        if len(cells) > widest:
            widest = len(cells)
        target.write("<row>" + "".join(cells) + "</row>")
    if number:
        worksheet._check_dimensions(number, max(widest - 1, 0))
        worksheet.previous_row = number
    return number


def _stream_xml(
    worksheet: Any, pieces: Iterator[tuple[str, int]], limit: int, columns: int
) -> tuple[int, tuple[str, int] | None]:
    """Write rows already made as XML below the header, up to `limit`; how many, and the rest
    of a piece that did not fit (it starts the next sheet)."""
    worksheet._write_single_row(1)  # the header row, written out before ours
    target = worksheet.row_data_fh
    number = 0
    rest: tuple[str, int] | None = None
    for text, count in pieces:
        if number + count > limit:
            room = limit - number
            cut = _after_rows(text, room)
            target.write(text[:cut])
            number += room
            rest = (text[cut:], count - room)
            break
        target.write(text)
        number += count
    if number:
        worksheet._check_dimensions(number, max(columns - 1, 0))
        worksheet.previous_row = number
    return number, rest


def _after_rows(text: str, rows: int) -> int:
    """The index just after the `rows`-th row of XML rows (text cannot hold "</row>": its
    "<" is always escaped)."""
    end = 0
    for _ in range(rows):
        end = text.index("</row>", end) + len("</row>")
    return end


def _can_stream(worksheet: Any) -> bool:
    """Whether this XlsxWriter worksheet keeps rows in a file we can add to (constant memory)."""
    return bool(
        getattr(worksheet, "constant_memory", False)
        and getattr(worksheet, "row_data_fh", None) is not None
        and hasattr(worksheet, "_write_single_row")
        and hasattr(worksheet, "_check_dimensions")
    )


def xlsx_bytes(
    sheets: Sequence[Sheet], *, note: Callable[[Continued], str] = continued_note
) -> bytes:
    """A workbook (.xlsx) holding these sheets, in order (see `write_xlsx`)."""
    with tempfile.TemporaryDirectory(prefix="xlsx-") as folder:
        path = Path(folder) / "workbook.xlsx"
        write_xlsx(path, sheets, note=note)
        return path.read_bytes()


def write_xlsx(
    path: Path,
    sheets: Sequence[Sheet],
    *,
    note: Callable[[Continued], str] = continued_note,
    fast: bool = True,
) -> list[Continued]:
    """Write a workbook of these sheets to `path`, row by row in constant memory.

    A table longer than a sheet continues on the next sheets; a last "Notes" sheet then says
    where (one line per such table, from `note`). Returns the tables that continued.
    `fast` False writes every cell through XlsxWriter's own calls (the tests compare both).
    """
    options = {
        # each row goes to a temporary file as it is written (in_memory would turn this off
        # and keep an object per cell)
        "constant_memory": True,
        "tmpdir": str(path.parent),
        # text stays text: no formulas, numbers or links guessed from what an expert wrote
        "strings_to_formulas": False,
        "strings_to_numbers": False,
        "strings_to_urls": False,
    }
    workbook = xlsxwriter.Workbook(str(path), options)

    def write(worksheet: Any, rows: Iterator[Sequence[Any]]) -> int:
        if fast and _can_stream(worksheet):
            return _stream_rows(worksheet, rows, MAX_SHEET_ROWS)
        number = 0
        for values in itertools.islice(rows, MAX_SHEET_ROWS):
            number += 1
            _write_row(worksheet, number, values)
        return number

    header_format = workbook.add_format(_HEADER_FORMAT)
    names = sheet_names(s.name for s in sheets)
    taken = {name.lower() for name in names}
    continued: list[Continued] = []

    def start(name: str, sheet: Sheet) -> Any:
        worksheet = workbook.add_worksheet(name)
        for column, width in enumerate(sheet.widths):
            worksheet.set_column(column, column, width)
        for column, title in enumerate(sheet.header):
            worksheet.write_string(0, column, _clean(str(title)), header_format)
        worksheet.freeze_panes(1, 0)
        return worksheet

    def finish(worksheet: Any, rows: int, sheet: Sheet) -> None:
        # the filter's range is only written when the workbook closes: set once the rows are known
        if rows and sheet.header:
            worksheet.autofilter(0, 0, rows, len(sheet.header) - 1)

    for name, sheet in zip(names, sheets, strict=True):
        if sheet.xml_rows is not None and fast:
            worksheet = start(name, sheet)
            if _can_stream(worksheet):
                pieces = iter(sheet.xml_rows)
                held = [name]
                number, rest = _stream_xml(worksheet, pieces, MAX_SHEET_ROWS, len(sheet.header))
                total = number
                finish(worksheet, number, sheet)
                while rest is not None:
                    held.append(_next_name(name, len(held) + 1, taken))
                    worksheet = start(held[-1], sheet)
                    resumed = itertools.chain([rest], pieces)
                    number, rest = _stream_xml(
                        worksheet, resumed, MAX_SHEET_ROWS, len(sheet.header)
                    )
                    total += number
                    finish(worksheet, number, sheet)
                if len(held) > 1:
                    continued.append(Continued(name, tuple(held), total))
                continue
            raise ValueError("rows written as XML need a workbook in constant memory mode")
        rows: Iterator[Sequence[Any]] = iter(sheet.rows)
        held = [name]
        worksheet = start(name, sheet)
        number = write(worksheet, rows)
        total = number
        finish(worksheet, number, sheet)
        while (following := next(rows, None)) is not None:
            held.append(_next_name(name, len(held) + 1, taken))
            worksheet = start(held[-1], sheet)
            number = write(worksheet, itertools.chain([following], rows))
            total += number
            finish(worksheet, number, sheet)
        if len(held) > 1:
            continued.append(Continued(name, tuple(held), total))
    if continued:
        notes = workbook.add_worksheet(_next_name("Notes", 1, taken))
        notes.set_column(0, 0, 100)
        notes.write_string(0, 0, "note", header_format)
        for number, entry in enumerate(continued, start=1):
            notes.write_string(number, 0, _clean(note(entry)))
    workbook.close()
    return continued


def _next_name(name: str, counter: int, taken: set[str]) -> str:
    """A free sheet name for the `counter`-th sheet of a table ("Answers 2"), noted as taken."""
    while True:
        suffix = f" {counter}" if counter > 1 else ""
        candidate = name[: MAX_SHEET_NAME - len(suffix)] + suffix
        if candidate.lower() not in taken:
            taken.add(candidate.lower())
            return candidate
        counter += 1
