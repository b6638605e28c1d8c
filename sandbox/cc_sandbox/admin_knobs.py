"""Admin knobs on data and activities under ``/__sandbox__``: seeded contacts and what a contact does
itself (unsubscribe, confirm a resubscribe email), activity states and faults, extra OAuth clients and
device-code decisions.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse

from cc_sandbox.activities import activity_to_json
from cc_sandbox.admin import json_object
from cc_sandbox.authorize import decide_device_code
from cc_sandbox.config import REFRESH_TOKEN_MODES
from cc_sandbox.contact_views import contact_to_json
from cc_sandbox.deps import get_state
from cc_sandbox.imports import is_valid_email
from cc_sandbox.models import PERMISSIONS, ActivityFault, Client, Contact, RefreshGrant, new_id
from cc_sandbox.progress import HANDLERS, advance_activities, set_state
from cc_sandbox.subscriptions import OPT_OUT_SOURCES, join_lists, opt_back_in, unsubscribe

router = APIRouter(prefix="/__sandbox__")

_CONTACT_FIELDS = ("first_name", "last_name", "job_title", "company_name")


def _state_name(spec: dict[str, Any], *, allow_completed: bool) -> str:
    new_state = spec.get("state")
    if not isinstance(new_state, str) or not new_state.strip() or (new_state == "completed" and not allow_completed):
        allowed = "failed, cancelled, timed_out, processing, initialized" + (", completed" if allow_completed else "")
        raise HTTPException(400, f"state is required: {allowed}, or any other word for an unknown state.")
    return new_state


def _errors(spec: dict[str, Any]) -> list[str]:
    errors = spec.get("errors") or []
    if not isinstance(errors, list) or not all(isinstance(e, str) for e in errors):
        raise HTTPException(400, "errors must be an array of strings.")
    return errors


@router.post("/activities/{activity_id}")
async def set_activity_state(activity_id: str, request: Request) -> dict[str, Any]:
    """Put an activity in ``{"state": ...}`` now and for good (``processing``: stuck; ``completed``: finish)."""
    spec = await json_object(request)
    new_state, errors = _state_name(spec, allow_completed=True), _errors(spec)
    state = get_state(request)
    advance_activities(state)
    with state.lock:
        activity = state.activities.get(activity_id)
        if activity is None:
            raise HTTPException(404, f"No activity {activity_id}.")
        set_state(state, activity, new_state, errors, state.clock())
        return activity_to_json(activity, state.config)


@router.get("/activity_faults")
async def list_activity_faults(request: Request) -> dict[str, Any]:
    """Return the activity faults still armed."""
    state = get_state(request)
    with state.lock:
        return {"faults": [fault.to_dict() for fault in state.activity_faults]}


@router.post("/activity_faults", status_code=201)
async def add_activity_fault(request: Request) -> dict[str, Any]:
    """Arm ``{state, kind?, count?, at_percent?, errors?}``: the next new activities end in ``state``."""
    spec = await json_object(request)
    new_state, errors = _state_name(spec, allow_completed=False), _errors(spec)
    kind, count, at_percent = spec.get("kind"), spec.get("count", 1), spec.get("at_percent", 50)
    if kind is not None and kind not in HANDLERS:
        raise HTTPException(400, f"kind must be one of {', '.join(sorted(HANDLERS))}, or omitted for any.")
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise HTTPException(400, "count must be an integer >= 1.")
    if not isinstance(at_percent, int) or isinstance(at_percent, bool) or not 0 <= at_percent <= 100:
        raise HTTPException(400, "at_percent must be an integer from 0 to 100.")
    fault = ActivityFault(new_id(), new_state, kind, count, at_percent, errors)
    state = get_state(request)
    with state.lock:
        state.activity_faults.append(fault)
    return fault.to_dict()


@router.delete("/activity_faults")
async def clear_activity_faults(request: Request) -> dict[str, int]:
    """Disarm every activity fault."""
    state = get_state(request)
    with state.lock:
        count = len(state.activity_faults)
        state.activity_faults.clear()
    return {"cleared": count}


def _client_to_json(client: Client) -> dict[str, Any]:
    return {
        "client_id": client.client_id,
        "client_secret": client.client_secret,
        "scopes": list(client.scopes),
        "redirect_uris": list(client.redirect_uris),
        "refresh_token_mode": client.refresh_token_mode,
    }


@router.get("/clients")
async def list_clients(request: Request) -> dict[str, Any]:
    """Return the registered OAuth clients."""
    state = get_state(request)
    with state.lock:
        return {"clients": [_client_to_json(client) for client in state.clients.values()]}


@router.post("/clients", status_code=201)
async def register_client(request: Request) -> dict[str, Any]:
    """Register (or replace) a client: ``{client_id, client_secret?, redirect_uris?, refresh_token_mode?, ...}``.

    Without ``client_secret`` it is a public client (PKCE and device flow). ``refresh_token`` grants
    it a ready refresh token with ``scopes`` (default ``contact_data offline_access``).
    """
    spec = await json_object(request)
    client_id, secret = spec.get("client_id"), spec.get("client_secret")
    mode, uris = spec.get("refresh_token_mode", "long_lived"), spec.get("redirect_uris", [])
    scopes, refresh_token = spec.get("scopes", ["contact_data", "offline_access"]), spec.get("refresh_token")
    if not isinstance(client_id, str) or not client_id:
        raise HTTPException(400, "client_id is required.")
    if secret is not None and (not isinstance(secret, str) or not secret):
        raise HTTPException(400, "client_secret must be a non-empty string, or omitted for a public client.")
    if mode not in REFRESH_TOKEN_MODES:
        raise HTTPException(400, f"refresh_token_mode must be one of {', '.join(REFRESH_TOKEN_MODES)}.")
    for name, value in (("redirect_uris", uris), ("scopes", scopes)):
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise HTTPException(400, f"{name} must be an array of strings.")
    if refresh_token is not None and (not isinstance(refresh_token, str) or not refresh_token):
        raise HTTPException(400, "refresh_token must be a non-empty string.")
    state = get_state(request)
    with state.lock:
        if client_id == state.initial_config.client_id:
            raise HTTPException(400, "The default client is configured at start-up; register another client_id.")
        state.remove_client(client_id)
        client = Client(client_id, secret, tuple(scopes), tuple(uris), mode)
        state.clients[client_id] = client
        if refresh_token is not None:
            now = state.clock()
            state.refresh_tokens[refresh_token] = RefreshGrant(refresh_token, client_id, list(scopes), now, now)
        state.changed = True
        return _client_to_json(client)


@router.post("/device/{user_code}/{decision}")
async def decide_device(user_code: str, decision: str, request: Request) -> dict[str, str]:
    """Approve or deny a pending device code as its user would (``decision``: ``approve`` or ``deny``)."""
    if decision not in ("approve", "deny"):
        raise HTTPException(404, "Use /device/{user_code}/approve or /device/{user_code}/deny.")
    if not decide_device_code(get_state(request), user_code, approve=decision == "approve"):
        raise HTTPException(404, f"No pending device code {user_code}.")
    return {"user_code": user_code, "status": "approved" if decision == "approve" else "denied"}


@router.post("/contacts")
async def seed_contact(request: Request) -> JSONResponse:
    """Create or update a contact: ``{email, permission_to_send?, opt_out_source?, list_ids?, first_name?, ...}``.

    A seeded ``unsubscribed`` contact opted out itself (``opt_out_source`` ``Contact`` unless given) and,
    as every unsubscribed contact, leaves its lists, ``list_ids`` included. Each change moves
    ``updated_at`` as the behaviour switches say (a field change always does).
    """
    spec = await json_object(request)
    email, permission = spec.get("email"), spec.get("permission_to_send")
    opt_out_source = spec.get("opt_out_source", "Contact")
    if not isinstance(email, str) or not is_valid_email(email):
        raise HTTPException(400, "email is required and must be a valid email address.")
    if permission is not None and permission not in PERMISSIONS:
        raise HTTPException(400, f"permission_to_send must be one of {', '.join(PERMISSIONS)}.")
    if opt_out_source not in OPT_OUT_SOURCES:
        raise HTTPException(400, f"opt_out_source must be one of {', '.join(OPT_OUT_SOURCES)}.")
    list_ids = spec.get("list_ids") or []
    state = get_state(request)
    advance_activities(state)
    with state.lock:
        if not isinstance(list_ids, list) or any(state.live_list(list_id) is None for list_id in list_ids):
            raise HTTPException(400, "list_ids must be an array of existing list ids.")
        contact = state.contact_by_email(email)
        created = contact is None
        if contact is None:
            contact = state.add_contact(email)
        fields = {key: spec[key] for key in _CONTACT_FIELDS if isinstance(spec.get(key), str)}
        if fields:
            contact.fields.update(fields)
            contact.updated_at = state.clock()
        if permission == "unsubscribed":
            if contact.permission_to_send != "unsubscribed":
                unsubscribe(state, contact, opt_out_source)
        else:
            if permission is not None and permission != contact.permission_to_send:
                if contact.permission_to_send == "unsubscribed":
                    opt_back_in(state, contact, permission)
                contact.permission_to_send = permission
                contact.updated_at = state.clock()
            join_lists(state, contact, list_ids)
        body = contact_to_json(contact, state.config.timestamp_style, ("list_memberships",))
    return JSONResponse(body, status_code=201 if created else 200)


def _seeded(request: Request, contact_id: str) -> Contact:
    contact = get_state(request).contacts.get(contact_id)
    if contact is None:
        raise HTTPException(404, f"No contact {contact_id}.")
    return contact


@router.post("/contacts/{contact_id}/unsubscribe")
async def contact_unsubscribes(contact_id: str, request: Request) -> dict[str, Any]:
    """Unsubscribe a contact as the contact itself would (an unsubscribe link): ``opt_out_source`` ``Contact``."""
    state = get_state(request)
    advance_activities(state)
    with state.lock:
        contact = _seeded(request, contact_id)
        if contact.permission_to_send != "unsubscribed":
            unsubscribe(state, contact, "Contact")
        return contact_to_json(contact, state.config.timestamp_style, ("list_memberships",))


@router.post("/contacts/{contact_id}/confirm_resubscribe")
async def contact_confirms_resubscribe(contact_id: str, request: Request) -> dict[str, Any]:
    """Confirm a resubscribe email as the contact would: it opts back in and joins the email's lists (else 409)."""
    state = get_state(request)
    advance_activities(state)
    with state.lock:
        contact = _seeded(request, contact_id)
        if contact.resubscribe_list_ids is None:
            raise HTTPException(409, "No resubscribe email awaits this contact's confirmation.")
        list_ids = contact.resubscribe_list_ids
        opt_back_in(state, contact, "explicit")
        contact.updated_at = state.clock()
        join_lists(state, contact, list_ids)
        return contact_to_json(contact, state.config.timestamp_style, ("list_memberships",))


@router.post("/flagged_emails")
async def flag_emails(request: Request) -> dict[str, Any]:
    """Flag addresses for signup abuse: imports reject them as invalid email addresses (S27)."""
    spec = await json_object(request)
    emails = spec.get("emails")
    if not isinstance(emails, list) or not all(isinstance(e, str) and e for e in emails):
        raise HTTPException(400, "emails must be an array of email addresses.")
    state = get_state(request)
    with state.lock:
        state.flagged_emails.update(e.lower() for e in emails)
        return {"flagged": sorted(state.flagged_emails)}
