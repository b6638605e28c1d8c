"""Control and observation API under ``/__sandbox__`` (for tests and demos, never for the provider)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse

from cc_provider.sandbox.contacts import contact_to_json
from cc_provider.sandbox.deps import get_state
from cc_provider.sandbox.errors import default_body, default_headers
from cc_provider.sandbox.imports import advance_activities, is_valid_email
from cc_provider.sandbox.models import PERMISSIONS, Fault, new_id
from cc_provider.sandbox.oauth import TOKEN_PATH

router = APIRouter(prefix="/__sandbox__")

_CONTACT_FIELDS = ("first_name", "last_name", "job_title", "company_name")


async def _json_object(request: Request) -> dict[str, Any]:
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
    """Change ``activity_start_delay``, ``activity_rows_per_second`` or ``access_token_ttl``."""
    try:
        return get_state(request).update_config(await _json_object(request)).public_dict()
    except (TypeError, ValueError) as exc:
        raise HTTPException(400, str(exc)) from None


@router.post("/tokens/expire")
async def expire_tokens(request: Request) -> dict[str, int]:
    """Invalidate every access token issued so far; the next ``/v3`` call answers 401."""
    return {"expired": get_state(request).expire_tokens()}


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
    spec = await _json_object(request)
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
    )
    get_state(request).add_fault(fault)
    return fault.to_dict()


@router.post("/contacts")
async def seed_contact(request: Request) -> JSONResponse:
    """Create or update a contact directly: ``{email, permission_to_send?, list_ids?, first_name?, ...}``."""
    spec = await _json_object(request)
    email, permission = spec.get("email"), spec.get("permission_to_send", "implicit")
    if not isinstance(email, str) or not is_valid_email(email):
        raise HTTPException(400, "email is required and must be a valid email address.")
    if permission not in PERMISSIONS:
        raise HTTPException(400, f"permission_to_send must be one of {', '.join(PERMISSIONS)}.")
    list_ids = spec.get("list_ids") or []
    state = get_state(request)
    advance_activities(state)
    with state.lock:
        if not isinstance(list_ids, list) or any(list_id not in state.lists for list_id in list_ids):
            raise HTTPException(400, "list_ids must be an array of existing list ids.")
        contact = state.contact_by_email(email)
        created = contact is None
        if contact is None:
            contact = state.add_contact(email)
        contact.permission_to_send = permission
        contact.updated_at = state.clock()
        if permission == "unsubscribed":
            contact.opt_out_date = contact.updated_at
        contact.fields.update({key: spec[key] for key in _CONTACT_FIELDS if isinstance(spec.get(key), str)})
        for list_id in list_ids:
            if list_id not in contact.list_ids:
                contact.list_ids.append(list_id)
        body = contact_to_json(contact, ("list_memberships",))
    return JSONResponse(body, status_code=201 if created else 200)
