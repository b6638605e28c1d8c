"""
The OAuth protocol of Constant Contact, as pure functions: the grants, their answers, the JWT claims.

The refresh grant is what the hook sends on every token refresh; the authorization code (with PKCE)
and the device grant are what a person goes through once, with ``python -m cc_provider.auth``. Nothing
here sends bytes: the hook's flows and the CLI drive these requests with the hook's drivers.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from cc_provider.exceptions import ConstantContactAuthError
from cc_provider.hooks._http import HttpRequest, HttpResponse, parse_error_body

DEFAULT_SCOPES = ("contact_data", "offline_access")
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
#: Assumed lifetime when a token response states none (neither a JWT ``exp`` nor ``expires_in``).
DEFAULT_LIFETIME_SECONDS = 3600.0


def reauthorize_hint(conn_id: str = "") -> str:
    """What a person must do when no refresh token works any more."""
    conn = f" --conn-id {conn_id}" if conn_id else ""
    return (
        "Authorize the app again (a person must consent in a browser, with the offline_access scope): "
        f"run `python -m cc_provider.auth login{conn}` (or `device`), which saves the new refresh token "
        "to the token store, or put it in the connection's 'refresh_token' extra."
    )


@dataclass(frozen=True)
class AccessToken:
    """A bearer token and the wall-clock epoch at which it expires."""

    value: str = field(repr=False)
    expires_at: float
    refresh_token: str | None = field(default=None, repr=False)

    def expires_within(self, seconds: float, now: float) -> bool:
        """Tell whether the token expires within ``seconds`` from ``now``."""
        return now + seconds >= self.expires_at


def jwt_claims(token: str) -> dict[str, Any] | None:
    """Decode a JWT's claims without verifying them; ``None`` if the token is not a JWT."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:
        return None
    return claims if isinstance(claims, dict) else None


def jwt_expiry(token: str) -> float | None:
    """Read the ``exp`` claim of a JWT; ``None`` if the token is not a JWT or states no numeric expiry."""
    exp = (jwt_claims(token) or {}).get("exp")
    return float(exp) if isinstance(exp, (int, float)) else None


def refresh_request(token_url: str, client_id: str, client_secret: str, refresh_token: str) -> HttpRequest:
    """Build the refresh-token grant: form body, client authenticated with HTTP Basic."""
    return HttpRequest(
        method="POST",
        url=token_url,
        form={"grant_type": "refresh_token", "refresh_token": refresh_token},
        headers={"Accept": "application/json"},
        basic_auth=(client_id, client_secret),
    )


def parse_token_response(response: HttpResponse, now: float) -> AccessToken:
    """
    Turn a successful token response, received at ``now``, into an :class:`AccessToken`.

    The expiry comes from the JWT's ``exp`` claim when present, else from ``expires_in`` (seconds).
    """
    try:
        body = response.json()
        value = body["access_token"]
    except (ValueError, KeyError, TypeError):
        value = None
    if not isinstance(value, str) or not value:
        raise ConstantContactAuthError(
            "The token endpoint answered 200 without an access_token; check the connection's auth base URL."
        )
    expires_at = jwt_expiry(value)
    if expires_at is None:
        expires_at = now + float(body.get("expires_in") or DEFAULT_LIFETIME_SECONDS)
    return AccessToken(value=value, expires_at=expires_at, refresh_token=body.get("refresh_token"))


def token_error(response: HttpResponse, conn_id: str = "") -> ConstantContactAuthError:
    """Explain a failed token request; never includes the tokens or the secret."""
    key, message = parse_error_body(response)
    if key == "invalid_grant":
        return ConstantContactAuthError(
            f"Constant Contact refused the refresh token ({key}: {message}). {reauthorize_hint(conn_id)}"
        )
    if key == "invalid_client" or response.status_code == 401:
        return ConstantContactAuthError(
            f"Constant Contact refused the client credentials ({key or response.status_code}: {message}). "
            "Check the connection's login (client ID / API key) and password (client secret)."
        )
    return ConstantContactAuthError(
        f"The token endpoint answered {response.status_code} ({key or 'no error key'}: {message})."
    )


@dataclass(frozen=True)
class Pkce:
    """A PKCE pair: the verifier stays here, the S256 challenge goes into the authorize URL."""

    verifier: str = field(repr=False)

    @classmethod
    def new(cls) -> Pkce:
        return cls(secrets.token_urlsafe(64))  # 86 characters, within RFC 7636's 43-128

    @property
    def challenge(self) -> str:
        digest = hashlib.sha256(self.verifier.encode("ascii")).digest()
        return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def authorize_url(
    auth_base_url: str, client_id: str, redirect_uri: str, scopes: tuple[str, ...], state: str, pkce: Pkce
) -> str:
    """The URL a person opens to consent (``response_type=code`` with an S256 challenge)."""
    query = urlencode(
        {
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "response_type": "code",
            "scope": " ".join(scopes),
            "state": state,
            "code_challenge": pkce.challenge,
            "code_challenge_method": "S256",
        }
    )
    return f"{auth_base_url.rstrip('/')}/authorize?{query}"


def _client_auth(client_id: str, client_secret: str | None, form: dict[str, str]) -> tuple[str, str] | None:
    """A confidential client authenticates with HTTP Basic; a public one names itself in the form."""
    if client_secret:
        return client_id, client_secret
    form["client_id"] = client_id
    return None


def code_request(
    token_url: str, client_id: str, client_secret: str | None, code: str, redirect_uri: str, pkce: Pkce
) -> HttpRequest:
    """Exchange an authorization code (with its PKCE verifier) for tokens."""
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "code_verifier": pkce.verifier,
    }
    auth = _client_auth(client_id, client_secret, form)
    return HttpRequest("POST", token_url, form=form, headers={"Accept": "application/json"}, basic_auth=auth)


def device_authorize_request(auth_base_url: str, client_id: str, scopes: tuple[str, ...]) -> HttpRequest:
    """Start a device flow."""
    return HttpRequest(
        "POST",
        f"{auth_base_url.rstrip('/')}/device/authorize",
        form={"client_id": client_id, "scope": " ".join(scopes)},
        headers={"Accept": "application/json"},
    )


def device_token_request(token_url: str, client_id: str, client_secret: str | None, device_code: str) -> HttpRequest:
    """Poll the token endpoint for a device code."""
    form = {"grant_type": DEVICE_GRANT, "device_code": device_code}
    auth = _client_auth(client_id, client_secret, form)
    form.setdefault("client_id", client_id)
    return HttpRequest("POST", token_url, form=form, headers={"Accept": "application/json"}, basic_auth=auth)


def token_scopes(claims: dict[str, Any] | None, granted: str | None = None) -> list[str]:
    """Scopes of a token: the JWT's ``scp`` claim (Okta style), else the token response's ``scope``."""
    scp = (claims or {}).get("scp")
    if isinstance(scp, list):
        return [str(s) for s in scp]
    if isinstance(scp, str):
        return scp.split()
    return (granted or "").split()
