"""The source row of each contact of a sent JSON body: how the API's "Line N" errors are tied back to rows."""

from __future__ import annotations

from array import array

import pytest

from cc_provider.operators.json_import import JsonRequestLines


@pytest.mark.parametrize("line, row", [(1, 4), (2, 7), (3, 12), (0, None), (4, None), (-1, None)])
def test_line_n_is_the_nth_contact_of_the_body(line, row):
    """``Line 1`` is the first contact of ``import_data``; lines outside the body name no row."""
    assert JsonRequestLines(array("I", [4, 7, 12])).source_row(line) == row


def test_an_empty_body_names_no_row():
    assert JsonRequestLines(array("I")).source_row(1) is None
