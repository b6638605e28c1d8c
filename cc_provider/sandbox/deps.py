"""FastAPI dependencies shared by the ``/v3`` routers: state lookup, bearer check, activity clock."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from cc_provider.sandbox.auth import verify_access_token
from cc_provider.sandbox.errors import SandboxError
from cc_provider.sandbox.imports import advance_activities
from cc_provider.sandbox.store import SandboxState


def get_state(request: Request) -> SandboxState:
    """Return the sandbox state of the app serving ``request``."""
    state: SandboxState = request.app.state.sandbox
    return state


async def require_bearer(request: Request) -> dict[str, Any]:
    """Answer 401 (object body, ``WWW-Authenticate`` header) unless a live bearer token is sent."""
    state = get_state(request)
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    claims = verify_access_token(state, token.strip()) if scheme.lower() == "bearer" and token.strip() else None
    if claims is None:
        with state.lock:
            state.stats.unauthorized += 1
        raise SandboxError.unauthorized()
    return claims


async def advance_clock(request: Request) -> None:
    """Let time-driven activities catch up before the request reads or changes state."""
    advance_activities(get_state(request))


def api_router() -> APIRouter:
    """Return a router for ``/v3`` endpoints: bearer check first, then the activity clock."""
    return APIRouter(prefix="/v3", dependencies=[Depends(require_bearer), Depends(advance_clock)])
