"""``/v3/activities``: activity status and listing, the JSON contact import, and how activities render."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from cc_sandbox.body import require_json_content_type
from cc_sandbox.config import SandboxConfig
from cc_sandbox.deps import api_router, get_state
from cc_sandbox.errors import SandboxError
from cc_sandbox.imports import parse_json_import, record_truncation
from cc_sandbox.models import Activity, stamp
from cc_sandbox.paging import next_links, page_request, take_page
from cc_sandbox.store import SandboxState

router = api_router()

IMPORT_KINDS = ("contacts_json_import", "contacts_file_import")
#: ``GET /activities?state=`` values (the spec leaves ``initialized`` out).
LISTED_STATES = ("processing", "completed", "cancelled", "failed", "timed_out")
_NEWEST_FIRST = 10**12


def _status(activity: Activity, cfg: SandboxConfig) -> dict[str, int]:
    """Return the ``status`` counters that the activity's kind reports."""
    done = activity.processed
    if activity.kind in IMPORT_KINDS:
        header = activity.header_rows if activity.state != "initialized" else 0
        status = {
            "items_total_count": activity.total + activity.header_rows,
            "items_completed_count": done + header,
            # "The total number of contacts in the import file" (S1): the rows processed so far, or a switch.
            "person_count": done if cfg.person_count_mode == "all_rows" else activity.imported,
            "error_count": activity.error_count,
            "correctable_count": activity.correctable_count,
            "cannot_add_to_list_count": activity.cannot_add_to_list_count,
        }
    elif activity.kind == "list_delete":
        return {"list_count": activity.total}
    else:
        status = {"items_total_count": activity.total, "items_completed_count": done}
    if activity.kind in ("add_list_memberships", "remove_list_memberships"):
        status["list_count"] = len(activity.list_ids)
    if activity.state == "initialized" and cfg.initialized_total_count != "known":  # not documented: a switch
        if cfg.initialized_total_count == "zero":
            status["items_total_count"] = 0
        else:
            del status["items_total_count"]
    return status


def _activity_errors(activity: Activity, cfg: SandboxConfig) -> list[str]:
    """Row messages as ``activity_errors_style`` says, then the messages about the whole activity."""
    if cfg.activity_errors_style == "line_numbers":
        rows = list(activity.row_errors)
    elif cfg.activity_errors_style == "free_text":
        summaries = (
            (activity.rejected, "contact(s) could not be imported."),
            (activity.fields_dropped, "contact(s) were imported without an invalid birthday or anniversary."),
            (activity.list_full, "contact(s) could not be added to every list: they are on 50 lists."),
        )
        rows = [f"{count} {message}" for count, message in summaries if count]
    else:
        rows = []
    return rows + list(activity.errors)


def activity_to_json(activity: Activity, cfg: SandboxConfig, shape: str = "full") -> dict[str, Any]:
    """Render an activity; ``shape="list_delete_202"`` is the short body of ``DELETE /contact_lists/{id}``."""
    style = cfg.timestamp_style
    body: dict[str, Any] = {"activity_id": activity.activity_id, "state": activity.state}
    if shape == "full":
        if activity.started_at is not None:
            body["started_at"] = stamp(activity.started_at, style, "millis_z")
        if activity.completed_at is not None:
            body["completed_at"] = stamp(activity.completed_at, style, "millis_z")
    body["created_at"] = stamp(activity.created_at, style, "millis_z")
    body["updated_at"] = stamp(activity.updated_at, style, "millis_z")
    if activity.source_file_name is not None and shape == "full":
        body["source_file_name"] = activity.source_file_name
    body["percent_done"] = activity.percent_done
    body["activity_errors"] = _activity_errors(activity, cfg)
    if shape == "full":
        body["status"] = _status(activity, cfg)
    links: dict[str, Any] = {"self": {"href": f"/v3/activities/{activity.activity_id}"}}
    if activity.kind == "contact_exports" and activity.state == "completed" and shape == "full":
        links["results"] = {"href": f"/v3/contact_exports/{activity.activity_id}"}
    body["_links"] = links
    return body


def find_activity(state: SandboxState, activity_id: str) -> Activity | None:
    """Return an activity whose status is still kept (10 days by default), else ``None``."""
    activity = state.activities.get(activity_id)
    if activity is not None and state.clock() - activity.created_at > state.config.activity_retention:
        del state.activities[activity_id]
        return None
    return activity


@router.post("/activities/contacts_json_import", status_code=201)
async def contacts_json_import(request: Request) -> JSONResponse:
    """Queue a JSON import; contacts past 40,000 or past the first 4 MB are silently dropped."""
    require_json_content_type(request.headers.get("content-type"))
    raw = await request.body()
    state = get_state(request)
    with state.lock:
        rows, list_ids, options, dropped = parse_json_import(state, raw)
        activity = state.new_activity("contacts_json_import", rows=rows, list_ids=list_ids, options=options)
        record_truncation(state, activity, dropped)
        body = activity_to_json(activity, state.config)
    return JSONResponse(body, status_code=201)


@router.get("/activities/{activity_id}")
async def get_activity(activity_id: str, request: Request) -> dict[str, Any]:
    """Return an activity's current status (it advances with the clock; 404 after 10 days)."""
    state = get_state(request)
    with state.lock:
        activity = find_activity(state, activity_id)
        if activity is None:
            raise SandboxError.not_found("Resource not found for the activity_id provided")
        return activity_to_json(activity, state.config)


def _activity_filters(request: Request) -> dict[str, Any]:
    wanted = request.query_params.get("state")
    if wanted is not None and wanted not in LISTED_STATES:
        raise SandboxError.validation(f"state does not have a valid value; use one of {', '.join(LISTED_STATES)}.")
    return {"state": wanted}


@router.get("/activities")
async def get_activities(request: Request) -> dict[str, Any]:
    """Return the activities of the last 10 days, optionally in one ``state``, in ``activities_order``."""
    filters, after, limit = page_request(request, "/v3/activities", _activity_filters, default_limit=50, max_limit=500)
    state = get_state(request)
    with state.lock:
        kept = [a for a in list(state.activities.values()) if find_activity(state, a.activity_id) is not None]
        key = _ORDER_KEYS[state.config.activities_order]
        matches = sorted((a for a in kept if filters["state"] in (None, a.state)), key=key)
        page, next_after = take_page(matches, key, after, limit)
        body: dict[str, Any] = {"activities": [activity_to_json(a, state.config) for a in page]}
    body.update(next_links("/v3/activities", filters, next_after, limit))
    return body


def _shuffled(activity: Activity) -> int:
    """A position that does not follow creation but stays the same from page to page."""
    return int.from_bytes(hashlib.sha256(activity.activity_id.encode()).digest()[:6], "big") + 1


#: Sort (and cursor) keys of ``GET /activities`` per ``activities_order``: the spec gives no order.
_ORDER_KEYS: dict[str, Callable[[Activity], int]] = {
    "newest_first": lambda a: _NEWEST_FIRST - a.seq,
    "oldest_first": lambda a: a.seq,
    "unordered": _shuffled,
}
