"""Unit tests for cc_provider.contacts.rejects: the rejects CSV, and the API's "Line N" errors back to source rows."""

from __future__ import annotations

import csv
from array import array

import pytest

from cc_provider.contacts.rejects import (
    REJECTS_HEADER,
    Rejected,
    RejectsWriter,
    RowError,
    map_activity_errors,
    parse_line_error,
)
from cc_provider.contacts.uploads import CsvChunk


class TestRejected:
    def test_code_is_not_compared(self):
        assert Rejected(1, "c", "v", "r", "code") == Rejected(1, "c", "v", "r")

    def test_positional_fields(self):
        rejected = Rejected(3, "Email", "x", "why")
        assert (rejected.row_number, rejected.column, rejected.value, rejected.reason, rejected.code) == (
            3,
            "Email",
            "x",
            "why",
            "",
        )


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


@pytest.mark.parametrize(
    ("message", "parsed"),
    [
        ("Line 2: Invalid birthday", (2, "Invalid birthday")),
        ("line 17 - Invalid email address 'x'", (17, "Invalid email address 'x'")),
        ("  LINE 3:Missing email address or SMS number ", (3, "Missing email address or SMS number")),
        ("Something else went wrong", None),
        ("Lines 2 to 4: bad", None),
    ],
)
def test_parse_line_error(message, parsed):
    assert parse_line_error(message) == parsed


def test_csv_chunk_lines_count_the_header():
    chunk = CsvChunk(1, None, 100, array("I", [4, 7, 9]))
    errors = ["Line 2: Invalid birthday", "Line 4: Invalid email", "Line 1: header?", "Line 99: far", "Oops"]
    assert map_activity_errors(errors, chunk) == [
        RowError(4, 2, "Invalid birthday"),
        RowError(9, 4, "Invalid email"),
        RowError(None, 1, "header?"),
        RowError(None, 99, "far"),
        RowError(None, None, "Oops"),
    ]
