"""
The API's rules for single import values, as small pure functions.

Each rule takes a stripped, non-blank string and returns it normalised, or raises :class:`InvalidValue`
with a short reason code (for counting) and a reason a person can act on (for the rejects file).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date

from cc_provider.contacts.fields import FIELD_MAX_LENGTHS

# Reason codes (``Rejected.code``), stable for counting and reporting.
MISSING_EMAIL = "missing_email"
INVALID_EMAIL = "invalid_email"
INVALID_SMS_NUMBER = "invalid_sms_number"
INVALID_BIRTHDAY = "invalid_birthday"
INVALID_ANNIVERSARY = "invalid_anniversary"
INVALID_SMS_CONSENT_DATE = "invalid_sms_consent_date"
TOO_LONG = "too_long"
TOO_MANY_CUSTOM_FIELDS = "too_many_custom_fields"
DUPLICATE_EMAIL = "duplicate_email"
NOT_TEXT = "not_text"

EMAIL_MAX_LENGTH: int = FIELD_MAX_LENGTHS["email"] or 50
#: Date formats of seed 000 (anniversary) and the spec (``sms_consent_date``); one or two digit months and days.
DATE_FORMATS = "MM/DD/YYYY, M/D/YYYY, YYYY/MM/DD, YYYY/M/D, YYYY-MM-DD, YYYY-M-D, M-D-YYYY or MM-DD-YYYY"
#: Seed 000: the year must be greater than 1900 (or 00) and at most 10 years in the future.
MIN_YEAR_EXCLUSIVE = 1900
MAX_YEARS_AHEAD = 10
DAYS_IN_MONTH = (0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)

# ASCII addresses only: a dot-atom local part, dotted domain labels, an alphabetic TLD of 2+ letters.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
EMAIL_PATTERN = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@(?:{_LABEL}\.)+(?:[A-Za-z]{{2,63}}|xn--[A-Za-z0-9-]{{1,59}})")
_SMS_AS_IS = re.compile(r"\d{10}|\d{3}-\d{3}-\d{4}", re.ASCII)
_SMS_PUNCTUATION = re.compile(r"[\s().\-]")
_DATE = re.compile(r"(\d{1,2})([/-])(\d{1,2})\2(\d{4})|(\d{4})([/-])(\d{1,2})\6(\d{1,2})", re.ASCII)


class InvalidValue(ValueError):
    """A value the API would not accept: ``code`` for counting, ``reason`` for people."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def check_email(value: str) -> str:
    """Accept an email address of at most 50 characters (the import's ``maxLength``) with a valid syntax."""
    if len(value) > EMAIL_MAX_LENGTH:
        raise InvalidValue(TOO_LONG, f"email is longer than {EMAIL_MAX_LENGTH} characters")
    if EMAIL_PATTERN.fullmatch(value) is None:
        raise InvalidValue(INVALID_EMAIL, "not a valid email address")
    return value


def check_sms_number(value: str) -> str:
    """Accept a US number; ``1231231234`` and ``123-123-1234`` pass as is, others become 10 digits."""
    if _SMS_AS_IS.fullmatch(value):
        return value
    digits = _SMS_PUNCTUATION.sub("", value)
    if digits.startswith("+1"):
        digits = digits[2:]
    elif len(digits) == 11 and digits.startswith("1"):
        digits = digits[1:]
    if len(digits) == 10 and digits.isascii() and digits.isdigit():
        return digits
    raise InvalidValue(INVALID_SMS_NUMBER, "sms_number must be a US number such as 1231231234 or 123-123-1234")


def _whole_number(key: str, value: str, high: int) -> str:
    if not (value.isascii() and value.isdigit()):
        raise InvalidValue(INVALID_BIRTHDAY, f"{key} must be a whole number")
    if not 1 <= int(value) <= high:
        raise InvalidValue(INVALID_BIRTHDAY, f"{key} must be between 1 and {high}")
    return str(int(value))


def check_birthday_month(value: str) -> str:
    """Accept a month number 1 to 12 (leading zeros dropped)."""
    return _whole_number("birthday_month", value, 12)


def check_birthday_day(value: str) -> str:
    """Accept a day number 1 to 31 (leading zeros dropped)."""
    return _whole_number("birthday_day", value, 31)


#: Every checked ``(birthday_month, birthday_day)`` pair that is a birthday, and the blank pair.
VALID_BIRTHDAYS: frozenset[tuple[str, str]] = frozenset(
    {("", "")} | {(str(month), str(day)) for month in range(1, 13) for day in range(1, DAYS_IN_MONTH[month] + 1)}
)


#: Common spellings of a birthday (``"7"`` or ``"07"``) -> the checked pair; the fast path's lookup table.
BIRTHDAY_FORMS: dict[tuple[str, str], tuple[str, str]] = {
    (month_form, day_form): (str(month), str(day))
    for month in range(1, 13)
    for day in range(1, DAYS_IN_MONTH[month] + 1)
    for month_form in {str(month), f"{month:02d}"}
    for day_form in {str(day), f"{day:02d}"}
} | {("", ""): ("", "")}


def birthday_pair_problem(month: str, day: str) -> str | None:
    """Return why a checked month and day (or blanks) cannot be a birthday together, or ``None``."""
    if (month, day) in VALID_BIRTHDAYS:
        return None
    if bool(month) != bool(day):
        return "birthday_month and birthday_day must be given together"
    return f"birthday_day {int(day)} is not a day of month {int(month)}"


def parse_date(value: str) -> tuple[int, int, int] | None:
    """Return ``(year, month, day)`` for a value in one of :data:`DATE_FORMATS`, else ``None``."""
    match = _DATE.fullmatch(value)
    if match is None:
        return None
    if match.group(1):
        return int(match.group(4)), int(match.group(1)), int(match.group(3))
    return int(match.group(5)), int(match.group(7)), int(match.group(8))


def date_problem(value: str, today: date) -> str | None:
    """Return why ``value`` breaks seed 000's anniversary rules (format, calendar, year), or ``None``."""
    parsed = parse_date(value)
    if parsed is None:
        return f"must be a date as {DATE_FORMATS}"
    year, month, day = parsed
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    if not 1 <= month <= 12 or not 1 <= day <= DAYS_IN_MONTH[month] or (month == 2 and day == 29 and not leap):
        return "is not a calendar date"
    if year != 0 and year <= MIN_YEAR_EXCLUSIVE:
        return f"year must be after {MIN_YEAR_EXCLUSIVE} (or 0000)"
    if (year, month, day) > (today.year + MAX_YEARS_AHEAD, today.month, today.day):
        return f"is more than {MAX_YEARS_AHEAD} years in the future"
    return None


def date_rule(key: str, code: str, today: date | None = None) -> Callable[[str], str]:
    """Return a rule checking ``key`` by :func:`date_problem` against ``today`` (default: the current date)."""
    when = today or date.today()

    def check(value: str) -> str:
        problem = date_problem(value, when)
        if problem:
            raise InvalidValue(code, f"{key} {problem}")
        return value

    return check


#: Rules whose results depend only on the value (and the fixed date), for values that repeat a lot:
#: their valid results may be remembered instead of recomputed for every row.
REPEATING_VALUE_KEYS = frozenset({"birthday_month", "birthday_day", "anniversary", "sms_consent_date"})


def value_rules(today: date | None = None) -> dict[str, Callable[[str], str]]:
    """Return the format rule of each import key that has one."""
    return {
        "email": check_email,
        "sms_number": check_sms_number,
        "birthday_month": check_birthday_month,
        "birthday_day": check_birthday_day,
        "anniversary": date_rule("anniversary", INVALID_ANNIVERSARY, today),
        "sms_consent_date": date_rule("sms_consent_date", INVALID_SMS_CONSENT_DATE, today),
    }
