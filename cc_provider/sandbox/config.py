"""Configuration of the Constant Contact V3 API sandbox."""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass, field, replace
from typing import Any

#: Refresh-token behaviours of a Constant Contact application (a developer-portal setting).
REFRESH_TOKEN_MODES = ("long_lived", "rotating")

#: Settings that ``PATCH /__sandbox__/config`` may change while the sandbox runs.
RUNTIME_FIELDS = ("activity_start_delay", "activity_rows_per_second", "access_token_ttl")

#: Settings never shown by ``GET /__sandbox__/config``.
SECRET_FIELDS = ("jwt_secret",)


@dataclass
class SandboxConfig:
    """Settings of one sandbox instance; the defaults describe a ready-made account.

    :param client_id: API key of the default application.
    :param client_secret: client secret of the default application.
    :param refresh_token: refresh token already granted to the default application.
    :param access_token_ttl: lifetime of an access token in seconds (real API: 86400).
    :param refresh_token_mode: ``long_lived`` (the same refresh token comes back on every refresh)
        or ``rotating`` (each refresh returns a new token and revokes the older ones).
    :param activity_start_delay: seconds a new activity stays ``initialized``.
    :param activity_rows_per_second: import processing speed once an activity is ``processing``.
    :param jwt_secret: HMAC secret that signs access tokens (random per process by default).
    :param scopes: scopes granted to the default application.
    :param user: subject (``sub`` claim) of issued access tokens.
    :param max_lists: most contact lists an account may hold (real API: 1,000).
    :param import_max_contacts: contacts processed per JSON import; the rest is dropped (real API: 40,000).
    :param import_max_bytes: bytes of a JSON import body processed; contacts past it are dropped (4 MB).
    """

    client_id: str = "cc-sandbox-client-id"
    client_secret: str = "cc-sandbox-client-secret"
    refresh_token: str = "cc-sandbox-refresh-token"
    access_token_ttl: int = 86400
    refresh_token_mode: str = "long_lived"
    activity_start_delay: float = 0.2
    activity_rows_per_second: float = 2000.0
    jwt_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32), repr=False)
    scopes: tuple[str, ...] = ("contact_data", "offline_access")
    user: str = "sandbox-owner@example.com"
    max_lists: int = 1000
    import_max_contacts: int = 40_000
    import_max_bytes: int = 4 * 1024 * 1024

    def __post_init__(self) -> None:
        self.scopes = tuple(self.scopes)
        self.validate()

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first setting that is out of range."""
        for name in ("client_id", "client_secret", "refresh_token", "jwt_secret"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise ValueError(f"{name} must be a non-empty string.")
        if self.refresh_token_mode not in REFRESH_TOKEN_MODES:
            raise ValueError(
                f"refresh_token_mode must be one of {REFRESH_TOKEN_MODES}, not {self.refresh_token_mode!r}."
            )
        if not _is_number(self.access_token_ttl, integer=True) or self.access_token_ttl < 1:
            raise ValueError("access_token_ttl must be an integer number of seconds >= 1.")
        if not _is_number(self.activity_start_delay) or self.activity_start_delay < 0:
            raise ValueError("activity_start_delay must be a number of seconds >= 0.")
        if not _is_number(self.activity_rows_per_second) or self.activity_rows_per_second <= 0:
            raise ValueError("activity_rows_per_second must be a number > 0.")
        for name in ("max_lists", "import_max_contacts", "import_max_bytes"):
            if not _is_number(getattr(self, name), integer=True) or getattr(self, name) < 1:
                raise ValueError(f"{name} must be an integer >= 1.")

    def updated(self, changes: dict[str, Any]) -> SandboxConfig:
        """Return a copy with run-time ``changes`` applied; raise ``ValueError`` for anything else."""
        unknown = sorted(set(changes) - set(RUNTIME_FIELDS))
        if unknown:
            raise ValueError(f"Cannot change {', '.join(unknown)} at run time; allowed: {', '.join(RUNTIME_FIELDS)}.")
        return replace(self, **changes)

    def public_dict(self) -> dict[str, Any]:
        """Return the settings as JSON-ready data, secrets left out."""
        data = asdict(self)
        for name in SECRET_FIELDS:
            data.pop(name, None)
        data["scopes"] = list(self.scopes)
        return data


def _is_number(value: Any, *, integer: bool = False) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) if integer else isinstance(value, (int, float))


__all__ = ["REFRESH_TOKEN_MODES", "RUNTIME_FIELDS", "SandboxConfig"]
