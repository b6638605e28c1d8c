"""``POST /oauth2/default/v1/token``: the refresh-token grant of the Okta-style auth server."""

from __future__ import annotations

import base64
import binascii
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from cc_provider.sandbox.auth import issue_access_token
from cc_provider.sandbox.deps import get_state
from cc_provider.sandbox.errors import SandboxError
from cc_provider.sandbox.store import SandboxState

TOKEN_PATH = "/oauth2/default/v1/token"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
INVALID_REFRESH_TOKEN = "The refresh token is invalid or expired."

router = APIRouter()


def _basic_credentials(request: Request) -> tuple[str, str] | None:
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        client_id, sep, secret = base64.b64decode(encoded.strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (client_id, secret) if sep else None


async def _parameters(request: Request) -> dict[str, str]:
    """Merge the query string and an ``application/x-www-form-urlencoded`` body (the body wins)."""
    params = dict(request.query_params)
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type == "application/x-www-form-urlencoded":
        raw = (await request.body()).decode("utf-8", errors="replace")
        params.update(parse_qsl(raw, keep_blank_values=True))
    return params


@router.post(TOKEN_PATH)
async def token(request: Request) -> JSONResponse:
    """Exchange a refresh token for an access token (client authenticated with HTTP Basic)."""
    state = get_state(request)
    params = await _parameters(request)
    credentials = _basic_credentials(request)
    with state.lock:
        client = state.authenticate_client(*credentials) if credentials else None
        if client is None:
            raise SandboxError.oauth(
                401,
                "invalid_client",
                "Client authentication failed. Either the client or the client credentials are invalid.",
                {"WWW-Authenticate": 'Basic realm="authz.constantcontact.com"', **NO_STORE},
            )
        grant_type = params.get("grant_type")
        if not grant_type:
            raise SandboxError.oauth(400, "invalid_request", "The 'grant_type' parameter is required.", NO_STORE)
        if grant_type != "refresh_token":
            raise SandboxError.oauth(
                400,
                "unsupported_grant_type",
                f"The authorization grant type '{grant_type}' is not supported by the sandbox.",
                NO_STORE,
            )
        refresh_token = params.get("refresh_token")
        if not refresh_token:
            raise SandboxError.oauth(400, "invalid_request", "The 'refresh_token' parameter is required.", NO_STORE)
        if state.refresh_token_owner(refresh_token) != client.client_id:
            raise SandboxError.oauth(400, "invalid_grant", INVALID_REFRESH_TOKEN, NO_STORE)
        body = _grant(state, client.client_id, refresh_token, str(request.base_url))
    return JSONResponse(body, headers=NO_STORE)


def _grant(state: SandboxState, client_id: str, refresh_token: str, base_url: str) -> dict[str, Any]:
    access_token, ttl = issue_access_token(state, client_id, base_url)
    if state.config.refresh_token_mode == "rotating":
        refresh_token = state.rotate_refresh_token(client_id)
    state.stats.refreshes += 1
    return {
        "token_type": "Bearer",
        "expires_in": ttl,
        "access_token": access_token,
        "scope": " ".join(state.clients[client_id].scopes),
        "refresh_token": refresh_token,
    }
