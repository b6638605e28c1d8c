"""Unit tests for cc_provider.contacts.decoding: the UTF-8 scan, line splitting, and the per-line fallback."""

from __future__ import annotations

import io
import random

import pytest

from cc_provider.contacts import decoding
from cc_provider.contacts.decoding import (
    FallbackRows,
    Utf8Lines,
    decode_line,
    first_non_utf8_offset,
    iter_byte_lines,
    line_of_offset,
)


class TestLines:
    @pytest.mark.parametrize("block", [1, 2, 3, 5, 64, 1 << 20])
    def test_splits_like_text_mode_with_newline_empty(self, monkeypatch, block):
        """Every mix of CRLF, LF and CR, cut anywhere by the blocks, gives open(newline="")'s lines."""
        monkeypatch.setattr(decoding, "SCAN_BYTES", block)
        rng = random.Random(block)
        pieces = ["a", "é", "bc", "\r\n", "\n", "\r", "\r\r\n", "\n\r", ""]
        for _ in range(30):
            text = "".join(rng.choice(pieces) for _ in range(rng.randrange(0, 25)))
            data = text.encode()
            expected = list(io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", newline=""))
            assert [line.decode() for line in iter_byte_lines(io.BytesIO(data))] == expected, repr(text)

    def test_a_line_longer_than_many_blocks(self, monkeypatch):
        monkeypatch.setattr(decoding, "SCAN_BYTES", 7)
        data = b"x" * 1000 + b"\r\n" + b"y" * 500
        assert list(iter_byte_lines(io.BytesIO(data))) == [b"x" * 1000 + b"\r\n", b"y" * 500]

    def test_streams(self, tmp_path, monkeypatch):
        """The first line comes out after one block, however long the file: memory does not grow with it."""
        monkeypatch.setattr(decoding, "SCAN_BYTES", 64)
        path = tmp_path / "big.csv"
        path.write_bytes(b"email,name\r\n" + b"a@b.co,Zo\xeb\r\n" * 10_000)
        with Utf8Lines(path) as lines:
            assert next(lines) == "email,name\r\n"
            assert next(lines) == "a@b.co,Zoë\r\n"
            assert lines._raw.tell() <= 128


class TestDecodeLine:
    @pytest.mark.parametrize(
        ("line", "expected"),
        [
            ("Zoë José 文 😀\r\n".encode(), ("Zoë José 文 😀\r\n", None)),
            ("Zoë “Q” €\n".encode("cp1252"), ("Zoë “Q” €\n", "cp1252")),
            (b"Ann\x81e \xe9\n", ("Ann\x81e é\n", "latin-1")),
            (b"Bad\xc3(Byte", ("BadÃ(Byte", "cp1252")),
            (b"", ("", None)),
        ],
        ids=["utf8", "cp1252", "latin1", "broken-utf8", "empty"],
    )
    def test_each_line_on_its_own(self, line, expected):
        assert decode_line(line) == expected

    def test_utf8_lines_note_the_fallback_of_the_lines_read(self, tmp_path):
        path = tmp_path / "m.csv"
        path.write_bytes("a,Zoë\n".encode() + b"b,Zo\xeb\n" + b"c,\x81\n" + b"d,Zo\xeb\n")
        with Utf8Lines(path) as lines:
            assert (next(lines), lines.fallback) == ("a,Zoë\n", None)
            assert (next(lines), lines.fallback) == ("b,Zoë\n", "cp1252")
            assert (next(lines), lines.fallback) == ("c,\x81\n", "latin-1")
            assert (next(lines), lines.fallback) == ("d,Zoë\n", "latin-1")  # Latin-1 stays until reset
            lines.fallback = None
            assert list(lines) == [] and lines.fallback is None


class TestFallbackRows:
    def test_one_message_per_fallback(self):
        rows = FallbackRows()
        assert rows.messages("f.csv") == []
        rows.note(17, "cp1252")
        assert rows.messages("f.csv") == ["f.csv: row 17 is not UTF-8; read as Windows-1252."]
        rows.note(203, "cp1252")
        rows.note(9, "latin-1")
        assert rows.messages("f.csv") == [
            "f.csv: rows 17, 203 are not UTF-8; read as Windows-1252.",
            "f.csv: row 9 is not UTF-8 nor Windows-1252; read as Latin-1.",
        ]
        rows.clear()
        assert rows.messages("f.csv") == []

    def test_named_rows_are_capped_and_the_rest_counted(self):
        rows = FallbackRows()
        for row in range(2, 2_002):
            rows.note(row, "cp1252")
        assert rows.messages("f.csv") == [
            "f.csv: rows 2, 3, 4, 5, 6, 7, 8, 9, 10, 11 and 1,990 more are not UTF-8; read as Windows-1252."
        ]
        assert len(rows._named["cp1252"]) == decoding.MAX_NAMED_ROWS


class TestScan:
    @pytest.mark.parametrize("block", [1, 3, 16, 1 << 20])
    def test_first_bad_byte(self, monkeypatch, block):
        monkeypatch.setattr(decoding, "SCAN_BYTES", block)
        data = "ab\nZoë\n".encode() + b"x\xe9y" + "ü".encode()
        assert first_non_utf8_offset(io.BytesIO(data)) == data.index(b"\xe9")
        assert first_non_utf8_offset(io.BytesIO("Zoë".encode() * 50)) is None
        assert first_non_utf8_offset(io.BytesIO("Zoë".encode()[:-1])) == 2  # cut inside a sequence at the end

    def test_line_of_offset(self, tmp_path, monkeypatch):
        monkeypatch.setattr(decoding, "SCAN_BYTES", 2)
        path = tmp_path / "f"
        path.write_bytes(b"a\nbb\n\nc\xe9")
        assert [line_of_offset(path, offset) for offset in (0, 1, 2, 5, 7, 8)] == [1, 1, 2, 3, 4, 4]
