"""
The import column names of the V3 API, their length limits, and the names users' data arrives with.

Custom fields are ``cf:<name>``; :func:`missing_custom_fields` tells which of an import's the account lacks.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

ADDRESS_PARTS = ("street", "street2", "city", "state", "zip", "country")
ADDRESS_KINDS = ("home", "work", "other")
PHONE_FIELDS = ("phone", "home_phone", "work_phone", "mobile_phone", "other_phone")

#: Keys accepted by ``contacts_json_import`` (``cf:<name>`` custom fields are handled separately).
IMPORT_FIELDS: frozenset[str] = frozenset(
    {
        "email",
        "sms_number",
        "sms_consent_date",
        "first_name",
        "last_name",
        "job_title",
        "company_name",
        "birthday_month",
        "birthday_day",
        "anniversary",
        *PHONE_FIELDS,
        *ADDRESS_PARTS,
        *(f"{kind}_{part}" for kind in ADDRESS_KINDS for part in ADDRESS_PARTS),
    }
)

CUSTOM_FIELD_PREFIX = "cf:"
#: Longest value the spec (``JsonImportContact``) allows for a custom field.
CUSTOM_FIELD_MAX_LENGTH = 255
#: Most custom fields one contact may carry.
MAX_CUSTOM_FIELDS = 25

#: ``maxLength`` of each import field in the spec; ``None`` for fields checked by format instead.
FIELD_MAX_LENGTHS: dict[str, int | None] = {
    "email": 50,
    "sms_number": 16,
    "sms_consent_date": 16,
    "first_name": 50,
    "last_name": 50,
    "job_title": 50,
    "company_name": 50,
    "birthday_month": None,
    "birthday_day": None,
    "anniversary": None,
    **dict.fromkeys(PHONE_FIELDS, 50),
    **{
        f"{prefix}{part}": 255 if part.startswith("street") else 50
        for prefix in ("", *(f"{kind}_" for kind in ADDRESS_KINDS))
        for part in ADDRESS_PARTS
    },
}

#: Import fields that several source columns may fill; their non-blank values are joined with ``", "``.
#: V2's "Address Line 2" and "Address Line 3" both land in ``street2`` (V3 has two street lines).
JOINED_FIELDS: frozenset[str] = frozenset({"street2", *(f"{kind}_street2" for kind in ADDRESS_KINDS)})
JOIN_SEPARATOR = ", "

#: Common spellings of the columns, and the V2 import headings, after :func:`normalize_name`.
ALIASES: dict[str, str] = {
    # identity
    "email_address": "email",
    "emailaddress": "email",
    "e_mail": "email",
    "e_mail_address": "email",
    "mail": "email",
    "sms": "sms_number",
    "sms_phone": "sms_number",
    "sms_phone_number": "sms_number",
    # person
    "firstname": "first_name",
    "first": "first_name",
    "fname": "first_name",
    "given_name": "first_name",
    "lastname": "last_name",
    "last": "last_name",
    "lname": "last_name",
    "surname": "last_name",
    "family_name": "last_name",
    "company": "company_name",
    "organization": "company_name",
    "organisation": "company_name",
    "title": "job_title",
    "position": "job_title",
    "birth_month": "birthday_month",
    "birth_day": "birthday_day",
    # phones
    "phone_number": "phone",
    "telephone": "phone",
    "mobile": "mobile_phone",
    "cell": "mobile_phone",
    "cell_phone": "mobile_phone",
    # address (V2: "Address Line 1" to "3", "Zip/Postal Code")
    "address": "street",
    "street_address": "street",
    "address_1": "street",
    "address_line_1": "street",
    "street_1": "street",
    "street1": "street",
    "address_2": "street2",
    "address_line_2": "street2",
    "street_2": "street2",
    "address_3": "street2",
    "address_line_3": "street2",
    "town": "city",
    "province": "state",
    "state_province": "state",
    "region": "state",
    "postal_code": "zip",
    "postcode": "zip",
    "zip_code": "zip",
    "zipcode": "zip",
    "zip_postal_code": "zip",
    **{f"{kind}_street_2": f"{kind}_street2" for kind in ADDRESS_KINDS},
}

#: V2 "Custom Field 1" to "Custom Field 15" become this V3 custom field unless ``column_map`` says otherwise.
DEFAULT_V2_CUSTOM_FIELD = "cf:custom_field_{n}"
V2_CUSTOM_FIELD_COUNT = 15
_V2_CUSTOM_FIELD = re.compile(r"custom_?field_?(\d+)")
_SEPARATORS = re.compile(r"[\s\-/]+")


def normalize_name(name: str) -> str:
    """Lower-case a column name and turn spaces, dashes and slashes into underscores."""
    return _SEPARATORS.sub("_", name.strip().lower()).strip("_")


def is_custom_field(key: str) -> bool:
    """Tell whether an import key is a ``cf:<name>`` custom field."""
    return key.startswith(CUSTOM_FIELD_PREFIX)


def import_name(
    column: str,
    column_map: Mapping[str, str | None] | None = None,
    *,
    v2_custom_field: str | None = DEFAULT_V2_CUSTOM_FIELD,
) -> str | None:
    """
    Return the V3 import key for a source column, or ``None`` if the column is not imported.

    An explicit ``column_map`` entry wins (``None`` drops the column); then ``cf:<name>`` passes
    through; then V3 names, aliases and V2 headings, case-insensitively. V2's "Custom Field N"
    (1 to 15) becomes ``v2_custom_field.format(n=N)``, or is dropped when that is ``None``.
    """
    if column_map and column in column_map:
        return column_map[column]
    if column[: len(CUSTOM_FIELD_PREFIX)].lower() == CUSTOM_FIELD_PREFIX:
        name = column[len(CUSTOM_FIELD_PREFIX) :].strip()
        return CUSTOM_FIELD_PREFIX + name if name else None
    name = normalize_name(column)
    name = ALIASES.get(name, name)
    if name in IMPORT_FIELDS:
        return name
    match = _V2_CUSTOM_FIELD.fullmatch(name)
    if match and v2_custom_field and 1 <= int(match.group(1)) <= V2_CUSTOM_FIELD_COUNT:
        return v2_custom_field.format(n=int(match.group(1)))
    return None


def check_import_key(key: str) -> None:
    """Raise ``ValueError`` unless ``key`` is a V3 import name or a ``cf:<name>`` custom field."""
    if key in IMPORT_FIELDS or (is_custom_field(key) and key[len(CUSTOM_FIELD_PREFIX) :].strip()):
        return
    raise ValueError(f"{key!r} is not a V3 import name (one of {', '.join(sorted(IMPORT_FIELDS))}) or 'cf:<name>'.")


def max_length(key: str) -> int | None:
    """Return the longest value the API accepts for an import key (``None``: checked by format)."""
    if is_custom_field(key):
        return CUSTOM_FIELD_MAX_LENGTH
    return FIELD_MAX_LENGTHS[key]


def missing_custom_fields(used: Iterable[str], account_names: Iterable[str]) -> list[str]:
    """Return the names in ``used`` the account lacks, sorted; ``cf:`` prefixes are ignored on both sides."""
    known = {_bare(name) for name in account_names}
    return sorted({_bare(name) for name in used} - known)


def _bare(name: str) -> str:
    return name[len(CUSTOM_FIELD_PREFIX) :] if is_custom_field(name) else name
