"""
Reading many bulk activities with as few requests as possible, as one flow for both drivers.

Few pending activities cost one ``GET /activities/{id}`` each; more than ``LIST_THRESHOLD`` are read
from ``GET /activities?limit=500`` pages (up to 500 per request, the last 10 days), and any not found
there are read one by one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from cc_provider.exceptions import ActivityNotFoundError, ConstantContactApiError
from cc_provider.hooks.exchange import Exchange, Flow

LIST_THRESHOLD = 2
LIST_PAGE_SIZE = 500
MAX_LIST_PAGES = 4


def next_href(page: dict[str, Any]) -> str | None:
    """Return ``_links.next.href`` of a page, or ``None`` on the last page."""
    return ((page.get("_links") or {}).get("next") or {}).get("href")


def activity_flow(exchange: Exchange, activity_id: str) -> Flow[dict[str, Any]]:
    """``GET /activities/{id}``; a 404 becomes :class:`ActivityNotFoundError` with the retention rule."""
    request = exchange.request("GET", f"/activities/{quote(activity_id, safe='')}")
    try:
        response = yield from exchange.call(request)
    except ConstantContactApiError as err:
        if err.status_code == 404:
            raise ActivityNotFoundError(
                f"Activity {activity_id} was not found. Constant Contact keeps an activity's status for "
                "10 days; an older activity (or a wrong id) cannot be followed."
            ) from None
        raise
    body: dict[str, Any] = response.json()
    return body


def activities_flow(exchange: Exchange, activity_ids: Sequence[str]) -> Flow[dict[str, dict[str, Any]]]:
    """Return the status bodies of ``activity_ids``, keyed by id."""
    wanted = set(activity_ids)
    found: dict[str, dict[str, Any]] = {}
    if len(wanted) > LIST_THRESHOLD:
        endpoint: str | None = "/activities"
        params: dict[str, Any] | None = {"limit": LIST_PAGE_SIZE}
        for _ in range(MAX_LIST_PAGES):
            if endpoint is None:
                break
            response = yield from exchange.call(exchange.request("GET", endpoint, params=params))
            page = response.json()
            for activity in page.get("activities") or []:
                if activity.get("activity_id") in wanted:
                    found[activity["activity_id"]] = activity
            if wanted <= found.keys():
                break
            endpoint, params = next_href(page), None
    for activity_id in activity_ids:
        if activity_id not in found:
            found[activity_id] = yield from activity_flow(exchange, activity_id)
    return found
