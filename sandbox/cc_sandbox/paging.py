"""Query-parameter parsing and the opaque cursor pagination shared by the collection endpoints.

A cursor is URL-safe base64 of JSON ``{"path", "after": <last seq served>, "limit", "filters"}``,
so a followed ``_links.next.href`` carries everything; other query parameters are then ignored.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from fastapi import Request

from cc_sandbox.errors import SandboxError

T = TypeVar("T")


def query_int(request: Request, name: str, *, default: int, low: int, high: int) -> int:
    """Read an integer query parameter within ``[low, high]`` or answer 400."""
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise SandboxError.validation(f"{name} does not have a valid value; use an integer from {low} to {high}.")
    return value


def query_bool(request: Request, name: str) -> bool:
    """Read a ``true``/``false`` query parameter (absent means false) or answer 400."""
    raw = request.query_params.get(name)
    if raw is None:
        return False
    if raw.lower() not in ("true", "false"):
        raise SandboxError.validation(f"{name} does not have a valid value; use true or false.")
    return raw.lower() == "true"


def query_csv(
    request: Request, name: str, *, allowed: Iterable[str] | None = None, most: int | None = None
) -> list[str]:
    """Read a comma-separated query parameter, checking values against ``allowed`` and the count."""
    raw = request.query_params.get(name)
    if raw is None:
        return []
    values = [part.strip() for part in raw.split(",") if part.strip()]
    if not values:
        raise SandboxError.validation(f"{name} does not have a valid value.")
    if allowed is not None:
        allowed = tuple(allowed)
        bad = [value for value in values if value not in allowed]
        if bad:
            raise SandboxError.validation(f"{name} does not have a valid value: {bad[0]}; use {', '.join(allowed)}.")
    if most is not None and len(values) > most:
        raise SandboxError.validation(f"{name} accepts at most {most} values.")
    return values


def encode_cursor(payload: dict[str, Any]) -> str:
    """Encode a cursor payload as URL-safe base64 without padding."""
    raw = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(cursor: str, path: str) -> dict[str, Any]:
    """Decode a cursor that :func:`next_links` made for ``path``, or answer 400."""
    try:
        payload = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError):
        payload = None
    if (
        not isinstance(payload, dict)
        or payload.get("path") != path
        or not isinstance(payload.get("after"), int)
        or not isinstance(payload.get("limit"), int)
        or not isinstance(payload.get("filters"), dict)
    ):
        raise SandboxError.validation("cursor does not have a valid value.")
    return payload


def page_request(
    request: Request,
    path: str,
    parse_filters: Callable[[Request], dict[str, Any]],
    *,
    default_limit: int,
    max_limit: int,
) -> tuple[dict[str, Any], int, int]:
    """Return ``(filters, after, limit)`` from a cursor, or from the query parameters of a first page."""
    cursor = request.query_params.get("cursor")
    if cursor is not None:
        payload = decode_cursor(cursor, path)
        return payload["filters"], payload["after"], payload["limit"]
    limit = query_int(request, "limit", default=default_limit, low=1, high=max_limit)
    return parse_filters(request), 0, limit


def take_page(items: Sequence[T], seq: Callable[[T], int], after: int, limit: int) -> tuple[list[T], int | None]:
    """Return the next ``limit`` items with ``seq > after`` and the cursor position after them (or ``None``)."""
    rest = [item for item in items if seq(item) > after]
    page = rest[:limit]
    return page, (seq(page[-1]) if len(rest) > limit else None)


def next_links(path: str, filters: dict[str, Any], after: int | None, limit: int) -> dict[str, Any]:
    """Return ``{"_links": {"next": {"href": ...}}}``, or ``{}`` on the last page."""
    if after is None:
        return {}
    cursor = encode_cursor({"path": path, "after": after, "limit": limit, "filters": filters})
    return {"_links": {"next": {"href": f"{path}?cursor={cursor}"}}}
