"""OAuth2 refresh-token grant for Constant Contact: request building, response parsing, token expiry."""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass, field

from cc_provider.exceptions import ConstantContactAuthError
from cc_provider.hooks.wire import HttpRequest, HttpResponse, parse_error_body

#: Assumed lifetime when a token response states none (neither a JWT ``exp`` nor ``expires_in``).
DEFAULT_LIFETIME_SECONDS = 3600.0

REAUTHORIZE_HINT = (
    "Authorize the app again (a person must consent in a browser, with the offline_access scope): "
    "run `python -m cc_provider.auth login` (or `device`), or put the new refresh token in the "
    "connection's 'refresh_token' extra."
)


@dataclass(frozen=True)
class AccessToken:
    """A bearer token and the wall-clock epoch at which it expires."""

    value: str = field(repr=False)
    expires_at: float
    refresh_token: str | None = field(default=None, repr=False)

    def expires_within(self, seconds: float, now: float | None = None) -> bool:
        """Tell whether the token expires within ``seconds`` from ``now``."""
        return (time.time() if now is None else now) + seconds >= self.expires_at


def jwt_expiry(token: str) -> float | None:
    """Read the ``exp`` claim of a JWT without verifying it; ``None`` if the token is not a JWT."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except ValueError:
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
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


def parse_token_response(response: HttpResponse, now: float | None = None) -> AccessToken:
    """
    Turn a successful token response into an :class:`AccessToken`.

    The expiry comes from the JWT's ``exp`` claim when present, else from ``expires_in`` (seconds).
    """
    now = time.time() if now is None else now
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


def token_error(response: HttpResponse) -> ConstantContactAuthError:
    """Explain a failed token request; never includes the tokens or the secret."""
    key, message = parse_error_body(response)
    if key == "invalid_grant":
        return ConstantContactAuthError(
            f"Constant Contact refused the refresh token ({key}: {message}). {REAUTHORIZE_HINT}"
        )
    if key == "invalid_client" or response.status_code == 401:
        return ConstantContactAuthError(
            f"Constant Contact refused the client credentials ({key or response.status_code}: {message}). "
            "Check the connection's login (client ID / API key) and password (client secret)."
        )
    return ConstantContactAuthError(
        f"The token endpoint answered {response.status_code} ({key or 'no error key'}: {message})."
    )
