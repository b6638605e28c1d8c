"""The browser side of OAuth: ``/authorize`` (auto-consent), device authorization and its verification page.

A real user consents in a browser; the sandbox consents at once. ``GET /authorize`` redirects to the
registered ``redirect_uri`` with ``code``, ``state`` and ``scope``. A device code stays pending until
someone opens ``verification_uri_complete`` (``GET /activate?user_code=...``) or an admin call approves
or denies it.
"""

from __future__ import annotations

import secrets
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse

from cc_sandbox.deps import get_state
from cc_sandbox.models import AuthCode, DeviceCode
from cc_sandbox.oauth import NO_STORE, invalid_client, oauth_error, oauth_parameters
from cc_sandbox.store import SandboxState

AUTHORIZE_PATH = "/oauth2/default/v1/authorize"
DEVICE_AUTHORIZE_PATH = "/oauth2/default/v1/device/authorize"
ACTIVATE_PATH = "/activate"

#: Scopes of the Constant Contact authorization server (``openid`` and ``profile`` are Okta's own).
KNOWN_SCOPES = frozenset(
    {
        "account_read",
        "account_update",
        "contact_data",
        "campaign_data",
        "billing_data",
        "offline_access",
        "openid",
        "profile",
    }
)
_USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"

router = APIRouter()


def parse_scopes(raw: str | None) -> list[str] | None:
    """Split a space- (or ``+``-) separated scope string; ``None`` if it is empty or names an unknown scope."""
    scopes = [s for s in (raw or "").replace("+", " ").split() if s]
    if not scopes or any(s not in KNOWN_SCOPES for s in scopes):
        return None
    return list(dict.fromkeys(scopes))


def _redirect(uri: str, **params: str) -> RedirectResponse:
    separator = "&" if "?" in uri else "?"
    return RedirectResponse(uri + separator + urlencode(params), status_code=302)


@router.get(AUTHORIZE_PATH)
async def authorize(request: Request) -> RedirectResponse:
    """Consent at once and redirect with ``code`` and ``state``, or with ``error`` and ``error_description``."""
    state = get_state(request)
    q = request.query_params
    client = state.clients.get(q.get("client_id", ""))
    if client is None:
        raise oauth_error("invalid_client", "The 'client_id' parameter is not a registered application.")
    redirect_uri = q.get("redirect_uri", "")
    if redirect_uri not in client.redirect_uris:  # never redirect to an unregistered URI
        raise oauth_error(
            "invalid_request",
            "The 'redirect_uri' parameter must be a Login redirect URI in the client app settings.",
        )
    back = q.get("state", "")
    scopes = parse_scopes(q.get("scope"))
    challenge, method = q.get("code_challenge"), q.get("code_challenge_method")
    problem: tuple[str, str] | None = None
    if q.get("response_type") != "code":
        problem = ("unsupported_response_type", "The response type is not supported; use response_type=code.")
    elif not back:
        problem = ("invalid_request", "The 'state' parameter is required.")
    elif scopes is None:
        problem = ("invalid_scope", "One or more scopes are not configured for the authorization server.")
    elif (challenge or method) and (method != "S256" or not challenge):
        problem = ("invalid_request", "PKCE needs a code_challenge with code_challenge_method=S256.")
    elif client.client_secret is None and not challenge:
        problem = ("invalid_request", "PKCE code challenge is required for a public client.")
    if problem is not None:
        params = {"error": problem[0], "error_description": problem[1]}
        return _redirect(redirect_uri, **params, **({"state": back} if back else {}))
    assert scopes is not None
    with state.lock:
        code = AuthCode(
            secrets.token_urlsafe(32),
            client.client_id,
            redirect_uri,
            scopes,
            state.clock() + state.config.auth_code_ttl,
            challenge,
        )
        state.auth_codes[code.code] = code
    return _redirect(redirect_uri, code=code.code, state=back, scope=" ".join(scopes))


@router.post(DEVICE_AUTHORIZE_PATH)
async def device_authorize(request: Request) -> JSONResponse:
    """Start a device flow: return the device code, the user code and where the user confirms it."""
    state = get_state(request)
    params = await oauth_parameters(request)
    client = state.clients.get(params.get("client_id", ""))
    if client is None:
        raise invalid_client()
    scopes = parse_scopes(params.get("scope"))
    if scopes is None:
        raise oauth_error("invalid_scope", "One or more scopes are not configured for the authorization server.")
    with state.lock:
        cfg = state.config
        user_code = "".join(secrets.choice(_USER_CODE_ALPHABET) for _ in range(8))
        user_code = f"{user_code[:4]}-{user_code[4:]}"
        record = DeviceCode(
            secrets.token_urlsafe(32), user_code, client.client_id, scopes, state.clock() + cfg.device_code_ttl
        )
        state.device_codes[record.device_code] = record
        interval = cfg.device_poll_interval
    verification_uri = str(request.base_url).rstrip("/") + ACTIVATE_PATH
    body = {
        "device_code": record.device_code,
        "user_code": user_code,
        "verification_uri": verification_uri,
        "verification_uri_complete": f"{verification_uri}?{urlencode({'user_code': user_code})}",
        "expires_in": cfg.device_code_ttl,
        "interval": int(interval) if float(interval).is_integer() else interval,
    }
    return JSONResponse(body, headers=NO_STORE)


def decide_device_code(state: SandboxState, user_code: str, approve: bool) -> bool:
    """Approve or deny the pending device code with ``user_code``; ``False`` if there is none."""
    with state.lock:
        for record in state.device_codes.values():
            if record.user_code == user_code.upper() and record.status == "pending":
                record.status = "approved" if approve else "denied"
                return True
    return False


@router.get(ACTIVATE_PATH)
async def activate(request: Request) -> PlainTextResponse:
    """The verification page: opening it with a ``user_code`` is the user's consent."""
    user_code = request.query_params.get("user_code", "")
    if not decide_device_code(get_state(request), user_code, approve=True):
        return PlainTextResponse("Unknown or expired code.", status_code=404)
    return PlainTextResponse("Device activated. You can close this window.")
