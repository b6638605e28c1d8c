"""The import column names of the V3 API and the aliases users' data arrives with."""

from __future__ import annotations

import re

ADDRESS_PARTS = ("street", "street2", "city", "state", "zip", "country")

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
        "phone",
        "home_phone",
        "work_phone",
        "mobile_phone",
        "other_phone",
        *ADDRESS_PARTS,
        *(f"{kind}_{part}" for kind in ("home", "work", "other") for part in ADDRESS_PARTS),
    }
)

#: Common spellings of the same columns, after :func:`normalize_name`.
ALIASES: dict[str, str] = {
    "email_address": "email",
    "e_mail": "email",
    "mail": "email",
    "firstname": "first_name",
    "given_name": "first_name",
    "lastname": "last_name",
    "surname": "last_name",
    "family_name": "last_name",
    "company": "company_name",
    "title": "job_title",
    "phone_number": "phone",
    "postal_code": "zip",
    "zip_code": "zip",
    "zip_postal_code": "zip",
}

CUSTOM_FIELD_PREFIX = "cf:"


def normalize_name(name: str) -> str:
    """Lower-case a column name and turn spaces, dashes and slashes into underscores."""
    return re.sub(r"[\s\-/]+", "_", name.strip().lower()).strip("_")


def import_name(column: str, column_map: dict[str, str] | None = None) -> str | None:
    """
    Return the V3 import key for a source column, or ``None`` if the column is not imported.

    An explicit ``column_map`` entry wins; then ``cf:<name>`` passes through; then V3 names and aliases.
    """
    if column_map and column in column_map:
        return column_map[column]
    if column.lower().startswith(CUSTOM_FIELD_PREFIX):
        return CUSTOM_FIELD_PREFIX + column[len(CUSTOM_FIELD_PREFIX) :]
    name = normalize_name(column)
    name = ALIASES.get(name, name)
    return name if name in IMPORT_FIELDS else None
