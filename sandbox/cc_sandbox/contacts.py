"""``/v3/contacts``: list with filters, create, sign-up-form upsert, resubscribe, get, replace, delete, counts.

Subscription rules (opt-out, re-opt-in, 50 lists) live in :mod:`cc_sandbox.subscriptions`.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from fastapi import Request, Response
from fastapi.responses import JSONResponse

from cc_sandbox.body import json_body
from cc_sandbox.contact_views import (
    INCLUDES,
    PERSON_FIELDS,
    apply_contact_body,
    contact_to_json,
    parse_contact_body,
)
from cc_sandbox.deps import api_router, get_state
from cc_sandbox.errors import CONFLICT, SandboxError
from cc_sandbox.imports import is_valid_email, row_problem
from cc_sandbox.models import Contact
from cc_sandbox.paging import next_links, page_request, query_bool, query_csv, take_page
from cc_sandbox.store import SandboxState
from cc_sandbox.subscriptions import MAX_LISTS_PER_CONTACT, opt_back_in

router = api_router()

CONTACT_STATUSES = ("all", "active", "deleted", "not_set", "pending_confirmation", "temp_hold", "unsubscribed")
MAX_LISTS_FILTER = 25
DATE_FILTERS = ("updated_after", "updated_before", "created_after", "created_before", "optout_after", "optout_before")
NEW_SUBSCRIBER_DAYS = 30


def _epoch(name: str, raw: str) -> float:
    """Parse an ISO-8601 date or date-time query value (UTC when no offset is given) or answer 400."""
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise SandboxError.validation(f"{name} does not have a valid value; use an ISO-8601 date-time.") from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)).timestamp()


def _contact_filters(request: Request) -> dict[str, Any]:
    q = request.query_params
    return {
        "lists": query_csv(request, "lists", most=MAX_LISTS_FILTER),
        "email": q.get("email"),
        "status": query_csv(request, "status", allowed=CONTACT_STATUSES),
        "include": query_csv(request, "include", allowed=INCLUDES),
        "include_count": query_bool(request, "include_count"),
        "dates": {name: _epoch(name, q[name]) for name in DATE_FILTERS if q.get(name)},
    }


def _matches(contact: Contact, filters: dict[str, Any]) -> bool:
    statuses = filters["status"]
    if "all" not in statuses and (contact.status not in statuses if statuses else contact.status == "deleted"):
        return False
    if filters["email"] is not None and (contact.email or "").lower() != filters["email"].lower():
        return False
    for name, bound in filters.get("dates", {}).items():
        field, _, side = name.partition("_")
        value = {"updated": contact.updated_at, "created": contact.created_at, "optout": contact.opt_out_date}[field]
        if value is None or (value <= bound if side == "after" else value >= bound):
            return False
    return not filters["lists"] or any(list_id in contact.list_ids for list_id in filters["lists"])


@router.get("/contacts")
async def get_contacts(request: Request) -> dict[str, Any]:
    """Return one page of contacts (``Contacts``) in creation order."""
    filters, after, limit = page_request(request, "/v3/contacts", _contact_filters, default_limit=50, max_limit=500)
    state = get_state(request)
    with state.lock:
        matches = [contact for contact in state.contacts.values() if _matches(contact, filters)]
        page, next_after = take_page(matches, lambda contact: contact.seq, after, limit)
        style = state.config.timestamp_style
        body: dict[str, Any] = {"contacts": [contact_to_json(c, style, filters["include"]) for c in page]}
    if filters["include_count"]:
        body["contacts_count"] = len(matches)
    body.update(next_links("/v3/contacts", filters, next_after, limit))
    return body


def _supplied_includes(parsed: dict[str, Any]) -> list[str]:
    keys = {"custom_fields": "custom_fields", "phones": "phone_numbers", "addresses": "street_addresses"}
    return [include for key, include in keys.items() if key in parsed] + (
        ["list_memberships"] if "list_ids" in parsed else []
    )


def _email_conflict(contact: Contact) -> SandboxError:
    return SandboxError.api(409, CONFLICT, f"Email already exists for contact {contact.contact_id}")


@router.post("/contacts", status_code=201)
async def create_contact(request: Request) -> JSONResponse:
    """Create a contact; 409 when its email belongs to any contact, deleted ones included."""
    body = json_body(await request.body(), request.headers.get("content-type"))
    state = get_state(request)
    with state.lock:
        parsed = parse_contact_body(state, body, source_field="create_source")
        if not (
            parsed["email"] or parsed["sms"] or parsed["fields"].get("first_name") or parsed["fields"].get("last_name")
        ):
            raise SandboxError.validation(
                "A contact needs an email_address, an sms_channel, a first_name or a last_name."
            )
        existing = state.contact_by_email(parsed["email"]) if parsed["email"] else None
        if existing is not None:
            raise _email_conflict(existing)
        source = parsed["source"]
        contact = state.add_contact(None, create_source=source, update_source=source, opt_in_source=source)
        apply_contact_body(state, contact, parsed, replace=False)
        body = contact_to_json(contact, state.config.timestamp_style, _supplied_includes(parsed))
        return JSONResponse(body, status_code=201)


def _contact(state: SandboxState, contact_id: str) -> Contact:
    contact = state.contacts.get(contact_id)
    if contact is None:
        raise SandboxError.not_found("Resource not found for the contact_id provided.")
    return contact


@router.get("/contacts/counts")
async def contact_counts(request: Request) -> dict[str, int]:
    """Count contacts by email permission (``new_subscriber`` too with ``include=new_subscriber``)."""
    include = request.query_params.get("include")
    if include is not None and include != "new_subscriber":
        raise SandboxError.validation("include does not have a valid value; use new_subscriber.")
    state = get_state(request)
    with state.lock:
        live = [c for c in state.contacts.values() if c.deleted_at is None]
        since = state.clock() - NEW_SUBSCRIBER_DAYS * 86400
        permissions = [c.permission_to_send for c in live]
        counts = {
            "total": len(live),
            "explicit": permissions.count("explicit"),
            "implicit": permissions.count("implicit"),
            "pending": permissions.count("pending_confirmation"),
            "unsubscribed": permissions.count("unsubscribed"),
        }
        if include:
            counts["new_subscriber"] = sum(c.status == "active" and (c.opt_in_date or 0) >= since for c in live)
    return counts


@router.post("/contacts/sign_up_form")
async def sign_up_form(request: Request) -> JSONResponse:
    """Create (201) or update (200) a contact by email, as the contact itself: it opts (back) in.

    Lists and custom fields are added, deleted contacts revived; past 50 lists in all it is 400 (S1, S12).
    """
    body = json_body(await request.body(), request.headers.get("content-type"))
    if not isinstance(body, dict):
        raise SandboxError.validation("The request body must be a JSON object.")
    email = body.get("email_address")
    if not isinstance(email, str) or len(email) > 50 or not is_valid_email(email):
        raise SandboxError.validation("email_address is required and must be a valid address of at most 50 characters.")
    list_ids = body.get("list_memberships")
    if not isinstance(list_ids, list) or not 1 <= len(list_ids) <= MAX_LISTS_PER_CONTACT:
        raise SandboxError.validation("list_memberships is required: 1 to 50 list ids.")
    fields = {name: body[name] for name in PERSON_FIELDS if body.get(name) is not None}
    if isinstance(body.get("phone_number"), str):
        fields["phone"] = body["phone_number"]
    problem = row_problem({"email": email, **fields})
    if problem is not None:
        raise SandboxError.validation(problem)
    state = get_state(request)
    with state.lock:
        if any(state.live_list(str(list_id)) is None for list_id in list_ids):
            raise SandboxError.validation("list_memberships contains an unknown list id.")
        custom = {}
        for item in body.get("custom_fields") or []:
            if not isinstance(item, dict) or item.get("custom_field_id") not in state.custom_fields:
                raise SandboxError.validation("custom_fields must name existing custom fields.")
            custom[item["custom_field_id"]] = str(item.get("value", ""))
        contact = state.contact_by_email(email)
        current = contact.list_ids if contact is not None else []
        new_lists = [list_id for list_id in dict.fromkeys(list_ids) if list_id not in current]
        if len(current) + len(new_lists) > MAX_LISTS_PER_CONTACT:
            raise SandboxError.validation(
                f"A contact can be a member of up to {MAX_LISTS_PER_CONTACT} lists; this one is on {len(current)}."
            )
        created = contact is None
        if contact is None:
            contact = state.add_contact(
                email, create_source="Contact", update_source="Contact", opt_in_source="Contact"
            )
        contact.fields.update(fields)
        contact.custom_fields.update(custom)
        if contact.permission_to_send == "unsubscribed":  # the contact opts back in through a sign-up form
            opt_back_in(state, contact, "explicit")
        contact.list_ids.extend(new_lists)
        contact.permission_to_send, contact.deleted_at, contact.update_source = "explicit", None, "Contact"
        contact.updated_at = state.clock()
        result = {"contact_id": contact.contact_id, "action": "created" if created else "updated"}
    return JSONResponse(result, status_code=201 if created else 200)


@router.put("/contacts/resubscribe/{contact_id}")
async def resubscribe_contact(contact_id: str, request: Request) -> Response:
    """Send an unsubscribed contact a resubscribe email (once per opt-out; else 409).

    The contact is "not resubscribed until after you receive their confirmation" (S1); then it joins
    ``list_ids``. In the sandbox the contact confirms with ``POST /__sandbox__/contacts/{id}/confirm_resubscribe``.
    """
    body = json_body(await request.body(), request.headers.get("content-type"))
    list_ids = body.get("list_ids") if isinstance(body, dict) else None
    if not isinstance(list_ids, list) or not list_ids or not all(isinstance(v, str) for v in list_ids):
        raise SandboxError.validation("list_ids is required: an array of list ids.")
    state = get_state(request)
    with state.lock:
        contact = _contact(state, contact_id)
        if any(state.live_list(list_id) is None for list_id in list_ids):
            raise SandboxError.validation("list_ids contains an unknown list id.")
        if contact.permission_to_send != "unsubscribed":
            raise SandboxError.validation("Only an unsubscribed contact can be sent a resubscribe email.")
        if contact.resubscribe_list_ids is not None:
            raise SandboxError.api(409, CONFLICT, "A resubscribe email was already sent to this contact.")
        contact.resubscribe_list_ids = list(dict.fromkeys(list_ids))
    return Response(status_code=200)


@router.get("/contacts/{contact_id}")
async def get_contact(contact_id: str, request: Request) -> dict[str, Any]:
    """Return one contact with the sub-resources named in ``include``."""
    includes = query_csv(request, "include", allowed=INCLUDES)
    state = get_state(request)
    with state.lock:
        return contact_to_json(_contact(state, contact_id), state.config.timestamp_style, includes)


@router.put("/contacts/{contact_id}")
async def replace_contact(contact_id: str, request: Request) -> dict[str, Any]:
    """Replace a contact's core fields (omitted ones are cleared; omitted sub-resources kept); revives a deleted one."""
    body = json_body(await request.body(), request.headers.get("content-type"))
    state = get_state(request)
    with state.lock:
        contact = _contact(state, contact_id)
        parsed = parse_contact_body(state, body, source_field="update_source")
        other = state.contact_by_email(parsed["email"]) if parsed["email"] else None
        if other is not None and other is not contact:
            raise _email_conflict(other)
        apply_contact_body(state, contact, parsed, replace=True)
        contact.update_source, contact.deleted_at = parsed["source"], None
        return contact_to_json(contact, state.config.timestamp_style, _supplied_includes(parsed))


@router.delete("/contacts/{contact_id}", status_code=204)
async def delete_contact(contact_id: str, request: Request) -> Response:
    """Delete a contact (it keeps its email, so ``POST /contacts`` with it is still a 409)."""
    state = get_state(request)
    with state.lock:
        contact = _contact(state, contact_id)
        if contact.deleted_at is not None:
            raise SandboxError.not_found("Resource not found for the contact_id provided.")
        contact.deleted_at = contact.updated_at = state.clock()
    return Response(status_code=204)
