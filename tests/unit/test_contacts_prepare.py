"""Unit tests for cc_provider.contacts.prepare: PreparedImport over CSV, JSON and records, with accounting."""

from __future__ import annotations

import csv
import json
from datetime import date

import pytest

from cc_provider.contacts import rules
from cc_provider.contacts.csv_reader import UTF8_PER_LINE, CsvFile
from cc_provider.contacts.errors import ContactFileError
from cc_provider.contacts.prepare import PreparedImport, source_identity
from cc_provider.contacts.rejects import Rejected

TODAY = date(2026, 6, 15)

V2_CSV = (
    "Email address,First Name,Last Name,Birthday_Month,Birthday_Day,Anniversary,Custom Field 1,Notes\r\n"
    "ada@example.com,Ada,Lovelace,12,10,2006-11-15,gold,ignored\r\n"  # row 2
    "not-an-email,Bad,Row,,,,,\r\n"  # row 3
    "ADA@Example.com,Ada,Again,,,,,\r\n"  # row 4: a duplicate of row 2
    "grace@example.com,Grace,Hopper,13,1,2036-06-16,,\r\n"  # row 5: two problems
    ",,,,,,,\r\n"  # row 6: blank
    "alan@example.com,Alan,Turing,6,23,,silver,\r\n"  # row 7
)


def write(tmp_path, text: str, name: str = "contacts.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8", newline="")
    return path


def read_rejects(path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def prepare(source, **options) -> PreparedImport:
    return PreparedImport(source, today=TODAY, **options)


class TestCsv:
    def test_rows_records_and_counts(self, tmp_path):
        rejects = tmp_path / "out" / "rejects.csv"
        prepared = prepare(write(tmp_path, V2_CSV), rejects_path=rejects)
        assert prepared.columns == (
            "email",
            "first_name",
            "last_name",
            "birthday_month",
            "birthday_day",
            "anniversary",
            "cf:custom_field_1",
        )
        assert prepared.custom_fields == frozenset({"custom_field_1"})
        assert prepared.encoding == "utf-8" and prepared.delimiter == ","
        assert list(prepared.rows()) == [
            (2, ["ada@example.com", "Ada", "Lovelace", "12", "10", "2006-11-15", "gold"]),
            (7, ["alan@example.com", "Alan", "Turing", "6", "23", "", "silver"]),
        ]
        assert prepared.counts.as_dict() == {
            "rows_read": 5,
            "rows_valid": 2,
            "contacts_distinct": 2,
            "rows_rejected": 3,
            "rows_blank": 1,
            "duplicates": 1,
            "problems": 4,
            "by_reason": {"duplicate_email": 1, "invalid_birthday": 1, "invalid_email": 1},
        }
        assert read_rejects(rejects) == [
            ["row_number", "column", "value", "reason"],
            ["3", "Email address", "not-an-email", "not a valid email address"],
            [
                "4",
                "Email address",
                "ADA@Example.com",
                "duplicate email address; an earlier row with it is imported (first wins)",
            ],
            ["5", "Birthday_Month", "13", "birthday_month must be between 1 and 12"],
            ["5", "Anniversary", "2036-06-16", "anniversary is more than 10 years in the future"],
        ]
        assert prepared.rejects_path == rejects
        assert any("Notes" in warning for warning in prepared.warnings)

    def test_records_are_json_import_records(self, tmp_path):
        prepared = prepare(write(tmp_path, V2_CSV))
        assert list(prepared.records()) == [
            (
                2,
                {
                    "email": "ada@example.com",
                    "first_name": "Ada",
                    "last_name": "Lovelace",
                    "birthday_month": 12,
                    "birthday_day": 10,
                    "anniversary": "2006-11-15",
                    "cf:custom_field_1": "gold",
                },
            ),
            (7, {"email": "alan@example.com", "first_name": "Alan", "last_name": "Turing", "birthday_month": 6,
                 "birthday_day": 23, "cf:custom_field_1": "silver"}),
        ]  # fmt: skip

    def test_last_wins(self, tmp_path):
        prepared = prepare(write(tmp_path, V2_CSV), dedupe="last")
        assert [n for n, _ in prepared.rows()] == [4, 7]
        rejected: list[Rejected] = []
        prepared = prepare(write(tmp_path, V2_CSV), dedupe="last", on_reject=rejected.append)
        list(prepared.rows())
        duplicate = next(r for r in rejected if r.code == rules.DUPLICATE_EMAIL)
        assert (duplicate.row_number, duplicate.reason) == (
            2,
            "duplicate email address; row 4 with it is imported (last wins)",
        )
        assert prepared.counts.rows_read == 5 and prepared.counts.rows_valid == 2

    def test_last_wins_ignores_an_invalid_later_row(self, tmp_path):
        text = "email,birthday_month,birthday_day\na@b.co,1,1\nA@B.CO,13,1\n"
        prepared = prepare(write(tmp_path, text), dedupe="last")
        assert [n for n, _ in prepared.rows()] == [2]
        assert prepared.counts.by_reason == {"invalid_birthday": 1}

    def test_no_dedupe(self, tmp_path):
        prepared = prepare(write(tmp_path, V2_CSV), dedupe=None)
        assert [n for n, _ in prepared.rows()] == [2, 4, 7]

    def test_bad_dedupe_mode(self, tmp_path):
        with pytest.raises(ValueError, match="dedupe must be"):
            prepare(write(tmp_path, V2_CSV), dedupe="newest")

    def test_column_map(self, tmp_path):
        text = "Contact,Shoe,Notes\na@b.co,42,x\n"
        prepared = prepare(write(tmp_path, text), column_map={"Contact": "email", "Shoe": "cf:shoe_size", "Nope": None})
        assert prepared.columns == ("email", "cf:shoe_size")
        assert list(prepared.rows()) == [(2, ["a@b.co", "42"])]
        assert prepared.warnings == [
            f"{prepared.source_name}: columns not imported: Notes.",
            f"{prepared.source_name}: column_map names columns the file lacks: Nope.",
        ]
        prepared = prepare(write(tmp_path, text), column_map={"Contact": "email", "Shoe": None, "Notes": None})
        assert prepared.warnings == []  # the columns it was asked to drop are not named

    def test_no_email_column(self, tmp_path):
        path = write(tmp_path, "Name,City\nAda,London\n")
        with pytest.raises(ContactFileError, match=r"no email column among \['Name', 'City'\]"):
            prepare(path)

    def test_ambiguous_header(self, tmp_path):
        with pytest.raises(ContactFileError, match="header: columns 'email' and 'E-mail' both map to 'email'"):
            prepare(write(tmp_path, "email,E-mail\na@b.co,c@d.co\n"))

    def test_bad_column_map_target(self, tmp_path):
        with pytest.raises(ValueError, match="column_map: 'shoe' is not a V3 import name"):
            prepare(write(tmp_path, "email,Shoe\na@b.co,1\n"), column_map={"Shoe": "shoe"})
        with pytest.raises(ValueError, match="column_map: 'shoe' is not a V3 import name"):
            prepare([{"email": "a@b.co"}], column_map={"Shoe": "shoe"})  # before any record is read

    def test_whitespace_only_rows_are_blank(self, tmp_path):
        prepared = prepare(write(tmp_path, "email,name\na@b.co,Ada\n  ,  \n"))
        assert len(list(prepared.rows())) == 1
        assert (prepared.counts.rows_read, prepared.counts.rows_blank) == (1, 1)

    def test_line_breaks_in_values_become_spaces(self, tmp_path):
        prepared = prepare(write(tmp_path, 'email,street\na@b.co,"1 Main St\r\nApt 4"\n'))
        assert list(prepared.rows()) == [(2, ["a@b.co", "1 Main St Apt 4"])]

    def test_semicolons_and_latin1(self, tmp_path):
        path = tmp_path / "excel.csv"
        path.write_bytes("E-mail;First Name\nzoe@example.com;Zoë\n".encode("cp1252"))
        prepared = prepare(path)
        assert list(prepared.rows()) == [(2, ["zoe@example.com", "Zoë"])]
        assert prepared.encoding == UTF8_PER_LINE
        assert prepared.warnings == [f"{path}: row 2 is not UTF-8; read as Windows-1252."]

    @pytest.mark.parametrize("dedupe", ["first", "last", None])
    def test_rows_read_as_windows_1252_are_named_once_after_reading(self, tmp_path, dedupe):
        path = tmp_path / "mixed.csv"
        path.write_bytes("email,first_name,Notes\r\na@b.co,José,x\r\n".encode() + b"c@d.co,Jos\xe9,y\r\n")
        prepared = prepare(path, dedupe=dedupe)
        assert prepared.warnings == [f"{path}: columns not imported: Notes."]
        assert list(prepared.rows()) == [(2, ["a@b.co", "José"]), (3, ["c@d.co", "José"])]
        assert prepared.warnings == [
            f"{path}: row 3 is not UTF-8; read as Windows-1252.",
            f"{path}: columns not imported: Notes.",
        ]

    def test_excel_sep_line(self, tmp_path):
        path = write(tmp_path, "sep=;\r\nE-mail;First Name\r\nzoe@example.com;Zoë\r\n")
        prepared = prepare(path)
        assert prepared.delimiter == ";"
        assert list(prepared.rows()) == [(2, ["zoe@example.com", "Zoë"])]
        assert prepared.warnings == [
            f"{path}: the first line 'sep=;' (Excel's delimiter hint) sets the delimiter ';'; it is skipped, so "
            "the header is the next line (row 1)."
        ]

    def test_outlook_title_and_job_title(self, tmp_path):
        path = write(tmp_path, "First Name,Title,Job Title,E-mail Address\r\nAda,Mrs.,Engineer,ada@b.co\r\n")
        prepared = prepare(path)
        assert prepared.columns == ("first_name", "job_title", "email")
        assert list(prepared.rows()) == [(2, ["Ada", "Engineer", "ada@b.co"])]
        assert prepared.warnings == [
            f"{path}: 'Title' is not imported: 'Job Title' fills job_title (a heading naming the field itself wins "
            "over an alias); to import 'Title' as well, map it to another field with column_map."
        ]
        prepared = prepare(path, column_map={"Title": "job_title"})
        assert list(prepared.rows()) == [(2, ["Ada", "Mrs.", "ada@b.co"])]
        assert (
            "'Job Title' is not imported: 'Title' fills job_title (column_map wins over a heading)"
            in (prepared.warnings[0])
        )

    def test_file_error_mid_way_keeps_the_counts_so_far(self, tmp_path):
        prepared = prepare(
            write(tmp_path, "email,name\na@b.co,Ada\nbad,Bad\nc@d.co\n"), rejects_path=tmp_path / "r.csv"
        )
        with pytest.raises(ContactFileError, match="row 4"):
            list(prepared.rows())
        assert (prepared.counts.rows_read, prepared.counts.rows_rejected) == (2, 1)
        assert len(read_rejects(tmp_path / "r.csv")) == 2  # the rejects file is closed and complete

    def test_iterated_once(self, tmp_path):
        prepared = prepare(write(tmp_path, V2_CSV))
        list(prepared.rows())
        with pytest.raises(RuntimeError, match="once"):
            list(prepared.rows())


class TestJsonAndRecords:
    RECORDS = [
        {"email": "a@b.co", "first_name": "Ada", "birthday_month": 7.0, "birthday_day": 4, "tags": ["x"]},
        {"Email Address": "c@d.co", "Zip Code": 90210, "anniversary": date(2006, 11, 15)},
        {"email": "A@B.co"},
        {"email": "e@f.co", "first_name": ["not", "text"]},
        {"first_name": "No Email"},
    ]

    def check(self, prepared: PreparedImport) -> None:
        assert list(prepared.records()) == [
            (1, {"email": "a@b.co", "first_name": "Ada", "birthday_month": 7, "birthday_day": 4}),
            (2, {"email": "c@d.co", "zip": "90210", "anniversary": "2006-11-15"}),
        ]
        counts = prepared.counts
        assert (counts.rows_read, counts.rows_valid, counts.rows_rejected) == (5, 2, 3)
        assert counts.by_reason == {"duplicate_email": 1, "not_text": 1, "missing_email": 1}

    def test_records(self):
        self.check(prepare(self.RECORDS))

    def test_generator_of_records(self):
        self.check(prepare(iter(self.RECORDS)))

    @pytest.mark.parametrize("name", ["contacts.json", "contacts.jsonl"])
    def test_json_files(self, tmp_path, name):
        records = [{**r, "anniversary": "2006-11-15"} if "anniversary" in r else r for r in self.RECORDS]
        text = json.dumps(records) if name.endswith(".json") else "\n".join(json.dumps(r) for r in records)
        self.check(prepare(write(tmp_path, text, name)))

    def test_not_text_is_reported(self):
        rejected: list[Rejected] = []
        list(prepare(self.RECORDS, on_reject=rejected.append).records())
        assert Rejected(4, "first_name", "['not', 'text']", "must be text, a number or a date, not list") in rejected

    def test_last_wins_needs_a_second_pass(self):
        assert [n for n, _ in prepare(self.RECORDS, dedupe="last").records()] == [2, 3]
        with pytest.raises(ValueError, match="reads the source twice"):
            prepare(iter(self.RECORDS), dedupe="last")

    def test_custom_fields_seen(self):
        prepared = prepare([{"email": "a@b.co", "cf:size": "L"}, {"email": "c@d.co", "Custom Field 2": "x"}])
        list(prepared.records())
        assert prepared.custom_fields == frozenset({"size", "custom_field_2"})

    def test_rows_need_columns(self):
        with pytest.raises(ValueError, match="needs fixed columns"):
            prepare(self.RECORDS).rows()

    def test_rows_aligned_with_given_columns(self):
        prepared = prepare(self.RECORDS[:3], columns=["email", "first_name", "zip", "birthday_month", "birthday_day",
                                                      "anniversary"])  # fmt: skip
        assert list(prepared.rows()) == [
            (1, ["a@b.co", "Ada", "", "7", "4", ""]),
            (2, ["c@d.co", "", "90210", "", "", "2006-11-15"]),
        ]

    def test_rows_with_a_key_outside_the_columns(self):
        prepared = prepare([{"email": "a@b.co", "city": "Paris"}], columns=["email"])
        with pytest.raises(ContactFileError, match="records: row 1: city not among the columns"):
            list(prepared.rows())

    def test_non_mapping_record(self):
        with pytest.raises(ContactFileError, match="records: row 2 is a str, not a mapping"):
            list(prepare([{"email": "a@b.co"}, "b@c.co"]).records())

    def test_ambiguous_keys(self):
        with pytest.raises(ContactFileError, match="records: row 1: columns 'email' and 'Email' both map"):
            list(prepare([{"email": "a@b.co", "Email": "c@d.co"}]).records())

    def test_empty_source(self):
        prepared = prepare([])
        assert list(prepared.records()) == []
        assert prepared.counts.rows_read == 0


class TestContactsDistinct:
    """``contacts_distinct``: the contacts the valid rows are, as the API merges rows of one address."""

    CSV = (
        "email,sms_number,first_name\r\n"
        "a@b.co,,Ada\r\n"  # row 2
        "A@B.CO,,Ada again\r\n"  # row 3: the same contact
        "c@d.co,508-123-1234,Cy\r\n"  # row 4
        ",5081231235,Sms only\r\n"  # row 5
        ",508-123-1235,The same number\r\n"  # row 6: the same contact as row 5
        ",5081231234,Cy's number\r\n"  # row 7: another contact (its number is row 4's, but row 4 has an email)
    )

    @pytest.mark.parametrize(("dedupe", "valid", "distinct"), [(None, 6, 4), ("first", 5, 4), ("last", 5, 4)])
    def test_csv(self, tmp_path, dedupe, valid, distinct):
        prepared = prepare(write(tmp_path, self.CSV), dedupe=dedupe)
        assert len(list(prepared.rows())) == valid
        assert (prepared.counts.rows_valid, prepared.counts.contacts_distinct) == (valid, distinct)
        assert prepared.counts.as_dict()["contacts_distinct"] == distinct

    @pytest.mark.parametrize(("dedupe", "valid", "distinct"), [(None, 6, 4), ("first", 5, 4), ("last", 5, 4)])
    def test_records(self, dedupe, valid, distinct):
        records = [{k: v for k, v in row.items() if v} for row in csv.DictReader(self.CSV.splitlines())]
        prepared = prepare(records, dedupe=dedupe)
        assert len(list(prepared.records())) == valid
        assert (prepared.counts.rows_valid, prepared.counts.contacts_distinct) == (valid, distinct)

    def test_the_issue_case_three_rows_two_contacts(self):
        prepared = prepare([{"email": "a@b.co"}, {"email": "a@B.co"}, {"email": "c@d.co"}], dedupe=None)
        list(prepared.records())
        assert (prepared.counts.rows_valid, prepared.counts.contacts_distinct) == (3, 2)

    def test_sms_only_file_without_dedupe(self, tmp_path):
        prepared = prepare(write(tmp_path, "sms_number\n5081231234\n508-123-1234\n"), dedupe="first")
        assert len(list(prepared.rows())) == 2
        assert prepared.counts.contacts_distinct == 1

    def test_rejected_rows_are_not_contacts(self, tmp_path):
        prepared = prepare(write(tmp_path, V2_CSV), dedupe=None)
        list(prepared.rows())
        assert (prepared.counts.rows_valid, prepared.counts.contacts_distinct) == (3, 2)


class TestRecordWarnings:
    def test_keys_not_imported_are_named_once(self):
        records = [{"email": f"p{i}@b.co", "tags": ["x"], "Notes": "n", **({"extra": 1} if i % 2 else {})}
                   for i in range(1000)]  # fmt: skip
        prepared = prepare(records)
        assert prepared.warnings == []  # known once the records are read
        assert len(list(prepared.records())) == 1000
        assert prepared.warnings == ["records: keys not imported: tags, Notes, extra."]

    def test_many_keys_not_imported_are_counted(self):
        prepared = prepare([{"email": f"p{i}@b.co", f"odd_{i}": 1} for i in range(30)])
        list(prepared.records())
        assert prepared.warnings == [
            "records: keys not imported: " + ", ".join(f"odd_{i}" for i in range(20)) + " and 10 more."
        ]

    def test_shadowed_keys_and_unused_column_map_keys(self):
        prepared = prepare(
            [{"email": "a@b.co", "Title": "Mrs.", "Job Title": "CEO"}, {"email": "c@d.co", "Title": "Dr."}],
            column_map={"Nope": None},
        )
        assert list(prepared.records()) == [(1, {"email": "a@b.co", "job_title": "CEO"}), (2, {"email": "c@d.co",
                                                                                      "job_title": "Dr."})]  # fmt: skip
        assert prepared.warnings == [
            "records: 'Title' is not imported: 'Job Title' fills job_title (a heading naming the field itself wins "
            "over an alias); to import 'Title' as well, map it to another field with column_map.",
            "records: column_map names keys no record has: Nope.",
        ]

    def test_keys_column_map_drops_are_not_named(self):
        prepared = prepare([{"email": "a@b.co", "tags": 1, "Notes": "n"}], column_map={"tags": None})
        list(prepared.records())
        assert prepared.warnings == ["records: keys not imported: Notes."]

    def test_warnings_are_added_once_with_two_passes(self):
        prepared = prepare([{"email": "a@b.co", "tags": 1}, {"email": "A@b.co", "tags": 2}], dedupe="last")
        assert [n for n, _ in prepared.records()] == [2]
        assert prepared.warnings == ["records: keys not imported: tags."]


class TestJsonLayouts:
    CONTACTS = [{"email": f"p{i}@example.com", "first_name": f"P{i}"} for i in range(3)]

    def test_the_issue_case_one_object_holding_the_array(self, tmp_path):
        """It used to end as one row rejected for 'no email', and nothing imported."""
        path = write(tmp_path, json.dumps({"contacts": self.CONTACTS}), "people.json")
        prepared = prepare(path)
        assert [record for _, record in prepared.records()] == self.CONTACTS
        assert (prepared.counts.rows_read, prepared.counts.rows_valid) == (3, 3)
        assert prepared.warnings == [
            f"{path}: the top level is an object, not an array; the contacts are read from its only array of "
            "objects, under 'contacts' (set json_array_key='contacts' to choose it yourself)."
        ]

    def test_json_array_key(self, tmp_path):
        path = write(tmp_path, json.dumps({"a": [{"email": "x@y.co"}], "contacts": self.CONTACTS}), "people.json")
        with pytest.raises(ContactFileError, match="people.json: the top level is an object with keys a, contacts;"):
            prepare(path)  # before anything is read or sent
        prepared = prepare(path, json_array_key="contacts", dedupe="last")
        assert [record for _, record in prepared.records()] == self.CONTACTS
        assert prepared.warnings == []

    def test_a_column_map_email_key_makes_one_object_one_contact(self, tmp_path):
        path = write(tmp_path, json.dumps({"Contact": "a@b.co", "kids": [{"name": "Bo"}]}), "one.json")
        with pytest.raises(ContactFileError, match="one contact .* or a wrapper"):
            prepare(path, column_map={"Contact": "email"})
        rejected: list[Rejected] = []
        assert list(prepare(path, json_array_key="kids", on_reject=rejected.append).records()) == []
        assert [(problem.row_number, problem.code) for problem in rejected] == [(1, "missing_email")]


class TestSourceIdentity:
    """What tells a retry that it imports the same input (the resume fingerprint is built on it)."""

    def test_a_file_is_identified_by_path_size_and_modification_time(self, tmp_path):
        path = tmp_path / "contacts.csv"
        path.write_text("email\na@example.com\n")
        first = source_identity(str(path))
        assert first == source_identity(path) == source_identity(CsvFile(path))
        assert first["path"] == str(path.resolve()) and first["size"] == path.stat().st_size
        path.write_text("email\nb@example.com\nc@example.com\n")
        assert source_identity(str(path)) != first

    def test_the_json_array_key_is_part_of_it(self, tmp_path):
        path = tmp_path / "contacts.json"
        path.write_text('{"contacts": []}')
        assert source_identity(path, "contacts") != source_identity(path, "people") != source_identity(path)

    def test_records_in_a_list_are_identified_by_their_content(self):
        records = [{"email": "a@example.com"}, {"email": "b@example.com"}]
        assert source_identity(records) == source_identity([dict(r) for r in records])
        assert source_identity(records) != source_identity(records[:1])

    def test_an_iterator_never_matches_another_import(self):
        records = [{"email": "a@example.com"}]
        assert source_identity(iter(records)) != source_identity(iter(records))

    def test_prepared_import_carries_it(self, tmp_path):
        path = tmp_path / "contacts.csv"
        path.write_text("email\na@example.com\n")
        assert PreparedImport(str(path)).identity == source_identity(str(path))
