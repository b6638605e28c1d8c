"""``POST /v3/activities/contacts_file_import``: a multipart CSV upload, truncated as the real API does.

Form fields: ``file`` (a ``.csv`` file, else 415), ``list_ids`` (a comma-separated string or repeated
fields, 1 to 50 lists) and optional ``sms_permission_to_send``. The request's Content-Type must be the
``multipart/form-data; boundary=...`` that an HTTP client generates; a hand-set one (no boundary, or
another type) is 415. Only complete lines within the first 4 MB, and at most 40,000 lines counting the
header, are processed; the rest is dropped silently and counted in the stats.
"""

from __future__ import annotations

import csv
import io

from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.datastructures import UploadFile

from cc_sandbox.activities import activity_to_json
from cc_sandbox.deps import api_router, get_state
from cc_sandbox.errors import UNSUPPORTED_MEDIA_TYPE, SandboxError
from cc_sandbox.imports import SMS_PERMISSIONS, check_custom_columns, check_list_ids, record_truncation
from cc_sandbox.models import ImportRow
from cc_sandbox.store import SandboxState

router = api_router()

#: Column headers the CSV import accepts, besides ``cf:<custom field name>``.
CSV_COLUMNS = frozenset(
    {
        "email",
        "sms_number",
        "first_name",
        "last_name",
        "phone",
        "job_title",
        "anniversary",
        "birthday_day",
        "birthday_month",
        "company_name",
        "street",
        "street2",
        "city",
        "state",
        "zip",
        "country",
        "sms_consent_date",
    }
)
UNSUPPORTED_UPLOAD = (
    "1. This endpoint requires that Content-Type be unspecified 2. Wrong file format, upload file must be of type .csv"
)


def _unsupported() -> SandboxError:
    return SandboxError.api(415, UNSUPPORTED_MEDIA_TYPE, UNSUPPORTED_UPLOAD)


@router.post("/activities/contacts_file_import", status_code=201)
async def contacts_file_import(request: Request) -> JSONResponse:
    """Queue a CSV import of the uploaded ``file`` into ``list_ids``."""
    media_type, _, parameters = request.headers.get("content-type", "").partition(";")
    if media_type.strip().lower() != "multipart/form-data" or "boundary=" not in parameters:
        raise _unsupported()
    try:
        form = await request.form()
    except Exception:  # starlette's multipart parser signals a malformed body in several ways
        raise SandboxError.validation("The multipart request body is malformed.") from None
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise SandboxError.validation("file is required: upload the contacts as a .csv file.")
        if not (upload.filename or "").lower().endswith(".csv"):
            raise _unsupported()
        raw, filename = await upload.read(), upload.filename
        values = [value for value in form.getlist("list_ids") if isinstance(value, str)]
        sms_permission = form.get("sms_permission_to_send")
    finally:
        await form.close()
    list_ids = [part.strip() for value in values for part in value.split(",")]
    if sms_permission is not None and sms_permission not in SMS_PERMISSIONS:
        raise SandboxError.validation("sms_permission_to_send must be one of explicit, not_set.")
    state = get_state(request)
    with state.lock:
        list_ids = check_list_ids(state, [list_id for list_id in list_ids if list_id])
        rows, dropped = parse_csv(state, raw)
        if sms_permission is None and any(row.data.get("sms_number") for row in rows):
            raise SandboxError.validation("sms_permission_to_send is required when contacts carry an sms_number.")
        activity = state.new_activity(
            "contacts_file_import",
            rows=rows,
            list_ids=list_ids,
            options={"sms_permission_to_send": sms_permission} if sms_permission else {},
            source_file_name=filename,
            header_rows=1,
        )
        record_truncation(state, activity, dropped)
        body = activity_to_json(activity, state.config)
    return JSONResponse(body, status_code=201)


def _records(text: str) -> list[list[str]]:
    return [record for record in csv.reader(io.StringIO(text, newline="")) if any(v.strip() for v in record)]


def _column_name(header: str) -> str:
    """Normalise a header: standard columns ignore case; ``cf:<name>`` keeps the name's case (S16)."""
    name = header.strip()
    return "cf:" + name[3:] if name.lower().startswith("cf:") else name.lower()


def parse_csv(state: SandboxState, raw: bytes) -> tuple[list[ImportRow], int]:
    """Check the header and return ``(rows, dropped)`` for the part of the file the API would process."""
    limit = state.config.import_max_bytes
    kept = raw if len(raw) <= limit else raw[: raw.rfind(b"\n", 0, limit) + 1]  # whole lines only
    try:
        text = kept.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SandboxError.validation("The file is not UTF-8 encoded text.") from None
    records = _records(text)
    if not records:
        raise SandboxError.validation("The file is empty; it needs a header line and contacts.")
    header = [_column_name(name) for name in records[0]]
    unknown = [name for name in header if name not in CSV_COLUMNS and not name.startswith("cf:")]
    if unknown and state.config.unknown_csv_headers == "reject":  # V3 unknown; V2 ignored them (seed 000)
        raise SandboxError.validation(f"The file has an unsupported column header '{unknown[0]}'.")
    known = [name for name in header if name not in unknown]
    if len(set(known)) != len(known):
        raise SandboxError.validation("The file repeats a column header.")
    if "email" not in header and "sms_number" not in header:
        raise SandboxError.validation("The file needs an email or an sms_number column.")
    check_custom_columns(state, dict.fromkeys(known), "The file header")
    contacts = records[1 : state.config.import_max_contacts]  # 40,000 lines including the header
    rows = [
        ImportRow(
            number + 2,
            {
                name: value.strip()
                for name, value in zip(header, record, strict=False)
                if value.strip() and name not in unknown
            },
        )
        for number, record in enumerate(contacts)
    ]
    total = len(records) - 1 if kept is raw else len(_records(raw.decode("utf-8-sig", errors="replace"))) - 1
    return rows, total - len(rows)
