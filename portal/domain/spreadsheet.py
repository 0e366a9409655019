"""CSV that a spreadsheet opens as data: no cell, whoever wrote its text, starts a formula.

Excel, LibreOffice and Google Sheets run a cell that starts with `=`, `+`, `-` or `@` (and some
after a tab or a line break) as a formula, so a vendor name such as
`=HYPERLINK("https://evil.example", "Open")` becomes a live link in the reader's sheet. Such a
cell is written with a leading `'`, which the spreadsheet shows as text. Numbers (`-12.50`) stay
numbers. Every CSV Baton writes goes through `writer` here.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from typing import Any, TextIO

#: What a spreadsheet may take for the start of a formula (the full-width forms too, which
#: some spreadsheets read as their ASCII twins).
FORMULA_STARTS = frozenset("=+-@\t\r\n\uff1d\uff0b\uff0d\uff20")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def cell(value: Any) -> str:
    """`value` as a CSV cell's text, with a `'` in front if it would start a formula."""
    text = "" if value is None else str(value)
    if text[:1] in FORMULA_STARTS and not _NUMBER.fullmatch(text):
        return "'" + text
    return text


class Writer:
    """csv.writer whose every cell goes through `cell`."""

    def __init__(self, out: TextIO, **options: Any):
        self._writer = csv.writer(out, **options)

    def writerow(self, row: Iterable[Any]) -> Any:
        return self._writer.writerow([cell(value) for value in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def writer(out: TextIO, **options: Any) -> Writer:
    """A CSV writer for `out` (options as for csv.writer) that never writes a live formula."""
    return Writer(out, **options)
