"""Pytest fixtures and helpers for tests against the sandbox.

Installing ``cc-sandbox`` enables this plugin in every pytest run (its ``pytest11`` entry point, named
``cc_sandbox.testing``; ``-p no:cc_sandbox.testing`` turns it off). Its fixtures:

- ``cc_sandbox``: one :class:`SandboxServer` per session, with fast activities and the rate limits off
  (turn them on in a test with ``patch_config(server, rate_limit_per_second=4, ...)``).
- ``cc_sandbox_reset``: the same server, reset (data, stats, faults, settings) before the test.
- ``cc_sandbox_connection``: also sets ``AIRFLOW_CONN_CONSTANT_CONTACT_DEFAULT`` for the test.
- ``cc_behaviour_profile``: the reset sandbox under each of :data:`BEHAVIOUR_PROFILES` in turn (a
  parametrized fixture; its value is the profile's name).

The session sandbox starts with the behaviour profile named by ``--cc-sandbox-profile`` or the
``CC_SANDBOX_PROFILE`` environment variable (default ``documented``); a reset restores it.

The helpers talk to the admin API with the standard library only; nothing here imports Airflow.
"""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from cc_sandbox.behaviour import BEHAVIOUR_PROFILES, profile_settings
from cc_sandbox.config import SandboxConfig
from cc_sandbox.server import SandboxServer, airflow_connection, airflow_connection_json

CONNECTION_ENV = "AIRFLOW_CONN_CONSTANT_CONTACT_DEFAULT"
PROFILE_ENV = "CC_SANDBOX_PROFILE"
DEFAULT_PROFILE = "documented"

#: Settings of the session sandbox: activities start after 50 ms and process 50,000 rows a second;
#: no per-second limits and no daily quota, so tests may send bursts.
FAST_CONFIG: dict[str, Any] = {
    "activity_start_delay": 0.05,
    "activity_rows_per_second": 50_000.0,
    "rate_limit_per_second": 0,
    "daily_quota": 0,
    "token_rate_limit_per_second": 0,
}


def admin_call(server: SandboxServer, method: str, path: str, payload: Any = None) -> Any:
    """Call ``/__sandbox__/<path>`` and return the decoded JSON answer."""
    data = None if payload is None else json.dumps(payload).encode("utf-8")
    request = urllib.request.Request(
        f"{server.url}/__sandbox__/{path.lstrip('/')}",
        data=data,
        method=method,
        headers={"Content-Type": "application/json"} if data is not None else {},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read() or b"null")


def reset_sandbox(server: SandboxServer) -> None:
    """Forget lists, contacts, activities, stats and faults; restore start-up settings."""
    admin_call(server, "POST", "reset")


def sandbox_stats(server: SandboxServer) -> dict[str, Any]:
    """Return ``GET /__sandbox__/stats``."""
    result: dict[str, Any] = admin_call(server, "GET", "stats")
    return result


def add_fault(server: SandboxServer, path: str, status: int = 503, **options: Any) -> dict[str, Any]:
    """Arm a fault (options: ``method``, ``body``, ``count``, ``headers``, ``delay``, ``drop_connection``)."""
    result: dict[str, Any] = admin_call(server, "POST", "faults", {"path": path, "status": status, **options})
    return result


def expire_tokens(server: SandboxServer) -> int:
    """Invalidate every access token issued so far; return how many."""
    return int(admin_call(server, "POST", "tokens/expire")["expired"])


def patch_config(server: SandboxServer, **changes: Any) -> dict[str, Any]:
    """Change run-time settings (activity speed, token lifetime, rate limits, quota, ...; see ``RUNTIME_FIELDS``)."""
    result: dict[str, Any] = admin_call(server, "PATCH", "config", changes)
    return result


def set_behaviour(server: SandboxServer, profile: str | dict[str, Any]) -> dict[str, Any]:
    """Apply a behaviour profile (a name in :data:`BEHAVIOUR_PROFILES`, or a dict of switch settings).

    Return the settings now in force; a reset restores the start-up profile.
    """
    return patch_config(server, **profile_settings(profile))


def flag_emails(server: SandboxServer, *emails: str) -> list[str]:
    """Flag addresses for signup abuse: the API then rejects them in imports, as invalid (S27)."""
    return list(admin_call(server, "POST", "flagged_emails", {"emails": list(emails)})["flagged"])


def set_activity_state(server: SandboxServer, activity_id: str, state: str, errors: list[str] | None = None) -> Any:
    """Put an activity in ``state`` now (``failed``, ``cancelled``, ``timed_out``, ``processing``: stuck, ...)."""
    return admin_call(server, "POST", f"activities/{activity_id}", {"state": state, "errors": errors or []})


def add_activity_fault(server: SandboxServer, state: str, **options: Any) -> dict[str, Any]:
    """Send the next new activities to ``state`` (options: ``kind``, ``count``, ``at_percent``, ``errors``)."""
    result: dict[str, Any] = admin_call(server, "POST", "activity_faults", {"state": state, **options})
    return result


def revoke_refresh_tokens(server: SandboxServer, refresh_token: str | None = None, client_id: str | None = None) -> int:
    """Revoke one refresh token, or all of a client's (default: the default client's); return how many."""
    payload = {k: v for k, v in {"refresh_token": refresh_token, "client_id": client_id}.items() if v is not None}
    return int(admin_call(server, "POST", "tokens/revoke", payload)["revoked"])


def advance_clock(server: SandboxServer, seconds: float) -> dict[str, Any]:
    """Move the sandbox's clock ahead (tokens, codes, quotas and activities age); return the new time."""
    result: dict[str, Any] = admin_call(server, "POST", "clock", {"advance": seconds})
    return result


def register_client(server: SandboxServer, client_id: str, **options: Any) -> dict[str, Any]:
    """Register another OAuth client (options: ``client_secret``, ``redirect_uris``, ``refresh_token_mode``, ...)."""
    result: dict[str, Any] = admin_call(server, "POST", "clients", {"client_id": client_id, **options})
    return result


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add ``--cc-sandbox-profile NAME``: the behaviour profile of the session sandbox."""
    parser.addoption(
        "--cc-sandbox-profile",
        choices=tuple(BEHAVIOUR_PROFILES),
        default=None,
        help=f"behaviour profile of the session sandbox (default: ${PROFILE_ENV}, else {DEFAULT_PROFILE})",
    )


def session_profile(config: pytest.Config) -> str:
    """Return the session sandbox's profile: ``--cc-sandbox-profile``, ``$CC_SANDBOX_PROFILE``, or ``documented``."""
    name = config.getoption("cc_sandbox_profile", default=None) or os.environ.get(PROFILE_ENV) or DEFAULT_PROFILE
    if name not in BEHAVIOUR_PROFILES:
        raise pytest.UsageError(
            f"{PROFILE_ENV}={name!r} is not a behaviour profile; use one of {', '.join(BEHAVIOUR_PROFILES)}."
        )
    return str(name)


@pytest.fixture(scope="session")
def cc_sandbox(request: pytest.FixtureRequest) -> Iterator[SandboxServer]:
    """A sandbox on a free loopback port for the whole session, under the session's behaviour profile."""
    config = SandboxConfig(**FAST_CONFIG, **profile_settings(session_profile(request.config)))
    with SandboxServer(config) as server:
        yield server


@pytest.fixture
def cc_sandbox_reset(cc_sandbox: SandboxServer) -> SandboxServer:
    """The session sandbox, reset before the test."""
    reset_sandbox(cc_sandbox)
    return cc_sandbox


@pytest.fixture(params=list(BEHAVIOUR_PROFILES))
def cc_behaviour_profile(request: pytest.FixtureRequest, cc_sandbox_reset: SandboxServer) -> str:
    """The reset session sandbox under one behaviour profile (each in turn); return the profile's name."""
    name = str(request.param)
    set_behaviour(cc_sandbox_reset, name)
    return name


@pytest.fixture
def cc_sandbox_connection(cc_sandbox_reset: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point ``constant_contact_default`` at the reset sandbox; return the connection JSON."""
    value = airflow_connection_json(cc_sandbox_reset)
    monkeypatch.setenv(CONNECTION_ENV, value)
    return value


__all__ = [
    "BEHAVIOUR_PROFILES",
    "CONNECTION_ENV",
    "DEFAULT_PROFILE",
    "FAST_CONFIG",
    "PROFILE_ENV",
    "add_activity_fault",
    "add_fault",
    "admin_call",
    "advance_clock",
    "airflow_connection",
    "airflow_connection_json",
    "cc_behaviour_profile",
    "cc_sandbox",
    "cc_sandbox_connection",
    "cc_sandbox_reset",
    "expire_tokens",
    "flag_emails",
    "patch_config",
    "register_client",
    "reset_sandbox",
    "revoke_refresh_tokens",
    "sandbox_stats",
    "session_profile",
    "set_activity_state",
    "set_behaviour",
]
