"""Unit tests for cc_provider.contacts.fields: names, V2 headings, aliases, custom fields and length limits."""

from __future__ import annotations

import pytest

from cc_provider.contacts.fields import (
    FIELD_MAX_LENGTHS,
    IMPORT_FIELDS,
    check_import_key,
    import_name,
    max_length,
    missing_custom_fields,
    normalize_name,
)

# Seed 000's V2 import headings and where each one lands in V3.
V2_HEADINGS = {
    "Email address": "email",
    "First Name": "first_name",
    "Last Name": "last_name",
    "Birthday_Day": "birthday_day",
    "Birthday_Month": "birthday_month",
    "Anniversary": "anniversary",
    "Job Title": "job_title",
    "Company Name": "company_name",
    "Work Phone": "work_phone",
    "Home Phone": "home_phone",
    "Address Line 1": "street",
    "Address Line 2": "street2",
    "Address Line 3": "street2",
    "City": "city",
    "State": "state",
    "Country": "country",
    "Zip/Postal Code": "zip",
    **{f"Custom Field {n}": f"cf:custom_field_{n}" for n in range(1, 16)},
}


class TestV2Headings:
    @pytest.mark.parametrize(("heading", "expected"), sorted(V2_HEADINGS.items()))
    def test_each_heading(self, heading, expected):
        assert import_name(heading) == expected

    @pytest.mark.parametrize("heading", ["EMAIL ADDRESS", "email address", "  Email Address ", "ZIP/POSTAL CODE"])
    def test_case_insensitive(self, heading):
        assert import_name(heading) in {"email", "zip"}

    def test_custom_field_template(self):
        assert import_name("Custom Field 3", v2_custom_field="cf:legacy_{n}") == "cf:legacy_3"

    def test_custom_fields_dropped_without_a_template(self):
        assert import_name("Custom Field 3", v2_custom_field=None) is None

    @pytest.mark.parametrize("heading", ["Custom Field 0", "Custom Field 16", "Custom Field"])
    def test_custom_field_numbers_outside_v2(self, heading):
        assert import_name(heading) is None

    def test_column_map_wins_over_the_v2_custom_field(self):
        assert import_name("Custom Field 1", {"Custom Field 1": "cf:shoe_size"}) == "cf:shoe_size"

    def test_column_map_can_drop_a_column(self):
        assert import_name("Email address", {"Email address": None}) is None


class TestAliases:
    @pytest.mark.parametrize(
        ("column", "expected"),
        [
            ("Mobile", "mobile_phone"),
            ("Cell Phone", "mobile_phone"),
            ("SMS", "sms_number"),
            ("Address", "street"),
            ("Street 2", "street2"),
            ("Home Street 2", "home_street2"),
            ("home country", "home_country"),  # the spec's own spelling
            ("Province", "state"),
            ("Postcode", "zip"),
            ("Organisation", "company_name"),
            ("Birth Month", "birthday_month"),
        ],
    )
    def test_aliases(self, column, expected):
        assert import_name(column) == expected

    @pytest.mark.parametrize("column", ["cf:", "cf:  ", "CF:"])
    def test_custom_field_needs_a_name(self, column):
        assert import_name(column) is None


class TestLimits:
    def test_spec_max_lengths(self):
        assert FIELD_MAX_LENGTHS["email"] == 50
        assert FIELD_MAX_LENGTHS["state"] == 50
        assert FIELD_MAX_LENGTHS["street"] == FIELD_MAX_LENGTHS["other_street2"] == 255
        assert FIELD_MAX_LENGTHS["sms_number"] == 16
        assert set(FIELD_MAX_LENGTHS) == set(IMPORT_FIELDS)

    def test_custom_fields_are_255(self):
        assert max_length("cf:anything") == 255

    def test_format_checked_fields_have_no_length(self):
        assert max_length("anniversary") is None and max_length("birthday_day") is None


class TestCheckImportKey:
    @pytest.mark.parametrize("key", ["email", "home_street2", "cf:shoe_size"])
    def test_valid(self, key):
        check_import_key(key)

    @pytest.mark.parametrize("key", ["Email", "shoe", "cf:", "list_ids"])
    def test_invalid(self, key):
        with pytest.raises(ValueError, match="not a V3 import name"):
            check_import_key(key)


class TestNormalizeName:
    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            ("Email Address", "email_address"),
            ("  First   Name ", "first_name"),
            ("E-mail", "e_mail"),
            ("Zip/Postal Code", "zip_postal_code"),
            ("home-street 2", "home_street_2"),
            ("_email_", "email"),
        ],
    )
    def test_values(self, raw, expected):
        assert normalize_name(raw) == expected


class TestImportName:
    @pytest.mark.parametrize("name", sorted(IMPORT_FIELDS))
    def test_every_v3_name_maps_to_itself(self, name):
        assert import_name(name) == name

    def test_some_v3_names_are_present(self):
        assert {"email", "sms_number", "first_name", "birthday_month", "work_street2", "other_country"} <= IMPORT_FIELDS

    @pytest.mark.parametrize(
        ("column", "expected"),
        [
            ("Email Address", "email"),
            ("EMAIL", "email"),
            ("e-mail", "email"),
            ("E-Mail", "email"),
            ("Mail", "email"),
            ("First Name", "first_name"),
            ("FirstName", "first_name"),
            ("given name", "first_name"),
            ("Last Name", "last_name"),
            ("Surname", "last_name"),
            ("Company", "company_name"),
            ("Title", "job_title"),
            ("Job Title", "job_title"),
            ("Phone Number", "phone"),
            ("Zip Code", "zip"),
            ("Postal Code", "zip"),
            ("ZIP/Postal Code", "zip"),
            ("Home Street", "home_street"),
            ("SMS Number", "sms_number"),
            ("Birthday Month", "birthday_month"),
        ],
    )
    def test_aliases(self, column, expected):
        assert import_name(column) == expected

    @pytest.mark.parametrize(
        ("column", "expected"),
        [
            ("cf:shoe_size", "cf:shoe_size"),
            ("CF:Shoe Size", "cf:Shoe Size"),  # the prefix is normalised, the field name kept
            ("cf:first_name", "cf:first_name"),  # a custom field is never a standard one
        ],
    )
    def test_custom_fields_pass_through(self, column, expected):
        assert import_name(column) == expected

    @pytest.mark.parametrize("column", ["favourite colour", "id", "", "emails", "cf", "list_ids", "custom:size"])
    def test_unknown_columns_are_ignored(self, column):
        assert import_name(column) is None

    def test_column_map_wins(self):
        column_map = {"Email Address": "sms_number", "Shoe": "cf:shoe_size", "First Name": "last_name"}
        assert import_name("Email Address", column_map) == "sms_number"
        assert import_name("Shoe", column_map) == "cf:shoe_size"
        assert import_name("First Name", column_map) == "last_name"
        # columns not in the map still use the aliases
        assert import_name("Last Name", column_map) == "last_name"

    def test_column_map_is_exact(self):
        assert import_name("shoe", {"Shoe": "cf:shoe_size"}) is None


class TestMissingCustomFields:
    ACCOUNT = ["shoe_size", "Favourite_Colour", "custom_field_1"]

    def test_missing_are_sorted_once(self):
        assert missing_custom_fields(["b", "a", "shoe_size", "a"], self.ACCOUNT) == ["a", "b"]

    def test_none_missing(self):
        assert missing_custom_fields({"shoe_size", "cf:custom_field_1"}, self.ACCOUNT) == []
        assert missing_custom_fields(set(), []) == []

    def test_names_are_compared_exactly(self):
        assert missing_custom_fields({"favourite_colour", "Favourite_Colour"}, self.ACCOUNT) == ["favourite_colour"]

    def test_account_names_may_carry_the_prefix(self):
        assert missing_custom_fields({"shoe_size"}, ["cf:shoe_size"]) == []
