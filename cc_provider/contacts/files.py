"""The rejects file (a CSV of the rows that were not sent, and why), and the readers' shared names.

CSV contact files are read by :mod:`cc_provider.contacts.csv_files`, JSON ones by
:mod:`cc_provider.contacts.json_files` (:func:`iter_json_records` is re-exported here).
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from cc_provider.contacts.errors import ContactFileError
from cc_provider.contacts.json_files import JsonFile, iter_json_records
from cc_provider.contacts.rules import Rejected

__all__ = [
    "REJECTS_HEADER",
    "ContactFileError",
    "JsonFile",
    "RejectsWriter",
    "iter_json_records",
    "spreadsheet_safe",
]

REJECTS_HEADER = ("row_number", "column", "value", "reason")
#: A cell starting with one of these is a formula in spreadsheet programs (CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
#: Longest value written to the rejects file; longer ones are cut, saying how long they were (a 10 MB
#: value would make the file unreadable by ``csv`` (128 KiB a field) and by spreadsheets (32,767 a cell)).
MAX_REJECT_VALUE_CHARS = 1000


def spreadsheet_safe(text: str) -> str:
    """Prefix ``'`` to text a spreadsheet would run as a formula (starting with ``= + - @``, tab or CR)."""
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


class RejectsWriter:
    """
    Write rejected rows to a CSV file (``row_number, column, value, reason``) as they come.

    Columns and values that a spreadsheet would take for a formula (``= + - @``, tab, CR) are written
    with a leading ``'`` (see :func:`spreadsheet_safe`), so opening the file never runs user data.
    Values longer than :data:`MAX_REJECT_VALUE_CHARS` are cut, with their length noted.
    With ``append=True`` rows are added to an existing file (e.g. the API's errors after the local ones).
    """

    def __init__(self, path: str | os.PathLike[str], *, append: bool = False) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        has_header = append and self.path.exists() and self.path.stat().st_size > 0
        self._handle = self.path.open("a" if append else "w", newline="", encoding="utf-8")
        self._writer = csv.writer(self._handle)
        if not has_header:
            self._writer.writerow(REJECTS_HEADER)
        self.count = 0

    def write(self, rejected: Rejected) -> None:
        value = rejected.value
        if len(value) > MAX_REJECT_VALUE_CHARS:
            value = f"{value[:MAX_REJECT_VALUE_CHARS]}... ({len(value):,} characters)"
        self._writer.writerow(
            (rejected.row_number, spreadsheet_safe(rejected.column), spreadsheet_safe(value), rejected.reason)
        )
        self.count += 1

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> RejectsWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
