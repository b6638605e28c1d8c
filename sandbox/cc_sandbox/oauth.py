"""``POST /oauth2/default/v1/token``: the refresh-token, authorization-code (with PKCE) and device-code grants.

Clients authenticate with HTTP Basic (or ``client_id`` + ``client_secret`` parameters); a public
request (``client_id`` alone) is accepted for a PKCE code, a device code and a refresh token that was
obtained through one of those. Parameters may come in the query string and a form body (the body wins).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from cc_sandbox.auth import issue_access_token
from cc_sandbox.deps import get_state
from cc_sandbox.errors import SandboxError
from cc_sandbox.models import Client
from cc_sandbox.store import SandboxState

TOKEN_PATH = "/oauth2/default/v1/token"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
INVALID_REFRESH_TOKEN = "The refresh token is invalid or expired."
INVALID_CODE = "The authorization code is invalid or has expired."

router = APIRouter()


def _basic_credentials(request: Request) -> tuple[str, str] | None:
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        client_id, sep, secret = base64.b64decode(encoded.strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return ("", "")  # a garbled header is a failed authentication, not an absent one
    return (client_id, secret) if sep else ("", "")


async def oauth_parameters(request: Request) -> dict[str, str]:
    """Merge the query string and an ``application/x-www-form-urlencoded`` body (the body wins)."""
    params = dict(request.query_params)
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type == "application/x-www-form-urlencoded":
        raw = (await request.body()).decode("utf-8", errors="replace")
        params.update(parse_qsl(raw, keep_blank_values=True))
    return params


def invalid_client() -> SandboxError:
    return SandboxError.oauth(
        401,
        "invalid_client",
        "Client authentication failed. Either the client or the client credentials are invalid.",
        {"WWW-Authenticate": 'Basic realm="authz.constantcontact.com"', **NO_STORE},
    )


def oauth_error(error: str, description: str, status: int = 400) -> SandboxError:
    return SandboxError.oauth(status, error, description, NO_STORE)


def _client(state: SandboxState, request: Request, params: dict[str, str]) -> tuple[Client, bool]:
    """Return ``(client, public)``: authenticated by secret, or only named (a public request)."""
    basic = _basic_credentials(request)
    if basic is not None or params.get("client_secret"):
        client_id, secret = basic if basic is not None else (params.get("client_id", ""), params["client_secret"])
        client = state.authenticate_client(client_id, secret)
        if client is None:
            raise invalid_client()
        return client, False
    client = state.clients.get(params.get("client_id", ""))
    if client is None:
        raise invalid_client()
    return client, True


@router.post(TOKEN_PATH)
async def token(request: Request) -> JSONResponse:
    """Issue tokens for one of the three grants (1 request a second per client id)."""
    state = get_state(request)
    params = await oauth_parameters(request)
    base_url = str(request.base_url)
    with state.lock:
        claimed = (_basic_credentials(request) or (params.get("client_id", ""), ""))[0]
        if not state.limits.allow_rate(f"token:{claimed}", state.config.token_rate_limit_per_second, state.clock()):
            state.stats.token_throttled += 1
            raise oauth_error("too_many_requests", "Too many requests to the token endpoint; at most 1 a second.", 429)
        client, public = _client(state, request, params)
        grant_type = params.get("grant_type")
        if not grant_type:
            raise oauth_error("invalid_request", "The 'grant_type' parameter is required.")
        if grant_type == "refresh_token":
            body = _refresh_grant(state, client, public, params, base_url)
        elif grant_type == "authorization_code":
            body = _code_grant(state, client, public, params, base_url)
        elif grant_type == DEVICE_GRANT:
            body = _device_grant(state, client, params, base_url)
        else:
            raise oauth_error(
                "unsupported_grant_type", f"The authorization grant type '{grant_type}' is not supported."
            )
    return JSONResponse(body, headers=NO_STORE)


def _refresh_grant(
    state: SandboxState, client: Client, public: bool, params: dict[str, str], base_url: str
) -> dict[str, Any]:
    refresh_token = params.get("refresh_token")
    if not refresh_token:
        raise oauth_error("invalid_request", "The 'refresh_token' parameter is required.")
    grant = state.refresh_tokens.get(refresh_token)
    now = state.clock()
    if grant is not None and now - grant.last_used_at > state.config.refresh_token_idle_ttl:
        state.revoke_refresh_tokens(token=refresh_token)  # unused for 180 days
        grant = None
    if grant is None or grant.client_id != client.client_id:
        state.stats.invalid_grants += 1
        raise oauth_error("invalid_grant", INVALID_REFRESH_TOKEN)
    if public and not grant.public:
        raise invalid_client()
    grant.last_used_at = now
    if client.refresh_token_mode == "rotating":
        refresh_token = state.new_refresh_token(client.client_id, grant.scopes, public=grant.public)
    state.stats.refreshes += 1
    return _token_body(state, client.client_id, grant.scopes, base_url, refresh_token)


def _code_grant(
    state: SandboxState, client: Client, public: bool, params: dict[str, str], base_url: str
) -> dict[str, Any]:
    if not params.get("code"):
        raise oauth_error("invalid_request", "The 'code' parameter is required.")
    if not params.get("redirect_uri"):
        raise oauth_error("invalid_request", "The 'redirect_uri' parameter is required.")
    code = state.auth_codes.pop(params["code"], None)  # single use, even when the exchange fails
    if code is None or code.client_id != client.client_id or state.clock() >= code.expires_at:
        raise oauth_error("invalid_grant", INVALID_CODE)
    if params["redirect_uri"] != code.redirect_uri:
        raise oauth_error("invalid_grant", "The 'redirect_uri' does not match the redirection URI used in /authorize.")
    if code.code_challenge is not None:
        verifier = params.get("code_verifier", "")
        digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii", "replace")).digest())
        if not verifier or digest.decode("ascii").rstrip("=") != code.code_challenge:
            raise oauth_error("invalid_grant", "PKCE verification failed.")
    elif public:
        raise invalid_client()
    refresh = None
    if "offline_access" in code.scopes:
        refresh = state.new_refresh_token(client.client_id, code.scopes, public=code.code_challenge is not None)
    return _token_body(state, client.client_id, code.scopes, base_url, refresh)


def _device_grant(state: SandboxState, client: Client, params: dict[str, str], base_url: str) -> dict[str, Any]:
    device_code = params.get("device_code")
    if not device_code:
        raise oauth_error("invalid_request", "The 'device_code' parameter is required.")
    record = state.device_codes.get(device_code)
    if record is None or record.client_id != client.client_id:
        raise oauth_error("invalid_grant", "The device code is invalid or has expired.")
    now = state.clock()
    if now >= record.expires_at:
        del state.device_codes[device_code]
        raise oauth_error("expired_token", "The device code has expired.")
    if record.status == "denied":
        del state.device_codes[device_code]
        raise oauth_error("access_denied", "The resource owner denied the request.")
    if record.status == "pending":
        too_soon = now - record.last_poll_at < state.config.device_poll_interval
        record.last_poll_at = now
        if too_soon:
            raise oauth_error("slow_down", "The client is polling too quickly; wait the interval between requests.")
        raise oauth_error("authorization_pending", "The device authorization is pending. Please try again later.")
    del state.device_codes[device_code]
    refresh = None
    if "offline_access" in record.scopes:
        refresh = state.new_refresh_token(client.client_id, record.scopes, public=True)
    return _token_body(state, client.client_id, record.scopes, base_url, refresh)


def _token_body(
    state: SandboxState, client_id: str, scopes: list[str], base_url: str, refresh_token: str | None
) -> dict[str, Any]:
    access_token, ttl = issue_access_token(state, client_id, base_url, scopes)
    body: dict[str, Any] = {
        "token_type": "Bearer",
        "expires_in": ttl,
        "access_token": access_token,
        "scope": " ".join(scopes),
    }
    if refresh_token is not None:  # only when offline_access was granted
        body["refresh_token"] = refresh_token
    return body
