"""Unit tests for cc_provider.contacts.fields and cc_provider.contacts.records."""

from __future__ import annotations

import pytest

from cc_provider.contacts.fields import IMPORT_FIELDS, import_name, normalize_name
from cc_provider.contacts.records import Rejected, format_record, iter_formatted


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


class TestIterFormatted:
    def test_numbering_and_mixed_results(self):
        rows = [
            {"email": "a@b.co"},
            {"first_name": "no email"},
            {"email": "c@d.co", "birthday_day": "x"},
            {"Email Address": "e@f.co", "First Name": "E"},
        ]
        out = list(iter_formatted(rows))
        assert [n for n, _ in out] == [1, 2, 3, 4]
        assert out[0][1] == {"email": "a@b.co"}
        assert out[1][1] == Rejected(2, "email", "", "no email address (and no sms_number)")
        assert isinstance(out[2][1], Rejected) and out[2][1].row_number == 3 and out[2][1].column == "birthday_day"
        assert out[3][1] == {"email": "e@f.co", "first_name": "E"}

    def test_first_row_number(self):
        out = list(iter_formatted([{"x": 1}, {"email": "a@b.co"}], first_row_number=2))
        assert [n for n, _ in out] == [2, 3]
        assert out[0][1].row_number == 2

    def test_column_map_is_applied(self):
        out = list(iter_formatted([{"Addr": "a@b.co"}], {"Addr": "email"}))
        assert out == [(1, {"email": "a@b.co"})]

    def test_is_lazy(self):
        def rows():
            yield {"email": "a@b.co"}
            raise AssertionError("read too far")

        it = iter_formatted(rows())
        assert next(it) == (1, {"email": "a@b.co"})

    def test_empty(self):
        assert list(iter_formatted([])) == []


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
        from cc_provider.contacts import ContactFileError

        with pytest.raises(ContactFileError, match="row 3: columns 'email' and 'E-mail' both map to 'email'"):
            list(iter_formatted([{"email": "a@b.co"}, {"email": "c@d.co"}, {"email": "e@f.co", "E-mail": "x"}]))
