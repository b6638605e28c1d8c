"""
Streaming CSV contact files: the encoding and delimiter found once, then one row at a time.

Row numbers are spreadsheet row numbers: the header is row 1 and the first contact row 2, and
blank rows keep their numbers, so a row number points at the same row in any spreadsheet program.
"""

from __future__ import annotations

import codecs
import csv
import os
import re
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import BinaryIO, TextIO

from cc_provider.contacts.errors import ContactFileError
from cc_provider.contacts.files import SCAN_BYTES, first_non_utf8_offset

#: Bytes read at a time while checking the encoding.
#: Characters looked at to find the delimiter.
SNIFF_CHARS = 1 << 16
DELIMITERS = ",;\t|"
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_QUOTED = re.compile(r'"[^"]*"')


def detect_encoding(path: str | os.PathLike[str]) -> tuple[str, str | None]:
    """
    Return ``(encoding, warning)`` for a text file, reading it once in blocks.

    A BOM names UTF-8, UTF-16 or UTF-32; otherwise the whole file must be UTF-8. If it is not, it is
    read as Windows-1252 (or Latin-1 when it has bytes Windows-1252 leaves undefined), and the
    warning says so and where the first non-UTF-8 byte is.
    """
    with open(path, "rb") as raw:
        head = raw.read(4)
        for bom, encoding in _BOMS:
            if head.startswith(bom):
                return encoding, None
        raw.seek(0)
        bad = first_non_utf8_offset(raw)
        if bad is None:
            return "utf-8", None
        raw.seek(0)
        encoding = "cp1252" if _decodes(raw, "cp1252") else "latin-1"
    name = "Windows-1252" if encoding == "cp1252" else "Latin-1"
    return encoding, f"{path}: not UTF-8 (first bad byte at offset {bad}); read as {name}."


def _decodes(raw: BinaryIO, encoding: str) -> bool:
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        while block := raw.read(SCAN_BYTES):
            decoder.decode(block)
    except UnicodeDecodeError:
        return False
    return True


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

    def __init__(self, handle: TextIO, delimiter: str) -> None:
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
    (``delimiter=None``: sniffed) are found once; the header is read at once, so a file that cannot
    be read at all fails here. Problems raise :class:`ContactFileError` naming the file and row.

    :ivar warnings: what the reader had to guess (e.g. a Latin-1 fallback), for the caller to log.
    :ivar blank_rows: rows without any value skipped by the last :meth:`rows` pass.
    """

    def __init__(
        self, path: str | os.PathLike[str], *, delimiter: str | None = None, encoding: str | None = None
    ) -> None:
        self.path = Path(path)
        self.warnings: list[str] = []
        if encoding is None:
            encoding, warning = detect_encoding(self.path)
            if warning:
                self.warnings.append(warning)
        self.encoding = encoding
        if delimiter is not None and len(delimiter) != 1:
            raise ValueError(f"delimiter must be one character; got {delimiter!r}.")
        sample = self._sample()
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

    def _open(self) -> TextIO:
        return self.path.open(encoding=self.encoding, newline="")

    def _sample(self) -> str:
        try:
            with self._open() as handle:
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
        """
        row_number = extra_lines = 0  # line number = row_number + extra_lines (lines of quoted line breaks)
        width = len(self.header) if after_header else -1
        delimiter, limit = self.delimiter, csv.field_size_limit()
        with self._open() as handle:
            quoted = _QuotedRecords(handle, delimiter)
            try:
                if after_header:
                    row_number, extra_lines = self._skip_header(handle, quoted)
                for line in handle:
                    row_number += 1
                    if '"' in line or len(line) > limit:
                        fields, lines = quoted.parse(line)
                        extra_lines += lines - 1
                        spans_lines = lines > 1
                    else:
                        fields = line.rstrip("\r\n").split(delimiter)
                        spans_lines = False
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

    def _skip_header(self, handle: TextIO, quoted: _QuotedRecords) -> tuple[int, int]:
        """Read up to the header (the first non-blank record); return ``(its row number, extra lines so far)``."""
        row_number = extra_lines = 0
        for line in handle:
            row_number += 1
            fields, lines = quoted.parse(line)
            extra_lines += lines - 1
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

    def records(self) -> Iterator[tuple[int, dict[str, str]]]:
        """Yield ``(row_number, {column: value})`` for each contact row."""
        header = self.header
        for row_number, fields, _ in self.rows():
            yield row_number, dict(zip(header, fields, strict=True))
