"""``POST /v3/activities/contact_exports`` and the CSV download at ``GET /v3/contact_exports/{file_export_id}``.

The contacts are chosen when the export is posted; the file is written when the activity completes.
Its ``_links.results.href`` then names the download (the file export id is the activity id).
Columns are the requested ``fields`` (default: all, custom fields as ``cf:<name>``).
"""

from __future__ import annotations

import csv
import io
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response

from cc_sandbox.activities import activity_to_json, find_activity
from cc_sandbox.body import json_body
from cc_sandbox.bulk import existing_contacts, existing_lists, ids_field, members_of
from cc_sandbox.deps import api_router, get_state
from cc_sandbox.errors import SandboxError
from cc_sandbox.models import Activity, Contact, stamp
from cc_sandbox.progress import register
from cc_sandbox.store import SandboxState

router = api_router()

EMAIL_FIELDS = (
    "email_optin_source",
    "email_optin_date",
    "email_optout_source",
    "email_optout_date",
    "email_optout_reason",
)
PROFILE_FIELDS = (
    "first_name", "last_name", "job_title", "company_name", "birthday_month", "birthday_day", "anniversary",
    "phone", "street", "street2", "city", "state", "zip", "country",
)  # fmt: skip
EXPORT_FIELDS = (
    "email_address",
    "email_permission_to_send",
    *EMAIL_FIELDS,
    *PROFILE_FIELDS,
    "created_at",
    "updated_at",
)
#: ``status`` filter values; ``removed`` means deleted contacts.
EXPORT_STATUSES = ("active", "unsubscribed", "removed", "not_set", "pending_confirmation", "temp_hold")
UNSUPPORTED = ("tag_ids", "segment_id")


def _choose_contacts(state: SandboxState, body: dict[str, Any]) -> list[str]:
    for name in UNSUPPORTED:
        if name in body:
            raise SandboxError.validation(f"{name} is not supported by the sandbox (no tags or segments).")
    contact_ids, list_ids = ids_field(body, "contact_ids", 500), ids_field(body, "list_ids", 50)
    if contact_ids is not None and list_ids is not None:
        raise SandboxError.validation("contact_ids and list_ids are mutually exclusive.")
    status = body.get("status")
    if status is not None and status not in EXPORT_STATUSES:
        raise SandboxError.validation(f"status does not have a valid value; use one of {', '.join(EXPORT_STATUSES)}.")
    if contact_ids is not None:
        chosen = existing_contacts(state, contact_ids)
    elif list_ids is not None:
        chosen = members_of(state, existing_lists(state, list_ids))
    else:
        chosen = [c.contact_id for c in state.contacts.values() if c.deleted_at is None or status == "removed"]
    if status is not None:
        wanted = "deleted" if status == "removed" else status
        chosen = [cid for cid in chosen if state.contacts[cid].status == wanted]
    if body.get("new_subscriber") is True:
        since = state.clock() - 30 * 86400
        chosen = [cid for cid in chosen if (state.contacts[cid].opt_in_date or 0) >= since]
    exclude = body.get("exclude") or {}
    excluded = set(ids_field(exclude, "contact_ids", 500) or []) if isinstance(exclude, dict) else set()
    return [cid for cid in chosen if cid not in excluded]


def _fields(state: SandboxState, body: dict[str, Any]) -> list[str]:
    custom = [f"cf:{cf.name}" for cf in state.custom_fields.values()]
    fields = body.get("fields")
    if fields is None:
        return [*EXPORT_FIELDS, *custom]
    if not isinstance(fields, list) or not fields or not all(isinstance(f, str) for f in fields):
        raise SandboxError.validation("fields must be a non-empty array of field names.")
    unknown = [f for f in fields if f not in EXPORT_FIELDS and f not in custom]
    if unknown:
        raise SandboxError.validation(f"fields contains an unknown field: {unknown[0]}.")
    if any(f in EMAIL_FIELDS for f in fields) and "email_address" not in fields:
        raise SandboxError.validation("Export email_address to export the email opt-in and opt-out fields.")
    return list(dict.fromkeys(fields))


@router.post("/activities/contact_exports", status_code=201)
async def contact_exports(request: Request) -> JSONResponse:
    """Queue an export of the chosen contacts to a CSV file."""
    body = json_body(await request.body(), request.headers.get("content-type"))
    if not isinstance(body, dict):
        raise SandboxError.validation("The request body must be a JSON object.")
    state = get_state(request)
    with state.lock:
        items, fields = _choose_contacts(state, body), _fields(state, body)
        activity = state.new_activity("contact_exports", items=items, options={"fields": fields})
        return JSONResponse(activity_to_json(activity, state.config), status_code=201)


@router.get("/contact_exports/{file_export_id}")
async def download(file_export_id: str, request: Request) -> Response:
    """Return the CSV of a completed export (404 before it completes)."""
    state = get_state(request)
    with state.lock:
        activity = find_activity(state, file_export_id)
        if activity is None or activity.kind != "contact_exports" or activity.result is None:
            raise SandboxError.not_found("Resource not found for the file_export_id provided.")
        return Response(activity.result, media_type="text/csv")


def _value(state: SandboxState, contact: Contact, name: str) -> str:
    unsubscribed = contact.permission_to_send == "unsubscribed"
    style = state.config.timestamp_style  # the same forms as the contact's JSON
    values: dict[str, Any] = {
        "email_address": contact.email,
        "email_permission_to_send": contact.permission_to_send,
        "email_optin_source": contact.opt_in_source,
        "email_optin_date": stamp(contact.opt_in_date or contact.created_at, style, "millis_z"),
        "email_optout_source": (contact.opt_out_source or "Contact") if unsubscribed else None,
        "email_optout_date": (
            stamp(contact.opt_out_date or contact.updated_at, style, "millis_z") if unsubscribed else None
        ),
        "email_optout_reason": None,
        "created_at": stamp(contact.created_at, style, "offset"),
        "updated_at": stamp(contact.updated_at, style, "offset"),
    }
    if name.startswith("cf:"):
        cf = state.custom_field_named(name[3:])
        value = contact.custom_fields.get(cf.custom_field_id) if cf else None
    else:
        value = values[name] if name in values else contact.fields.get(name)
    return "" if value is None else str(value)


def _write(state: SandboxState, activity: Activity) -> None:
    fields = activity.options["fields"]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(fields)
    for contact_id in activity.items:
        contact = state.contacts.get(contact_id)
        if contact is not None:
            writer.writerow([_value(state, contact, name) for name in fields])
    activity.result = out.getvalue()


register("contact_exports", lambda state, activity, index: None, _write)
