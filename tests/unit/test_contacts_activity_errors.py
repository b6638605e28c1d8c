"""Unit tests for cc_provider.contacts.activity_errors: the API's "Line N" errors back to source rows."""

from __future__ import annotations

from array import array

import pytest

from cc_provider.contacts import CsvChunk, JsonImportBatch, RowError, map_activity_errors, parse_line_error


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


def test_json_batch_lines_are_positions_in_import_data():
    batch = JsonImportBatch(b"{}", (4, 7, 9))
    assert map_activity_errors(["Line 1: a", "Line 3: b", "Line 0: c"], batch) == [
        RowError(4, 1, "a"),
        RowError(9, 3, "b"),
        RowError(None, 0, "c"),
    ]
