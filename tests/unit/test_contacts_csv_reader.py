"""Unit tests for cc_provider.contacts.csv_reader: encodings, delimiters, quoting, row numbers and errors."""

from __future__ import annotations

import codecs
import csv

import pytest

from cc_provider.contacts import decoding
from cc_provider.contacts.csv_reader import UTF8_PER_LINE, CsvFile, detect_encoding, sniff_delimiter
from cc_provider.contacts.errors import ContactFileError

TEXT = "email,first_name,city\r\nada@example.com,Zoë,Zürich\r\ngrace@example.com,Grace,Boston\r\n"
ROWS = [(2, ["ada@example.com", "Zoë", "Zürich"], False), (3, ["grace@example.com", "Grace", "Boston"], False)]


def write(tmp_path, data: str | bytes, name: str = "contacts.csv"):
    path = tmp_path / name
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


class TestEncoding:
    @pytest.mark.parametrize(
        ("data", "encoding"),
        [
            (TEXT.encode("utf-8"), "utf-8"),
            (codecs.BOM_UTF8 + TEXT.encode("utf-8"), "utf-8-sig"),
            (TEXT.encode("utf-16"), "utf-16"),  # with its BOM
            (codecs.BOM_UTF16_BE + TEXT.encode("utf-16-be"), "utf-16"),
            (TEXT.encode("utf-32"), "utf-32"),
        ],
        ids=["utf8", "utf8-bom", "utf16-le", "utf16-be", "utf32"],
    )
    def test_detected_and_read(self, tmp_path, data, encoding):
        f = CsvFile(write(tmp_path, data))
        assert f.encoding == encoding
        assert f.warnings == []
        assert f.header == ("email", "first_name", "city")
        assert list(f.rows()) == ROWS

    def test_a_windows_1252_file_is_read_line_by_line_and_the_rows_named(self, tmp_path):
        data = TEXT.replace("Zoë", "Zoë “Ada”").encode("cp1252")
        path = write(tmp_path, data)
        f = CsvFile(path)
        assert f.encoding == UTF8_PER_LINE
        assert f.warnings == []  # the header is UTF-8 (ASCII); the rows are named once they are read
        assert list(f.rows())[0][1][1] == "Zoë “Ada”"
        assert f.warnings == [f"{path}: row 2 is not UTF-8; read as Windows-1252."]

    def test_one_windows_1252_row_leaves_the_utf8_rows_intact(self, tmp_path):
        """The issue's case: one pasted row used to turn every UTF-8 name into 'JosÃ©'."""
        data = TEXT.encode() + "jose@example.com,José,Málaga\r\n".encode("cp1252") + "x@y.co,Ève,Zürich\r\n".encode()
        path = write(tmp_path, data)
        f = CsvFile(path)
        assert [fields for _, fields, _ in f.rows()] == [
            ["ada@example.com", "Zoë", "Zürich"],
            ["grace@example.com", "Grace", "Boston"],
            ["jose@example.com", "José", "Málaga"],
            ["x@y.co", "Ève", "Zürich"],
        ]
        assert f.warnings == [f"{path}: row 4 is not UTF-8; read as Windows-1252."]

    def test_a_line_windows_1252_cannot_read_is_read_as_latin1(self, tmp_path):
        data = TEXT.encode("cp1252").replace(b"Grace", b"Gr\x81ce \x93Q\x94")  # 0x81 is undefined in Windows-1252
        path = write(tmp_path, data)
        rows = list(CsvFile(path).rows())
        assert rows[0][1][1:] == ["Zoë", "Zürich"] and rows[1][1][1] == "Gr\x81ce \x93Q\x94"
        assert CsvFile(path).encoding == UTF8_PER_LINE
        f = CsvFile(path)
        list(f.rows())
        assert f.warnings == [
            f"{path}: row 2 is not UTF-8; read as Windows-1252.",
            f"{path}: row 3 is not UTF-8 nor Windows-1252; read as Latin-1.",
        ]

    def test_the_rows_named_are_capped(self, tmp_path):
        rows = "".join(f"p{i}@example.com,Zo\xeb,x\r\n" for i in range(15)).encode("latin-1")
        path = write(tmp_path, TEXT.encode() + rows)
        f = CsvFile(path)
        assert len(list(f.rows())) == 17
        assert f.warnings == [
            f"{path}: rows 4, 5, 6, 7, 8, 9, 10, 11, 12, 13 and 5 more are not UTF-8; read as Windows-1252."
        ]

    def test_a_second_pass_names_the_rows_once(self, tmp_path):
        path = write(tmp_path, TEXT.encode() + b"x@y.co,Zo\xeb,a\r\nz@y.co,Zo\xeb,b\r\n")
        f = CsvFile(path)
        assert list(f.rows()) == list(f.rows())
        assert f.warnings == [f"{path}: rows 4, 5 are not UTF-8; read as Windows-1252."]

    def test_a_header_that_is_not_utf8_is_row_1(self, tmp_path):
        path = write(tmp_path, "email,Prénom\r\na@b.co,Zoë\r\n".encode("cp1252"))
        f = CsvFile(path)
        assert f.header == ("email", "Prénom")
        assert f.warnings == [f"{path}: row 1 is not UTF-8; read as Windows-1252."]  # known after the header
        list(f.rows())
        assert f.warnings == [f"{path}: rows 1, 2 are not UTF-8; read as Windows-1252."]

    def test_a_quoted_line_break_row_is_named_by_its_row(self, tmp_path):
        data = b'email,street\na@b.co,"1 Main St\nApt 4"\nc@d.co,"2 Side St\n' + b'Caf\xe9"\ne@f.co,x\n'
        path = write(tmp_path, data)
        f = CsvFile(path)
        assert list(f.rows()) == [
            (2, ["a@b.co", "1 Main St\nApt 4"], True),
            (3, ["c@d.co", "2 Side St\nCafé"], True),
            (4, ["e@f.co", "x"], False),
        ]
        assert f.warnings == [f"{path}: row 3 is not UTF-8; read as Windows-1252."]

    def test_old_mac_line_ends_with_a_windows_1252_row(self, tmp_path, monkeypatch):
        monkeypatch.setattr(decoding, "SCAN_BYTES", 5)  # line ends and sequences cut across blocks
        data = "email,n\rä@b.co,Zoë\r".encode() + b"c@d.co,Zo\xeb\r\n" + "e@f.co,ü".encode()
        f = CsvFile(write(tmp_path, data))
        assert [(n, fields) for n, fields, _ in f.rows()] == [
            (2, ["ä@b.co", "Zoë"]),
            (3, ["c@d.co", "Zoë"]),
            (4, ["e@f.co", "ü"]),
        ]
        assert f.warnings == [f"{f.path}: row 3 is not UTF-8; read as Windows-1252."]

    def test_errors_name_the_row_in_a_file_read_line_by_line(self, tmp_path):
        path = write(tmp_path, TEXT.encode() + b"x@y.co,Zo\xeb\r\n")
        with pytest.raises(ContactFileError, match=r"row 4: 2 fields where the header has 3"):
            list(CsvFile(path).rows())

    def test_non_utf8_byte_after_the_first_block(self, tmp_path, monkeypatch):
        monkeypatch.setattr(decoding, "SCAN_BYTES", 16)  # the scan shared with JSON files
        data = TEXT.encode() + b"x@y.co,Jos\xe9,Madrid\r\n"
        assert detect_encoding(write(tmp_path, data)) == UTF8_PER_LINE
        assert detect_encoding(write(tmp_path, TEXT.encode())) == "utf-8"

    def test_utf8_sequence_split_across_blocks(self, tmp_path, monkeypatch):
        monkeypatch.setattr(decoding, "SCAN_BYTES", 3)
        assert detect_encoding(write(tmp_path, "ab" + "ë" * 10 + "\n")) == "utf-8"

    def test_explicit_encoding_skips_detection(self, tmp_path):
        f = CsvFile(write(tmp_path, TEXT.encode("latin-1")), encoding="latin-1")
        assert f.warnings == [] and list(f.rows()) == ROWS

    def test_wrong_explicit_encoding(self, tmp_path):
        path = write(tmp_path, "email\n" + "a@b.co\n" * 10 + "Zoë@b.co\n")
        with pytest.raises(ContactFileError, match="not ascii text"):
            list(CsvFile(path, encoding="ascii").rows())

    def test_utf16_without_bom_is_named(self, tmp_path):
        with pytest.raises(ContactFileError, match="NUL characters"):
            CsvFile(write(tmp_path, TEXT.encode("utf-16-le")))


class TestDelimiter:
    @pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
    def test_sniffed(self, tmp_path, delimiter):
        f = CsvFile(write(tmp_path, TEXT.replace(",", delimiter)))
        assert f.delimiter == delimiter
        assert list(f.rows()) == ROWS

    def test_given(self, tmp_path):
        f = CsvFile(write(tmp_path, TEXT.replace(",", ";")), delimiter=";")
        assert list(f.rows()) == ROWS

    def test_bad_delimiter_argument(self, tmp_path):
        with pytest.raises(ValueError, match="one character"):
            CsvFile(write(tmp_path, TEXT), delimiter=";;")

    def test_single_column(self):
        assert sniff_delimiter("email\na@b.co\n") == ","

    def test_quoted_header_names_do_not_count(self):
        assert sniff_delimiter('"Last, First";email\n"Lovelace, Ada";a@b.co\n') == ";"

    @pytest.mark.parametrize(
        ("first", "delimiter"), [("sep=;", ";"), ("SEP=;", ";"), ("sep=\t", "\t"), ("sep=,", ","), ("sep=|", "|")]
    )
    def test_excel_sep_line_sets_the_delimiter_and_is_skipped(self, tmp_path, first, delimiter):
        path = write(tmp_path, first + "\r\n" + TEXT.replace(",", delimiter))
        f = CsvFile(path)
        assert (f.delimiter, f.header) == (delimiter, ("email", "first_name", "city"))
        assert list(f.rows()) == ROWS  # the header is row 1, as Excel (which hides the line) shows it
        assert f.warnings == [
            f"{path}: the first line {first!r} (Excel's delimiter hint) sets the delimiter {delimiter!r}; it is "
            "skipped, so the header is the next line (row 1)."
        ]

    def test_sep_line_wins_over_sniffing(self, tmp_path):
        """A header with commas in its names, and ';' between them: sniffing alone could go either way."""
        f = CsvFile(write(tmp_path, "sep=;\nemail;Last, First\na@b.co;Lovelace, Ada\n"))
        assert f.header == ("email", "Last, First")
        assert list(f.rows()) == [(2, ["a@b.co", "Lovelace, Ada"], False)]

    def test_sep_line_with_a_bom_and_old_mac_line_ends(self, tmp_path):
        f = CsvFile(write(tmp_path, codecs.BOM_UTF8 + b"sep=;\remail;n\ra@b.co;1\r"))
        assert (f.encoding, f.delimiter, f.header) == ("utf-8-sig", ";", ("email", "n"))
        assert list(f.rows()) == [(2, ["a@b.co", "1"], False)]

    def test_given_delimiter_wins_over_the_sep_line_which_is_still_skipped(self, tmp_path):
        path = write(tmp_path, "sep=;\n" + TEXT)
        f = CsvFile(path, delimiter=",")
        assert f.header == ("email", "first_name", "city") and list(f.rows()) == ROWS
        assert f.warnings == [
            f"{path}: the first line 'sep=;' (Excel's delimiter hint) is skipped; the delimiter given, ',', is used."
        ]

    def test_line_numbers_in_messages_count_the_sep_line(self, tmp_path):
        path = write(tmp_path, 'sep=;\nemail;name\na@b.co;"Ada" Lovelace\n')
        with pytest.raises(ContactFileError, match=r"row 2 \(line 3\): .*must be doubled"):
            list(CsvFile(path).rows())

    @pytest.mark.parametrize("first", ["sep=", "sep=;;", "x sep=;", "sep=;,email"])
    def test_other_first_lines_are_the_header(self, tmp_path, first):
        f = CsvFile(write(tmp_path, first + "\na@b.co\n"))
        assert f.warnings == [] and f.header[0].startswith(first[:4])

    def test_header_with_several_candidates_asks_the_sniffer(self):
        sample = "email;Zip/Postal|Code;city\n" + "a@b.co;123|4;Paris\n" * 5
        assert sniff_delimiter(sample) == ";"


class TestQuotingAndRows:
    def test_quoted_fields(self, tmp_path):
        text = 'email,company\r\na@b.co,"Engines, Ltd"\r\nc@d.co,"The ""Best"" Co"\r\n'
        assert [fields for _, fields, _ in CsvFile(write(tmp_path, text)).rows()] == [
            ["a@b.co", "Engines, Ltd"],
            ["c@d.co", 'The "Best" Co'],
        ]

    def test_line_break_inside_quotes_keeps_row_numbers(self, tmp_path):
        text = 'email,street\na@b.co,"1 Main St\nApt 4"\nc@d.co,2 Side St\n'
        assert list(CsvFile(write(tmp_path, text)).rows()) == [
            (2, ["a@b.co", "1 Main St\nApt 4"], True),
            (3, ["c@d.co", "2 Side St"], False),
        ]

    def test_blank_rows_are_skipped_and_counted_but_keep_their_numbers(self, tmp_path):
        text = "\n\nemail,name\n\na@b.co,Ada\n,\n  \nc@d.co,Cy\n"
        f = CsvFile(write(tmp_path, text))
        assert f.header == ("email", "name")
        assert [(n, fields) for n, fields, _ in f.rows()] == [(5, ["a@b.co", "Ada"]), (8, ["c@d.co", "Cy"])]
        assert f.blank_rows == 3  # rows 4 (""), 6 (",") and 7 ("  "); blank rows before the header are not counted

    def test_header_names_are_stripped(self, tmp_path):
        assert CsvFile(write(tmp_path, " email , First Name \na@b.co,Ada\n")).header == ("email", "First Name")

    def test_no_final_line_end_and_old_mac_line_ends(self, tmp_path):
        assert [f for _, f, _ in CsvFile(write(tmp_path, "email,n\ra@b.co,1\rc@d.co,2")).rows()] == [
            ["a@b.co", "1"],
            ["c@d.co", "2"],
        ]

    def test_rows_can_be_read_twice(self, tmp_path):
        f = CsvFile(write(tmp_path, TEXT))
        assert list(f.rows()) == list(f.rows()) == ROWS

    def test_accepts_str_path(self, tmp_path):
        assert CsvFile(str(write(tmp_path, TEXT))).header == ("email", "first_name", "city")


class TestErrors:
    @pytest.mark.parametrize("data", ["", "\n\n", "\r\n", b"\xef\xbb\xbf"])
    def test_empty_file(self, tmp_path, data):
        with pytest.raises(ContactFileError, match="the file is empty"):
            CsvFile(write(tmp_path, data))

    def test_missing_file(self, tmp_path):
        with pytest.raises(FileNotFoundError):
            CsvFile(tmp_path / "nope.csv")

    def test_too_many_fields_names_row_and_column(self, tmp_path):
        path = write(tmp_path, "email,name\na@b.co,Ada\nc@d.co,Cy,extra\n")
        with pytest.raises(ContactFileError) as info:
            list(CsvFile(path).rows())
        assert str(info.value) == (
            f"{path}: row 3: 3 fields where the header has 2 (1 field(s) past the last column 'name'); "
            "check the delimiter (',') and the quoting."
        )

    def test_too_few_fields_names_the_first_missing_column(self, tmp_path):
        path = write(tmp_path, "email,name,city\na@b.co\n")
        with pytest.raises(
            ContactFileError, match=r"row 2: 1 fields where the header has 3 \(no value for column 'name'"
        ):
            list(CsvFile(path).rows())

    def test_rows_before_an_error_are_yielded(self, tmp_path):
        rows = CsvFile(write(tmp_path, "email,name\na@b.co,Ada\nc@d.co\n")).rows()
        assert next(rows)[0] == 2
        with pytest.raises(ContactFileError, match="row 3"):
            next(rows)

    def test_unterminated_quote(self, tmp_path):
        path = write(tmp_path, 'email,name\na@b.co,Ada\nc@d.co,"Cy\nd@e.co,Di\n')
        with pytest.raises(ContactFileError) as info:
            list(CsvFile(path).rows())
        assert str(info.value) == (
            f"{path}: row 3 (line 5): a quoted field is never closed (a '\"' opens it and the file ends)."
        )

    def test_text_after_a_closing_quote(self, tmp_path):
        with pytest.raises(ContactFileError, match=r"row 2 \(line 2\): .*must be doubled"):
            list(CsvFile(write(tmp_path, 'email,name\na@b.co,"Ada" Lovelace\n')).rows())

    def test_field_over_the_size_limit(self, tmp_path):
        limit = csv.field_size_limit()
        path = write(tmp_path, "email,note\na@b.co," + "x" * (limit + 1) + "\n")
        with pytest.raises(ContactFileError, match=r"row 2 \(line 2\): a field is longer than 131,072 characters"):
            list(CsvFile(path).rows())

    def test_contact_file_error_is_a_value_error(self):
        assert issubclass(ContactFileError, ValueError)
