"""Unit tests for cc_provider.contacts.sources: which reader reads a source, decided before any row is read."""

from __future__ import annotations

import pytest

from cc_provider.contacts.csv_reader import CsvFile
from cc_provider.contacts.sources import is_csv, open_source

CONTACTS = [{"email": "a@b.co"}, {"email": "c@d.co"}]


def write(tmp_path, text: str, name: str):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8", newline="")
    return path


class TestFiles:
    @pytest.mark.parametrize("name", ["c.csv", "c.TSV", "c.txt"])
    def test_csv_suffixes(self, tmp_path, name):
        assert is_csv(write(tmp_path, '[{"email": "a@b.co"}]', name))  # the suffix wins over the content

    @pytest.mark.parametrize("name", ["c.json", "c.jsonl", "c.NDJSON"])
    def test_json_suffixes(self, tmp_path, name):
        assert not is_csv(write(tmp_path, "email\na@b.co\n", name))

    @pytest.mark.parametrize(
        ("text", "csv"),
        [("email\na@b.co\n", True), ('[{"email": "a@b.co"}]', False), ('\ufeff \r\n {"email": "a@b.co"}', False)],
    )
    def test_suffix_free_path_is_sniffed(self, tmp_path, text, csv):
        assert is_csv(write(tmp_path, text, "export")) is csv

    def test_a_csv_file_is_read_as_csv(self, tmp_path):
        path = write(tmp_path, "email\na@b.co\n", "export")
        opened = open_source(path)
        assert (opened.name, opened.json, opened.records) == (str(path), None, None)
        assert opened.csv is not None and list(opened.csv.rows()) == [(2, ["a@b.co"], False)]

    def test_a_csv_file_object(self, tmp_path):
        csv_file = CsvFile(write(tmp_path, "email\na@b.co\n", "c.csv"))
        assert open_source(csv_file).csv is csv_file

    def test_a_json_file_gives_numbered_records(self, tmp_path):
        path = write(tmp_path, '{"email": "a@b.co"}\n{"email": "c@d.co"}\n', "c.jsonl")
        opened = open_source(path)
        assert (opened.name, opened.csv, opened.one_shot) == (str(path), None, False)
        assert opened.records is not None and list(opened.records()) == list(enumerate(CONTACTS, start=1))

    def test_json_array_key_is_for_json(self, tmp_path):
        with pytest.raises(ValueError, match="json_array_key is for JSON files; .* is read as CSV"):
            open_source(write(tmp_path, "email\na@b.co\n", "c.csv"), json_array_key="contacts")


class TestRecords:
    def test_a_list_can_be_read_again(self):
        opened = open_source(CONTACTS)
        assert (opened.name, opened.one_shot) == ("records", False)
        assert opened.records is not None
        assert list(opened.records()) == list(opened.records()) == list(enumerate(CONTACTS, start=1))

    def test_an_iterator_is_read_once(self):
        assert open_source(iter(CONTACTS)).one_shot

    def test_one_mapping_is_not_a_source(self):
        with pytest.raises(TypeError, match="one mapping"):
            open_source({"email": "a@b.co"})

    def test_json_array_key_is_not_for_records(self):
        with pytest.raises(ValueError, match="json_array_key is for JSON files"):
            open_source(CONTACTS, json_array_key="contacts")
