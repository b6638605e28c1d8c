"""Streaming readers and writers for contact files (JSON arrays, JSON Lines, rejects CSV).

CSV contact files are read by :mod:`cc_provider.contacts.csv_files`.
"""

from __future__ import annotations

import codecs
import csv
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, BinaryIO

from cc_provider.contacts.errors import ContactFileError
from cc_provider.contacts.rules import Rejected

__all__ = ["REJECTS_HEADER", "ContactFileError", "RejectsWriter", "iter_json_records", "spreadsheet_safe"]

CHUNK_CHARS = 1 << 16
#: bytes read at a time when scanning a file for invalid UTF-8
SCAN_BYTES = 1 << 20
REJECTS_HEADER = ("row_number", "column", "value", "reason")
#: A cell starting with one of these is a formula in spreadsheet programs (CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
#: Longest value written to the rejects file; longer ones are cut, saying how long they were (a 10 MB
#: value would make the file unreadable by ``csv`` (128 KiB a field) and by spreadsheets (32,767 a cell)).
MAX_REJECT_VALUE_CHARS = 1000


def iter_json_records(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """
    Yield the objects of a JSON array file or a JSON Lines file, one at a time.

    The format is told from the first non-blank character (``[`` means an array). Memory stays
    bounded by the largest single record, not the file.
    """
    path = Path(path)
    try:
        with path.open(encoding="utf-8-sig") as handle:
            first = _first_char(handle)
            handle.seek(0)
            if first == "[":
                yield from _iter_array(path, handle)
            elif first:
                yield from _iter_lines(path, handle)
    except UnicodeDecodeError:
        raise ContactFileError(f"{path}: not UTF-8 text (first bad byte at offset {_bad_offset(path)}).") from None


def _bad_offset(path: Path) -> int | None:
    with path.open("rb") as raw:
        return first_non_utf8_offset(raw)


def first_non_utf8_offset(raw: BinaryIO) -> int | None:
    """Return the offset of the first byte of ``raw`` that is not valid UTF-8, or ``None`` (reads it all)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    consumed = 0
    while True:
        block = raw.read(SCAN_BYTES)
        pending = len(decoder.getstate()[0])
        if block and not pending and block.isascii():
            consumed += len(block)
            continue
        try:
            decoder.decode(block, final=not block)
        except UnicodeDecodeError as err:
            return consumed - pending + err.start
        if not block:
            return None
        consumed += len(block)


def _first_char(handle: IO[str]) -> str:
    while chunk := handle.read(CHUNK_CHARS):
        stripped = chunk.lstrip()
        if stripped:
            return stripped[0]
    return ""


def _reason(err: json.JSONDecodeError) -> str:
    """The decoder's message without its dangling position words ("Unterminated string starting at")."""
    return err.msg.removesuffix(" starting at").removesuffix(" at")


def _iter_lines(path: Path, handle: IO[str]) -> Iterator[dict[str, Any]]:
    for line_number, line in enumerate(handle, start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as err:
            hint = ""
            if err.pos >= len(line.rstrip()):  # the value goes on past the end of the line
                hint = (
                    "; the line ends inside a JSON value: JSON Lines has one whole object per line, "
                    "and a file of JSON spread over lines must be one array, [{...}, {...}]"
                )
            raise ContactFileError(
                f"{path}: line {line_number}, column {err.colno}: invalid JSON ({_reason(err)}){hint}."
            ) from None
        except RecursionError:
            raise ContactFileError(f"{path}: line {line_number}: the JSON is nested too deeply to read.") from None
        yield _as_object(path, value, f"line {line_number}")


def _iter_array(path: Path, handle: IO[str]) -> Iterator[dict[str, Any]]:
    decoder = json.JSONDecoder()
    buffer, pos, eof, index = "", 0, False, 0
    opened = False
    while True:
        while pos < len(buffer) and buffer[pos] in " \t\r\n,":
            pos += 1
        if pos == len(buffer) and not eof:
            chunk = handle.read(CHUNK_CHARS)
            buffer, pos, eof = chunk, 0, not chunk
            continue
        if not opened:  # the first non-blank character is the opening bracket
            opened, pos = True, pos + 1
            continue
        if pos == len(buffer):
            raise ContactFileError(f"{path}: the JSON array is not closed (after record {index}).")
        if buffer[pos] == "]":
            return
        try:
            value, end = decoder.raw_decode(buffer, pos)
        except json.JSONDecodeError as err:
            if eof:
                ends = (
                    "" if buffer.rstrip().endswith("]") else "; the file ends before the array is closed (truncated?)"
                )
                raise ContactFileError(f"{path}: record {index + 1}: invalid JSON ({_reason(err)}){ends}.") from None
            end = -1
        except RecursionError:
            raise ContactFileError(f"{path}: record {index + 1}: the JSON is nested too deeply to read.") from None
        if end == -1 or (not eof and (end == len(buffer) or buffer[end] not in " \t\r\n,]")):
            # the record may continue in the next chunk
            chunk = handle.read(CHUNK_CHARS)
            buffer, pos, eof = buffer[pos:] + chunk, 0, not chunk
            continue
        index += 1
        yield _as_object(path, value, f"record {index}")
        pos = end


def _as_object(path: Path, value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ContactFileError(f"{path}: {where} is a JSON {type(value).__name__}, not an object.")
    return value


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
