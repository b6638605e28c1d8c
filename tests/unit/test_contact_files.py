"""Unit tests for cc_provider.contacts.files: the rejects CSV."""

from __future__ import annotations

import csv

import pytest

from cc_provider.contacts.files import REJECTS_HEADER, RejectsWriter
from cc_provider.contacts.records import Rejected


class TestRejectsWriter:
    def read(self, path) -> list[list[str]]:
        with path.open(newline="", encoding="utf-8") as handle:
            return list(csv.reader(handle))

    def test_header_and_rows(self, tmp_path):
        path = tmp_path / "out" / "nested" / "rejects.csv"
        with RejectsWriter(path) as writer:
            writer.write(Rejected(3, "Email Address", "", "no email address (and no sms_number)"))
            writer.write(Rejected(9, "Birthday", 'Ju"ly, 4th\nline', "birthday_month must be a whole number"))
            writer.write(Rejected(12, "Name", "Zoë 😀", "other"))
            assert writer.count == 3
            assert writer.path == path
        assert self.read(path) == [
            list(REJECTS_HEADER),
            ["3", "Email Address", "", "no email address (and no sms_number)"],
            ["9", "Birthday", 'Ju"ly, 4th\nline', "birthday_month must be a whole number"],
            ["12", "Name", "Zoë 😀", "other"],
        ]

    def test_header_is_written_even_without_rows(self, tmp_path):
        path = tmp_path / "rejects.csv"
        writer = RejectsWriter(str(path))
        writer.close()
        assert REJECTS_HEADER == ("row_number", "column", "value", "reason")
        assert path.read_bytes() == b"row_number,column,value,reason\r\n"
        assert writer.count == 0

    def test_overwrites_an_old_file(self, tmp_path):
        path = tmp_path / "rejects.csv"
        path.write_text("old,content\n1,2\n", encoding="utf-8")
        with RejectsWriter(path) as writer:
            writer.write(Rejected(1, "email", "", "r"))
        assert self.read(path) == [list(REJECTS_HEADER), ["1", "email", "", "r"]]

    @pytest.mark.parametrize(
        ("value", "written"),
        [
            ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
            ("+1 555 1234", "'+1 555 1234"),
            ("-2", "'-2"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tcmd", "'\tcmd"),
            ("safe=value", "safe=value"),
            ("", ""),
        ],
    )
    def test_formula_injection_is_neutralised(self, tmp_path, value, written):
        path = tmp_path / "rejects.csv"
        with RejectsWriter(path) as writer:
            writer.write(Rejected(2, value or "email", value, "reason"))
        assert self.read(path)[1] == ["2", written or "email", written, "reason"]

    def test_append_keeps_the_rows_and_writes_one_header(self, tmp_path):
        path = tmp_path / "rejects.csv"
        with RejectsWriter(path) as writer:
            writer.write(Rejected(2, "email", "", "local"))
        with RejectsWriter(path, append=True) as writer:
            writer.write(Rejected(7, "", "", "Line 3: Invalid birthday"))
        assert self.read(path) == [
            list(REJECTS_HEADER),
            ["2", "email", "", "local"],
            ["7", "", "", "Line 3: Invalid birthday"],
        ]
        with RejectsWriter(tmp_path / "new.csv", append=True):
            pass
        assert self.read(tmp_path / "new.csv") == [list(REJECTS_HEADER)]

    def test_file_is_closed_on_exit(self, tmp_path):
        with RejectsWriter(tmp_path / "r.csv") as writer:
            pass
        assert writer._handle.closed
