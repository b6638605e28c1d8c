"""
Bytes to text for contact files: the scan for invalid UTF-8, and UTF-8 read line by line with a fallback.

A file that is UTF-8 but for a few rows pasted from a Windows program is read line by line: each line
as UTF-8 when it is valid UTF-8, otherwise as Windows-1252 (or Latin-1, when the line has one of the
five bytes Windows-1252 leaves undefined). So one such row no longer turns every other name into
``JosÃ©``, and the rows that needed the fallback are named (:class:`FallbackRows`).
"""

from __future__ import annotations

import codecs
import os
from collections.abc import Iterator
from typing import BinaryIO

#: bytes read at a time when scanning a file for invalid UTF-8, and when splitting it into lines
SCAN_BYTES = 1 << 20
#: the encodings tried, in order, for a line that is not UTF-8, and how messages name them
FALLBACKS = (("cp1252", "Windows-1252"), ("latin-1", "Latin-1"))
#: rows named in a fallback warning; the others are counted
MAX_NAMED_ROWS = 10


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


def line_of_offset(path: str | os.PathLike[str], offset: int) -> int:
    """Return the 1-based line (``\\n``-separated) of the byte at ``offset`` of a file."""
    newlines = 0
    with open(path, "rb") as raw:
        while offset > 0 and (block := raw.read(min(SCAN_BYTES, offset))):
            newlines += block.count(b"\n")
            offset -= len(block)
    return newlines + 1


def decode_line(line: bytes) -> tuple[str, str | None]:
    """Return ``(text, fallback)``: the line as UTF-8 (fallback ``None``), else in the first fallback that reads it."""
    try:
        return line.decode("utf-8"), None
    except UnicodeDecodeError:
        pass
    for encoding, _ in FALLBACKS[:-1]:
        try:
            return line.decode(encoding), encoding
        except UnicodeDecodeError:
            pass
    encoding = FALLBACKS[-1][0]
    return line.decode(encoding), encoding  # Latin-1 reads any byte


def iter_byte_lines(raw: BinaryIO) -> Iterator[bytes]:
    """
    Yield the lines of a binary file with their line ends (``\\r\\n``, ``\\n`` or ``\\r``, as text mode with
    ``newline=""`` splits them), reading it in blocks: memory is bounded by the longest line.
    """
    parts: list[bytes] = []  # the line read so far, when a block held no line end
    while block := raw.read(SCAN_BYTES):
        if b"\n" not in block and b"\r" not in block:
            parts.append(block)
            continue
        if parts:
            parts.append(block)
            block = b"".join(parts)
        lines = block.splitlines(keepends=True)
        # the last piece may go on in the next block (even after a '\r': '\r\n' may be cut in two)
        parts = [lines.pop()]
        yield from lines
    if parts:
        yield from b"".join(parts).splitlines(keepends=True)


class Utf8Lines:
    """
    The lines of a file as text: UTF-8, else Windows-1252, else Latin-1, decided for each line on its own.

    Use it as a context manager and an iterator of lines (line ends kept, like ``open(newline="")``).
    :attr:`fallback` is the fallback encoding of the lines read since it was last reset to ``None``
    (Latin-1 wins over Windows-1252), so a reader can tell which of its rows needed one.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._raw = open(path, "rb")  # closed by close() / __exit__
        self._lines = iter_byte_lines(self._raw)
        self.fallback: str | None = None

    def __iter__(self) -> Utf8Lines:
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        try:
            return line.decode("utf-8")
        except UnicodeDecodeError:
            text, fallback = decode_line(line)
            if self.fallback is None or fallback == FALLBACKS[-1][0]:
                self.fallback = fallback
            return text

    def close(self) -> None:
        self._raw.close()

    def __enter__(self) -> Utf8Lines:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class FallbackRows:
    """The rows a pass over a file read with a fallback encoding: the first few named, all counted."""

    def __init__(self) -> None:
        self._named: dict[str, list[int]] = {}
        self._counts: dict[str, int] = {}

    def clear(self) -> None:
        """Forget the rows (a new pass starts)."""
        self._named.clear()
        self._counts.clear()

    def note(self, row_number: int, encoding: str) -> None:
        """Record that row ``row_number`` was read as ``encoding``."""
        named = self._named.setdefault(encoding, [])
        if len(named) < MAX_NAMED_ROWS:
            named.append(row_number)
        self._counts[encoding] = self._counts.get(encoding, 0) + 1

    def messages(self, source: str) -> list[str]:
        """Return one warning per fallback used: ``"f.csv: rows 17, 203 are not UTF-8; read as Windows-1252."``."""
        found = []
        for encoding, name in FALLBACKS:
            named = self._named.get(encoding)
            if not named:
                continue
            count = self._counts[encoding]
            rows = ", ".join(map(str, named))
            if count > len(named):
                rows += f" and {count - len(named):,} more"
            subject = f"row {rows} is" if count == 1 else f"rows {rows} are"
            beside = "" if encoding == FALLBACKS[0][0] else f" nor {FALLBACKS[0][1]}"
            found.append(f"{source}: {subject} not UTF-8{beside}; read as {name}.")
        return found
