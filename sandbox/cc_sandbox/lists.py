"""``/v3/contact_lists``: create, look up by name, page through, get, replace and delete (asynchronously) a list."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from cc_sandbox.activities import activity_to_json
from cc_sandbox.body import json_body
from cc_sandbox.deps import api_router, get_state
from cc_sandbox.errors import SandboxError
from cc_sandbox.models import ContactList, stamp
from cc_sandbox.paging import next_links, page_request, query_bool, query_csv, take_page

router = api_router()

MEMBERSHIP_COUNTS = ("all", "active")
LIST_STATUSES = ("all", "active", "deleted")
NAME_MAX_LENGTH = 255
DESCRIPTION_MAX_LENGTH = 255


def list_to_json(lst: ContactList, style: str, membership_count: int | None = None) -> dict[str, Any]:
    """Render a ``ContactList`` (``style``: ``timestamp_style``); ``membership_count`` only when asked for."""
    body: dict[str, Any] = {"list_id": lst.list_id, "name": lst.name}
    if lst.description is not None:
        body["description"] = lst.description
    body["favorite"] = lst.favorite
    # The spec's ContactList examples: created_at with milliseconds and Z, updated_at/deleted_at with -05:00.
    body["created_at"] = stamp(lst.created_at, style, "millis_z")
    body["updated_at"] = stamp(lst.updated_at, style, "offset")
    if lst.deleted_at is not None:
        body["deleted_at"] = stamp(lst.deleted_at, style, "offset")
    if membership_count is not None:
        body["membership_count"] = membership_count
    return body


def _list_input(body: object) -> tuple[str, str | None, bool]:
    """Check a ``ListInput`` body; return ``(name, description, favorite)``."""
    if not isinstance(body, dict):
        raise SandboxError.validation("The request body must be a JSON object.")
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise SandboxError.validation("name is required and must be a non-empty string.")
    if len(name) > NAME_MAX_LENGTH:
        raise SandboxError.validation(f"name must be at most {NAME_MAX_LENGTH} characters.")
    description = body.get("description")
    if description is not None and (not isinstance(description, str) or len(description) > DESCRIPTION_MAX_LENGTH):
        raise SandboxError.validation(f"description must be a string of at most {DESCRIPTION_MAX_LENGTH} characters.")
    favorite = body.get("favorite", False)
    if not isinstance(favorite, bool):
        raise SandboxError.validation("favorite must be true or false.")
    return name, description, favorite


@router.post("/contact_lists", status_code=201)
async def create_list(request: Request) -> JSONResponse:
    """Create a list; the name must be unique (409) and at most 255 characters."""
    name, description, favorite = _list_input(json_body(await request.body(), request.headers.get("content-type")))
    state = get_state(request)
    lst = state.create_list(name, description, favorite)
    return JSONResponse(list_to_json(lst, state.config.timestamp_style), status_code=201)


def _list_filters(request: Request) -> dict[str, Any]:
    membership = request.query_params.get("include_membership_count")
    if membership is not None and membership not in MEMBERSHIP_COUNTS:
        raise SandboxError.validation("include_membership_count does not have a valid value; use all or active.")
    return {
        "name": request.query_params.get("name"),
        "status": query_csv(request, "status", allowed=LIST_STATUSES) or ["active"],
        "include_count": query_bool(request, "include_count"),
        "include_membership_count": membership,
    }


def _status_matches(lst: ContactList, statuses: list[str]) -> bool:
    if "all" in statuses:
        return True
    return ("deleted" if lst.deleted_at is not None else "active") in statuses


@router.get("/contact_lists")
async def get_lists(request: Request) -> dict[str, Any]:
    """Return one page of lists (``ContactListArray``), ``_links.next`` only when more remain."""
    filters, after, limit = page_request(request, "/v3/contact_lists", _list_filters, default_limit=50, max_limit=1000)
    state = get_state(request)
    with state.lock:
        matches = [
            lst
            for lst in state.lists.values()
            if _status_matches(lst, filters["status"])
            and (filters["name"] is None or state.list_names_match(lst.name, filters["name"]))
        ]
        page, next_after = take_page(matches, lambda lst: lst.seq, after, limit)
        style, counts = state.config.timestamp_style, None
        if filters["include_membership_count"]:
            counts = state.membership_counts(active_only=filters["include_membership_count"] == "active")
        body: dict[str, Any] = {
            "lists": [list_to_json(lst, style, None if counts is None else counts[lst.list_id]) for lst in page]
        }
    if filters["include_count"]:
        body["lists_count"] = len(matches)
    body.update(next_links("/v3/contact_lists", filters, next_after, limit))
    return body


@router.get("/contact_lists/{list_id}")
async def get_list(list_id: str, request: Request) -> dict[str, Any]:
    """Return one list, with ``membership_count`` when ``include_membership_count`` is given."""
    membership = request.query_params.get("include_membership_count")
    if membership is not None and membership not in MEMBERSHIP_COUNTS:
        raise SandboxError.validation("include_membership_count does not have a valid value; use all or active.")
    state = get_state(request)
    with state.lock:
        lst = state.lists.get(list_id)
        if lst is None:
            raise SandboxError.not_found("Resource not found for the list_id provided.")
        count = None
        if membership:
            count = state.membership_counts(active_only=membership == "active")[list_id]
        return list_to_json(lst, state.config.timestamp_style, count)


@router.put("/contact_lists/{list_id}")
async def replace_list(list_id: str, request: Request) -> dict[str, Any]:
    """Replace a list's name, description and favorite flag (omitted ones reset); 409 for a name in use."""
    name, description, favorite = _list_input(json_body(await request.body(), request.headers.get("content-type")))
    state = get_state(request)
    with state.lock:
        lst = state.live_list(list_id)
        if lst is None:
            raise SandboxError.not_found("Resource not found for the list_id provided.")
        existing = state.live_list_named(name, other_than=list_id)
        if existing is not None:
            raise state.list_conflict(name, existing)
        lst.name, lst.description, lst.favorite, lst.updated_at = name, description, favorite, state.clock()
        return list_to_json(lst, state.config.timestamp_style)


@router.delete("/contact_lists/{list_id}", status_code=202)
async def delete_list(list_id: str, request: Request) -> JSONResponse:
    """Delete a list: 202 with a ``Location`` header and a ``list_delete`` activity that drops its memberships."""
    state = get_state(request)
    with state.lock:
        lst = state.live_list(list_id)
        if lst is None:
            raise SandboxError.not_found("Resource not found for the list_id provided.")
        activity = state.new_activity("list_delete", items=[list_id], list_ids=[list_id])
        lst.deleted_at = lst.updated_at = state.clock()
        body = activity_to_json(activity, state.config, shape="list_delete_202")
    href = body["_links"]["self"]["href"]
    return JSONResponse(body, status_code=202, headers={"Location": href})
