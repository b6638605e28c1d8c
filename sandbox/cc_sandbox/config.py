"""Configuration of the Constant Contact V3 API sandbox."""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from cc_sandbox.behaviour import QUEUE_FULL_DEFAULT_KEY, QUEUE_FULL_FORBIDDEN_KEY, SWITCHES

#: Refresh-token behaviours of a Constant Contact application (a developer-portal setting).
REFRESH_TOKEN_MODES = ("long_lived", "rotating")

#: Settings that ``PATCH /__sandbox__/config`` may change while the sandbox runs.
RUNTIME_FIELDS = (
    "activity_start_delay",
    "activity_rows_per_second",
    "access_token_ttl",
    "rate_limit_per_second",
    "daily_quota",
    "token_rate_limit_per_second",
    "device_poll_interval",
    "max_queued_activities",
    *SWITCHES,
    "queue_full_error_key",
)

#: Settings never shown by ``GET /__sandbox__/config``.
SECRET_FIELDS = ("jwt_secret",)

DAY = 86400


@dataclass
class SandboxConfig:
    """Settings of one sandbox instance; the defaults describe a ready-made account and the real limits.

    :param client_id: API key of the default application.
    :param client_secret: client secret of the default application.
    :param refresh_token: refresh token already granted to the default application.
    :param access_token_ttl: lifetime of an access token in seconds (real API: 86400).
    :param refresh_token_mode: the default application's refresh tokens: ``long_lived`` (the same token
        comes back on every refresh) or ``rotating`` (each refresh returns a new token and revokes the older ones).
    :param activity_start_delay: seconds a new activity stays ``initialized``.
    :param activity_rows_per_second: processing speed of an activity once it is ``processing``.
    :param jwt_secret: HMAC secret that signs access tokens (random per process by default).
    :param scopes: scopes granted with the default refresh token.
    :param user: subject (``sub`` claim) of issued access tokens.
    :param max_lists: most contact lists an account may hold (real API: 1,000).
    :param import_max_contacts: lines processed per import; the rest is dropped (real API: 40,000).
    :param import_max_bytes: bytes of an import processed; contacts past it are dropped (4 MB).
    :param redirect_uris: redirect URIs registered for the default application (authorization code flow).
    :param auth_code_ttl: seconds an authorization code stays valid (real API: 300; single use).
    :param device_code_ttl: seconds a device code stays valid.
    :param device_poll_interval: seconds a device must wait between polls (sooner: ``slow_down``).
    :param refresh_token_idle_ttl: seconds an unused refresh token survives (real API: 180 days).
    :param rate_limit_per_second: API requests a second per client id (token bucket of the same size;
        real API: 4; 0 turns the limit off).
    :param daily_quota: API requests per client id per UTC day (real API: 10,000; 0 turns it off).
    :param token_rate_limit_per_second: token-endpoint requests a second per client id (real API: 1; 0: off).
    :param max_queued_activities: unfinished activities an account may have before bulk POSTs get 429 (1,000).
    :param activity_retention: seconds an activity status is kept (real API: 10 days; then 404).
    :param max_custom_fields: custom fields an account may define (real API: 100).

    Behaviour switches (what no source settles; variants and sources in :mod:`cc_sandbox.behaviour`):

    :param activity_errors_style: import row messages: ``line_numbers`` (``Line N: reason``), ``none``
        (no messages) or ``free_text`` (a few messages without row numbers).
    :param bad_date_handling: a row with a bad birthday or anniversary: ``reject_row`` or ``drop_field``.
    :param activities_order: ``GET /activities``: ``newest_first``, ``oldest_first`` or ``unordered``.
    :param initialized_total_count: ``items_total_count`` while ``initialized``: ``known``, ``zero``, ``absent``.
    :param updated_at_on_unsubscribe: ``bumped`` or ``not_bumped`` by an unsubscribe (not a PUT).
    :param updated_at_on_membership_change: ``bumped`` or ``not_bumped`` by a list membership activity.
    :param list_name_case: list name uniqueness and the ``name`` filter: ``sensitive`` or ``insensitive``.
    :param unknown_csv_headers: unknown CSV columns: ``reject`` (400) or ``ignore``.
    :param person_count_mode: ``all_rows`` (every row of the file) or ``imported_only``.
    :param timestamp_style: ``spec`` (per field, as the spec shows), ``offset`` (-05:00) or ``seconds_z``.
    :param list_full_reporting: how an import reports a contact already on 50 lists: ``error_count`` or ``not_counted``.
    :param queue_full_error_key: ``error_key`` of the 429 for too many queued activities (not ``quota_exceeded``).
    """

    client_id: str = "cc-sandbox-client-id"
    client_secret: str = "cc-sandbox-client-secret"
    refresh_token: str = "cc-sandbox-refresh-token"
    access_token_ttl: int = DAY
    refresh_token_mode: str = "long_lived"
    activity_start_delay: float = 0.2
    activity_rows_per_second: float = 2000.0
    jwt_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32), repr=False)
    scopes: tuple[str, ...] = ("contact_data", "offline_access")
    user: str = "sandbox-owner@example.com"
    max_lists: int = 1000
    import_max_contacts: int = 40_000
    import_max_bytes: int = 4 * 1024 * 1024
    redirect_uris: tuple[str, ...] = ("http://localhost:8080/callback",)
    auth_code_ttl: int = 300
    device_code_ttl: int = 600
    device_poll_interval: float = 5.0
    refresh_token_idle_ttl: int = 180 * DAY
    rate_limit_per_second: float = 4.0
    daily_quota: int = 10_000
    token_rate_limit_per_second: float = 1.0
    max_queued_activities: int = 1000
    activity_retention: int = 10 * DAY
    max_custom_fields: int = 100
    activity_errors_style: str = SWITCHES["activity_errors_style"][0]
    bad_date_handling: str = SWITCHES["bad_date_handling"][0]
    activities_order: str = SWITCHES["activities_order"][0]
    initialized_total_count: str = SWITCHES["initialized_total_count"][0]
    updated_at_on_unsubscribe: str = SWITCHES["updated_at_on_unsubscribe"][0]
    updated_at_on_membership_change: str = SWITCHES["updated_at_on_membership_change"][0]
    list_name_case: str = SWITCHES["list_name_case"][0]
    unknown_csv_headers: str = SWITCHES["unknown_csv_headers"][0]
    person_count_mode: str = SWITCHES["person_count_mode"][0]
    list_full_reporting: str = SWITCHES["list_full_reporting"][0]
    timestamp_style: str = SWITCHES["timestamp_style"][0]
    queue_full_error_key: str = QUEUE_FULL_DEFAULT_KEY

    def __post_init__(self) -> None:
        self.scopes = tuple(self.scopes)
        self.redirect_uris = tuple(self.redirect_uris)
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
        if not _is_number(self.activity_rows_per_second) or self.activity_rows_per_second <= 0:
            raise ValueError("activity_rows_per_second must be a number > 0.")
        for name in ("activity_start_delay", "device_poll_interval", "rate_limit_per_second"):
            if not _is_number(getattr(self, name)) or getattr(self, name) < 0:
                raise ValueError(f"{name} must be a number >= 0.")
        if not _is_number(self.token_rate_limit_per_second) or self.token_rate_limit_per_second < 0:
            raise ValueError("token_rate_limit_per_second must be a number >= 0.")
        if not _is_number(self.daily_quota, integer=True) or self.daily_quota < 0:
            raise ValueError("daily_quota must be an integer >= 0 (0 turns the quota off).")
        for name in (
            "max_lists",
            "import_max_contacts",
            "import_max_bytes",
            "auth_code_ttl",
            "device_code_ttl",
            "refresh_token_idle_ttl",
            "max_queued_activities",
            "activity_retention",
            "max_custom_fields",
        ):
            if not _is_number(getattr(self, name), integer=True) or getattr(self, name) < 1:
                raise ValueError(f"{name} must be an integer >= 1.")
        if not all(isinstance(uri, str) and uri for uri in self.redirect_uris):
            raise ValueError("redirect_uris must be non-empty strings.")
        for name, variants in SWITCHES.items():
            if getattr(self, name) not in variants:
                raise ValueError(f"{name} must be one of {', '.join(variants)}, not {getattr(self, name)!r}.")
        key = self.queue_full_error_key
        if not isinstance(key, str) or not key.strip() or key == QUEUE_FULL_FORBIDDEN_KEY:
            raise ValueError(f"queue_full_error_key must be a non-empty string other than {QUEUE_FULL_FORBIDDEN_KEY}.")

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
        data["redirect_uris"] = list(self.redirect_uris)
        return data


def _is_number(value: Any, *, integer: bool = False) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) if integer else isinstance(value, (int, float))


__all__ = ["REFRESH_TOKEN_MODES", "RUNTIME_FIELDS", "SandboxConfig"]
