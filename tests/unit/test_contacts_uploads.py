"""Unit tests for cc_provider.contacts.uploads: CSV files and JSON bodies within the API's limits, measured exactly."""

from __future__ import annotations

import csv
import io
import itertools
import json
from array import array

import pytest

from cc_provider.contacts import uploads
from cc_provider.contacts.uploads import (
    MAX_CONTACTS_PER_REQUEST,
    MAX_CSV_CONTACTS,
    MAX_FILE_BYTES,
    MAX_REQUEST_BYTES,
    CsvChunk,
    JsonImportBatch,
    iter_csv_chunks,
    iter_json_import_batches,
)

# -- CSV files (iter_csv_chunks) -------------------------------------------------------------------------

COLUMNS = ("email", "first_name", "cf:note")


def csv_rows(n: int, start: int = 2, **fill) -> list[tuple[int, list[str]]]:
    return [
        (start + i, [f"p{start + i}@example.com", fill.get("first_name", "Ada"), fill.get("note", "")])
        for i in range(n)
    ]


def expected_bytes(values_rows, columns=COLUMNS) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(columns)
    writer.writerows(values_rows)
    return out.getvalue().encode("utf-8")


def check_chunks(chunks: list[CsvChunk], source, *, max_contacts: int, max_bytes: int) -> None:
    """Every invariant a split must keep, checked on the files themselves."""
    all_rows, all_numbers = [], []
    for number, chunk in enumerate(chunks, start=1):
        data = chunk.path.read_bytes()
        assert chunk.number == number
        assert len(data) == chunk.size <= max_bytes
        assert chunk.path.name == chunk.file_name == f"contacts_{number:04d}.csv"
        parsed = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
        assert parsed[0] == list(COLUMNS)  # the header in every file
        assert 1 <= len(parsed) - 1 == chunk.contact_count <= max_contacts
        assert data.count(b"\r\n") == chunk.contact_count + 1  # one line per contact
        all_rows.extend(parsed[1:])
        all_numbers.extend(chunk.row_numbers)
    assert all_rows == [list(values) for _, values in source]
    assert all_numbers == [n for n, _ in source]


class TestCsvSplitting:
    def test_one_file(self, tmp_path):
        source = csv_rows(3)
        (chunk,) = iter_csv_chunks(source, COLUMNS, directory=tmp_path)
        assert chunk.path.read_bytes() == expected_bytes([v for _, v in source])
        assert chunk.row_numbers == array("I", [2, 3, 4])
        assert chunk.contact_count == 3

    def test_nothing_to_write(self, tmp_path):
        assert list(iter_csv_chunks([], COLUMNS, directory=tmp_path)) == []
        assert list(tmp_path.iterdir()) == []

    @pytest.mark.parametrize("max_contacts", [1, 2, 7, 10])
    def test_contact_limit(self, tmp_path, max_contacts):
        source = csv_rows(23)
        out = list(iter_csv_chunks(source, COLUMNS, directory=tmp_path, max_contacts=max_contacts))
        check_chunks(out, source, max_contacts=max_contacts, max_bytes=MAX_FILE_BYTES)
        assert [c.contact_count for c in out][:-1] == [max_contacts] * (len(out) - 1)

    @pytest.mark.parametrize("max_bytes", [120, 200, 333, 1000])
    def test_byte_limit_is_greedy(self, tmp_path, max_bytes):
        source = [(n, [f"p{n}@example.com", "x" * (n % 13), "n" * (n % 7)]) for n in range(2, 80)]
        out = list(iter_csv_chunks(source, COLUMNS, directory=tmp_path, max_bytes=max_bytes))
        check_chunks(out, source, max_contacts=MAX_CSV_CONTACTS, max_bytes=max_bytes)
        for chunk, following in zip(out, out[1:], strict=False):
            first_line = following.path.read_bytes().split(b"\r\n")[1] + b"\r\n"
            assert chunk.size + len(first_line) > max_bytes  # the next row would not have fitted

    def test_exactly_max_bytes_fits_and_one_more_splits(self, tmp_path):
        header = len(b"email,first_name,cf:note\r\n")
        line = len(b"p2@example.com,Ada,\r\n")
        source = csv_rows(2)
        fits = list(iter_csv_chunks(source, COLUMNS, directory=None, max_bytes=header + 2 * line))
        assert [c.contact_count for c in fits] == [2] and fits[0].size == header + 2 * line
        split = list(iter_csv_chunks(source, COLUMNS, directory=None, max_bytes=header + 2 * line - 1))
        assert [c.contact_count for c in split] == [1, 1]

    def test_non_ascii_is_measured_in_bytes(self, tmp_path):
        source = csv_rows(40, first_name="Zoë😀" * 10)
        out = list(iter_csv_chunks(source, COLUMNS, directory=tmp_path, max_bytes=700))
        check_chunks(out, source, max_contacts=MAX_CSV_CONTACTS, max_bytes=700)
        assert all(len(c.path.read_text(encoding="utf-8")) < c.size for c in out)

    def test_values_that_need_quoting(self, tmp_path):
        source = [(2, ["a@b.co", 'The "Best", Co', ""]), (3, ["c@d.co", "  padded ", "x,y"])]
        (chunk,) = iter_csv_chunks(source, COLUMNS, directory=tmp_path)
        assert chunk.path.read_bytes() == expected_bytes([v for _, v in source])

    def test_dry_run_measures_the_same_chunks_without_files(self, tmp_path):
        source = csv_rows(50, note="n" * 30)
        written = list(iter_csv_chunks(source, COLUMNS, directory=tmp_path, max_bytes=900))
        measured = list(iter_csv_chunks(source, COLUMNS, directory=None, max_bytes=900))
        assert [(c.size, c.row_numbers) for c in measured] == [(c.size, c.row_numbers) for c in written]
        assert all(c.path is None for c in measured)
        assert measured[0].file_name == "contacts_0001.csv"

    def test_name(self, tmp_path):
        (chunk,) = iter_csv_chunks(csv_rows(1), COLUMNS, directory=tmp_path, name="run42")
        assert chunk.path == tmp_path / "run42_0001.csv"

    def test_is_streamed(self, tmp_path):
        def source():
            yield from csv_rows(3)
            raise AssertionError("read too far")

        chunks = iter_csv_chunks(source(), COLUMNS, directory=tmp_path, max_contacts=2)
        first = next(chunks)
        assert first.row_numbers == array("I", [2, 3])
        assert first.path.exists()
        chunks.close()
        assert first.path.exists()  # a finished chunk is never removed

    def test_default_limits(self):
        assert MAX_CSV_CONTACTS == 39_999 and MAX_FILE_BYTES == 4_000_000
        assert iter_csv_chunks.__kwdefaults__["max_contacts"] == 39_999
        assert iter_csv_chunks.__kwdefaults__["max_bytes"] == 4_000_000

    def test_40000_contacts_make_two_files(self, tmp_path):
        source = ((n, [f"{n}@x.co", "", ""]) for n in range(2, 40_002))
        out = list(iter_csv_chunks(source, COLUMNS, directory=tmp_path))
        assert [c.contact_count for c in out] == [39_999, 1]
        assert out[0].path.read_bytes().count(b"\r\n") == 40_000  # lines, header included
        assert out[1].row_numbers == array("I", [40_001])


class TestCsvSourceRows:
    def test_line_to_source_row(self):
        chunk = CsvChunk(1, None, 0, array("I", [5, 9, 12]))
        assert [chunk.source_row(line) for line in (1, 2, 3, 4, 5, 0, -1)] == [None, 5, 9, 12, None, None, None]


class TestCsvErrors:
    @pytest.mark.parametrize("max_contacts", [0, 40_000])
    def test_max_contacts_out_of_range(self, tmp_path, max_contacts):
        with pytest.raises(ValueError, match="max_contacts must be between 1 and 39999"):
            list(iter_csv_chunks(csv_rows(1), COLUMNS, directory=tmp_path, max_contacts=max_contacts))

    def test_max_bytes_below_the_header(self, tmp_path):
        with pytest.raises(ValueError, match="leaves no room"):
            list(iter_csv_chunks(csv_rows(1), COLUMNS, directory=tmp_path, max_bytes=10))

    def test_a_row_too_large_for_any_file_names_the_row_and_leaves_no_partial_file(self, tmp_path):
        source = [*csv_rows(2), (9, ["big@x.co", "x" * 500, ""])]
        gen = iter_csv_chunks(source, COLUMNS, directory=tmp_path, max_bytes=200)
        first = next(gen)
        with pytest.raises(ValueError, match="Row 9 alone is 512 bytes"):
            next(gen)
        assert sorted(p.name for p in tmp_path.iterdir()) == [first.path.name]

    def test_a_failing_source_leaves_no_partial_file(self, tmp_path):
        def source():
            yield from csv_rows(3)
            raise RuntimeError("database gone")

        with pytest.raises(RuntimeError, match="database gone"):
            list(iter_csv_chunks(source(), COLUMNS, directory=tmp_path))
        assert list(tmp_path.iterdir()) == []

    def test_line_breaks_in_values_are_refused(self, tmp_path):
        with pytest.raises(ValueError, match="Row 3 has a line break"):
            list(iter_csv_chunks([(3, ["a@b.co", "1 Main\nSt", ""])], COLUMNS, directory=tmp_path))

    def test_a_size_mismatch_is_caught(self, tmp_path, monkeypatch):
        real_open = uploads.Path.open

        def open_and_pad(self, *args, **kwargs):  # a file system that writes more than it is given
            handle = real_open(self, *args, **kwargs)
            handle.write("#")
            return handle

        monkeypatch.setattr(uploads.Path, "open", open_and_pad)
        with pytest.raises(RuntimeError, match="bytes but was measured as"):
            list(iter_csv_chunks(csv_rows(1), COLUMNS, directory=tmp_path))


# -- JSON bodies (iter_json_import_batches) --------------------------------------------------------------

LISTS = ["07936f78-662a-11eb-af0a-fa163e56c9b0"]
HEAD = b'{"import_data":['


def json_records(n: int, start: int = 1, **extra) -> list[tuple[int, dict]]:
    return [(start + i, {"email": f"p{start + i}@example.com", **extra}) for i in range(n)]


def encoded(record: dict) -> bytes:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def tail(list_ids=LISTS) -> bytes:
    return b'],"list_ids":' + json.dumps(list_ids, separators=(",", ":")).encode() + b"}"


def check_batches(batch_list: list[JsonImportBatch], source, list_ids=LISTS, *, max_contacts, max_bytes) -> None:
    """Every invariant a split must keep."""
    all_records, all_rows = [], []
    for batch in batch_list:
        assert len(batch.body) <= max_bytes
        body = json.loads(batch.body.decode("utf-8"))
        assert set(body) == {"import_data", "list_ids"}
        assert body["list_ids"] == list(list_ids)
        assert 1 <= len(body["import_data"]) <= max_contacts
        assert batch.contact_count == len(body["import_data"]) == len(batch.row_numbers)
        all_records.extend(body["import_data"])
        all_rows.extend(batch.row_numbers)
    assert all_records == [r for _, r in source]
    assert all_rows == [n for n, _ in source]


class TestJsonSplitting:
    def test_one_small_batch(self):
        source = json_records(3)
        out = list(iter_json_import_batches(source, LISTS))
        assert len(out) == 1
        assert out[0].body == HEAD + b",".join(encoded(r) for _, r in source) + tail()
        assert out[0].row_numbers == (1, 2, 3)
        assert out[0].contact_count == 3

    def test_no_records_no_batches(self):
        assert list(iter_json_import_batches([], LISTS)) == []

    @pytest.mark.parametrize("max_contacts", [1, 2, 3, 7, 10])
    def test_contact_limit(self, max_contacts):
        source = json_records(23)
        out = list(iter_json_import_batches(source, LISTS, max_contacts=max_contacts))
        check_batches(out, source, max_contacts=max_contacts, max_bytes=MAX_REQUEST_BYTES)
        sizes = [b.contact_count for b in out]
        assert sizes == [max_contacts] * (23 // max_contacts) + ([23 % max_contacts] if 23 % max_contacts else [])

    @pytest.mark.parametrize("max_bytes", [200, 257, 500, 1000, 4096])
    def test_byte_limit(self, max_bytes):
        source = [(i, {"email": f"p{i}@example.com", "first_name": "x" * (i % 37)}) for i in range(1, 120)]
        out = list(iter_json_import_batches(source, LISTS, max_bytes=max_bytes))
        check_batches(out, source, max_contacts=MAX_CONTACTS_PER_REQUEST, max_bytes=max_bytes)
        assert len(out) > 1
        # greedy: each body is full, i.e. the next record would not have fitted
        for batch, following in itertools.pairwise(out):
            next_record = encoded(json.loads(following.body)["import_data"][0])
            assert len(batch.body) + 1 + len(next_record) > max_bytes

    def test_both_limits_together(self):
        source = [(i, {"email": f"p{i}@example.com", "cf:note": "n" * (i % 50)}) for i in range(1, 500)]
        out = list(iter_json_import_batches(source, ["a", "b", "c"], max_contacts=13, max_bytes=700))
        check_batches(out, source, ["a", "b", "c"], max_contacts=13, max_bytes=700)

    def test_several_lists(self):
        list_ids = [f"list-{i}" for i in range(50)]
        source = json_records(5)
        out = list(iter_json_import_batches(source, list_ids))
        check_batches(out, source, list_ids, max_contacts=MAX_CONTACTS_PER_REQUEST, max_bytes=MAX_REQUEST_BYTES)

    def test_accepts_a_generator(self):
        source = json_records(10)
        out = list(iter_json_import_batches(iter(source), LISTS, max_contacts=4))
        assert [b.row_numbers for b in out] == [(1, 2, 3, 4), (5, 6, 7, 8), (9, 10)]

    def test_row_numbers_are_carried_even_when_not_consecutive(self):
        source = [(n, {"email": f"p{n}@example.com"}) for n in (2, 5, 6, 11, 12, 40, 41)]
        out = list(iter_json_import_batches(source, LISTS, max_contacts=3))
        assert [b.row_numbers for b in out] == [(2, 5, 6), (11, 12, 40), (41,)]

    def test_repr_does_not_dump_the_body(self):
        batch = next(iter_json_import_batches(json_records(3), LISTS))
        assert "example.com" not in repr(batch)


class TestJsonExactBoundaries:
    def budget(self, max_bytes: int) -> int:
        return max_bytes - len(HEAD) - len(tail())

    def sized_record(self, size: int, n: int = 1) -> dict:
        """A record whose encoding is exactly ``size`` bytes."""
        base = len(encoded({"email": f"p{n}@x.co", "cf:pad": ""}))
        record = {"email": f"p{n}@x.co", "cf:pad": "x" * (size - base)}
        assert len(encoded(record)) == size
        return record

    def test_body_exactly_max_bytes_is_one_batch(self):
        max_bytes = 1000
        a = self.sized_record(300, 1)
        b = self.sized_record(self.budget(max_bytes) - 300 - 1, 2)  # the comma is one byte
        out = list(iter_json_import_batches([(1, a), (2, b)], LISTS, max_bytes=max_bytes))
        assert len(out) == 1
        assert len(out[0].body) == max_bytes

    def test_one_byte_more_splits(self):
        max_bytes = 1000
        a = self.sized_record(300, 1)
        b = self.sized_record(self.budget(max_bytes) - 300, 2)
        out = list(iter_json_import_batches([(1, a), (2, b)], LISTS, max_bytes=max_bytes))
        assert [o.row_numbers for o in out] == [(1,), (2,)]
        assert all(len(o.body) <= max_bytes for o in out)

    def test_single_record_exactly_filling_a_request(self):
        max_bytes = 1000
        record = self.sized_record(self.budget(max_bytes))
        out = list(iter_json_import_batches([(7, record)], LISTS, max_bytes=max_bytes))
        assert len(out) == 1 and len(out[0].body) == max_bytes
        assert out[0].row_numbers == (7,)

    def test_single_record_one_byte_too_large_names_the_row(self):
        max_bytes = 1000
        record = self.sized_record(self.budget(max_bytes) + 1)
        with pytest.raises(ValueError, match=r"Row 7 alone is \d+ bytes"):
            list(iter_json_import_batches([(1, {"email": "a@b.co"}), (7, record)], LISTS, max_bytes=max_bytes))

    def test_batches_before_an_oversized_record_are_still_yielded(self):
        max_bytes = 1000
        big = self.sized_record(2000)
        gen = iter_json_import_batches(
            [(1, {"email": "a@b.co"}), (2, {"email": "c@d.co"}), (3, big)], LISTS, max_contacts=1, max_bytes=max_bytes
        )
        assert next(gen).row_numbers == (1,)
        with pytest.raises(ValueError, match="Row 3"):
            list(gen)

    def test_exactly_max_contacts(self):
        out = list(iter_json_import_batches(json_records(5), LISTS, max_contacts=5))
        assert [b.contact_count for b in out] == [5]
        out = list(iter_json_import_batches(json_records(6), LISTS, max_contacts=5))
        assert [b.contact_count for b in out] == [5, 1]


class TestJsonUtf8:
    def test_non_ascii_is_sent_as_utf8_and_measured_in_bytes(self):
        # 'é' is one character but two bytes; '😀' is one character but four bytes
        source = [(i, {"email": f"p{i}@example.com", "first_name": "Zoë😀" * 20}) for i in range(1, 30)]
        max_bytes = 1200
        out = list(iter_json_import_batches(source, LISTS, max_bytes=max_bytes))
        check_batches(out, source, max_contacts=MAX_CONTACTS_PER_REQUEST, max_bytes=max_bytes)
        assert "Zoë😀".encode() in out[0].body  # not \u escapes
        assert b"\\u" not in out[0].body
        # measured in characters, the bodies would have been allowed to be much larger
        assert all(len(b.body.decode("utf-8")) < len(b.body) for b in out)

    def test_character_count_below_limit_but_bytes_above_splits(self):
        budget = 1000 - len(HEAD) - len(tail())
        pad = len(encoded({"email": "a@b.co", "cf:n": ""}))
        record = {"email": "a@b.co", "cf:n": "é" * ((budget - 1) // 2 - pad)}
        chars = len(json.dumps(record, ensure_ascii=False, separators=(",", ":")))
        # two records fit when counted in characters, not when counted in UTF-8 bytes
        assert 2 * chars + 1 <= budget < 2 * len(encoded(record)) + 1
        out = list(iter_json_import_batches([(1, record), (2, record)], LISTS, max_bytes=1000))
        assert [b.row_numbers for b in out] == [(1,), (2,)]
        assert all(len(b.body) <= 1000 for b in out)

    def test_non_ascii_record_too_large_in_bytes(self):
        budget = 1000 - len(HEAD) - len(tail())
        record = {"email": "a@b.co", "first_name": "é" * (budget // 2)}  # fewer characters than the budget
        assert len(json.dumps(record, ensure_ascii=False, separators=(",", ":"))) <= budget
        with pytest.raises(ValueError, match="Row 3"):
            list(iter_json_import_batches([(3, record)], LISTS, max_bytes=1000))


class TestJsonArguments:
    @pytest.mark.parametrize("n", [0, 51, 100])
    def test_list_count_out_of_range(self, n):
        with pytest.raises(ValueError, match=f"1 to 50 lists; got {n}"):
            list(iter_json_import_batches(json_records(1), [f"l{i}" for i in range(n)]))

    @pytest.mark.parametrize("n", [1, 50])
    def test_list_count_at_the_limits(self, n):
        assert len(list(iter_json_import_batches(json_records(1), [f"l{i}" for i in range(n)]))) == 1

    def test_list_count_is_checked_even_without_records(self):
        with pytest.raises(ValueError):
            list(iter_json_import_batches([], []))

    @pytest.mark.parametrize("max_contacts", [0, -1, MAX_CONTACTS_PER_REQUEST + 1])
    def test_max_contacts_out_of_range(self, max_contacts):
        with pytest.raises(ValueError, match="max_contacts"):
            list(iter_json_import_batches(json_records(1), LISTS, max_contacts=max_contacts))


class TestJsonDefaults:
    def test_default_limits(self):
        assert MAX_CONTACTS_PER_REQUEST == 40_000
        assert MAX_REQUEST_BYTES == 4_000_000
        assert uploads.iter_json_import_batches.__kwdefaults__ == {
            "max_contacts": 40_000,
            "max_bytes": 4_000_000,
            "sms_permission_to_send": None,
        }

    def test_40001_tiny_records_make_two_batches(self):
        source = ((n, {"email": f"{n}@x.co"}) for n in range(1, 40_002))
        out = list(iter_json_import_batches(source, LISTS))
        assert [b.contact_count for b in out] == [40_000, 1]
        assert out[0].row_numbers[0] == 1 and out[0].row_numbers[-1] == 40_000
        assert out[1].row_numbers == (40_001,)
        assert len(out[0].body) < MAX_REQUEST_BYTES  # split on the count, not the size
        first = json.loads(out[0].body)
        assert len(first["import_data"]) == 40_000
        assert first["import_data"][-1] == {"email": "40000@x.co"}
        assert json.loads(out[1].body)["import_data"] == [{"email": "40001@x.co"}]

    def test_default_byte_limit(self):
        # 100 kB records: 40 of them would be over 4,000,000 bytes
        source = [(n, {"email": f"{n}@x.co", "cf:blob": "b" * 100_000}) for n in range(1, 61)]
        out = list(iter_json_import_batches(source, LISTS))
        check_batches(out, source, max_contacts=MAX_CONTACTS_PER_REQUEST, max_bytes=MAX_REQUEST_BYTES)
        assert len(out) == 2
        assert MAX_REQUEST_BYTES - 100_100 < len(out[0].body) <= MAX_REQUEST_BYTES
