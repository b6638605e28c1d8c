"""Contacts as the API shows them (``ContactResource``) and as ``POST``/``PUT /contacts`` bodies describe them."""

from __future__ import annotations

import uuid
from typing import Any

from cc_sandbox.errors import SandboxError
from cc_sandbox.imports import is_valid_email, row_problem
from cc_sandbox.models import PERMISSIONS, Contact, stamp
from cc_sandbox.store import SandboxState
from cc_sandbox.subscriptions import account_may_resubscribe, opt_back_in, unsubscribe

INCLUDES = ("custom_fields", "list_memberships", "phone_numbers", "street_addresses", "taggings", "notes")
PERSON_FIELDS = (
    "first_name",
    "last_name",
    "job_title",
    "company_name",
    "birthday_month",
    "birthday_day",
    "anniversary",
)
SOURCES = ("Contact", "Account")
PHONE_KEYS = {
    "phone": "other",
    "home_phone": "home",
    "work_phone": "work",
    "mobile_phone": "mobile",
    "other_phone": "other",
}
ADDRESS_PREFIXES = {"": "home", "home_": "home", "work_": "work", "other_": "other"}
ADDRESS_PARTS = ("street", "street2", "city", "state", "zip", "country")
_ID_NAMESPACE = uuid.UUID("6f1f4d3c-5a1e-4c55-9a57-0c1c6a3c5b10")


def _sub_id(contact: Contact, name: str) -> str:
    return str(uuid.uuid5(_ID_NAMESPACE, f"{contact.contact_id}/{name}"))


def contact_to_json(contact: Contact, style: str, includes: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    """Render a ``ContactResource`` (``style``: ``timestamp_style``); sub-resources only when in ``includes``.

    Timestamps as the sources show them: contacts and their ``email_address`` with a -05:00 offset (seed
    002's response; the spec's ``EmailAddress`` examples), opt-in and opt-out dates with milliseconds (S1).
    """
    body: dict[str, Any] = {"contact_id": contact.contact_id}
    if contact.email:
        email: dict[str, Any] = {
            "address": contact.email,
            "permission_to_send": contact.permission_to_send,
            "created_at": stamp(contact.created_at, style, "offset"),
            "updated_at": stamp(contact.updated_at, style, "offset"),
            "opt_in_source": contact.opt_in_source,
            "opt_in_date": stamp(contact.opt_in_date or contact.created_at, style, "millis_z"),
            "confirm_status": "off",
        }
        if contact.permission_to_send == "unsubscribed":
            email["opt_out_source"] = contact.opt_out_source or "Contact"
            email["opt_out_date"] = stamp(contact.opt_out_date or contact.updated_at, style, "millis_z")
        body["email_address"] = email
    for name in PERSON_FIELDS:
        if name in contact.fields:
            body[name] = contact.fields[name]
    body["create_source"] = contact.create_source
    body["update_source"] = contact.update_source
    body["created_at"] = stamp(contact.created_at, style, "offset")
    body["updated_at"] = stamp(contact.updated_at, style, "offset")
    if contact.deleted_at is not None:
        body["deleted_at"] = stamp(contact.deleted_at, style, "offset")[:10]
    if contact.sms_number:
        body["sms_channel"] = {
            "sms_channel_id": _sub_id(contact, "sms"),
            "sms_address": contact.sms_number,
            "dial_code": "1",
            "country_code": "US",
        }
    if "custom_fields" in includes:
        body["custom_fields"] = [{"custom_field_id": cf_id, "value": v} for cf_id, v in contact.custom_fields.items()]
    if "list_memberships" in includes:
        body["list_memberships"] = list(contact.list_ids)
    if "phone_numbers" in includes:
        body["phone_numbers"] = [
            {"phone_number_id": _sub_id(contact, key), "phone_number": contact.fields[key], "kind": kind}
            for key, kind in PHONE_KEYS.items()
            if key in contact.fields
        ][:3]
    if "street_addresses" in includes:
        body["street_addresses"] = _addresses(contact)
    if "taggings" in includes:
        body["taggings"] = []
    if "notes" in includes:
        body["notes"] = []
    return body


def _addresses(contact: Contact) -> list[dict[str, Any]]:
    addresses = []
    for prefix, kind in ADDRESS_PREFIXES.items():
        parts = {
            ("postal_code" if part == "zip" else part): contact.fields[prefix + part]
            for part in ADDRESS_PARTS
            if prefix + part in contact.fields
        }
        if parts:
            street2 = parts.pop("street2", None)
            if street2:
                parts["street"] = f"{parts.get('street', '')} {street2}".strip()
            addresses.append({"street_address_id": _sub_id(contact, prefix + "address"), "kind": kind, **parts})
    return addresses[:3]


def _fail(message: str) -> SandboxError:
    return SandboxError.validation(message)


def _array(body: dict[str, Any], name: str, most: int) -> list[Any] | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or len(value) > most:
        raise _fail(f"{name} must be an array of at most {most} items.")
    return value


def parse_contact_body(state: SandboxState, body: Any, *, source_field: str) -> dict[str, Any]:
    """Check a ``ContactPostRequest`` / ``ContactPutRequest`` body and return what it sets.

    Keys of the result: ``source``, ``email``, ``permission``, ``sms``, ``fields`` (person fields),
    and, only when the body carries them, ``custom_fields``, ``phones``, ``addresses``, ``list_ids``.
    """
    if not isinstance(body, dict):
        raise _fail("The request body must be a JSON object.")
    source = body.get(source_field)
    if source not in SOURCES:
        raise _fail(f"{source_field} is missing, {source_field} does not have a valid value")
    out: dict[str, Any] = {"source": source, "email": None, "permission": None, "sms": None}
    email = body.get("email_address")
    if email is not None:
        if not isinstance(email, dict) or not isinstance(email.get("address"), str):
            raise _fail("email_address.address is required.")
        if not is_valid_email(email["address"]):
            raise _fail("email_address.address does not have a valid value")
        permission = email.get("permission_to_send")
        if permission is not None and permission not in PERMISSIONS:
            raise _fail("email_address.permission_to_send does not have a valid value")
        out["email"], out["permission"] = email["address"], permission
    sms = body.get("sms_channel")
    if sms is not None:
        digits = (
            "".join(ch for ch in str(sms.get("full_sms_address", "")) if ch.isdigit()) if isinstance(sms, dict) else ""
        )
        if len(digits) not in (10, 11):
            raise _fail("sms_channel.full_sms_address does not have a valid value")
        out["sms"] = digits[-10:]
    fields = {name: body[name] for name in PERSON_FIELDS if body.get(name) is not None}
    for name in ("birthday_month", "birthday_day"):
        if name in fields and (isinstance(fields[name], bool) or not isinstance(fields[name], int)):
            raise _fail(f"{name} must be an integer.")
    problem = row_problem({"email": "x@example.com", **fields})
    if problem is not None:
        raise _fail(problem)
    out["fields"] = fields
    _sub_resources(state, body, out)
    return out


def _sub_resources(state: SandboxState, body: dict[str, Any], out: dict[str, Any]) -> None:
    custom = _array(body, "custom_fields", 25)
    if custom is not None:
        out["custom_fields"] = {}
        for item in custom:
            cf_id = item.get("custom_field_id") if isinstance(item, dict) else None
            if cf_id not in state.custom_fields or not isinstance(item.get("value", ""), str):
                raise _fail("custom_fields must name existing custom fields with string values.")
            out["custom_fields"][cf_id] = item.get("value", "")
    phones = _array(body, "phone_numbers", 3)
    if phones is not None:
        keys = {"home": "home_phone", "work": "work_phone", "mobile": "mobile_phone", "other": "other_phone"}
        out["phones"] = {}
        for item in phones:
            if (
                not isinstance(item, dict)
                or item.get("kind") not in keys
                or not isinstance(item.get("phone_number"), str)
            ):
                raise _fail("phone_numbers need a phone_number and a kind of home, work, mobile or other.")
            out["phones"][keys[item["kind"]]] = item["phone_number"]
    addresses = _array(body, "street_addresses", 3)
    if addresses is not None:
        out["addresses"] = {}
        for item in addresses:
            if not isinstance(item, dict) or item.get("kind") not in ("home", "work", "other"):
                raise _fail("street_addresses need a kind of home, work or other.")
            for part in ("street", "city", "state", "postal_code", "country"):
                if isinstance(item.get(part), str):
                    out["addresses"][f"{item['kind']}_{'zip' if part == 'postal_code' else part}"] = item[part]
    lists = _array(body, "list_memberships", 50)
    if lists is not None:
        if any(state.live_list(str(list_id)) is None for list_id in lists):
            raise _fail("list_memberships contains an unknown list id.")
        out["list_ids"] = list(dict.fromkeys(lists))


def apply_contact_body(state: SandboxState, contact: Contact, parsed: dict[str, Any], *, replace: bool) -> None:
    """Write a parsed body onto ``contact``; ``replace`` (PUT) also clears person fields it leaves out.

    The account sets the permission: an unsubscribe is the account's (``opt_out_source: Account``); a
    contact who opted out itself keeps ``unsubscribed`` whatever the body says (S1: not until "the
    contact opts back in"), and an unsubscribed contact stays on no list.
    """
    now = state.clock()
    if replace:
        for name in PERSON_FIELDS:
            contact.fields.pop(name, None)
    contact.fields.update(parsed["fields"])
    if parsed["email"] and parsed["email"] != contact.email:
        state.change_email(contact, parsed["email"])
    permission = parsed["permission"]
    if permission and permission != contact.permission_to_send:
        if permission == "unsubscribed":
            unsubscribe(state, contact, "Account")
        elif contact.permission_to_send != "unsubscribed":
            contact.permission_to_send = permission
        elif account_may_resubscribe(contact):
            opt_back_in(state, contact, permission)
    if parsed["sms"] and not contact.sms_number:
        contact.sms_number = parsed["sms"]
        state.index_contact(contact)
    if "custom_fields" in parsed:
        contact.custom_fields = dict(parsed["custom_fields"])
    if "phones" in parsed:
        for key in PHONE_KEYS:
            contact.fields.pop(key, None)
        contact.fields.update(parsed["phones"])
    if "addresses" in parsed:
        for prefix in ADDRESS_PREFIXES:
            for part in ADDRESS_PARTS:
                contact.fields.pop(prefix + part, None)
        contact.fields.update(parsed["addresses"])
    if "list_ids" in parsed and contact.permission_to_send != "unsubscribed":
        contact.list_ids = list(parsed["list_ids"])
    contact.updated_at = now
