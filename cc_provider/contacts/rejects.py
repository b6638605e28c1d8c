"""
The rejects file: a CSV of the rows that were not sent, and why, with the API's rejections added after.

A row is rejected locally (:class:`Rejected`, written by :class:`RejectsWriter`), or by the API after the
import, whose ``Line N: ...`` errors :func:`map_activity_errors` ties back to the source rows.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

REJECTS_HEADER = ("row_number", "column", "value", "reason")
#: A cell starting with one of these is a formula in spreadsheet programs (CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
#: Longest value written to the rejects file; longer ones are cut, saying how long they were (a 10 MB
#: value would make the file unreadable by ``csv`` (128 KiB a field) and by spreadsheets (32,767 a cell)).
MAX_REJECT_VALUE_CHARS = 1000
_LINE_ERROR = re.compile(r"\s*line\s+(\d+)\s*[:\-]?\s*(.*)", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True)
class Rejected:
    """A problem that keeps a source row from being sent: where it is, the value, and why.

    ``code`` is a stable reason code for counting (see :mod:`cc_provider.contacts.rules`); it is not compared.
    """

    row_number: int
    column: str
    value: str
    reason: str
    code: str = field(default="", compare=False)


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


# -- the API's rejections ----------------------------------------------------------------------------


class HasSourceRows(Protocol):
    """A request that knows the source row of each of its lines (e.g. a :class:`~.uploads.CsvChunk`)."""

    def source_row(self, line: int) -> int | None: ...


@dataclass(frozen=True)
class RowError:
    """An import error of the API, tied to a source row when its message names a line of the request."""

    row_number: int | None
    line: int | None
    message: str


def parse_line_error(message: str) -> tuple[int, str] | None:
    """Return ``(line, rest of the message)`` for ``"Line 7: Invalid birthday"``, else ``None``."""
    match = _LINE_ERROR.fullmatch(message)
    return (int(match.group(1)), match.group(2).strip()) if match else None


def map_activity_errors(messages: Iterable[str], request: HasSourceRows) -> list[RowError]:
    """
    Tie each ``activity_errors`` message of one import to a source row.

    For a CSV chunk, line 1 is the header and line 2 the first contact; for a JSON body, line 1 is
    the first element of ``import_data``. Messages without a line (or with a line outside the
    request) keep ``row_number=None``.
    """
    mapped: list[RowError] = []
    for message in messages:
        parsed = parse_line_error(message)
        if parsed is None:
            mapped.append(RowError(None, None, message.strip()))
            continue
        line, detail = parsed
        mapped.append(RowError(request.source_row(line), line, detail))
    return mapped
