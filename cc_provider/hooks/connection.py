"""From an Airflow connection to an :class:`Exchange`: settings, token store, shared slot and limiters (no I/O)."""

from __future__ import annotations

import hashlib
from typing import Any

from airflow.sdk import Connection

from cc_provider.hooks.budget import API_REQUESTS_PER_SECOND, api_limiter, shared_slot, token_limiter
from cc_provider.hooks.exchange import DEFAULT_API_BASE_URL, DEFAULT_AUTH_BASE_URL, ApiSettings, Exchange
from cc_provider.hooks.retry import RetryPolicy
from cc_provider.hooks.token_store import store_from_spec
from cc_provider.hooks.tokens import TOKEN_TYPES

#: UI-facing extra names, and the names they were first released under. Airflow masks the value of any
#: extra whose name contains "token", so the form could not show or keep "long_lived" or "variable".
EXTRA_ALIASES = {"refresh_mode": "token_type", "credential_store": "token_store"}


def extra_value(extra: dict[str, Any], name: str) -> Any:
    """Read an extra by its UI name, falling back to its older alias (``token_type``, ``token_store``)."""
    value = extra.get(name)
    alias = EXTRA_ALIASES.get(name)
    return value if value not in (None, "") or alias is None else extra.get(alias)


def settings_from_connection(conn: Connection) -> ApiSettings:
    """Read and check the connection fields; raise a ValueError naming what is missing or wrong."""
    extra = conn.extra_dejson
    missing = [
        name
        for name, value in (("login (client ID / API key)", conn.login), ("password (client secret)", conn.password))
        if not value
    ]
    if missing:
        raise ValueError(f"Connection '{conn.conn_id}' lacks {', '.join(missing)}.")
    token_type = str(extra_value(extra, "refresh_mode") or "long_lived")
    if token_type not in TOKEN_TYPES:
        raise ValueError(
            f"Connection '{conn.conn_id}': extra 'refresh_mode' must be one of {', '.join(TOKEN_TYPES)}, "
            f"not {token_type!r}."
        )
    refresh_token = extra.get("refresh_token")
    rate = extra.get("requests_per_second")
    try:
        requests_per_second = float(API_REQUESTS_PER_SECOND if rate in (None, "") else rate)
    except (TypeError, ValueError):
        raise ValueError(
            f"Connection '{conn.conn_id}': extra 'requests_per_second' must be a number (4 for a standard API key)."
        ) from None
    raw_timeout = extra.get("timeout")
    try:
        timeout = float(60.0 if raw_timeout in (None, "") else raw_timeout)
    except (TypeError, ValueError):
        timeout = -1.0
    if timeout <= 0:
        raise ValueError(f"Connection '{conn.conn_id}': extra 'timeout' must be a positive number of seconds.")
    return ApiSettings(
        client_id=str(conn.login),
        client_secret=str(conn.password),
        refresh_token=str(refresh_token) if refresh_token else None,
        api_base_url=str(extra.get("api_base_url") or DEFAULT_API_BASE_URL).rstrip("/"),
        auth_base_url=str(extra.get("auth_base_url") or DEFAULT_AUTH_BASE_URL).rstrip("/"),
        conn_id=str(conn.conn_id or ""),
        token_type=token_type,
        token_store=str(extra_value(extra, "credential_store") or "variable"),
        requests_per_second=requests_per_second,
        timeout=timeout,
    )


def slot_key(settings: ApiSettings) -> str:
    """Fingerprint of everything that decides which tokens a connection gets (no secret in clear)."""
    parts = (
        settings.conn_id,
        settings.token_url,
        settings.client_id,
        settings.client_secret,
        settings.refresh_token or "",
        settings.token_type,
        settings.token_store or "",
    )
    return hashlib.sha256("\0".join(parts).encode("utf-8")).hexdigest()


def exchange_for(conn: Connection, retry_policy: RetryPolicy, log: Any = None) -> Exchange:
    """
    Build the exchange of a connection: its token store, this process's token slot and rate limiters.

    Registers the client secret and the refresh token with Airflow's secrets masker.
    """
    from airflow.sdk.log import mask_secret

    settings = settings_from_connection(conn)
    mask_secret(settings.client_secret)
    if settings.refresh_token:
        mask_secret(settings.refresh_token)
    return Exchange(
        settings,
        retry_policy,
        log=log,
        store=store_from_spec(settings.token_store, settings.conn_id),
        slot=shared_slot(slot_key(settings)),
        api_limiter=api_limiter(settings.client_id, settings.requests_per_second),
        token_limiter=token_limiter(settings.client_id),
    )
