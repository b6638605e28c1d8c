"""FastAPI dependencies shared by the ``/v3`` routers: bearer check, scope, rate limits, activity clock."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from cc_sandbox.auth import verify_access_token
from cc_sandbox.errors import SandboxError
from cc_sandbox.progress import advance_activities
from cc_sandbox.store import SandboxState

#: The scope every contacts, lists, custom fields and bulk activity endpoint needs.
API_SCOPE = "contact_data"


def get_state(request: Request) -> SandboxState:
    """Return the sandbox state of the app serving ``request``."""
    state: SandboxState = request.app.state.sandbox
    return state


async def require_bearer(request: Request) -> dict[str, Any]:
    """Let a request through the gateway, or answer as the real one does.

    401 (object body, ``WWW-Authenticate``) without a live bearer token; 403 without the
    ``contact_data`` scope; 429 ``quota_exceeded`` past the client's daily quota; 429 ``throttled``
    past its requests a second. Only requests let through count against the quota.
    """
    state = get_state(request)
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    claims = verify_access_token(state, token.strip()) if scheme.lower() == "bearer" and token.strip() else None
    with state.lock:
        if claims is None:
            state.stats.unauthorized += 1
            raise SandboxError.unauthorized()
        if API_SCOPE not in (claims.get("scp") or []):
            state.stats.forbidden += 1
            raise SandboxError.forbidden()
        client_id, now, cfg = str(claims["cid"]), state.clock(), state.config
        if not state.limits.quota_left(client_id, cfg.daily_quota, now):
            state.stats.quota_exceeded += 1
            raise SandboxError.quota_exceeded()
        if not state.limits.allow_rate(f"api:{client_id}", cfg.rate_limit_per_second, now):
            state.stats.throttled += 1
            raise SandboxError.throttled()
        state.limits.count(client_id, now)
    return claims


async def advance_clock(request: Request) -> None:
    """Let time-driven activities catch up before the request reads or changes state."""
    advance_activities(get_state(request))


def api_router() -> APIRouter:
    """Return a router for ``/v3`` endpoints: the gateway checks first, then the activity clock."""
    return APIRouter(prefix="/v3", dependencies=[Depends(require_bearer), Depends(advance_clock)])
