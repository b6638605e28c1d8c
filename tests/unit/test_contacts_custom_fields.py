"""Unit tests for cc_provider.contacts.custom_fields: the import's custom fields against the account's."""

from __future__ import annotations

import pytest

from cc_provider.contacts import UnknownCustomFieldsError, check_custom_fields, collect_custom_fields
from cc_provider.contacts.custom_fields import missing_custom_fields

ACCOUNT = ["shoe_size", "Favourite_Colour", "custom_field_1"]


class TestCheck:
    def test_all_known(self):
        check_custom_fields({"shoe_size", "cf:custom_field_1"}, ACCOUNT)
        check_custom_fields(set(), [])

    def test_unknown_are_listed_sorted_with_suggestions(self):
        with pytest.raises(UnknownCustomFieldsError) as info:
            check_custom_fields({"zodiac", "favourite_colour", "shoe_size", "cf:age"}, ACCOUNT)
        assert info.value.unknown == ["age", "favourite_colour", "zodiac"]
        message = str(info.value)
        assert "cf:age, cf:favourite_colour (did you mean cf:Favourite_Colour?), cf:zodiac" in message
        assert "column_map" in message
        assert isinstance(info.value, ValueError)

    def test_account_names_may_carry_the_prefix(self):
        check_custom_fields({"shoe_size"}, ["cf:shoe_size"])

    def test_missing(self):
        assert missing_custom_fields(["b", "a", "shoe_size", "a"], ACCOUNT) == ["a", "b"]


class TestCollect:
    def test_keys_of_records(self):
        records = [{"email": "a@b.co", "cf:shoe_size": 42}, {"Custom Field 3": "x", "cf:shoe_size": 41}, {"Size": "L"}]
        assert collect_custom_fields(records) == frozenset({"shoe_size", "custom_field_3"})
        assert collect_custom_fields(records, {"Size": "cf:size"}) == frozenset({"shoe_size", "custom_field_3", "size"})
        assert collect_custom_fields(records, v2_custom_field=None) == frozenset({"shoe_size"})
