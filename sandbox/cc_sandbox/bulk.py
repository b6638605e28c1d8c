"""Bulk activities on memberships and deletions: ``add_list_memberships``, ``remove_list_memberships``,
``contact_delete`` and ``list_delete`` (also what ``DELETE /contact_lists/{id}`` starts).

The contacts (or lists) an activity works on are resolved when it is posted; each is processed as
the activity advances. Sources by tag, segment or engagement level are not emulated (400).
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from cc_sandbox.activities import activity_to_json
from cc_sandbox.body import json_body
from cc_sandbox.deps import api_router, get_state
from cc_sandbox.errors import SandboxError
from cc_sandbox.models import Activity
from cc_sandbox.progress import register
from cc_sandbox.store import SandboxState
from cc_sandbox.subscriptions import join_lists, leave_lists

router = api_router()

UNSUPPORTED_SOURCES = ("tag_ids", "segment_id", "engagement_level")


def _object(raw: bytes, content_type: str | None) -> dict[str, Any]:
    body = json_body(raw, content_type)
    if not isinstance(body, dict):
        raise SandboxError.validation("The request body must be a JSON object.")
    return body


def ids_field(body: dict[str, Any], name: str, most: int) -> list[str] | None:
    """Read an optional array of 1 to ``most`` id strings, without duplicates."""
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or not value or len(value) > most or not all(isinstance(v, str) for v in value):
        raise SandboxError.validation(f"{name} must be an array of 1 to {most} ids.")
    return list(dict.fromkeys(value))


def existing_lists(state: SandboxState, list_ids: list[str], name: str = "list_ids") -> list[str]:
    if any(state.live_list(list_id) is None for list_id in list_ids):
        raise SandboxError.validation(f"{name} contains an unknown list id.")
    return list_ids


def existing_contacts(state: SandboxState, contact_ids: list[str], name: str = "contact_ids") -> list[str]:
    if any(contact_id not in state.contacts for contact_id in contact_ids):
        raise SandboxError.validation(f"{name} contains an unknown contact id.")
    return contact_ids


def members_of(state: SandboxState, list_ids: list[str]) -> list[str]:
    """Return the ids of live contacts on any of ``list_ids``, in creation order."""
    return [c.contact_id for c in state.contacts.values() if c.deleted_at is None and set(c.list_ids) & set(list_ids)]


def _membership_contacts(state: SandboxState, body: dict[str, Any]) -> list[str]:
    source = body.get("source")
    if not isinstance(source, dict):
        raise SandboxError.validation("source is required: one of list_ids, contact_ids or all_active_contacts.")
    all_active = source.get("all_active_contacts", False)
    if not isinstance(all_active, bool):
        raise SandboxError.validation("source.all_active_contacts must be true or false.")
    # all_active_contacts has "default: false" (S1) and CC's generated SDKs always send it: false beside
    # another source is no source of its own.
    keys = ("list_ids", "contact_ids", *UNSUPPORTED_SOURCES)
    given = [key for key in keys if key in source] + (["all_active_contacts"] if all_active else [])
    if len(given) != 1:
        raise SandboxError.validation("source needs exactly one of list_ids, contact_ids or all_active_contacts.")
    if given[0] in UNSUPPORTED_SOURCES:
        raise SandboxError.validation(f"source.{given[0]} is not supported by the sandbox (no tags or segments).")
    if given[0] == "list_ids":
        contact_ids = members_of(
            state, existing_lists(state, ids_field(source, "list_ids", 50) or [], "source.list_ids")
        )
    elif given[0] == "contact_ids":
        contact_ids = existing_contacts(state, ids_field(source, "contact_ids", 500) or [], "source.contact_ids")
    else:
        contact_ids = [c.contact_id for c in state.contacts.values() if c.status == "active"]
    exclude = body.get("exclude") or {}
    excluded = set(ids_field(exclude, "contact_ids", 10_000) or []) if isinstance(exclude, dict) else set()
    return [contact_id for contact_id in contact_ids if contact_id not in excluded]


async def _membership_activity(request: Request, kind: str) -> JSONResponse:
    body = _object(await request.body(), request.headers.get("content-type"))
    state = get_state(request)
    with state.lock:
        targets = existing_lists(state, ids_field(body, "list_ids", 50) or [])
        if not targets:
            raise SandboxError.validation("list_ids is required: 1 to 50 target lists.")
        activity = state.new_activity(kind, items=_membership_contacts(state, body), list_ids=targets)
        return JSONResponse(activity_to_json(activity, state.config), status_code=201)


@router.post("/activities/add_list_memberships", status_code=201)
async def add_list_memberships(request: Request) -> JSONResponse:
    """Add the source contacts to the target ``list_ids`` (unsubscribed contacts are left out)."""
    return await _membership_activity(request, "add_list_memberships")


@router.post("/activities/remove_list_memberships", status_code=201)
async def remove_list_memberships(request: Request) -> JSONResponse:
    """Remove the source contacts from the target ``list_ids``."""
    return await _membership_activity(request, "remove_list_memberships")


@router.post("/activities/contact_delete", status_code=201)
async def contact_delete(request: Request) -> JSONResponse:
    """Delete up to 500 contacts by id, or every member of up to 50 lists."""
    body = _object(await request.body(), request.headers.get("content-type"))
    contact_ids, list_ids = ids_field(body, "contact_ids", 500), ids_field(body, "list_ids", 50)
    if (contact_ids is None) == (list_ids is None):
        raise SandboxError.validation("Give either contact_ids or list_ids.")
    state = get_state(request)
    with state.lock:
        if contact_ids is not None:
            items = existing_contacts(state, contact_ids)
        else:
            items = members_of(state, existing_lists(state, list_ids or []))
        activity = state.new_activity("contact_delete", items=items, list_ids=list_ids or [])
        return JSONResponse(activity_to_json(activity, state.config), status_code=201)


@router.post("/activities/list_delete", status_code=201)
async def list_delete(request: Request) -> JSONResponse:
    """Delete up to 100 lists."""
    body = _object(await request.body(), request.headers.get("content-type"))
    list_ids = ids_field(body, "list_ids", 100)
    state = get_state(request)
    with state.lock:
        items = existing_lists(state, list_ids or [])
        if not items:
            raise SandboxError.validation("list_ids is required: 1 to 100 lists.")
        activity = state.new_activity("list_delete", items=items, list_ids=items)
        return JSONResponse(activity_to_json(activity, state.config), status_code=201)


def _add(state: SandboxState, activity: Activity, index: int) -> None:
    """Add one contact to the target lists: not when unsubscribed, and never past 50 lists (S1, S12)."""
    contact = state.contacts.get(activity.items[index])
    if contact is not None and contact.deleted_at is None:
        join_lists(state, contact, activity.list_ids)


def _remove(state: SandboxState, activity: Activity, index: int) -> None:
    contact = state.contacts.get(activity.items[index])
    if contact is not None:
        leave_lists(state, contact, activity.list_ids)


def _delete_contact(state: SandboxState, activity: Activity, index: int) -> None:
    contact = state.contacts.get(activity.items[index])
    if contact is not None and contact.deleted_at is None:
        contact.deleted_at = contact.updated_at = state.clock()


def _delete_list(state: SandboxState, activity: Activity, index: int) -> None:
    list_id = activity.items[index]
    lst = state.lists.get(list_id)
    if lst is not None and lst.deleted_at is None:
        lst.deleted_at = lst.updated_at = state.clock()
    for contact in state.contacts.values():
        leave_lists(state, contact, [list_id])


register("add_list_memberships", _add)
register("remove_list_memberships", _remove)
register("contact_delete", _delete_contact)
register("list_delete", _delete_list)
