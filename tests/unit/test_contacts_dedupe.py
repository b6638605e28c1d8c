"""Unit tests for cc_provider.contacts.dedupe: the first or the last row of an email address wins."""

from __future__ import annotations

import pytest

from cc_provider.contacts.dedupe import AddressSet, FirstWins, LastWins, make_deduplicator


def test_address_set_tells_new_from_seen():
    seen = AddressSet()
    assert [seen.add(key) for key in ("a@b.co", "c@d.co", "a@b.co", "", "")] == [True, True, False, True, False]


def test_address_set_keeps_many_addresses_apart():
    seen = AddressSet()
    assert all(seen.add(f"user{i}@example.com") for i in range(20_000))
    assert not any(seen.add(f"user{i}@example.com") for i in range(20_000))


def test_first_wins_case_insensitively():
    dedupe = FirstWins()
    assert dedupe.duplicate_reason(2, "Ada@Example.com") is None
    assert dedupe.duplicate_reason(5, "ada@example.com") == (
        "duplicate email address; an earlier row with it is imported (first wins)"
    )
    assert dedupe.duplicate_reason(6, "grace@example.com") is None


def test_last_wins_after_a_first_pass():
    dedupe = LastWins()
    for row_number, email in ((2, "ada@example.com"), (3, "grace@example.com"), (7, "ADA@example.com")):
        dedupe.observe(row_number, email)
    dedupe.end_first_pass()
    assert (
        dedupe.duplicate_reason(2, "ada@example.com")
        == "duplicate email address; row 7 with it is imported (last wins)"
    )
    assert dedupe.duplicate_reason(3, "grace@example.com") is None
    assert dedupe.duplicate_reason(7, "ADA@example.com") is None
    with pytest.raises(RuntimeError, match="first pass is over"):
        dedupe.observe(9, "alan@example.com")


def test_make_deduplicator():
    assert isinstance(make_deduplicator("first"), FirstWins)
    assert isinstance(make_deduplicator("last"), LastWins)
    assert make_deduplicator(None) is None
    with pytest.raises(ValueError, match="dedupe must be 'first', 'last' or None; got 'both'"):
        make_deduplicator("both")
