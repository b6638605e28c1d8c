"""
The grants a person goes through once, as pure functions: the authorization code (with PKCE) and the device grant.

``python -m cc_provider.auth`` drives them with the hook's drivers. The refresh grant, which the hook sends on
every token refresh, and the token answers are with the hook's messages (:mod:`cc_provider.hooks._http`).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from cc_provider.hooks._http import HttpRequest

DEFAULT_SCOPES = ("contact_data", "offline_access")
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


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
