"""Unit tests for cc_provider.contacts.column_plan: one header's columns and the checks of its rows."""

from __future__ import annotations

import itertools
from datetime import date

import pytest

from cc_provider.contacts import rules
from cc_provider.contacts.column_plan import ColumnPlan, ColumnPlanError
from cc_provider.contacts.rejects import Rejected

TODAY = date(2026, 6, 15)


def plan(*header: str, **options) -> ColumnPlan:
    return ColumnPlan(header, today=TODAY, **options)


def check(p: ColumnPlan, *fields: str, row_number: int = 2) -> tuple[list[str], list[Rejected]]:
    """Run the fast path, then (like the pipeline) the full check when it says "look closer"."""
    values = p.clean(list(fields))
    if p.passes(values):
        return values, []
    return values, p.problems(row_number, values)


class TestColumns:
    def test_v2_header(self):
        p = plan("Email address", "First Name", "Notes", "Custom Field 2", "Zip/Postal Code")
        assert p.columns == ("email", "first_name", "cf:custom_field_2", "zip")
        assert p.ignored_columns == ("Notes",)
        assert p.custom_fields == frozenset({"custom_field_2"})
        assert p.source_column(2) == "Custom Field 2"
        assert p.has_identity_column

    def test_no_identity_column(self):
        assert not plan("First Name", "City").has_identity_column
        assert plan("sms_number").has_identity_column

    def test_two_columns_for_one_field_are_an_error(self):
        with pytest.raises(ColumnPlanError, match="'Email' and 'email address' both map to 'email'"):
            plan("Email", "email address")

    def test_outlook_title_and_job_title(self):
        """Outlook's "Title" is a salutation: "Job Title", the field's own name, wins over the alias."""
        p = plan("First Name", "Title", "Company", "Job Title", "E-mail Address")
        assert p.columns == ("first_name", "company_name", "job_title", "email")
        assert p.source_column(2) == "Job Title"
        assert p.shadowed_columns == (("Title", "Job Title", "job_title"),)
        assert p.ignored_columns == ()
        values, problems = check(p, "Ada", "Mrs.", "Acme", "Engineer", "ada@b.co")
        assert (values, problems) == (["Ada", "Acme", "Engineer", "ada@b.co"], [])
        assert p.record(values)["job_title"] == "Engineer"

    def test_every_alias_loses_to_the_fields_own_name(self):
        p = plan("Title", "Position", "job_title", "email")
        assert p.columns == ("job_title", "email") and p.sources == (2, 3)
        assert p.shadowed_columns == (("Title", "job_title", "job_title"), ("Position", "job_title", "job_title"))

    def test_column_map_wins_over_the_fields_own_name(self):
        p = plan("Title", "Job Title", "email", column_map={"Title": "job_title"})
        assert p.columns == ("job_title", "email") and p.source_column(0) == "Title"
        assert p.shadowed_columns == (("Job Title", "Title", "job_title"),)

    def test_custom_field_heading_wins_over_a_v2_custom_field(self):
        p = plan("email", "Custom Field 1", "cf:custom_field_1")
        assert p.columns == ("email", "cf:custom_field_1") and p.source_column(1) == "cf:custom_field_1"
        assert p.shadowed_columns == (("Custom Field 1", "cf:custom_field_1", "cf:custom_field_1"),)

    @pytest.mark.parametrize(
        ("header", "column_map", "first", "second"),
        [
            (("Title", "Position", "email"), None, "Title", "Position"),  # two aliases
            (("First Name", "first_name", "email"), None, "First Name", "first_name"),  # two own names
            (("A", "B", "email"), {"A": "job_title", "B": "job_title"}, "A", "B"),  # two column_map entries
            (("Title", "Position", "Job Title", "Role", "email"), {"Role": "job_title", "Job Title": "job_title"},
             "Job Title", "Role"),
        ],
    )  # fmt: skip
    def test_claims_of_one_strength_are_ambiguous(self, header, column_map, first, second):
        with pytest.raises(ColumnPlanError) as info:
            plan(*header, column_map=column_map)
        key = "first_name" if "First Name" in header else "job_title"
        assert str(info.value) == (
            f"columns {first!r} and {second!r} both map to {key!r}; drop one or map it elsewhere with column_map "
            "(column_map beats a heading, and a heading naming the field itself beats an alias such as 'Title'; "
            "these two tie)"
        )

    @pytest.mark.parametrize(
        "header", [("email", "E-mail"), ("E-mail", "email"), ("sms_number", "SMS"), ("Email Address", "E-mail")]
    )
    def test_identity_columns_are_never_dropped(self, header):
        key = "sms_number" if "SMS" in header else "email"
        with pytest.raises(ColumnPlanError, match=f"{key} decides who a contact is, so neither is dropped"):
            plan(*header)

    def test_column_map_for_an_identity_column_still_needs_the_other_gone(self):
        with pytest.raises(ColumnPlanError, match="columns 'email' and 'Work Email' both map to 'email'"):
            plan("email", "Work Email", column_map={"Work Email": "email"})
        assert plan("email", "Work Email", column_map={"Work Email": "email", "email": None}).sources == (1,)

    def test_column_map_target_must_be_an_import_name(self):
        with pytest.raises(ValueError, match="not a V3 import name"):
            plan("Email", "Shoe", column_map={"Shoe": "shoe_size"})

    def test_address_lines_2_and_3_are_joined_into_street2(self):
        p = plan("Email", "Address Line 1", "Address Line 2", "Address Line 3")
        assert p.columns == ("email", "street", "street2")
        values, problems = check(p, "a@b.co", "1 Main St", " Apt 4 ", " Building B ")
        assert values == ["a@b.co", "1 Main St", "Apt 4, Building B"]
        assert problems == []
        assert check(p, "a@b.co", "1 Main St", "", "Building B")[0][2] == "Building B"
        assert check(p, "a@b.co", "1 Main St", "Apt 4", "")[0][2] == "Apt 4"

    def test_record(self):
        p = plan("email", "first_name", "birthday_month", "birthday_day")
        values, _ = check(p, "a@b.co", "", "07", "4")
        assert p.record(values) == {"email": "a@b.co", "birthday_month": 7, "birthday_day": 4}


class TestChecks:
    def test_valid_row_is_normalised(self):
        p = plan("Email", "SMS", "Birthday_Month", "Birthday_Day", "Anniversary")
        values, problems = check(p, " a@b.co ", "+1 508 123 1235", "07", "04", "11/15/2006")
        assert problems == []
        assert values == ["a@b.co", "5081231235", "7", "4", "11/15/2006"]

    def test_sms_only_row_is_valid(self):
        assert check(plan("Email", "SMS"), "", "508-123-1235")[1] == []

    def test_row_without_identity(self):
        _, problems = check(plan("Email", "First Name"), "  ", "Ada")
        assert problems == [Rejected(2, "Email", "", "no email address (and no sms_number)")]
        assert problems[0].code == rules.MISSING_EMAIL

    def test_every_problem_of_a_row_is_reported(self):
        p = plan("Email", "State", "Birthday_Month", "Birthday_Day", "Anniversary")
        _, problems = check(p, "not-an-email", "S" * 51, "13", "1", "2006-02-30", row_number=9)
        assert [(r.column, r.code) for r in problems] == [
            ("Email", rules.INVALID_EMAIL),
            ("Birthday_Month", rules.INVALID_BIRTHDAY),
            ("Anniversary", rules.INVALID_ANNIVERSARY),
            ("State", rules.TOO_LONG),
        ]
        assert all(r.row_number == 9 for r in problems)
        assert problems[3].reason == "state is longer than 50 characters"

    @pytest.mark.parametrize(
        ("month", "day", "column", "reason"),
        [
            ("4", "31", "Birthday_Day", "birthday_day 31 is not a day of month 4"),
            ("4", "", "Birthday_Month", "birthday_month and birthday_day must be given together"),
            ("", "4", "Birthday_Day", "birthday_month and birthday_day must be given together"),
        ],
    )
    def test_birthday_pairs(self, month, day, column, reason):
        _, problems = check(plan("Email", "Birthday_Month", "Birthday_Day"), "a@b.co", month, day)
        assert [(r.column, r.reason) for r in problems] == [(column, reason)]

    def test_lone_birthday_column(self):
        _, problems = check(plan("Email", "Birthday_Month"), "a@b.co", "4")
        assert [r.reason for r in problems] == ["birthday_month and birthday_day must be given together"]
        assert check(plan("Email", "Birthday_Month"), "a@b.co", "")[1] == []

    def test_unusual_but_valid_birthday_spelling(self):
        values, problems = check(plan("Email", "Birthday_Month", "Birthday_Day"), "a@b.co", "007", "004")
        assert problems == [] and values[1:] == ["7", "4"]

    @pytest.mark.parametrize(("limit_column", "limit"), [("City", 50), ("Address", 255), ("cf:note", 255)])
    def test_length_limits(self, limit_column, limit):
        p = plan("Email", limit_column)
        assert check(p, "a@b.co", "x" * limit)[1] == []
        _, problems = check(p, "a@b.co", "x" * (limit + 1))
        assert [(r.column, r.code) for r in problems] == [(limit_column, rules.TOO_LONG)]

    def test_length_counts_characters(self):
        assert check(plan("Email", "City"), "a@b.co", "é" * 50)[1] == []

    def test_at_most_25_custom_fields(self):
        header = ["Email", *(f"cf:f{i}" for i in range(30))]
        p = plan(*header)
        assert check(p, "a@b.co", *["v"] * 25, *[""] * 5)[1] == []
        _, problems = check(p, "a@b.co", *["v"] * 26, *[""] * 4)
        assert [(r.column, r.code) for r in problems] == [("cf:f25", rules.TOO_MANY_CUSTOM_FIELDS)]
        assert "26 custom fields" in problems[0].reason

    def test_line_breaks_become_spaces_when_asked(self):
        p = plan("Email", "Address")
        assert p.clean(["a@b.co", "1 Main St\r\n  Apt 4"], line_breaks=True) == ["a@b.co", "1 Main St Apt 4"]
        assert p.clean(["a@b.co", "1 Main St\nApt 4"]) == ["a@b.co", "1 Main St\nApt 4"]

    def test_anniversary_results_are_remembered_per_plan(self):
        p = plan("Email", "Anniversary")
        assert check(p, "a@b.co", "2006-11-15")[1] == []
        assert check(p, "c@d.co", "2006-11-15")[1] == []
        assert check(p, "c@d.co", "2036-06-16")[1][0].code == rules.INVALID_ANNIVERSARY
        assert check(p, "c@d.co", "2036-06-16")[1][0].code == rules.INVALID_ANNIVERSARY  # failures never remembered

    def test_fast_path_never_accepts_what_the_full_check_rejects(self):
        p = plan("Email", "SMS", "Birthday_Month", "Birthday_Day", "Anniversary", "State")
        emails = ["a@b.co", "", "bad", "x" * 45 + "@b.co"]
        sms = ["", "5081231235", "12"]
        months = ["", "2", "02", "13", "x"]
        days = ["", "29", "30", "31"]
        dates = ["", "2006-11-15", "2006-11-31", "1900-01-01"]
        states = ["", "MA", "S" * 51]
        for combo in itertools.product(emails, sms, months, days, dates, states):
            fast = p.clean(list(combo))
            slow = list(fast)
            assert not (p.passes(fast) and p.problems(2, slow)), combo
