"""Map the API's ``Line N: ...`` import errors back to the source rows they came from."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

_LINE_ERROR = re.compile(r"\s*line\s+(\d+)\s*[:\-]?\s*(.*)", re.IGNORECASE | re.DOTALL)


class HasSourceRows(Protocol):
    """A request that knows the source row of each of its lines (:class:`CsvChunk`, :class:`JsonImportBatch`)."""

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
