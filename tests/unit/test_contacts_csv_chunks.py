"""Unit tests for cc_provider.contacts.csv_chunks: CSV files within 40,000 lines and 4 MB, measured exactly."""

from __future__ import annotations

import csv
import io
from array import array

import pytest

from cc_provider.contacts import csv_chunks
from cc_provider.contacts.csv_chunks import MAX_CSV_CONTACTS, MAX_FILE_BYTES, CsvChunk, iter_csv_chunks

COLUMNS = ("email", "first_name", "cf:note")


def rows(n: int, start: int = 2, **fill) -> list[tuple[int, list[str]]]:
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


def check(chunks: list[CsvChunk], source, *, max_contacts: int, max_bytes: int) -> None:
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


class TestSplitting:
    def test_one_file(self, tmp_path):
        source = rows(3)
        (chunk,) = iter_csv_chunks(source, COLUMNS, directory=tmp_path)
        assert chunk.path.read_bytes() == expected_bytes([v for _, v in source])
        assert chunk.row_numbers == array("I", [2, 3, 4])
        assert chunk.contact_count == 3

    def test_nothing_to_write(self, tmp_path):
        assert list(iter_csv_chunks([], COLUMNS, directory=tmp_path)) == []
        assert list(tmp_path.iterdir()) == []

    @pytest.mark.parametrize("max_contacts", [1, 2, 7, 10])
    def test_contact_limit(self, tmp_path, max_contacts):
        source = rows(23)
        out = list(iter_csv_chunks(source, COLUMNS, directory=tmp_path, max_contacts=max_contacts))
        check(out, source, max_contacts=max_contacts, max_bytes=MAX_FILE_BYTES)
        assert [c.contact_count for c in out][:-1] == [max_contacts] * (len(out) - 1)

    @pytest.mark.parametrize("max_bytes", [120, 200, 333, 1000])
    def test_byte_limit_is_greedy(self, tmp_path, max_bytes):
        source = [(n, [f"p{n}@example.com", "x" * (n % 13), "n" * (n % 7)]) for n in range(2, 80)]
        out = list(iter_csv_chunks(source, COLUMNS, directory=tmp_path, max_bytes=max_bytes))
        check(out, source, max_contacts=MAX_CSV_CONTACTS, max_bytes=max_bytes)
        for chunk, following in zip(out, out[1:], strict=False):
            first_line = following.path.read_bytes().split(b"\r\n")[1] + b"\r\n"
            assert chunk.size + len(first_line) > max_bytes  # the next row would not have fitted

    def test_exactly_max_bytes_fits_and_one_more_splits(self, tmp_path):
        header = len(b"email,first_name,cf:note\r\n")
        line = len(b"p2@example.com,Ada,\r\n")
        source = rows(2)
        fits = list(iter_csv_chunks(source, COLUMNS, directory=None, max_bytes=header + 2 * line))
        assert [c.contact_count for c in fits] == [2] and fits[0].size == header + 2 * line
        split = list(iter_csv_chunks(source, COLUMNS, directory=None, max_bytes=header + 2 * line - 1))
        assert [c.contact_count for c in split] == [1, 1]

    def test_non_ascii_is_measured_in_bytes(self, tmp_path):
        source = rows(40, first_name="Zoë😀" * 10)
        out = list(iter_csv_chunks(source, COLUMNS, directory=tmp_path, max_bytes=700))
        check(out, source, max_contacts=MAX_CSV_CONTACTS, max_bytes=700)
        assert all(len(c.path.read_text(encoding="utf-8")) < c.size for c in out)

    def test_values_that_need_quoting(self, tmp_path):
        source = [(2, ["a@b.co", 'The "Best", Co', ""]), (3, ["c@d.co", "  padded ", "x,y"])]
        (chunk,) = iter_csv_chunks(source, COLUMNS, directory=tmp_path)
        assert chunk.path.read_bytes() == expected_bytes([v for _, v in source])

    def test_dry_run_measures_the_same_chunks_without_files(self, tmp_path):
        source = rows(50, note="n" * 30)
        written = list(iter_csv_chunks(source, COLUMNS, directory=tmp_path, max_bytes=900))
        measured = list(iter_csv_chunks(source, COLUMNS, directory=None, max_bytes=900))
        assert [(c.size, c.row_numbers) for c in measured] == [(c.size, c.row_numbers) for c in written]
        assert all(c.path is None for c in measured)
        assert measured[0].file_name == "contacts_0001.csv"

    def test_name(self, tmp_path):
        (chunk,) = iter_csv_chunks(rows(1), COLUMNS, directory=tmp_path, name="run42")
        assert chunk.path == tmp_path / "run42_0001.csv"

    def test_is_streamed(self, tmp_path):
        def source():
            yield from rows(3)
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


class TestSourceRows:
    def test_line_to_source_row(self):
        chunk = CsvChunk(1, None, 0, array("I", [5, 9, 12]))
        assert [chunk.source_row(line) for line in (1, 2, 3, 4, 5, 0, -1)] == [None, 5, 9, 12, None, None, None]


class TestErrors:
    @pytest.mark.parametrize("max_contacts", [0, 40_000])
    def test_max_contacts_out_of_range(self, tmp_path, max_contacts):
        with pytest.raises(ValueError, match="max_contacts must be between 1 and 39999"):
            list(iter_csv_chunks(rows(1), COLUMNS, directory=tmp_path, max_contacts=max_contacts))

    def test_max_bytes_below_the_header(self, tmp_path):
        with pytest.raises(ValueError, match="leaves no room"):
            list(iter_csv_chunks(rows(1), COLUMNS, directory=tmp_path, max_bytes=10))

    def test_a_row_too_large_for_any_file_names_the_row_and_leaves_no_partial_file(self, tmp_path):
        source = [*rows(2), (9, ["big@x.co", "x" * 500, ""])]
        gen = iter_csv_chunks(source, COLUMNS, directory=tmp_path, max_bytes=200)
        first = next(gen)
        with pytest.raises(ValueError, match="Row 9 alone is 512 bytes"):
            next(gen)
        assert sorted(p.name for p in tmp_path.iterdir()) == [first.path.name]

    def test_a_failing_source_leaves_no_partial_file(self, tmp_path):
        def source():
            yield from rows(3)
            raise RuntimeError("database gone")

        with pytest.raises(RuntimeError, match="database gone"):
            list(iter_csv_chunks(source(), COLUMNS, directory=tmp_path))
        assert list(tmp_path.iterdir()) == []

    def test_line_breaks_in_values_are_refused(self, tmp_path):
        with pytest.raises(ValueError, match="Row 3 has a line break"):
            list(iter_csv_chunks([(3, ["a@b.co", "1 Main\nSt", ""])], COLUMNS, directory=tmp_path))

    def test_a_size_mismatch_is_caught(self, tmp_path, monkeypatch):
        real_open = csv_chunks.Path.open

        def open_and_pad(self, *args, **kwargs):  # a file system that writes more than it is given
            handle = real_open(self, *args, **kwargs)
            handle.write("#")
            return handle

        monkeypatch.setattr(csv_chunks.Path, "open", open_and_pad)
        with pytest.raises(RuntimeError, match="bytes but was measured as"):
            list(iter_csv_chunks(rows(1), COLUMNS, directory=tmp_path))
