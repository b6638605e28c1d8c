"""
Streaming CSV contact files: the encoding and delimiter found once, then one row at a time.

Row numbers are spreadsheet row numbers: the header is row 1 and the first contact row 2, and
blank rows keep their numbers, so a row number points at the same row in any spreadsheet program.

Encodings: a BOM names UTF-8, UTF-16 or UTF-32. Without one, a file that is all UTF-8 is read as
UTF-8; otherwise it is read line by line (:data:`UTF8_PER_LINE`): UTF-8 where a line is UTF-8, and
Windows-1252 (or Latin-1) for the lines that are not, which a warning names by row.

Excel's ``sep=;`` first line (its hint for the delimiter) is honoured: that delimiter is used, unless
one is given, and the line is skipped, so the header is row 1, as Excel shows it (line numbers in
messages still count it).
"""

from __future__ import annotations

import codecs
import csv
import os
import re
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import TextIO

from cc_provider.contacts.decoding import FallbackRows, Utf8Lines, decode_line, first_non_utf8_offset
from cc_provider.contacts.errors import ContactFileError

#: Characters looked at to find the delimiter.
SNIFF_CHARS = 1 << 16
DELIMITERS = ",;\t|"
#: The encoding of a file without a BOM that is not all UTF-8: each line UTF-8, else Windows-1252 (or Latin-1).
UTF8_PER_LINE = "utf-8/windows-1252 by line"
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_QUOTED = re.compile(r'"[^"]*"')
#: Excel's first-line hint, ``sep=;`` (any one character), with its line end.
_SEP_LINE = re.compile(r"sep=([^\r\n])(?:\r\n|\r|\n|\Z)", re.IGNORECASE)


def detect_encoding(path: str | os.PathLike[str]) -> str:
    """
    Return the encoding to read a text file with, reading it once in blocks.

    A BOM names UTF-8, UTF-16 or UTF-32; otherwise ``"utf-8"`` if the whole file is UTF-8, else
    :data:`UTF8_PER_LINE` (each line UTF-8 if it can be, else Windows-1252 or Latin-1).
    """
    with open(path, "rb") as raw:
        head = raw.read(4)
        for bom, encoding in _BOMS:
            if head.startswith(bom):
                return encoding
        raw.seek(0)
        return "utf-8" if first_non_utf8_offset(raw) is None else UTF8_PER_LINE


def sniff_delimiter(sample: str) -> str:
    """
    Return the delimiter of a CSV sample: one of ``, ; TAB |``.

    The header line decides when only one candidate appears in it (outside quotes); otherwise
    :class:`csv.Sniffer` looks at whole lines, and failing that the most frequent candidate wins.
    A single-column file is comma-separated.
    """
    header = _QUOTED.sub("", sample.split("\n", 1)[0])
    counts = {d: header.count(d) for d in DELIMITERS if d in header}
    if len(counts) == 1:
        return next(iter(counts))
    if not counts:
        return ","
    whole_lines = sample[: sample.rfind("\n") + 1] or sample
    try:
        delimiter = csv.Sniffer().sniff(whole_lines, delimiters=DELIMITERS).delimiter
    except csv.Error:
        delimiter = ""
    return delimiter if delimiter in counts else max(counts, key=counts.__getitem__)


class _QuotedRecords:
    """A strict ``csv.reader`` fed one line at a time, reading on from the file while a quoted field goes on."""

    def __init__(self, handle: Iterator[str], delimiter: str) -> None:
        self._handle = handle
        self._first: str | None = None
        self._reader = csv.reader(self, delimiter=delimiter, strict=True)
        #: The first line of the current record (for error messages).
        self.first_line = ""
        #: Lines the current record has taken so far.
        self.lines_read = 0

    def __iter__(self) -> _QuotedRecords:
        return self

    def __next__(self) -> str:
        self.lines_read += 1
        line, self._first = self._first, None
        return line if line is not None else next(self._handle)

    def parse(self, line: str) -> tuple[list[str], int]:
        """Return the fields of the record that starts with ``line``, and how many lines it took."""
        self._first, self.lines_read, self.first_line = line, 0, line
        fields = next(self._reader)
        return fields, self.lines_read


class CsvFile:
    """
    A CSV contact file, read as a stream (memory bounded by one row, however long the file).

    The encoding (``encoding=None``: detected, see :func:`detect_encoding`) and the delimiter
    (``delimiter=None``: Excel's ``sep=`` line, else sniffed) are found once; the header is read at
    once, so a file that cannot be read at all fails here. Problems raise :class:`ContactFileError`
    naming the file and row.

    :ivar blank_rows: rows without any value skipped by the last :meth:`rows` pass.
    """

    def __init__(
        self, path: str | os.PathLike[str], *, delimiter: str | None = None, encoding: str | None = None
    ) -> None:
        self.path = Path(path)
        self._notes: list[str] = []
        self._fallback_rows = FallbackRows()
        self.encoding = encoding if encoding is not None else detect_encoding(self.path)
        if delimiter is not None and len(delimiter) != 1:
            raise ValueError(f"delimiter must be one character; got {delimiter!r}.")
        sample = self._sample()
        hint = _SEP_LINE.match(sample)
        self._sep_line = hint is not None
        if hint is not None:
            line = hint.group().rstrip("\r\n")
            if delimiter is None or delimiter == hint.group(1):
                self._notes.append(
                    f"{self.path}: the first line {line!r} (Excel's delimiter hint) sets the delimiter "
                    f"{hint.group(1)!r}; it is skipped, so the header is the next line (row 1)."
                )
            else:
                self._notes.append(
                    f"{self.path}: the first line {line!r} (Excel's delimiter hint) is skipped; the delimiter "
                    f"given, {delimiter!r}, is used."
                )
            delimiter = delimiter or hint.group(1)
            sample = sample[hint.end() :]
        self.delimiter = delimiter or sniff_delimiter(sample)
        self.blank_rows = 0
        self.header: tuple[str, ...] = ()
        records = self._records()
        try:
            first = next(records, None)
        finally:
            records.close()
        self.header = tuple(name.strip() for name in first[1]) if first else ()
        if not self.header:
            raise ContactFileError(f"{self.path}: the file is empty; expected a header row such as 'email,first_name'.")

    @property
    def warnings(self) -> list[str]:
        """What the reader had to guess, for the caller to log: the ``sep=`` line, the rows read as Windows-1252.

        The rows are those of the last pass (the header's after ``__init__``, every row's after :meth:`rows`).
        """
        return [*self._notes, *self._fallback_rows.messages(str(self.path))]

    def _open(self) -> TextIO | Utf8Lines:
        if self.encoding == UTF8_PER_LINE:
            return Utf8Lines(self.path)
        return self.path.open(encoding=self.encoding, newline="")

    def _sample(self) -> str:
        if self.encoding == UTF8_PER_LINE:
            with open(self.path, "rb") as raw:
                head = raw.read(SNIFF_CHARS)
            return "".join(decode_line(line)[0] for line in head.splitlines(keepends=True))
        try:
            with self.path.open(encoding=self.encoding, newline="") as handle:
                sample = handle.read(SNIFF_CHARS)
        except UnicodeDecodeError as err:
            raise ContactFileError(f"{self.path}: not {self.encoding} text ({err.reason}).") from None
        return sample

    def _records(self, *, after_header: bool = False) -> Generator[tuple[int, list[str], bool], None, None]:
        """
        Yield ``(row_number, fields, spans_lines)`` for every non-blank record (from the first after the header).

        A line without a quote is split on the delimiter (it means the same to ``csv``, and is much
        faster); a line with one is parsed by ``csv`` (strict), which reads on while a quoted field
        holds a line break. Past the header, every record must have the header's field count.
        Rows read with a fallback encoding are noted for :attr:`warnings`.
        """
        row_number = extra_lines = 0  # line number = row_number + extra_lines (the sep= line, quoted line breaks)
        width = len(self.header) if after_header else -1
        delimiter, limit = self.delimiter, csv.field_size_limit()
        fallback_rows = self._fallback_rows
        fallback_rows.clear()
        with self._open() as handle:
            per_line = handle if isinstance(handle, Utf8Lines) else None
            quoted = _QuotedRecords(handle, delimiter)
            try:
                if self._sep_line:
                    next(handle, None)
                    extra_lines = 1
                if after_header:
                    row_number, extra_lines = self._skip_header(handle, quoted, extra_lines, per_line)
                for line in handle:
                    row_number += 1
                    if '"' in line or len(line) > limit:
                        fields, lines = quoted.parse(line)
                        extra_lines += lines - 1
                        spans_lines = lines > 1
                    else:
                        fields = line.rstrip("\r\n").split(delimiter)
                        spans_lines = False
                    if per_line is not None and per_line.fallback is not None:
                        fallback_rows.note(row_number, per_line.fallback)
                        per_line.fallback = None
                    if "\x00" in line or (spans_lines and "\x00" in "".join(fields)):
                        start = row_number + extra_lines - (lines - 1 if spans_lines else 0)
                        raise ContactFileError(self._nul_message(row_number, start, fields))
                    if len(fields) == width or width < 0:
                        if any(fields):
                            yield row_number, fields, spans_lines
                        else:
                            self.blank_rows += 1
                    elif any(map(str.strip, fields)):
                        raise ContactFileError(self._field_count_message(row_number, len(fields)))
                    else:
                        self.blank_rows += 1
            except csv.Error as err:
                line_number = row_number + extra_lines + quoted.lines_read - 1
                raise ContactFileError(self._describe(err, row_number, line_number, quoted.first_line)) from None
            except UnicodeDecodeError as err:
                raise ContactFileError(
                    f"{self.path}: row {row_number}: not {self.encoding} text ({err.reason})."
                ) from None

    def _skip_header(
        self, handle: Iterator[str], quoted: _QuotedRecords, extra_lines: int, per_line: Utf8Lines | None
    ) -> tuple[int, int]:
        """Read up to the header (the first non-blank record); return ``(its row number, extra lines so far)``."""
        row_number = 0
        for line in handle:
            row_number += 1
            fields, lines = quoted.parse(line)
            extra_lines += lines - 1
            if per_line is not None and per_line.fallback is not None:
                self._fallback_rows.note(row_number, per_line.fallback)
                per_line.fallback = None
            if any(fields):
                break
        self.blank_rows = 0
        return row_number, extra_lines

    def _describe(self, err: csv.Error, row_number: int, line: int, first_line: str) -> str:
        where = f"{self.path}: row {row_number} (line {line})"
        text = str(err)
        if "field larger than field limit" in text:
            limit = csv.field_size_limit()
            column = self._long_field_column(first_line, limit)
            return f"{where}: a field is longer than {limit:,} characters{column} (an unclosed quote?)."
        if "unexpected end of data" in text:
            return f"{where}: a quoted field is never closed (a '\"' opens it and the file ends)."
        if "expected after" in text:
            return f"{where}: {text} (a '\"' inside a quoted field must be doubled as '\"\"')."
        return f"{where}: {text}."

    def _column_name(self, index: int) -> str:
        return repr(self.header[index]) if index < len(self.header) else str(index + 1)

    def _long_field_column(self, first_line: str, limit: int) -> str:
        """Return ``", in column 'x'"`` for the field of a record's first line that opens a quote or is too long."""
        masked = _QUOTED.sub(lambda match: "x" * len(match.group()), first_line)  # closed quotes: no delimiters
        opened = masked.find('"')
        if opened >= 0:
            index: int | None = masked.count(self.delimiter, 0, opened)
        else:
            parts = masked.rstrip("\r\n").split(self.delimiter)
            index = next((i for i, part in enumerate(parts) if len(part) > limit), None)
        return f", in column {self._column_name(index)}" if index is not None else ""

    def _nul_message(self, row_number: int, line: int, fields: list[str]) -> str:
        index = next((i for i, field in enumerate(fields) if "\x00" in field), 0)
        text = "".join(fields)
        utf16 = text.count("\x00") * 4 >= len(text)  # every other character: UTF-16 read as a byte encoding
        hint = "; is it UTF-16 without a BOM? Then pass encoding='utf-16-le' or 'utf-16-be'" if utf16 else ""
        return (
            f"{self.path}: row {row_number} (line {line}), column {self._column_name(index)}: "
            f"NUL characters, which text never has{hint}."
        )

    def rows(self) -> Iterator[tuple[int, list[str], bool]]:
        """
        Yield ``(row_number, fields, spans_lines)`` for each contact row; may be called again for another pass.

        ``spans_lines`` is true when a quoted field holds a line break. Rows without any value (a
        blank line, ``,,,``; with another field count than the header, also whitespace only) are
        skipped and counted in :attr:`blank_rows`; any other row with another field count than the
        header is an error.
        """
        return self._records(after_header=True)

    def _field_count_message(self, row_number: int, count: int) -> str:
        width = len(self.header)
        if count > width:
            detail = f"{count - width} field(s) past the last column {self.header[-1]!r}"
        else:
            detail = f"no value for column {self.header[count]!r} and after"
        return (
            f"{self.path}: row {row_number}: {count} fields where the header has {width} ({detail}); "
            f"check the delimiter ({self.delimiter!r}) and the quoting."
        )
