"""``/v3/activities``: activity status and listing, the JSON contact import, and how activities render."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from cc_provider.sandbox.body import require_json_content_type
from cc_provider.sandbox.deps import api_router, get_state
from cc_provider.sandbox.errors import SandboxError
from cc_provider.sandbox.imports import parse_json_import, record_truncation
from cc_provider.sandbox.models import Activity, iso
from cc_provider.sandbox.paging import next_links, page_request, take_page
from cc_provider.sandbox.store import SandboxState

router = api_router()

IMPORT_KINDS = ("contacts_json_import", "contacts_file_import")
#: ``GET /activities?state=`` values (the spec leaves ``initialized`` out).
LISTED_STATES = ("processing", "completed", "cancelled", "failed", "timed_out")
_NEWEST_FIRST = 10**12


def _status(activity: Activity) -> dict[str, int]:
    """Return the ``status`` counters that the activity's kind reports."""
    done = activity.processed
    if activity.kind in IMPORT_KINDS:
        header = activity.header_rows if activity.state != "initialized" else 0
        return {
            "items_total_count": activity.total + activity.header_rows,
            "items_completed_count": done + header,
            "person_count": activity.person_count,
            "error_count": activity.error_count,
            "correctable_count": activity.correctable_count,
            "cannot_add_to_list_count": activity.cannot_add_to_list_count,
        }
    if activity.kind == "list_delete":
        return {"list_count": activity.total}
    status = {"items_total_count": activity.total, "items_completed_count": done}
    if activity.kind in ("add_list_memberships", "remove_list_memberships"):
        status["list_count"] = len(activity.list_ids)
    return status


def activity_to_json(activity: Activity, shape: str = "full") -> dict[str, Any]:
    """Render an activity; ``shape="list_delete_202"`` is the short body of ``DELETE /contact_lists/{id}``."""
    body: dict[str, Any] = {"activity_id": activity.activity_id, "state": activity.state}
    if shape == "full":
        if activity.started_at is not None:
            body["started_at"] = iso(activity.started_at)
        if activity.completed_at is not None:
            body["completed_at"] = iso(activity.completed_at)
    body["created_at"] = iso(activity.created_at)
    body["updated_at"] = iso(activity.updated_at)
    if activity.source_file_name is not None and shape == "full":
        body["source_file_name"] = activity.source_file_name
    body["percent_done"] = activity.percent_done
    body["activity_errors"] = list(activity.errors)
    if shape == "full":
        body["status"] = _status(activity)
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
        body = activity_to_json(activity)
    return JSONResponse(body, status_code=201)


@router.get("/activities/{activity_id}")
async def get_activity(activity_id: str, request: Request) -> dict[str, Any]:
    """Return an activity's current status (it advances with the clock; 404 after 10 days)."""
    state = get_state(request)
    with state.lock:
        activity = find_activity(state, activity_id)
        if activity is None:
            raise SandboxError.not_found("Resource not found for the activity_id provided")
        return activity_to_json(activity)


def _activity_filters(request: Request) -> dict[str, Any]:
    wanted = request.query_params.get("state")
    if wanted is not None and wanted not in LISTED_STATES:
        raise SandboxError.validation(f"state does not have a valid value; use one of {', '.join(LISTED_STATES)}.")
    return {"state": wanted}


@router.get("/activities")
async def get_activities(request: Request) -> dict[str, Any]:
    """Return the activities of the last 10 days, newest first, optionally in one ``state``."""
    filters, after, limit = page_request(request, "/v3/activities", _activity_filters, default_limit=50, max_limit=500)
    state = get_state(request)
    with state.lock:
        kept = [a for a in list(state.activities.values()) if find_activity(state, a.activity_id) is not None]
        matches = sorted((a for a in kept if filters["state"] in (None, a.state)), key=lambda a: a.seq, reverse=True)
        page, next_after = take_page(matches, lambda a: _NEWEST_FIRST - a.seq, after, limit)
        body: dict[str, Any] = {"activities": [activity_to_json(a) for a in page]}
    body.update(next_links("/v3/activities", filters, next_after, limit))
    return body
