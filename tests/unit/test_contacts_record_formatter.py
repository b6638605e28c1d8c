"""Unit tests for cc_provider.contacts.record_formatter: mappings to import records, checked by the API's rules."""

from __future__ import annotations

import pytest

from cc_provider.contacts.errors import ContactFileError
from cc_provider.contacts.record_formatter import format_record
from cc_provider.contacts.rejects import Rejected


class TestFormatRecord:
    def test_aliases_and_custom_fields(self):
        row = {
            "Email Address": "  ada@example.com ",
            "First Name": "Ada",
            "Last Name": "Lovelace",
            "cf:Favourite Engine": "Analytical",
            "Unknown Column": "ignored",
        }
        assert format_record(1, row) == {
            "email": "ada@example.com",
            "first_name": "Ada",
            "last_name": "Lovelace",
            "cf:Favourite Engine": "Analytical",
        }

    def test_column_map_wins_over_aliases(self):
        row = {"Mail": "ada@example.com", "Name": "Ada", "Title": "Countess"}
        record = format_record(1, row, {"Name": "first_name", "Title": "cf:title"})
        assert record == {"email": "ada@example.com", "first_name": "Ada", "cf:title": "Countess"}

    @pytest.mark.parametrize("blank", ["", "   ", "\t\n", None])
    def test_blank_values_are_omitted(self, blank):
        record = format_record(1, {"email": "a@b.co", "first_name": blank, "cf:x": blank})
        assert record == {"email": "a@b.co"}

    def test_non_string_values_become_strings(self):
        record = format_record(1, {"email": "a@b.co", "phone": 5551234, "zip": 90210})
        assert record == {"email": "a@b.co", "phone": "5551234", "zip": "90210"}

    @pytest.mark.parametrize(("value", "expected"), [("7", 7), (" 12 ", 12), (3, 3), ("01", 1), (7.0, 7)])
    def test_birthday_fields_become_ints(self, value, expected):
        record = format_record(1, {"email": "a@b.co", "Birthday Month": value, "birthday_day": value})
        assert record == {"email": "a@b.co", "birthday_month": expected, "birthday_day": expected}
        assert type(record["birthday_month"]) is int

    @pytest.mark.parametrize("value", ["July", "7.5", "7th", "1e2"])
    def test_non_int_birthday_is_rejected_naming_the_column(self, value):
        result = format_record(17, {"Email": "a@b.co", "Birthday Month": value})
        assert result == Rejected(17, "Birthday Month", value, "birthday_month must be a whole number")

    def test_non_int_birthday_day_is_rejected(self):
        result = format_record(3, {"email": "a@b.co", "bday": "soon"}, {"bday": "birthday_day"})
        assert isinstance(result, Rejected)
        assert (result.row_number, result.column, result.value) == (3, "bday", "soon")
        assert "birthday_day" in result.reason

    @pytest.mark.parametrize("value", [7.5, True, float("inf")])
    def test_non_integral_numbers_are_rejected(self, value):
        result = format_record(5, {"email": "a@b.co", "birthday_month": value})
        assert isinstance(result, Rejected)
        assert result.column == "birthday_month"

    def test_row_without_email_or_sms_is_rejected_naming_the_email_column(self):
        result = format_record(42, {"Email Address": "  ", "First Name": "Ada"})
        assert result == Rejected(42, "Email Address", "", "no email address (and no sms_number)")

    def test_row_without_any_email_column_names_email(self):
        result = format_record(9, {"First Name": "Ada"})
        assert result == Rejected(9, "email", "", "no email address (and no sms_number)")

    def test_email_column_from_column_map(self):
        result = format_record(2, {"Contact": None}, {"Contact": "email"})
        assert isinstance(result, Rejected)
        assert (result.row_number, result.column) == (2, "Contact")

    def test_sms_only_row_is_accepted(self):
        # a US number with the country code is normalised to the 10 digits the API documents
        assert format_record(1, {"SMS Number": "+15551234567"}) == {"sms_number": "5551234567"}

    def test_empty_row_is_rejected(self):
        assert isinstance(format_record(1, {}), Rejected)


class TestRulesInFormatRecord:
    """format_record checks every value by the API's rules and returns the row's first problem."""

    @pytest.mark.parametrize(
        ("row", "column", "code"),
        [
            ({"email": "not-an-email"}, "email", "invalid_email"),
            ({"email": "a" * 45 + "@b.com"}, "email", "too_long"),
            ({"email": "a@b.co", "State": "S" * 51}, "State", "too_long"),
            ({"email": "a@b.co", "anniversary": "2006-02-30"}, "anniversary", "invalid_anniversary"),
            ({"email": "a@b.co", "birthday_month": 2, "birthday_day": 30}, "birthday_day", "invalid_birthday"),
            ({"email": "a@b.co", "birthday_month": 2}, "birthday_month", "invalid_birthday"),
            ({"sms_number": "+44 20 7946 0958"}, "sms_number", "invalid_sms_number"),
            ({"email": "a@b.co", "first_name": {"a": 1}}, "first_name", "not_text"),
        ],
    )
    def test_first_problem(self, row, column, code):
        result = format_record(4, row)
        assert isinstance(result, Rejected)
        assert (result.row_number, result.column, result.code) == (4, column, code)

    def test_values_of_other_types(self):
        from datetime import date, datetime
        from decimal import Decimal

        row = {
            "email": "a@b.co",
            "anniversary": date(2006, 11, 15),
            "birthday_month": Decimal("7"),
            "birthday_day": 4.0,
            "zip": 2134.0,
            "cf:updated": datetime(2026, 1, 2, 3, 4),
        }
        assert format_record(1, row) == {
            "email": "a@b.co",
            "anniversary": "2006-11-15",
            "birthday_month": 7,
            "birthday_day": 4,
            "zip": "2134",
            "cf:updated": "2026-01-02",
        }

    def test_v2_custom_field_template(self):
        assert format_record(1, {"email": "a@b.co", "Custom Field 2": "x"}, v2_custom_field="cf:old_{n}") == {
            "email": "a@b.co",
            "cf:old_2": "x",
        }

    def test_line_breaks_become_spaces(self):
        assert format_record(1, {"email": "a@b.co", "street": "1 Main St\nApt 4"}) == {
            "email": "a@b.co",
            "street": "1 Main St Apt 4",
        }

    def test_ambiguous_keys_name_the_row(self):
        with pytest.raises(ContactFileError, match="row 3: columns 'email' and 'E-mail' both map to 'email'"):
            format_record(3, {"email": "e@f.co", "E-mail": "x"})
