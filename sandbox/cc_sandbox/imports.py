"""Contact imports: JSON request validation, the 40,000-contact / 4 MB truncation, and row processing.

Rows are applied to the account as the activity advances (see :mod:`cc_sandbox.progress`):
upsert by email (or SMS number), only the supplied fields change, unsubscribed contacts are not added to
lists (:mod:`cc_sandbox.subscriptions`). A bad row counts once, by the spec's definitions
(S1 ``ActivityImport.status``): in ``correctable_count`` (invalid email format, birthday or anniversary
format error, no email or SMS number) or else in ``error_count``. Row messages (``Line N: reason``; JSON
line numbers are 1-based positions in ``import_data``, CSV ones file lines) are shown as
``activity_errors_style`` says.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from cc_sandbox.errors import SandboxError
from cc_sandbox.models import Activity, Contact, ImportRow
from cc_sandbox.progress import register
from cc_sandbox.store import SandboxState
from cc_sandbox.subscriptions import join_lists

MAX_LIST_IDS = 50
MAX_CUSTOM_FIELDS = 25
#: A contact's address: ``EmailAddress.address`` ``maxLength: 80`` (S1). The CSV import states no other limit.
EMAIL_MAX_LENGTH = 80
#: ``JsonImportContact.email`` ``maxLength: 50`` (S1).
JSON_EMAIL_MAX_LENGTH = 50
SMS_PERMISSIONS = ("explicit", "not_set")

_ADDRESS_PARTS = ("street", "street2", "city", "state", "zip", "country")
#: Profile keys of a ``JsonImportContact`` and their maximum lengths (``None``: integer fields).
PROFILE_FIELDS: dict[str, int | None] = {
    "first_name": 50,
    "last_name": 50,
    "job_title": 50,
    "company_name": 50,
    "birthday_month": None,
    "birthday_day": None,
    "anniversary": 10,
    **{name: 50 for name in ("phone", "home_phone", "work_phone", "mobile_phone", "other_phone")},
    **{
        f"{prefix}{part}": 255 if part.startswith("street") else 50
        for prefix in ("", "home_", "work_", "other_")
        for part in _ADDRESS_PARTS
    },
}
IDENTITY_FIELDS = ("email", "sms_number", "sms_consent_date")
#: The spec spells one key with a space; accept it as an alias.
ALIASES = {"home country": "home_country"}

_WS = re.compile(r"[ \t\n\r]*")
_SMS = re.compile(r"^(\d{10}|\d{3}-\d{3}-\d{4})$")
_DATE = re.compile(r"^(\d{1,2})[/-](\d{1,2})[/-](\d{4})$|^(\d{4})[/-](\d{1,2})[/-](\d{1,2})$")


def is_valid_email(value: str) -> bool:
    """Check the sandbox's email rule: one ``@``, a local part, a dotted domain, no spaces, <= 80 chars."""
    return len(value) <= EMAIL_MAX_LENGTH and _email_format_ok(value)


def _email_format_ok(value: str) -> bool:
    if any(ch.isspace() for ch in value) or value.count("@") != 1:
        return False
    local, domain = value.split("@")
    return bool(local) and "." in domain


def _skip(text: str, pos: int) -> re.Match[str]:
    """Match the (possibly empty) white space at ``pos``; the pattern always matches."""
    match = _WS.match(text, pos)
    assert match is not None
    return match


def items_within(raw: bytes, limit: int, key: str = "import_data") -> int:
    """Count the elements of the top-level array ``key`` whose JSON text ends within ``limit`` bytes."""
    text = raw.decode("latin-1")  # one char per byte, so string offsets are byte offsets
    decoder = json.JSONDecoder()
    pos = _skip(text, 0).end() + 1  # past "{"
    while True:
        pos = _skip(text, pos).end()
        if text[pos] == "}":
            return 0
        name, pos = decoder.raw_decode(text, pos)
        pos = _skip(text, _skip(text, pos).end() + 1).end()  # past ":"
        if name != key:
            _, pos = decoder.raw_decode(text, pos)
            pos = _skip(text, pos).end()
            pos += text[pos] == ","
            continue
        count, pos = 0, pos + 1  # past "["
        while True:
            pos = _skip(text, pos).end()
            if text[pos] == "]":
                return count
            _, end = decoder.raw_decode(text, pos)
            if end > limit:
                return count
            count += 1
            pos = _skip(text, end).end()
            pos += text[pos] == ","


def parse_json_import(state: SandboxState, raw: bytes) -> tuple[list[ImportRow], list[str], dict[str, Any], int]:
    """Validate a ``contacts_json_import`` body; return ``(rows, list_ids, options, dropped)``.

    Only the first ``import_max_contacts`` contacts that end within the first ``import_max_bytes``
    bytes of the body are kept; ``dropped`` counts the rest, which is silently ignored.
    """
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise SandboxError.validation("The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise SandboxError.validation("The request body must be a JSON object.")
    import_data = body.get("import_data")
    if not isinstance(import_data, list) or not import_data:
        raise SandboxError.validation("import_data is required and must be a non-empty array of contacts.")
    list_ids = check_list_ids(state, body.get("list_ids"))
    options: dict[str, Any] = {}
    if body.get("sms_permission_to_send") is not None:
        if body["sms_permission_to_send"] not in SMS_PERMISSIONS:
            raise SandboxError.validation("sms_permission_to_send must be one of explicit, not_set.")
        options["sms_permission_to_send"] = body["sms_permission_to_send"]
    keep = len(import_data)
    if len(raw) > state.config.import_max_bytes:
        keep = items_within(raw, state.config.import_max_bytes)
    keep = min(keep, state.config.import_max_contacts)
    rows = [ImportRow(i + 1, _check_item(i, item)) for i, item in enumerate(import_data[:keep])]
    for index, row in enumerate(rows):
        check_custom_columns(state, row.data, f"import_data[{index}]")
    if "sms_permission_to_send" not in options and any(row.data.get("sms_number") for row in rows):
        raise SandboxError.validation("sms_permission_to_send is required when contacts carry an sms_number.")
    return rows, list_ids, options, len(import_data) - keep


def check_custom_columns(state: SandboxState, data: dict[str, Any], where: str) -> None:
    """Answer 400 when a ``cf:<name>`` key names no existing custom field."""
    for key in data:
        if key.startswith("cf:") and state.custom_field_named(key[3:]) is None:
            raise SandboxError.validation(f"{where} names the custom field '{key}', which does not exist.")


def record_truncation(state: SandboxState, activity: Activity, dropped: int) -> None:
    """Count an import post, and a truncation when the real API would have dropped ``dropped`` contacts."""
    activity.dropped = dropped
    state.stats.import_posts += 1
    if dropped:
        state.stats.truncations += 1
        state.stats.contacts_dropped += dropped


def check_list_ids(state: SandboxState, value: Any) -> list[str]:
    """Check ``list_ids`` (1 to 50 existing lists) and return them without duplicates."""
    if not isinstance(value, list) or not value:
        raise SandboxError.validation("list_ids is required and must be an array of 1 to 50 list ids.")
    if len(value) > MAX_LIST_IDS:
        raise SandboxError.validation(f"list_ids has {len(value)} entries; at most {MAX_LIST_IDS} are allowed.")
    ids: list[str] = []
    for list_id in value:
        if not isinstance(list_id, str):
            raise SandboxError.validation("list_ids must contain list id strings.")
        lst = state.lists.get(list_id)
        if lst is None or lst.deleted_at is not None:
            raise SandboxError.validation(f"list_ids contains an unknown list id: {list_id}.")
        if list_id not in ids:
            ids.append(list_id)
    return ids


def _check_item(index: int, item: Any) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise SandboxError.validation(f"import_data[{index}] must be a JSON object.")
    data: dict[str, Any] = {}
    for raw_key, value in item.items():
        key = str(ALIASES.get(raw_key, raw_key))
        if key not in PROFILE_FIELDS and key not in IDENTITY_FIELDS and not key.startswith("cf:"):
            raise SandboxError.validation(f"import_data[{index}] has an unsupported property '{key}'.")
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise SandboxError.validation(f"import_data[{index}].{key} must be a string or a number.")
        data[key] = value if isinstance(value, str) or key in ("birthday_month", "birthday_day") else str(value)
    return data


@dataclass(frozen=True)
class RowProblem:
    """Why a row cannot be imported as it is; ``bad_dates`` names the date keys when they are all that is wrong."""

    reason: str
    correctable: bool
    bad_dates: tuple[str, ...] = ()


def find_problem(data: dict[str, Any], email_max_length: int = EMAIL_MAX_LENGTH) -> RowProblem | None:
    """Return the first problem of a row (non-date problems first), or ``None`` when it is valid."""
    email, sms = data.get("email"), data.get("sms_number")
    if not email and not sms:
        return RowProblem("Missing email address or SMS number", correctable=True)
    if email and not _email_format_ok(str(email)):
        return RowProblem(f"Invalid email address '{email}'", correctable=True)
    if email and len(str(email)) > email_max_length:
        return RowProblem(f"email is longer than {email_max_length} characters", correctable=False)
    if sms and not _SMS.match(str(sms)):
        return RowProblem(f"Invalid SMS number '{sms}'", correctable=False)
    for key, max_length in PROFILE_FIELDS.items():
        if max_length is not None and len(str(data.get(key, ""))) > max_length:
            return RowProblem(f"{key} is longer than {max_length} characters", correctable=False)
    custom = [key for key in data if key.startswith("cf:")]
    if len(custom) > MAX_CUSTOM_FIELDS:
        return RowProblem(f"More than {MAX_CUSTOM_FIELDS} custom fields", correctable=False)
    if any(len(str(data[key])) > 255 for key in custom):
        return RowProblem("Custom field value is longer than 255 characters", correctable=False)
    return _date_problem(data)


def _date_problem(data: dict[str, Any]) -> RowProblem | None:
    reasons: list[str] = []
    bad: tuple[str, ...] = ()
    if "birthday_month" in data or "birthday_day" in data:
        month, day = _as_int(data.get("birthday_month")), _as_int(data.get("birthday_day"))
        if month is None or day is None or not 1 <= month <= 12 or not 1 <= day <= 31:
            reasons.append("Invalid birthday")
            bad += tuple(key for key in ("birthday_month", "birthday_day") if key in data)
    if "anniversary" in data and not _valid_date(str(data["anniversary"])):
        reasons.append(f"Invalid anniversary '{data['anniversary']}'")
        bad += ("anniversary",)
    return RowProblem(reasons[0], correctable=True, bad_dates=bad) if reasons else None


def row_problem(data: dict[str, Any]) -> str | None:
    """Return why a single contact's fields are invalid (for the one-contact endpoints), or ``None``."""
    problem = find_problem(data)
    return problem.reason if problem is not None else None


def _as_int(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def _valid_date(value: str) -> bool:
    match = _DATE.match(value)
    if not match:
        return False
    month, day = (match.group(1), match.group(2)) if match.group(1) else (match.group(5), match.group(6))
    return 1 <= int(month) <= 12 and 1 <= int(day) <= 31


def apply_row(state: SandboxState, activity: Activity, row: ImportRow) -> None:
    """Process one import row: count a problem once, upsert the contact, add its list memberships."""
    email_limit = JSON_EMAIL_MAX_LENGTH if activity.kind == "contacts_json_import" else EMAIL_MAX_LENGTH
    data = row.data
    problem = find_problem(data, email_limit)
    if problem is None and str(data.get("email") or "").lower() in state.flagged_emails:
        # An address flagged for signup abuse is rejected as invalid for 48 hours (S27): a row the
        # client's own checks pass, and that only the API rejects.
        problem = RowProblem(f"Invalid email address '{data['email']}'", correctable=True)
    if problem is not None:
        if problem.correctable:
            activity.correctable_count += 1
        else:
            activity.error_count += 1
        activity.row_errors.append(f"Line {row.line}: {problem.reason}")
        if not (problem.bad_dates and state.config.bad_date_handling == "drop_field"):
            activity.rejected += 1
            return
        data = {key: value for key, value in data.items() if key not in problem.bad_dates}
        activity.fields_dropped += 1
    email = str(data["email"]) if data.get("email") else None
    sms = re.sub(r"\D", "", str(data["sms_number"])) if data.get("sms_number") else None
    contact = state.contact_by_email(email) if email else state.contact_by_sms(sms or "")
    if contact is None:
        contact = state.add_contact(email, sms)
    else:
        _touch(state, contact, sms)
    for key in PROFILE_FIELDS:
        if key in data:
            contact.fields[key] = _as_int(data[key]) if key in ("birthday_month", "birthday_day") else data[key]
    for key, value in data.items():
        custom_field = state.custom_field_named(key[3:]) if key.startswith("cf:") else None
        if custom_field is not None:
            contact.custom_fields[custom_field.custom_field_id] = str(value)
    activity.imported += 1
    if contact.permission_to_send == "unsubscribed":
        activity.cannot_add_to_list_count += 1
        return
    if join_lists(state, contact, activity.list_ids):
        # A contact is on at most 50 lists (S1, S12). The spec does not say how an import reports it
        # (the list_full_reporting switch): a non-correctable error, unless the row already counted as
        # correctable (a row counts once), or nothing at all.
        if state.config.list_full_reporting == "not_counted":
            return
        activity.list_full += 1
        if problem is None:
            activity.error_count += 1
        activity.row_errors.append(f"Line {row.line}: The contact is already a member of 50 lists")


def _touch(state: SandboxState, contact: Contact, sms: str | None) -> None:
    contact.updated_at = state.clock()
    contact.update_source = "Account"
    contact.deleted_at = None
    if sms and not contact.sms_number:
        contact.sms_number = sms
        state.index_sms(contact)


def _apply_item(state: SandboxState, activity: Activity, index: int) -> None:
    apply_row(state, activity, activity.rows[index])


register("contacts_json_import", _apply_item)
register("contacts_file_import", _apply_item)
