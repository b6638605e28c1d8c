"""Turn source rows into ``contacts_json_import`` records, rejecting locally what cannot be imported."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from cc_provider.contacts.fields import import_name

INT_FIELDS = frozenset({"birthday_month", "birthday_day"})


@dataclass(frozen=True)
class Rejected:
    """A source row that was not sent, and why."""

    row_number: int
    column: str
    value: str
    reason: str


def format_record(
    row_number: int, row: Mapping[str, Any], column_map: dict[str, str] | None = None
) -> dict[str, Any] | Rejected:
    """
    Map one source row to an import record.

    Blank values are left out (in Constant Contact a blank field never clears stored data), unknown
    columns are ignored, and a row with neither an email nor an SMS number is rejected.
    """
    record: dict[str, Any] = {}
    for column, value in row.items():
        key = import_name(str(column), column_map)
        if key is None or value is None:
            continue
        text = value.strip() if isinstance(value, str) else value
        if text == "":
            continue
        if key in INT_FIELDS:
            try:
                if isinstance(text, bool) or (isinstance(text, float) and not text.is_integer()):
                    raise ValueError(text)
                text = int(text)
            except (TypeError, ValueError, OverflowError):
                return Rejected(row_number, str(column), str(value), f"{key} must be a whole number")
        elif not isinstance(text, str):
            text = str(text)
        record[key] = text
    if "email" not in record and "sms_number" not in record:
        email_column = next((str(c) for c in row if import_name(str(c), column_map) == "email"), "email")
        return Rejected(row_number, email_column, "", "no email address (and no sms_number)")
    return record


def iter_formatted(
    rows: Iterable[Mapping[str, Any]], column_map: dict[str, str] | None = None, first_row_number: int = 1
) -> Iterator[tuple[int, dict[str, Any] | Rejected]]:
    """Yield ``(row_number, record or Rejected)`` for each row, numbering from ``first_row_number``."""
    for row_number, row in enumerate(rows, start=first_row_number):
        yield row_number, format_record(row_number, row, column_map)
