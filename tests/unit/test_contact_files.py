"""Unit tests for cc_provider.contacts.files: streaming JSON / JSON Lines readers and the rejects CSV."""

from __future__ import annotations

import csv
import json

import pytest

from cc_provider.contacts import files
from cc_provider.contacts.files import REJECTS_HEADER, ContactFileError, RejectsWriter, iter_json_records
from cc_provider.contacts.records import Rejected

RECORDS = [
    {
        "email": "ada@example.com",
        "first_name": "Ada",
        "tags": ["a", "b"],
        "n": 12345,
        "nested": {"k": [1, {"x": None}]},
    },
    {"email": "zoë@example.com", "first_name": "Zoë 😀", "quote": 'he said "hi", then ] and }'},
    {"email": "c@example.com", "escaped": '\\"[{,\n', "f": 1.5e-3, "t": True, "z": None},
    {},
]

CHUNK_SIZES = [1, 2, 7, 64, 1 << 16]


@pytest.fixture(params=CHUNK_SIZES, ids=lambda n: f"chunk{n}")
def chunk(request, monkeypatch) -> int:
    monkeypatch.setattr(files, "CHUNK_CHARS", request.param)
    return request.param


def write(tmp_path, name: str, data: str | bytes):
    path = tmp_path / name
    if isinstance(data, str):
        data = data.encode("utf-8")
    path.write_bytes(data)
    return path


class TestJsonArray:
    @pytest.mark.parametrize(
        "text",
        [
            json.dumps(RECORDS),
            json.dumps(RECORDS, indent=2, ensure_ascii=False),
            json.dumps(RECORDS, separators=(",", ":"), ensure_ascii=False),
            "\n\n  \t" + json.dumps(RECORDS, indent="\t") + "\n\n",
            "\r\n".join(json.dumps(RECORDS, indent=1).splitlines()),
        ],
        ids=["compact-ascii", "indented", "minified", "leading-blank", "crlf"],
    )
    def test_records_in_order(self, tmp_path, chunk, text):
        path = write(tmp_path, "contacts.json", text)
        assert list(iter_json_records(path)) == RECORDS

    def test_utf8_bom(self, tmp_path, chunk):
        path = write(tmp_path, "bom.json", b"\xef\xbb\xbf" + json.dumps(RECORDS, ensure_ascii=False).encode())
        assert list(iter_json_records(path)) == RECORDS

    @pytest.mark.parametrize("text", ["[]", "  [ ]  ", "[\n]\n"])
    def test_empty_array(self, tmp_path, chunk, text):
        assert list(iter_json_records(write(tmp_path, "empty.json", text))) == []

    def test_accepts_str_path(self, tmp_path):
        path = write(tmp_path, "c.json", json.dumps(RECORDS[:1]))
        assert list(iter_json_records(str(path))) == RECORDS[:1]

    def test_is_streaming(self, tmp_path, monkeypatch):
        """The first record comes out before the reader has seen the end of the file."""
        monkeypatch.setattr(files, "CHUNK_CHARS", 16)
        path = write(tmp_path, "c.json", "[" + json.dumps(RECORDS[0]) + "," + "x" * 10_000)
        gen = iter_json_records(path)
        assert next(gen) == RECORDS[0]
        with pytest.raises(ContactFileError, match="record 2"):
            next(gen)

    def test_many_records_across_many_chunks(self, tmp_path, monkeypatch):
        monkeypatch.setattr(files, "CHUNK_CHARS", 7)
        records = [{"email": f"p{i}@example.com", "n": i} for i in range(300)]
        path = write(tmp_path, "many.json", json.dumps(records))
        assert list(iter_json_records(path)) == records

    def test_non_object_record_names_the_record_number(self, tmp_path, chunk):
        path = write(tmp_path, "c.json", json.dumps([RECORDS[0], RECORDS[1], ["not", "an", "object"]]))
        gen = iter_json_records(path)
        assert next(gen) == RECORDS[0]
        assert next(gen) == RECORDS[1]
        with pytest.raises(ContactFileError) as info:
            next(gen)
        assert str(info.value) == f"{path}: record 3 is a JSON list, not an object."

    @pytest.mark.parametrize(
        ("value", "kind"),
        [
            ('"a@b.co"', "str"),
            ("42", "int"),
            ("12345678", "int"),
            ("null", "NoneType"),
            ("true", "bool"),
        ],
    )
    def test_scalar_records(self, tmp_path, chunk, value, kind):
        path = write(tmp_path, "c.json", f"[{value}]")
        with pytest.raises(ContactFileError, match=f"record 1 is a JSON {kind}, not an object"):
            list(iter_json_records(path))

    def test_value_ending_exactly_at_a_chunk_edge_is_read_on(self, tmp_path, monkeypatch):
        """With 2-character chunks '[1' ends a chunk: '1' parses, but the number goes on ('.5')."""
        monkeypatch.setattr(files, "CHUNK_CHARS", 2)
        path = write(tmp_path, "c.json", "[1.5]")
        with pytest.raises(ContactFileError, match="record 1 is a JSON float, not an object"):
            list(iter_json_records(path))

    @pytest.mark.parametrize("value", ["1.5", "-2.5e10"])
    def test_number_cut_before_its_fraction(self, tmp_path, monkeypatch, value):
        monkeypatch.setattr(files, "CHUNK_CHARS", 1)
        path = write(tmp_path, "c.json", f"[{value}]")
        with pytest.raises(ContactFileError, match="record 1 is a JSON float, not an object"):
            list(iter_json_records(path))

    @pytest.mark.parametrize(
        ("text", "after"),
        [
            ('[{"email": "a@b.co"}', 1),
            ('[{"email": "a@b.co"},', 1),
            ('[{"email": "a@b.co"}, {"email": "c@d.co"}  \n', 2),
            ("[", 0),
            ("  [  \n ", 0),
        ],
    )
    def test_unclosed_array(self, tmp_path, chunk, text, after):
        path = write(tmp_path, "open.json", text)
        with pytest.raises(ContactFileError) as info:
            list(iter_json_records(path))
        assert str(info.value) == f"{path}: the JSON array is not closed (after record {after})."

    @pytest.mark.parametrize(
        ("text", "record"),
        [
            ('[{"email": "a@b.co"}, {"email": ', 2),  # truncated inside a record
            ('[{"email": "a@b.co"}, {"email": "c@d.co" "x": 1}]', 2),
            ("[{'email': 'a@b.co'}]", 1),
            ('[{"email": "a@b.co"}, nope]', 2),
        ],
    )
    def test_invalid_json_names_the_file_and_record(self, tmp_path, chunk, text, record):
        path = write(tmp_path, "bad.json", text)
        with pytest.raises(ContactFileError) as info:
            list(iter_json_records(path))
        assert str(info.value).startswith(f"{path}: record {record}: invalid JSON (")

    def test_contact_file_error_is_a_value_error(self):
        assert issubclass(ContactFileError, ValueError)


class TestJsonLines:
    def lines(self, records=RECORDS, sep="\n") -> str:
        return sep.join(json.dumps(r, ensure_ascii=False) for r in records) + sep

    def test_records_in_order(self, tmp_path, chunk):
        assert list(iter_json_records(write(tmp_path, "c.jsonl", self.lines()))) == RECORDS

    def test_blank_lines_and_crlf(self, tmp_path, chunk):
        text = "\n\n" + self.lines(sep="\r\n\r\n   \t\r\n") + "\n  \n"
        assert list(iter_json_records(write(tmp_path, "c.jsonl", text))) == RECORDS

    def test_no_trailing_newline(self, tmp_path, chunk):
        text = self.lines().rstrip("\n")
        assert list(iter_json_records(write(tmp_path, "c.jsonl", text))) == RECORDS

    def test_utf8_bom(self, tmp_path, chunk):
        path = write(tmp_path, "bom.jsonl", b"\xef\xbb\xbf" + self.lines().encode())
        assert list(iter_json_records(path)) == RECORDS

    def test_leading_whitespace_longer_than_a_chunk(self, tmp_path, monkeypatch):
        monkeypatch.setattr(files, "CHUNK_CHARS", 2)
        path = write(tmp_path, "c.jsonl", " " * 11 + "\n" * 5 + self.lines())
        assert list(iter_json_records(path)) == RECORDS

    @pytest.mark.parametrize("text", ["", "   ", "\n\n\r\n\t"])
    def test_empty_or_blank_file(self, tmp_path, chunk, text):
        assert list(iter_json_records(write(tmp_path, "empty.jsonl", text))) == []

    def test_empty_file_with_bom(self, tmp_path):
        assert list(iter_json_records(write(tmp_path, "bom.jsonl", b"\xef\xbb\xbf"))) == []

    def test_invalid_line_names_the_file_line_and_column(self, tmp_path, chunk):
        text = '{"email": "a@b.co"}\n\n{"email": "c@d.co"}\n{"email": oops}\n{"email": "e@f.co"}\n'
        path = write(tmp_path, "bad.jsonl", text)
        gen = iter_json_records(path)
        assert next(gen) == {"email": "a@b.co"}
        assert next(gen) == {"email": "c@d.co"}
        with pytest.raises(ContactFileError) as info:
            next(gen)
        assert str(info.value).startswith(f"{path}: line 4, column 11: invalid JSON (")

    def test_line_numbers_count_the_bom_line_as_line_1(self, tmp_path):
        path = write(tmp_path, "bad.jsonl", b"\xef\xbb\xbf{broken\n")
        with pytest.raises(ContactFileError, match="line 1, column 2"):
            list(iter_json_records(path))

    def test_not_json_at_all(self, tmp_path):
        path = write(tmp_path, "c.csv", "email,first_name\na@b.co,Ada\n")
        with pytest.raises(ContactFileError, match=r"c\.csv: line 1, column 1: invalid JSON"):
            list(iter_json_records(path))

    def test_a_record_spread_over_lines_is_an_error(self, tmp_path):
        path = write(tmp_path, "pretty.jsonl", json.dumps(RECORDS[0], indent=2))
        with pytest.raises(ContactFileError, match="line 1"):
            list(iter_json_records(path))

    @pytest.mark.parametrize(
        ("value", "kind"), [("[1, 2]", "list"), ('"a@b.co"', "str"), ("7", "int"), ("null", "NoneType")]
    )
    def test_non_object_line_names_the_line(self, tmp_path, value, kind):
        path = write(tmp_path, "c.jsonl", '{"email": "a@b.co"}\n\n' + value + "\n")
        with pytest.raises(ContactFileError) as info:
            list(iter_json_records(path))
        assert str(info.value) == f"{path}: line 3 is a JSON {kind}, not an object."


class TestEncoding:
    @pytest.mark.parametrize(
        "data",
        [
            b'[{"email": "a@b.co", "name": "Zo\xeb"}]',  # Latin-1
            b'{"email": "a@b.co", "name": "Zo\xeb"}\n',
            b"\xff\xfe[\x00{\x00}\x00]\x00",  # UTF-16 LE
        ],
        ids=["latin1-array", "latin1-lines", "utf16"],
    )
    def test_non_utf8_bytes(self, tmp_path, chunk, data):
        path = write(tmp_path, "latin1.json", data)
        with pytest.raises(ContactFileError) as info:
            list(iter_json_records(path))
        assert str(info.value).startswith(f"{path}: not UTF-8 text")

    def test_non_utf8_bytes_after_good_records(self, tmp_path):
        good = [{"email": f"p{i}@example.com"} for i in range(5000)]
        data = json.dumps(good).encode()[:-1] + b',{"email": "\xe9"}]'
        path = write(tmp_path, "late.json", data)
        with pytest.raises(ContactFileError, match="not UTF-8 text"):
            list(iter_json_records(path))

    def test_reported_byte_offset_is_the_offset_in_the_file(self, tmp_path):
        good = [{"email": f"p{i}@example.com"} for i in range(20_000)]
        prefix = json.dumps(good).encode()[:-1] + b',{"email": "'
        path = write(tmp_path, "late.json", prefix + b'\xff"}]')
        with pytest.raises(ContactFileError) as info:
            list(iter_json_records(path))
        assert f"first bad byte at offset {len(prefix)})" in str(info.value)

    def test_missing_file(self, tmp_path):
        with pytest.raises(FileNotFoundError):
            list(iter_json_records(tmp_path / "nope.json"))


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
