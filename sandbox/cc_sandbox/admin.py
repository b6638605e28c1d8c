"""Control and observation API under ``/__sandbox__`` (for tests and demos, never for the provider).

This module holds stats, reset, settings, the clock, tokens and request faults; the data and
activity knobs live in :mod:`cc_sandbox.admin_knobs`.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request

from cc_sandbox.deps import get_state
from cc_sandbox.errors import default_body, default_headers
from cc_sandbox.models import Fault, iso, new_id
from cc_sandbox.oauth import TOKEN_PATH
from cc_sandbox.progress import advance_activities

router = APIRouter(prefix="/__sandbox__")


async def json_object(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = await request.json()
    except ValueError:
        raise HTTPException(400, "The body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise HTTPException(400, "The body must be a JSON object.")
    return body


@router.get("/health")
async def health() -> dict[str, str]:
    """Tell that the sandbox is up."""
    return {"status": "ok"}


@router.get("/stats")
async def stats(request: Request) -> dict[str, Any]:
    """Return request counts per ``"<METHOD> <route template>"`` and the sandbox counters."""
    state = get_state(request)
    advance_activities(state)
    with state.lock:
        return state.stats.to_dict()


@router.post("/reset")
async def reset(request: Request) -> dict[str, str]:
    """Forget lists, contacts, activities, stats and faults; restore start-up settings."""
    get_state(request).reset()
    return {"status": "reset"}


@router.get("/config")
async def get_config(request: Request) -> dict[str, Any]:
    """Return the current settings (secrets left out)."""
    return get_state(request).config.public_dict()


@router.patch("/config")
async def patch_config(request: Request) -> dict[str, Any]:
    """Change one of the run-time settings (``RUNTIME_FIELDS`` in :mod:`cc_sandbox.config`)."""
    try:
        return get_state(request).update_config(await json_object(request)).public_dict()
    except (TypeError, ValueError) as exc:
        raise HTTPException(400, str(exc)) from None


@router.post("/tokens/expire")
async def expire_tokens(request: Request) -> dict[str, int]:
    """Invalidate every access token issued so far; the next ``/v3`` call answers 401."""
    return {"expired": get_state(request).expire_tokens()}


@router.post("/tokens/revoke")
async def revoke_refresh_tokens(request: Request) -> dict[str, int]:
    """Revoke ``{"refresh_token": ...}``, or every refresh token of ``{"client_id": ...}`` (default client)."""
    spec = await json_object(request)
    state = get_state(request)
    token, client_id = spec.get("refresh_token"), spec.get("client_id")
    if token is not None and not isinstance(token, str) or client_id is not None and not isinstance(client_id, str):
        raise HTTPException(400, "refresh_token and client_id must be strings.")
    with state.lock:
        if token is None:
            client_id = client_id or state.initial_config.client_id
        return {"revoked": state.revoke_refresh_tokens(client_id=client_id, token=token)}


@router.get("/clock")
async def get_clock(request: Request) -> dict[str, Any]:
    """Return the sandbox's time and how far it runs ahead of the real clock."""
    state = get_state(request)
    return {"now": iso(state.clock()), "offset": state.clock_offset}


@router.post("/clock")
async def advance_clock(request: Request) -> dict[str, Any]:
    """Move the sandbox's clock ``{"advance": seconds}`` ahead: tokens, codes, quotas and activities age."""
    advance = (await json_object(request)).get("advance")
    if not isinstance(advance, (int, float)) or isinstance(advance, bool) or advance < 0:
        raise HTTPException(400, "advance must be a number of seconds >= 0.")
    state = get_state(request)
    with state.lock:
        state.clock_offset += float(advance)
        state.changed = True
    advance_activities(state)
    return {"now": iso(state.clock()), "offset": state.clock_offset}


@router.get("/faults")
async def list_faults(request: Request) -> dict[str, Any]:
    """Return the faults still armed."""
    state = get_state(request)
    with state.lock:
        return {"faults": [fault.to_dict() for fault in state.faults]}


@router.delete("/faults")
async def clear_faults(request: Request) -> dict[str, int]:
    """Disarm every fault."""
    return {"cleared": get_state(request).clear_faults()}


@router.post("/faults", status_code=201)
async def add_fault(request: Request) -> dict[str, Any]:
    """Arm a fault: the next ``count`` requests to ``method path`` get ``status``/``body`` (or a dropped socket)."""
    spec = await json_object(request)
    path, method, status = spec.get("path"), spec.get("method"), spec.get("status", 503)
    if not isinstance(path, str) or not path.startswith("/"):
        raise HTTPException(400, "path is required and must start with '/', e.g. /v3/contact_lists.")
    if method is not None and not isinstance(method, str):
        raise HTTPException(400, "method must be an HTTP method such as GET, or omitted for any method.")
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        raise HTTPException(400, "status must be an HTTP status code from 100 to 599.")
    count, delay = spec.get("count", 1), spec.get("delay", 0)
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise HTTPException(400, "count must be an integer >= 1.")
    if not isinstance(delay, (int, float)) or isinstance(delay, bool) or not 0 <= delay <= 60:
        raise HTTPException(400, "delay must be a number of seconds from 0 to 60.")
    headers = spec.get("headers") or {}
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        raise HTTPException(400, "headers must be an object of strings.")
    oauth = path == TOKEN_PATH
    fault = Fault(
        fault_id=new_id(),
        path=path,
        method=method.upper() if method else None,
        status=status,
        body=spec["body"] if spec.get("body") is not None else default_body(status, oauth=oauth),
        headers={**default_headers(status, oauth=oauth), **headers},
        remaining=count,
        drop_connection=bool(spec.get("drop_connection", False)),
        delay=float(delay),
        custom_body=spec.get("body") is not None,
    )
    get_state(request).add_fault(fault)
    return fault.to_dict()
