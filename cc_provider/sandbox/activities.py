"""``/v3/activities``: the JSON contact import and activity status."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from cc_provider.sandbox.body import require_json_content_type
from cc_provider.sandbox.deps import api_router, get_state
from cc_provider.sandbox.errors import SandboxError
from cc_provider.sandbox.imports import parse_json_import
from cc_provider.sandbox.models import Activity, iso, new_id

router = api_router()


def activity_to_json(activity: Activity) -> dict[str, Any]:
    """Render an import activity (``ActivityImport``, also the body of ``GET /activities/{id}``)."""
    body: dict[str, Any] = {
        "activity_id": activity.activity_id,
        "state": activity.state,
        "created_at": iso(activity.created_at),
        "updated_at": iso(activity.updated_at),
    }
    if activity.started_at is not None:
        body["started_at"] = iso(activity.started_at)
    if activity.completed_at is not None:
        body["completed_at"] = iso(activity.completed_at)
    body["percent_done"] = activity.percent_done
    body["activity_errors"] = list(activity.errors)
    body["status"] = {
        "items_total_count": activity.total,
        "items_completed_count": activity.processed,
        "person_count": activity.person_count,
        "error_count": activity.error_count,
        "correctable_count": activity.correctable_count,
        "cannot_add_to_list_count": activity.cannot_add_to_list_count,
    }
    body["_links"] = {"self": {"href": f"/v3/activities/{activity.activity_id}"}}
    return body


@router.post("/activities/contacts_json_import", status_code=201)
async def contacts_json_import(request: Request) -> JSONResponse:
    """Queue a JSON import; contacts past 40,000 or past the first 4 MB are silently dropped."""
    require_json_content_type(request.headers.get("content-type"))
    raw = await request.body()
    state = get_state(request)
    with state.lock:
        rows, list_ids, options, dropped = parse_json_import(state, raw)
        now = state.clock()
        activity = Activity(
            activity_id=new_id(),
            kind="contacts_json_import",
            created_at=now,
            start_at=now + state.config.activity_start_delay,
            rows_per_second=state.config.activity_rows_per_second,
            rows=rows,
            list_ids=list_ids,
            options=options,
            updated_at=now,
            dropped=dropped,
        )
        state.add_activity(activity)
        state.stats.import_posts += 1
        if dropped:
            state.stats.truncations += 1
            state.stats.contacts_dropped += dropped
        body = activity_to_json(activity)
    return JSONResponse(body, status_code=201)


@router.get("/activities/{activity_id}")
async def get_activity(activity_id: str, request: Request) -> dict[str, Any]:
    """Return an activity's current status (it advances with the clock)."""
    state = get_state(request)
    with state.lock:
        activity = state.activities.get(activity_id)
        if activity is None:
            raise SandboxError.not_found("Resource not found for the activity_id provided")
        return activity_to_json(activity)
