"""
Split checked rows into import requests within the API's per-request limits: CSV files or JSON bodies.

The API processes at most 40,000 contacts of a request (for a file: 40,000 lines, header included) and
its first 4 MB; the rest is silently dropped. So requests are measured on the exact bytes sent:
:func:`iter_csv_chunks` streams ``contacts_file_import`` files to disk one row at a time (UTF-8,
``\\r\\n`` line ends, the header repeated in each file), :func:`iter_json_import_batches` builds
``contacts_json_import`` bodies.
"""

from __future__ import annotations

import csv
import json
import os
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

#: The API processes at most this many contacts per import request and silently drops the rest.
MAX_CONTACTS_PER_REQUEST = 40_000
#: The API processes at most 4 MB of a request and silently drops the rest; stay under both 4 MB and 4 MiB.
MAX_REQUEST_BYTES = 4_000_000

# -- CSV files for contacts_file_import ------------------------------------------------------------------

#: Lines the API reads from one file, the header included.
MAX_CSV_LINES = 40_000
#: Contacts in one file: every line but the header.
MAX_CSV_CONTACTS = MAX_CSV_LINES - 1
#: Bytes of one file the API reads (4 MB; also under 4 MiB).
MAX_FILE_BYTES = MAX_REQUEST_BYTES
#: Lines gathered before one write to the chunk file.
WRITE_LINES = 1024


@dataclass(frozen=True)
class CsvChunk:
    """One CSV file to upload: where it is, its exact size, and the source row of each contact line."""

    number: int
    path: Path | None
    size: int
    row_numbers: array = field(repr=False)  # array('I') of source row numbers, in file order

    @property
    def contact_count(self) -> int:
        return len(self.row_numbers)

    @property
    def file_name(self) -> str:
        return self.path.name if self.path is not None else f"contacts_{self.number:04d}.csv"

    def source_row(self, line: int) -> int | None:
        """Return the source row of the file's ``line`` (1 is the header, 2 the first contact), or ``None``."""
        index = line - 2
        return self.row_numbers[index] if 0 <= index < len(self.row_numbers) else None


class _LineSink:
    """A ``write`` target that hands ``csv.writer`` output back one line at a time."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.write = self.lines.append


def iter_csv_chunks(
    rows: Iterable[tuple[int, Sequence[str]]],
    columns: Sequence[str],
    *,
    directory: str | os.PathLike[str] | None,
    max_contacts: int = MAX_CSV_CONTACTS,
    max_bytes: int = MAX_FILE_BYTES,
    name: str = "contacts",
) -> Iterator[CsvChunk]:
    """
    Write ``rows`` to CSV files of at most ``max_contacts`` contacts and ``max_bytes`` bytes; yield each when done.

    Files are named ``<name>_0001.csv`` ... in ``directory``; with ``directory=None`` nothing is
    written and the chunks are only measured (a dry run gets the same chunks and sizes). A chunk is
    yielded closed and complete, before the next one is started; an unfinished one is removed on error.

    :param rows: ``(source row number, values)`` with values aligned with ``columns``.
    :param columns: the header: import names (``email``, ``cf:shoe_size``, ...).
    :param max_bytes: file size ceiling; lower it for headroom (e.g. for the multipart envelope).
    """
    if not 1 <= max_contacts <= MAX_CSV_CONTACTS:
        raise ValueError(f"max_contacts must be between 1 and {MAX_CSV_CONTACTS} (40,000 lines with the header).")
    sink = _LineSink()
    writer = csv.writer(sink)
    writer.writerow(columns)
    header = sink.lines.pop()
    header_size = len(header.encode("utf-8"))
    if header_size >= max_bytes:
        raise ValueError(f"max_bytes ({max_bytes}) leaves no room for rows after the {header_size}-byte header.")
    folder = Path(directory) if directory is not None else None
    number, size = 0, header_size
    row_numbers = array("I")
    handle: TextIO | None = None
    path: Path | None = None
    pop = sink.lines.pop
    join, separators = ",".join, len(columns) - 1
    pending: list[str] = []  # lines not yet written to the file
    try:
        for row_number, values in rows:
            line = join(values)
            if line.count(",") == separators and '"' not in line and "\n" not in line and "\r" not in line and line:
                line += "\r\n"  # nothing to quote: exactly what csv.writer writes, much faster
            else:
                writer.writerow(values)
                line = pop()
                if line.find("\n") != len(line) - 1 or line.find("\r") != len(line) - 2:
                    raise ValueError(f"Row {row_number} has a line break in a value; an import line must be one line.")
            line_size = len(line) if line.isascii() else len(line.encode("utf-8"))
            if row_numbers and (len(row_numbers) >= max_contacts or size + line_size > max_bytes):
                chunk = _finish(number, path, handle, pending, size, row_numbers)
                handle, path, size, row_numbers = None, None, header_size, array("I")
                yield chunk
            if header_size + line_size > max_bytes:
                raise ValueError(
                    f"Row {row_number} alone is {line_size} bytes; with the header it does not fit in {max_bytes}."
                )
            if not row_numbers:
                number += 1
                if folder is not None:
                    path = folder / f"{name}_{number:04d}.csv"
                    handle = path.open("w", encoding="utf-8", newline="")
                    handle.write(header)
            if handle is not None:
                pending.append(line)
                if len(pending) >= WRITE_LINES:
                    handle.write("".join(pending))
                    pending.clear()
            size += line_size
            row_numbers.append(row_number)
        if row_numbers:
            chunk = _finish(number, path, handle, pending, size, row_numbers)
            handle = None
            yield chunk
    finally:
        if handle is not None:  # an unfinished chunk: never leave a partial file behind
            handle.close()
            if path is not None:
                path.unlink(missing_ok=True)


def _finish(
    number: int, path: Path | None, handle: TextIO | None, pending: list[str], size: int, row_numbers: array
) -> CsvChunk:
    if handle is not None and path is not None:
        handle.write("".join(pending))
        pending.clear()
        handle.close()
        written = path.stat().st_size
        if written != size:  # the measure is the contract; never hand out a file that breaks it
            raise RuntimeError(f"{path} is {written} bytes but was measured as {size}.")
    return CsvChunk(number, path, size, row_numbers)


# -- JSON bodies for contacts_json_import ----------------------------------------------------------------


@dataclass(frozen=True)
class JsonImportBatch:
    """One ``contacts_json_import`` request body, as the exact bytes to send, and the source row of each contact."""

    body: bytes = field(repr=False)
    row_numbers: tuple[int, ...] = field(repr=False)
    #: some contact carries ``sms_number`` (the API then requires ``sms_permission_to_send``)
    sms_numbers: bool = False

    @property
    def contact_count(self) -> int:
        return len(self.row_numbers)


#: One encoder for every record: ``json.dumps`` with options builds a new encoder on each call (0.6 us a record).
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def _dumps(value: Any) -> bytes:
    return _ENCODER.encode(value).encode("utf-8")


def iter_json_import_batches(
    records: Iterable[tuple[int, dict[str, Any]]],
    list_ids: Sequence[str],
    *,
    max_contacts: int = MAX_CONTACTS_PER_REQUEST,
    max_bytes: int = MAX_REQUEST_BYTES,
    sms_permission_to_send: str | None = None,
) -> Iterator[JsonImportBatch]:
    """
    Yield request bodies of at most ``max_contacts`` contacts and at most ``max_bytes`` bytes.

    Sizes are measured on the bytes that will be sent, so the server never has to truncate.

    :param records: ``(source row number, import record)`` pairs.
    :param list_ids: lists every contact is added to (1 to 50).
    :param sms_permission_to_send: ``explicit`` or ``not_set``; the API requires it when records carry ``sms_number``.
    """
    if not 1 <= len(list_ids) <= 50:
        raise ValueError(f"An import adds contacts to 1 to 50 lists; got {len(list_ids)}.")
    if max_contacts < 1 or max_contacts > MAX_CONTACTS_PER_REQUEST:
        raise ValueError(f"max_contacts must be between 1 and {MAX_CONTACTS_PER_REQUEST}.")
    head = b'{"import_data":['
    options: dict[str, Any] = {"list_ids": list(list_ids)}
    if sms_permission_to_send is not None:
        options["sms_permission_to_send"] = sms_permission_to_send
    tail = b"]," + _dumps(options)[1:]
    budget = max_bytes - len(head) - len(tail)
    parts: list[bytes] = []
    rows: list[int] = []
    size = 0
    sms = False
    for row_number, record in records:
        item = _dumps(record)
        if len(item) > budget:
            raise ValueError(f"Row {row_number} alone is {len(item)} bytes, more than one import request can carry.")
        added = len(item) + (1 if parts else 0)
        if parts and (len(parts) >= max_contacts or size + added > budget):
            yield JsonImportBatch(head + b",".join(parts) + tail, tuple(rows), sms)
            parts, rows, size, added, sms = [], [], 0, len(item), False
        parts.append(item)
        rows.append(row_number)
        size += added
        sms = sms or "sms_number" in record
    if parts:
        yield JsonImportBatch(head + b",".join(parts) + tail, tuple(rows), sms)
