"""``GET /v3/contacts``: filter by lists, email and status, with cursor pagination."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import Request

from cc_provider.sandbox.deps import api_router, get_state
from cc_provider.sandbox.models import Contact, iso
from cc_provider.sandbox.paging import next_links, page_request, query_bool, query_csv, take_page

router = api_router()

CONTACT_STATUSES = ("all", "active", "deleted", "not_set", "pending_confirmation", "temp_hold", "unsubscribed")
INCLUDES = ("custom_fields", "list_memberships", "phone_numbers", "street_addresses", "taggings", "notes")
MAX_LISTS_FILTER = 25
_PERSON_FIELDS = (
    "first_name",
    "last_name",
    "job_title",
    "company_name",
    "birthday_month",
    "birthday_day",
    "anniversary",
)
_PHONE_KINDS = {
    "phone": "other",
    "home_phone": "home",
    "work_phone": "work",
    "mobile_phone": "mobile",
    "other_phone": "other",
}
_ADDRESS_KINDS = {"": "home", "home_": "home", "work_": "work", "other_": "other"}
_ID_NAMESPACE = uuid.UUID("6f1f4d3c-5a1e-4c55-9a57-0c1c6a3c5b10")


def _sub_id(contact: Contact, name: str) -> str:
    return str(uuid.uuid5(_ID_NAMESPACE, f"{contact.contact_id}/{name}"))


def contact_to_json(contact: Contact, includes: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    """Render a ``ContactResource``; sub-resources appear only when named in ``includes``."""
    body: dict[str, Any] = {"contact_id": contact.contact_id}
    if contact.email:
        email: dict[str, Any] = {
            "address": contact.email,
            "permission_to_send": contact.permission_to_send,
            "created_at": iso(contact.created_at),
            "updated_at": iso(contact.updated_at),
            "opt_in_source": contact.opt_in_source,
            "opt_in_date": iso(contact.opt_in_date or contact.created_at),
            "confirm_status": "off",
        }
        if contact.permission_to_send == "unsubscribed":
            email["opt_out_source"] = "Contact"
            email["opt_out_date"] = iso(contact.opt_out_date or contact.updated_at)
        body["email_address"] = email
    for name in _PERSON_FIELDS:
        if name in contact.fields:
            body[name] = contact.fields[name]
    body["create_source"] = contact.create_source
    body["update_source"] = contact.update_source
    body["created_at"] = iso(contact.created_at)
    body["updated_at"] = iso(contact.updated_at)
    if contact.deleted_at is not None:
        body["deleted_at"] = iso(contact.deleted_at)[:10]
    if contact.sms_number:
        body["sms_channel"] = {
            "sms_channel_id": _sub_id(contact, "sms"),
            "sms_address": contact.sms_number,
            "dial_code": "1",
            "country_code": "US",
        }
    if "custom_fields" in includes:
        body["custom_fields"] = [
            {"custom_field_id": str(uuid.uuid5(_ID_NAMESPACE, f"cf/{name}")), "value": value}
            for name, value in contact.custom_fields.items()
        ]
    if "list_memberships" in includes:
        body["list_memberships"] = list(contact.list_ids)
    if "phone_numbers" in includes:
        body["phone_numbers"] = [
            {"phone_number_id": _sub_id(contact, key), "phone_number": contact.fields[key], "kind": kind}
            for key, kind in _PHONE_KINDS.items()
            if key in contact.fields
        ]
    if "street_addresses" in includes:
        body["street_addresses"] = _addresses(contact)
    if "taggings" in includes:
        body["taggings"] = []
    if "notes" in includes:
        body["notes"] = []
    return body


def _addresses(contact: Contact) -> list[dict[str, Any]]:
    addresses = []
    renames = {"zip": "postal_code"}
    for prefix, kind in _ADDRESS_KINDS.items():
        parts = {
            renames.get(part, part): contact.fields[prefix + part]
            for part in ("street", "street2", "city", "state", "zip", "country")
            if prefix + part in contact.fields
        }
        if parts:
            street2 = parts.pop("street2", None)
            if street2:
                parts["street"] = f"{parts.get('street', '')} {street2}".strip()
            addresses.append({"street_address_id": _sub_id(contact, prefix + "address"), "kind": kind, **parts})
    return addresses[:3]


def _contact_filters(request: Request) -> dict[str, Any]:
    return {
        "lists": query_csv(request, "lists", most=MAX_LISTS_FILTER),
        "email": request.query_params.get("email"),
        "status": query_csv(request, "status", allowed=CONTACT_STATUSES),
        "include": query_csv(request, "include", allowed=INCLUDES),
        "include_count": query_bool(request, "include_count"),
    }


def _matches(contact: Contact, filters: dict[str, Any]) -> bool:
    statuses = filters["status"]
    if "all" not in statuses and (contact.status not in statuses if statuses else contact.status == "deleted"):
        return False
    if filters["email"] is not None and (contact.email or "").lower() != filters["email"].lower():
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
        body: dict[str, Any] = {"contacts": [contact_to_json(contact, filters["include"]) for contact in page]}
    if filters["include_count"]:
        body["contacts_count"] = len(matches)
    body.update(next_links("/v3/contacts", filters, next_after, limit))
    return body
