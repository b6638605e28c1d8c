"""
JSON values streamed out of a text file read in chunks, with the line and column of each for messages.

The readers of :mod:`cc_provider.contacts.json_reader` build on these: memory stays bounded by the
largest single value, never the file.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from cc_provider.contacts.errors import ContactFileError

CHUNK_CHARS = 1 << 16
_BLANKS = " \t\r\n"
_DECODER = json.JSONDecoder()


class ChunkedText:
    """A text file read in chunks: ``buffer[pos:]`` comes next. Tells line and column for messages."""

    def __init__(self, handle: IO[str]) -> None:
        self.handle = handle
        self.buffer = ""
        self.pos = 0
        self.eof = False
        # for messages: the line breaks in the text already dropped from the buffer, and the characters
        # dropped after the last of them (the column the buffer starts at, less one)
        self._lines_before = 0
        self._column_before = 0

    def more(self) -> None:
        """Read the next chunk after ``buffer[pos:]``; at the end of the file, set :attr:`eof`."""
        chunk = self.handle.read(CHUNK_CHARS)
        buffer, pos = self.buffer, self.pos
        newlines = buffer.count("\n", 0, pos)
        if newlines:
            self._lines_before += newlines
            self._column_before = pos - buffer.rfind("\n", 0, pos) - 1
        else:
            self._column_before += pos
        self.buffer, self.pos, self.eof = buffer[pos:] + chunk, 0, not chunk

    def peek(self) -> str:
        """Skip blanks and return the next character (``""`` at the end of the file)."""
        while True:
            buffer, pos = self.buffer, self.pos
            while pos < len(buffer) and buffer[pos] in _BLANKS:
                pos += 1
            self.pos = pos
            if pos < len(buffer):
                return buffer[pos]
            if self.eof:
                return ""
            self.more()

    def where(self, pos: int | None = None) -> str:
        """Return ``"line L, column C"`` of buffer position ``pos`` (default: the current one)."""
        pos = self.pos if pos is None else pos
        newlines = self.buffer.count("\n", 0, pos)
        start = self.buffer.rfind("\n", 0, pos) + 1 if newlines else -self._column_before
        return f"line {self._lines_before + newlines + 1}, column {pos - start + 1}"


def decoder_reason(err: json.JSONDecodeError) -> str:
    """The decoder's message without its dangling position words ("Unterminated string starting at")."""
    return err.msg.removesuffix(" starting at").removesuffix(" at")


def read_value(path: Path, text: ChunkedText, what: str) -> Any:
    """Decode the JSON value at ``text.pos``, reading on while it may go on, and move past it."""
    while True:
        buffer = text.buffer
        try:
            value, end = _DECODER.raw_decode(buffer, text.pos)
        except json.JSONDecodeError as err:
            if text.eof:
                cut = "; the file ends inside it (truncated?)" if err.pos >= len(buffer.rstrip()) else ""
                raise ContactFileError(
                    f"{path}: {text.where(err.pos)}: invalid JSON in {what} ({decoder_reason(err)}){cut}."
                ) from None
            end = -1
        except RecursionError:
            raise ContactFileError(f"{path}: {text.where()}: {what} is nested too deeply to read.") from None
        if end == -1 or (not text.eof and (end == len(buffer) or buffer[end] not in " \t\r\n,]}:")):
            text.more()  # the value may go on in the next chunk
            continue
        text.pos = end
        return value


def iter_array(path: Path, text: ChunkedText, label: str, item: str, closing: str) -> Iterator[Any]:
    """
    Yield the values of the array at ``text`` (its ``[`` next), one at a time, and leave ``text`` after its ``]``.

    ``label`` and ``item`` name the array and its elements in messages; ``closing`` is the last character
    of a whole file (``]`` for a top-level array), to tell a cut-off file.
    """
    decoder = _DECODER
    text.pos += 1
    buffer, pos, index = text.buffer, text.pos, 0
    while True:
        while pos < len(buffer) and buffer[pos] in " \t\r\n,":
            pos += 1
        if pos == len(buffer):
            if text.eof:
                raise ContactFileError(f"{path}: {label} is not closed (after {item} {index}).")
            text.pos = pos
            text.more()
            buffer, pos = text.buffer, text.pos
            continue
        if buffer[pos] == "]":
            text.pos = pos + 1
            return
        try:
            value, end = decoder.raw_decode(buffer, pos)
        except json.JSONDecodeError as err:
            if text.eof:
                cut = not buffer.rstrip().endswith(closing)
                ends = "; the file ends before the array is closed (truncated?)" if cut else ""
                raise ContactFileError(
                    f"{path}: {item} {index + 1}: invalid JSON ({decoder_reason(err)}){ends}."
                ) from None
            end = -1
        except RecursionError:
            raise ContactFileError(f"{path}: {item} {index + 1}: the JSON is nested too deeply to read.") from None
        if end == -1 or (not text.eof and (end == len(buffer) or buffer[end] not in " \t\r\n,]")):
            text.pos = pos  # the value may go on in the next chunk
            text.more()
            buffer, pos = text.buffer, text.pos
            continue
        index += 1
        text.pos = end
        yield value
        pos = end


def iter_lines(path: Path, handle: IO[str]) -> Iterator[dict[str, Any]]:
    """Yield the objects of a JSON Lines file, one a line (blank lines skipped)."""
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
                    "and a file of JSON spread over lines must be one array, [{...}, {...}], or one object"
                )
            raise ContactFileError(
                f"{path}: line {line_number}, column {err.colno}: invalid JSON ({decoder_reason(err)}){hint}."
            ) from None
        except RecursionError:
            raise ContactFileError(f"{path}: line {line_number}: the JSON is nested too deeply to read.") from None
        yield as_object(path, value, f"line {line_number}")


def as_object(path: Path, value: Any, where: str) -> dict[str, Any]:
    """Return ``value`` if it is a JSON object; otherwise raise, naming ``where`` it is."""
    if not isinstance(value, dict):
        raise ContactFileError(f"{path}: {where} is a JSON {type(value).__name__}, not an object.")
    return value
