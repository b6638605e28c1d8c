"""Unit tests for cc_provider.contacts.batches: request bodies within the API's per-request limits."""

from __future__ import annotations

import itertools
import json

import pytest

from cc_provider.contacts import batches
from cc_provider.contacts.batches import (
    MAX_CONTACTS_PER_REQUEST,
    MAX_REQUEST_BYTES,
    JsonImportBatch,
    iter_json_import_batches,
)

LISTS = ["07936f78-662a-11eb-af0a-fa163e56c9b0"]
HEAD = b'{"import_data":['


def records(n: int, start: int = 1, **extra) -> list[tuple[int, dict]]:
    return [(start + i, {"email": f"p{start + i}@example.com", **extra}) for i in range(n)]


def encoded(record: dict) -> bytes:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def tail(list_ids=LISTS) -> bytes:
    return b'],"list_ids":' + json.dumps(list_ids, separators=(",", ":")).encode() + b"}"


def check(batch_list: list[JsonImportBatch], source, list_ids=LISTS, *, max_contacts, max_bytes) -> None:
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


class TestSplitting:
    def test_one_small_batch(self):
        source = records(3)
        out = list(iter_json_import_batches(source, LISTS))
        assert len(out) == 1
        assert out[0].body == HEAD + b",".join(encoded(r) for _, r in source) + tail()
        assert out[0].row_numbers == (1, 2, 3)
        assert out[0].contact_count == 3

    def test_no_records_no_batches(self):
        assert list(iter_json_import_batches([], LISTS)) == []

    @pytest.mark.parametrize("max_contacts", [1, 2, 3, 7, 10])
    def test_contact_limit(self, max_contacts):
        source = records(23)
        out = list(iter_json_import_batches(source, LISTS, max_contacts=max_contacts))
        check(out, source, max_contacts=max_contacts, max_bytes=MAX_REQUEST_BYTES)
        sizes = [b.contact_count for b in out]
        assert sizes == [max_contacts] * (23 // max_contacts) + ([23 % max_contacts] if 23 % max_contacts else [])

    @pytest.mark.parametrize("max_bytes", [200, 257, 500, 1000, 4096])
    def test_byte_limit(self, max_bytes):
        source = [(i, {"email": f"p{i}@example.com", "first_name": "x" * (i % 37)}) for i in range(1, 120)]
        out = list(iter_json_import_batches(source, LISTS, max_bytes=max_bytes))
        check(out, source, max_contacts=MAX_CONTACTS_PER_REQUEST, max_bytes=max_bytes)
        assert len(out) > 1
        # greedy: each body is full, i.e. the next record would not have fitted
        for batch, following in itertools.pairwise(out):
            next_record = encoded(json.loads(following.body)["import_data"][0])
            assert len(batch.body) + 1 + len(next_record) > max_bytes

    def test_both_limits_together(self):
        source = [(i, {"email": f"p{i}@example.com", "cf:note": "n" * (i % 50)}) for i in range(1, 500)]
        out = list(iter_json_import_batches(source, ["a", "b", "c"], max_contacts=13, max_bytes=700))
        check(out, source, ["a", "b", "c"], max_contacts=13, max_bytes=700)

    def test_several_lists(self):
        list_ids = [f"list-{i}" for i in range(50)]
        source = records(5)
        out = list(iter_json_import_batches(source, list_ids))
        check(out, source, list_ids, max_contacts=MAX_CONTACTS_PER_REQUEST, max_bytes=MAX_REQUEST_BYTES)

    def test_accepts_a_generator(self):
        source = records(10)
        out = list(iter_json_import_batches(iter(source), LISTS, max_contacts=4))
        assert [b.row_numbers for b in out] == [(1, 2, 3, 4), (5, 6, 7, 8), (9, 10)]

    def test_row_numbers_are_carried_even_when_not_consecutive(self):
        source = [(n, {"email": f"p{n}@example.com"}) for n in (2, 5, 6, 11, 12, 40, 41)]
        out = list(iter_json_import_batches(source, LISTS, max_contacts=3))
        assert [b.row_numbers for b in out] == [(2, 5, 6), (11, 12, 40), (41,)]

    def test_source_row_of_an_api_line(self):
        batch = next(iter_json_import_batches([(5, {"email": "a@b.co"}), (9, {"email": "c@d.co"})], LISTS))
        assert [batch.source_row(line) for line in (0, 1, 2, 3)] == [None, 5, 9, None]

    def test_repr_does_not_dump_the_body(self):
        batch = next(iter_json_import_batches(records(3), LISTS))
        assert "example.com" not in repr(batch)


class TestExactBoundaries:
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
        out = list(iter_json_import_batches(records(5), LISTS, max_contacts=5))
        assert [b.contact_count for b in out] == [5]
        out = list(iter_json_import_batches(records(6), LISTS, max_contacts=5))
        assert [b.contact_count for b in out] == [5, 1]


class TestUtf8:
    def test_non_ascii_is_sent_as_utf8_and_measured_in_bytes(self):
        # 'é' is one character but two bytes; '😀' is one character but four bytes
        source = [(i, {"email": f"p{i}@example.com", "first_name": "Zoë😀" * 20}) for i in range(1, 30)]
        max_bytes = 1200
        out = list(iter_json_import_batches(source, LISTS, max_bytes=max_bytes))
        check(out, source, max_contacts=MAX_CONTACTS_PER_REQUEST, max_bytes=max_bytes)
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


class TestArguments:
    @pytest.mark.parametrize("n", [0, 51, 100])
    def test_list_count_out_of_range(self, n):
        with pytest.raises(ValueError, match=f"1 to 50 lists; got {n}"):
            list(iter_json_import_batches(records(1), [f"l{i}" for i in range(n)]))

    @pytest.mark.parametrize("n", [1, 50])
    def test_list_count_at_the_limits(self, n):
        assert len(list(iter_json_import_batches(records(1), [f"l{i}" for i in range(n)]))) == 1

    def test_list_count_is_checked_even_without_records(self):
        with pytest.raises(ValueError):
            list(iter_json_import_batches([], []))

    @pytest.mark.parametrize("max_contacts", [0, -1, MAX_CONTACTS_PER_REQUEST + 1])
    def test_max_contacts_out_of_range(self, max_contacts):
        with pytest.raises(ValueError, match="max_contacts"):
            list(iter_json_import_batches(records(1), LISTS, max_contacts=max_contacts))


class TestDefaults:
    def test_default_limits(self):
        assert MAX_CONTACTS_PER_REQUEST == 40_000
        assert MAX_REQUEST_BYTES == 4_000_000
        assert batches.iter_json_import_batches.__kwdefaults__ == {
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
        check(out, source, max_contacts=MAX_CONTACTS_PER_REQUEST, max_bytes=MAX_REQUEST_BYTES)
        assert len(out) == 2
        assert MAX_REQUEST_BYTES - 100_100 < len(out[0].body) <= MAX_REQUEST_BYTES
