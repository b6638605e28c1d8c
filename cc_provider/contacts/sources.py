"""
What an import reads, and with which reader: a CSV or JSON file (by suffix, else by its first character), or records.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cc_provider.contacts.csv_reader import CsvFile
from cc_provider.contacts.json_reader import JsonFile

CSV_SUFFIXES = frozenset({".csv", ".tsv", ".txt"})
JSON_SUFFIXES = frozenset({".json", ".jsonl", ".ndjson"})

#: A CSV, JSON or JSON Lines file, a :class:`CsvFile`, or an iterable of mappings (records).
Source = str | os.PathLike[str] | CsvFile | Iterable[Mapping[str, Any]]


@dataclass(frozen=True)
class OpenedSource:
    """
    A source with its reader: a CSV file, or records numbered from 1 (a JSON file's, or given).

    :ivar name: how messages name the source (the file, or ``records``).
    :ivar one_shot: the records come from an iterator, so they can be read only once.
    """

    name: str
    csv: CsvFile | None = None
    json: JsonFile | None = None
    records: Callable[[], Iterator[tuple[int, Mapping[str, Any]]]] | None = None
    one_shot: bool = False


def open_source(
    source: Source,
    *,
    delimiter: str | None = None,
    encoding: str | None = None,
    json_array_key: str | None = None,
    column_map: Mapping[str, str | None] | None = None,
) -> OpenedSource:
    """
    Open ``source`` with the reader it needs (see :class:`~cc_provider.contacts.prepare.PreparedImport`).

    A CSV file's header and a JSON file's layout are read here, so an unusable file fails at once;
    ``delimiter`` and ``encoding`` are for CSV, ``json_array_key`` and ``column_map`` for JSON.
    """
    if isinstance(source, CsvFile):
        csv_file = source
    elif isinstance(source, str | os.PathLike):
        path = Path(source)
        if not is_csv(path):
            json_file = JsonFile(path, json_array_key=json_array_key, column_map=column_map)
            return OpenedSource(str(path), json=json_file, records=lambda: enumerate(json_file.records(), start=1))
        csv_file = CsvFile(path, delimiter=delimiter, encoding=encoding)
    elif isinstance(source, Mapping):
        raise TypeError("source is one mapping; pass an iterable of records (e.g. a list of dicts).")
    else:
        if json_array_key is not None:
            raise ValueError("json_array_key is for JSON files; records are already one record each.")
        return OpenedSource("records", records=lambda: enumerate(source, start=1), one_shot=iter(source) is source)
    if json_array_key is not None:
        raise ValueError(f"json_array_key is for JSON files; {csv_file.path} is read as CSV.")
    return OpenedSource(str(csv_file.path), csv=csv_file)


def is_csv(path: Path) -> bool:
    """Tell whether a file is read as CSV: by its suffix, else unless it starts with ``[`` or ``{``."""
    suffix = path.suffix.lower()
    if suffix in CSV_SUFFIXES:
        return True
    if suffix in JSON_SUFFIXES:
        return False
    with path.open("rb") as raw:
        start = raw.read(64).lstrip(b"\xef\xbb\xbf \t\r\n")
    return not start.startswith((b"[", b"{"))
