"""Access tokens: Okta-style HS256 JWTs that the sandbox issues and checks on every ``/v3`` call."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from typing import Any

import jwt

from cc_sandbox.models import IssuedToken
from cc_sandbox.store import SandboxState

AUDIENCE = "api://default"
ALGORITHM = "HS256"


def _key(state: SandboxState) -> bytes:
    # Hash the configured secret so a short one never trips PyJWT's key-length warning.
    return hashlib.sha256(state.jwt_secret.encode("utf-8")).digest()


def issue_access_token(
    state: SandboxState, client_id: str, issuer_base: str, scopes: Sequence[str] | None = None
) -> tuple[str, int]:
    """Mint and record an access token for ``client_id``; return ``(jwt, ttl_seconds)``."""
    with state.lock:
        ttl = state.config.access_token_ttl
        issued_at = int(state.clock())
        jti = f"AT.{uuid.uuid4().hex}"
        claims: dict[str, Any] = {
            "ver": 1,
            "jti": jti,
            "iss": f"{issuer_base.rstrip('/')}/oauth2/default",
            "aud": AUDIENCE,
            "iat": issued_at,
            "exp": issued_at + ttl,
            "cid": client_id,
            "uid": "00u" + hashlib.sha1(state.config.user.encode("utf-8")).hexdigest()[:17],
            "scp": list(state.clients[client_id].scopes if scopes is None else scopes),
            "sub": state.config.user,
        }
        state.record_token(IssuedToken(jti, client_id, issued_at, issued_at + ttl))
        state.stats.tokens_issued += 1
    return jwt.encode(claims, _key(state), algorithm=ALGORITHM), ttl


def verify_access_token(state: SandboxState, token: str) -> dict[str, Any] | None:
    """Return the claims of a live token issued by this sandbox, or ``None``.

    Expiry is judged on the sandbox's clock (which ``POST /__sandbox__/clock`` can move), not PyJWT's.
    """
    try:
        claims = jwt.decode(
            token,
            _key(state),
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            options={"require": ["exp", "iat", "jti", "cid"], "verify_exp": False, "verify_iat": False},
        )
    except jwt.PyJWTError:
        return None
    with state.lock:
        if not state.token_is_live(str(claims["jti"]), state.clock()):
            return None
    return claims
