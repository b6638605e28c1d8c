"""Unit tests for cc_provider.contacts.json_reader (and _json_stream): JSON arrays, JSON Lines, one-object files."""

from __future__ import annotations

import json

import pytest

from cc_provider.contacts import _json_stream
from cc_provider.contacts.errors import ContactFileError
from cc_provider.contacts.json_reader import JsonFile, iter_json_records

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
    monkeypatch.setattr(_json_stream, "CHUNK_CHARS", request.param)
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
        monkeypatch.setattr(_json_stream, "CHUNK_CHARS", 16)
        path = write(tmp_path, "c.json", "[" + json.dumps(RECORDS[0]) + "," + "x" * 10_000)
        gen = iter_json_records(path)
        assert next(gen) == RECORDS[0]
        with pytest.raises(ContactFileError, match="record 2"):
            next(gen)

    def test_many_records_across_many_chunks(self, tmp_path, monkeypatch):
        monkeypatch.setattr(_json_stream, "CHUNK_CHARS", 7)
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
        monkeypatch.setattr(_json_stream, "CHUNK_CHARS", 2)
        path = write(tmp_path, "c.json", "[1.5]")
        with pytest.raises(ContactFileError, match="record 1 is a JSON float, not an object"):
            list(iter_json_records(path))

    @pytest.mark.parametrize("value", ["1.5", "-2.5e10"])
    def test_number_cut_before_its_fraction(self, tmp_path, monkeypatch, value):
        monkeypatch.setattr(_json_stream, "CHUNK_CHARS", 1)
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
        monkeypatch.setattr(_json_stream, "CHUNK_CHARS", 2)
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

    def test_one_record_spread_over_lines_is_one_object(self, tmp_path):
        path = write(tmp_path, "pretty.jsonl", json.dumps(RECORDS[0], indent=2))
        assert list(iter_json_records(path)) == RECORDS[:1]

    def test_records_spread_over_lines_are_an_error(self, tmp_path):
        path = write(tmp_path, "pretty.jsonl", json.dumps(RECORDS[0], indent=2) + json.dumps(RECORDS[1], indent=2))
        with pytest.raises(ContactFileError, match=r"line 1, column 1: invalid JSON .*, or one object\.$"):
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
        assert str(info.value).startswith(f"{path}: line 1: not UTF-8 text (first bad byte at offset ")
        assert str(info.value).endswith("JSON must be UTF-8, so save the file as UTF-8.")

    def test_the_line_of_the_first_bad_byte_is_named(self, tmp_path):
        lines = [json.dumps({"email": f"p{i}@example.com"}) for i in range(3000)]
        path = write(tmp_path, "late.jsonl", "\n".join(lines).encode() + b'\n{"email": "\xe9"}\n')
        records = iter_json_records(path)
        assert next(records) == {"email": "p0@example.com"}
        with pytest.raises(ContactFileError, match=r"late\.jsonl: line 3001: not UTF-8 text"):
            list(records)

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


class TestTopLevelObject:
    CONTACTS = [{"email": "a@b.co", "first_name": "Ada"}, {"email": "c@d.co", "tags": ["x", {"y": 1}]}]

    def wrapped(self, **extra) -> dict:
        return {"meta": {"page": 1, "of": [1, 2]}, "list_ids": ["l1", "l2"], "contacts": self.CONTACTS, **extra}

    @pytest.mark.parametrize("indent", [None, 2], ids=["one-line", "pretty"])
    def test_the_only_array_of_objects_is_read_with_a_warning(self, tmp_path, chunk, indent):
        path = write(tmp_path, "c.json", json.dumps(self.wrapped(count=2, next=None), indent=indent))
        source = JsonFile(path)
        assert (source.layout, source.array_key) == ("object", "contacts")
        assert list(source.records()) == self.CONTACTS
        assert list(source.records()) == self.CONTACTS  # a second pass (dedupe="last")
        assert source.warnings == [
            f"{path}: the top level is an object, not an array; the contacts are read from its only array of "
            "objects, under 'contacts' (set json_array_key='contacts' to choose it yourself)."
        ]

    def test_the_api_list_response_shape(self, tmp_path):
        body = {"contacts": self.CONTACTS, "contacts_count": 2, "_links": {"next": {"href": "/v3/contacts?c=x"}}}
        assert list(iter_json_records(write(tmp_path, "c.json", json.dumps(body)))) == self.CONTACTS

    def test_named_key(self, tmp_path, chunk):
        body = {"other": [{"email": "not@these.co"}], **self.wrapped()}
        source = JsonFile(write(tmp_path, "c.json", json.dumps(body, indent=1)), json_array_key="contacts")
        assert list(source.records()) == self.CONTACTS
        assert source.warnings == []

    def test_named_key_streams(self, tmp_path, monkeypatch):
        """With the key named nothing is read ahead: the first record comes before a broken tail is seen."""
        monkeypatch.setattr(_json_stream, "CHUNK_CHARS", 16)
        path = write(tmp_path, "c.json", '{"contacts": [' + json.dumps(self.CONTACTS[0]) + ", {broken" + " " * 10_000)
        records = iter_json_records(path, json_array_key="contacts")
        assert next(records) == self.CONTACTS[0]
        with pytest.raises(ContactFileError, match="record 2: invalid JSON"):
            next(records)

    def test_without_the_key_the_whole_object_is_checked_before_any_record(self, tmp_path):
        path = write(tmp_path, "c.json", json.dumps(self.wrapped())[:-1] + ', "b": [{"x": 1}]}')
        with pytest.raises(ContactFileError) as info:
            JsonFile(path)
        assert str(info.value) == (
            f"{path}: the top level is an object with keys meta, list_ids, contacts, b; 'contacts' and 'b' both "
            "hold arrays of objects: set json_array_key to the key holding the contacts."
        )
        assert list(iter_json_records(path, json_array_key="b")) == [{"x": 1}]

    def test_no_array_of_objects(self, tmp_path):
        path = write(tmp_path, "c.json", json.dumps({"data": {"contacts": self.CONTACTS}, "n": 2}))
        with pytest.raises(ContactFileError) as info:
            list(iter_json_records(path))
        assert str(info.value).startswith(
            f"{path}: the top level is an object with keys data, n, and none holds an array of contact objects: "
            "set json_array_key to the key holding the contacts"
        )

    def test_an_object_with_an_email_and_an_array_of_objects_is_ambiguous(self, tmp_path):
        path = write(tmp_path, "c.json", json.dumps({"email": "owner@b.co", "contacts": self.CONTACTS}))
        with pytest.raises(
            ContactFileError, match="one contact .* or a wrapper of the array of objects under 'contacts'"
        ):
            JsonFile(path)
        assert list(iter_json_records(path, json_array_key="contacts")) == self.CONTACTS

    def test_an_email_key_mapped_by_column_map_makes_it_one_contact(self, tmp_path):
        path = write(tmp_path, "c.json", json.dumps({"Contact": "a@b.co", "tags": ["x"], "home": {"city": "Oslo"}}))
        with pytest.raises(ContactFileError, match="none holds an array of contact objects"):
            JsonFile(path)
        assert list(iter_json_records(path, column_map={"Contact": "email"})) == [json.loads(path.read_text())]

    @pytest.mark.parametrize(
        "record",
        [{"email": "a@b.co", "tags": ["x"], "address": {"city": "Paris"}}, {"first_name": "No Email"}, {}],
        ids=["email-key", "plain-values", "empty"],
    )
    def test_one_contact_object_is_one_record(self, tmp_path, chunk, record):
        for indent in (None, 2):
            source = JsonFile(write(tmp_path, "one.json", json.dumps(record, indent=indent)))
            assert (source.layout, list(source.records()), source.warnings) == ("record", [record], [])

    def test_an_only_key_with_an_empty_array_is_no_contacts(self, tmp_path):
        path = write(tmp_path, "c.json", '{"contacts": [ ]}')
        source = JsonFile(path)
        assert list(source.records()) == []
        assert source.warnings == [
            f"{path}: the top level is an object whose only key, 'contacts', holds an empty array: no contacts."
        ]

    def test_many_keys_are_counted(self, tmp_path):
        path = write(tmp_path, "c.json", json.dumps({f"k{i}@b.co": {"first_name": "x"} for i in range(25)}))
        with pytest.raises(ContactFileError, match="with keys k0@b.co, k1@b.co, .*, k9@b.co and 15 more, and none"):
            JsonFile(path)

    def test_named_key_missing(self, tmp_path):
        path = write(tmp_path, "c.json", json.dumps(self.wrapped()))
        with pytest.raises(ContactFileError) as info:
            list(iter_json_records(path, json_array_key="people"))
        assert str(info.value) == (
            f"{path}: the top-level object has no key 'people' (its keys: meta, list_ids, contacts); set "
            "json_array_key to the key holding the contacts."
        )

    @pytest.mark.parametrize(("value", "kind"), [('{"a": 1}', "dict"), ('"x"', "str"), ("null", "NoneType")])
    def test_named_key_not_an_array(self, tmp_path, value, kind):
        path = write(tmp_path, "c.json", '{"contacts": ' + value + "}")
        with pytest.raises(ContactFileError, match=f"the value under 'contacts' is a JSON {kind}, not an array"):
            list(iter_json_records(path, json_array_key="contacts"))

    def test_named_key_twice(self, tmp_path):
        path = write(tmp_path, "c.json", '{"contacts": [{"email": "a@b.co"}],\n "contacts": []}')
        records = iter_json_records(path, json_array_key="contacts")
        assert next(records) == {"email": "a@b.co"}
        with pytest.raises(ContactFileError, match="line 2, column 2: the key 'contacts' appears twice"):
            next(records)

    def test_named_key_for_an_array_or_json_lines(self, tmp_path):
        with pytest.raises(ContactFileError, match="the top level is an array .*drop json_array_key"):
            JsonFile(write(tmp_path, "a.json", json.dumps(self.CONTACTS)), json_array_key="contacts")
        lines = write(tmp_path, "c.jsonl", "\n".join(json.dumps(r) for r in self.CONTACTS))
        with pytest.raises(ContactFileError, match="line 2, column 1: more JSON after the top-level object"):
            list(iter_json_records(lines, json_array_key="contacts"))
        with pytest.raises(ContactFileError, match="does not start with '{'"):
            JsonFile(write(tmp_path, "c.csv", "email\na@b.co\n"), json_array_key="contacts")

    def test_json_lines_are_not_taken_for_one_object(self, tmp_path, chunk):
        lines = [json.dumps(self.wrapped()), json.dumps({"email": "e@f.co"})]
        source = JsonFile(write(tmp_path, "c.jsonl", "\n".join(lines)))
        assert source.layout == "lines"
        assert list(source.records()) == [self.wrapped(), {"email": "e@f.co"}]

    def test_records_of_the_array_are_numbered_and_checked(self, tmp_path, chunk):
        path = write(tmp_path, "c.json", '{"contacts": [{"email": "a@b.co"}, 7]}')
        records = iter_json_records(path, json_array_key="contacts")
        assert next(records) == {"email": "a@b.co"}
        with pytest.raises(ContactFileError, match="record 2 is a JSON int, not an object"):
            next(records)

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ('{"contacts": [{"email": "a@b.co"}', "the array under 'contacts' is not closed (after record 1)"),
            ('{"contacts": [{"email": "a@b.co"}, {"email": ', "record 2: invalid JSON (Expecting value); the file "
             "ends before the array is closed (truncated?)"),
            ('{"contacts": [{"email": "a@b.co"}]', "line 1, column 35: invalid JSON in the top-level object (expected "
             "',' or '}' after the value under 'contacts'); the file ends inside it (truncated?)"),
            ('{"contacts": [{"email": "a@b.co"}]\n "x": 1}', "line 2, column 2: invalid JSON in the top-level object "
             "(expected ',' or '}' after the value under 'contacts')"),
            ('{"contacts" [{"email": "a@b.co"}]}', "line 1, column 13: invalid JSON in the top-level object "
             "(expected ':' after the key 'contacts')"),
            ('{"contacts": [], x: 1}', "line 1, column 18: invalid JSON in the top-level object (expected a key in "
             "double quotes)"),
            ('{"contacts": [], "x": tru}', "line 1, column 23: invalid JSON in the value under 'x' (Expecting value)"),
        ],
        ids=["array-not-closed", "record-cut", "object-not-closed", "no-comma", "no-colon", "bare-key", "bad-value"],
    )  # fmt: skip
    def test_broken_objects_name_the_place(self, tmp_path, chunk, text, message):
        path = write(tmp_path, "c.json", text)
        with pytest.raises(ContactFileError) as info:
            list(iter_json_records(path, json_array_key="contacts"))
        assert str(info.value) == f"{path}: {message}."

    def test_a_bom_before_the_object(self, tmp_path):
        path = write(tmp_path, "c.json", b"\xef\xbb\xbf" + json.dumps(self.wrapped()).encode())
        assert list(iter_json_records(path)) == self.CONTACTS
