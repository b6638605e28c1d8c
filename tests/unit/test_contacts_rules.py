"""Unit tests for cc_provider.contacts.rules: the API's rules for single values."""

from __future__ import annotations

from datetime import date

import pytest

from cc_provider.contacts import rules
from cc_provider.contacts.rules import (
    BIRTHDAY_FORMS,
    InvalidValue,
    birthday_pair_problem,
    check_birthday_day,
    check_birthday_month,
    check_email,
    check_sms_number,
    date_problem,
    parse_date,
)

TODAY = date(2026, 6, 15)


class TestEmail:
    @pytest.mark.parametrize(
        "value",
        [
            "a@b.co",
            "ada.lovelace@example.com",
            "first+tag@sub.example.co.uk",
            "o'brien@example.ie",
            "x_y-z@exa-mple.org",
            "a" * 38 + "@example.com",  # exactly 50
            "user@xn--80ak6aa92e.com",
        ],
    )
    def test_valid(self, value):
        assert check_email(value) == value

    @pytest.mark.parametrize(
        "value",
        [
            "plainaddress",
            "@example.com",
            "a@",
            "a@b",
            "a@b.c",
            "a b@example.com",
            "a@@example.com",
            "a..b@example.com",
            ".a@example.com",
            "a.@example.com",
            "a@-example.com",
            "a@example..com",
            "zoë@example.com",  # internationalised addresses are not accepted locally
            "a@example.com,b@example.com",
        ],
    )
    def test_invalid_syntax(self, value):
        with pytest.raises(InvalidValue) as info:
            check_email(value)
        assert info.value.code == rules.INVALID_EMAIL

    def test_longer_than_50_is_too_long(self):
        with pytest.raises(InvalidValue) as info:
            check_email("a" * 39 + "@example.com")
        assert info.value.code == rules.TOO_LONG
        assert "50" in info.value.reason


class TestSmsNumber:
    @pytest.mark.parametrize("value", ["1231231234", "123-123-1234"])
    def test_documented_formats_pass_as_is(self, value):
        assert check_sms_number(value) == value

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("+1 (508) 123-1235", "5081231235"),
            ("1-508-123-1235", "5081231235"),
            ("508.123.1235", "5081231235"),
            ("(508) 123 1235", "5081231235"),
        ],
    )
    def test_other_us_spellings_become_ten_digits(self, value, expected):
        assert check_sms_number(value) == expected

    @pytest.mark.parametrize(
        "value", ["+44 20 7946 0958", "12345", "508123123x", "25081231235", "５０８１２３１２３５"]
    )
    def test_non_us_numbers_are_rejected(self, value):
        with pytest.raises(InvalidValue) as info:
            check_sms_number(value)
        assert info.value.code == rules.INVALID_SMS_NUMBER


class TestBirthday:
    @pytest.mark.parametrize(("value", "expected"), [("1", "1"), ("07", "7"), ("12", "12"), ("007", "7")])
    def test_months(self, value, expected):
        assert check_birthday_month(value) == expected

    @pytest.mark.parametrize("value", ["0", "13", "-1", "July", "7.0", "١"])
    def test_bad_months(self, value):
        with pytest.raises(InvalidValue) as info:
            check_birthday_month(value)
        assert info.value.code == rules.INVALID_BIRTHDAY

    @pytest.mark.parametrize("value", ["0", "32"])
    def test_bad_days(self, value):
        with pytest.raises(InvalidValue, match="between 1 and 31"):
            check_birthday_day(value)

    def test_pairs(self):
        assert birthday_pair_problem("2", "29") is None  # a birthday has no year: 29 February is fine
        assert birthday_pair_problem("", "") is None
        assert birthday_pair_problem("4", "31") == "birthday_day 31 is not a day of month 4"
        assert "together" in birthday_pair_problem("4", "")
        assert "together" in birthday_pair_problem("", "4")

    def test_forms_table_agrees_with_the_rules(self):
        for (month, day), checked in BIRTHDAY_FORMS.items():
            if (month, day) == ("", ""):
                continue
            assert (check_birthday_month(month), check_birthday_day(day)) == checked
            assert birthday_pair_problem(*checked) is None
        assert len(BIRTHDAY_FORMS) > 366


class TestDates:
    @pytest.mark.parametrize(
        ("value", "parsed"),
        [
            ("11/15/2006", (2006, 11, 15)),  # MM/DD/YYYY
            ("1/5/2006", (2006, 1, 5)),  # M/D/YYYY
            ("2006/11/15", (2006, 11, 15)),  # YYYY/MM/DD
            ("2006/1/5", (2006, 1, 5)),  # YYYY/M/D
            ("2006-11-15", (2006, 11, 15)),  # YYYY-MM-DD
            ("2006-1-5", (2006, 1, 5)),  # YYYY-M-D
            ("1-5-2006", (2006, 1, 5)),  # M-D-YYYY
            ("11-15-2006", (2006, 11, 15)),  # MM-DD-YYYY
        ],
    )
    def test_seed_formats(self, value, parsed):
        assert parse_date(value) == parsed
        assert date_problem(value, TODAY) is None

    @pytest.mark.parametrize(
        "value",
        ["2006.11.15", "15 Nov 2006", "2006-11/15", "06-11-15", "20061115", "2006-11-15T00:00", "２００６-１１-１５"],
    )
    def test_other_formats(self, value):
        assert "must be a date as" in date_problem(value, TODAY)

    @pytest.mark.parametrize("value", ["2006-02-30", "2006-13-01", "2006-00-10", "02/29/2023", "2006-04-31"])
    def test_not_calendar_dates(self, value):
        assert date_problem(value, TODAY) == "is not a calendar date"

    def test_leap_day(self):
        assert date_problem("02/29/2024", TODAY) is None

    @pytest.mark.parametrize(("value", "ok"), [("1900-12-31", False), ("1901-01-01", True), ("0000-05-06", True)])
    def test_year_after_1900_or_00(self, value, ok):
        assert (date_problem(value, TODAY) is None) is ok

    def test_at_most_ten_years_ahead(self):
        assert date_problem("2036-06-15", TODAY) is None
        assert date_problem("2036-06-16", TODAY) == "is more than 10 years in the future"
        assert date_problem("2037-01-01", TODAY) == "is more than 10 years in the future"

    def test_rule_names_the_key(self):
        check = rules.date_rule("anniversary", rules.INVALID_ANNIVERSARY, TODAY)
        assert check("2006-11-15") == "2006-11-15"
        with pytest.raises(InvalidValue) as info:
            check("2006-11-31")
        assert info.value.code == rules.INVALID_ANNIVERSARY
        assert info.value.reason == "anniversary is not a calendar date"
