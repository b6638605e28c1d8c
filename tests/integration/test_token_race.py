"""
Refresh tokens under a thundering herd: 16 processes need a new token at the same moment.

The sandbox runs with rotating refresh tokens (single use; each refresh revokes every older one) and
the real token-endpoint limit (1 request a second). Every case runs with each store whose lock is exclusive:
``file:`` (flock), ``sql:`` on SQLite (BEGIN IMMEDIATE) and ``sql:`` on PostgreSQL (an advisory lock; skipped
where the server is not installed). Whatever the reason for refreshing (empty store, expired access token, or
a 401 on a token the server revoked), exactly one token request must reach the server, no process may fail,
and the refresh token left in the store must be the live one. Long-lived refresh tokens share their access
token the same way.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import time
import warnings
from pathlib import Path

import pytest

from cc_provider.credential_stores import FileTokenStore, SqlTokenStore, TokenRecord, TokenStore
from cc_provider.credential_stores.sql import TABLE
from cc_sandbox.config import SandboxConfig
from cc_sandbox.server import SandboxServer, airflow_connection
from cc_sandbox.testing import FAST_CONFIG, expire_tokens, reset_sandbox, sandbox_stats
from tests.integration.helpers import empty_database
from tests.integration.postgres import postgres  # noqa: F401 (fixture, through getfixturevalue)

PROCESSES = 16
CONN_ENV = "AIRFLOW_CONN_CC_RACE"
TOKEN_ROUTE = "POST /oauth2/default/v1/token"
DB_CONN_ENV = "AIRFLOW_CONN_CC_TOKENS_DB"


@pytest.fixture(scope="module")
def rotating_sandbox():
    config = SandboxConfig(**{**FAST_CONFIG, "token_rate_limit_per_second": 1.0, "refresh_token_mode": "rotating"})
    with SandboxServer(config) as server:
        yield server


@pytest.fixture(params=["file", "sqlite", "postgres"])
def token_store(request, tmp_path, monkeypatch) -> tuple[str, TokenStore]:
    """An empty store: ``(the connection's credential_store extra, the store as the test reads it)``."""
    if request.param == "file":
        path = tmp_path / "tokens" / "cc_race.json"
        return f"file:{path}", FileTokenStore(path)
    monkeypatch.setenv(DB_CONN_ENV, empty_database(request.param, request, tmp_path, TABLE))
    return "sql:cc_tokens_db", SqlTokenStore("cc_tokens_db", conn_id="cc_race")


@pytest.fixture
def race(rotating_sandbox, token_store, monkeypatch):
    """A reset rotating sandbox and a connection using an empty ``token_store``."""
    reset_sandbox(rotating_sandbox)
    conn = airflow_connection(rotating_sandbox)
    spec, store = token_store
    conn["extra"].update(token_type="rotating", token_store=spec)
    monkeypatch.setenv(CONN_ENV, json.dumps(conn))
    from cc_provider.hooks.constant_contact import ConstantContactHook

    ConstantContactHook("cc_race").exchange  # noqa: B018 - warm Airflow's lazy caches once, before forking
    return rotating_sandbox, store


def _child(barrier, results, warm: bool) -> None:
    """One worker: load the connection (and the stored token if ``warm``), wait for the others, call once."""
    try:
        from cc_provider.hooks.constant_contact import ConstantContactHook

        hook = ConstantContactHook("cc_race", max_retries=2, backoff_base=0.05)
        exchange = hook.exchange
        if warm:
            hook.run_flow(exchange.tokens.access_token())
        barrier.wait(timeout=30)
        hook.call_json("GET", "/contact_lists")
        token = hook.exchange.tokens.slot.token
        assert token is not None
        results.put(("ok", hashlib.sha256(token.value.encode()).hexdigest()))
    except BaseException as err:  # report everything: the parent asserts zero failures
        results.put(("error", f"{type(err).__name__}: {err}"))


def run_herd(processes: int = PROCESSES, warm: bool = False) -> list[tuple[str, str]]:
    ctx = multiprocessing.get_context("fork")
    barrier, results = ctx.Barrier(processes), ctx.Queue()
    workers = [ctx.Process(target=_child, args=(barrier, results, warm)) for _ in range(processes)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork() in a process with threads (3.12+)
        for worker in workers:
            worker.start()
    outcomes = [results.get(timeout=30) for _ in workers]
    for worker in workers:
        worker.join(10)
    return outcomes


def assert_one_refresh_and_no_failure(server, store: TokenStore, outcomes) -> TokenRecord:
    failures = [detail for status, detail in outcomes if status != "ok"]
    assert failures == []
    assert len(outcomes) == PROCESSES
    stats = sandbox_stats(server)
    assert stats["requests"].get(TOKEN_ROUTE, 0) == 1
    assert stats["refreshes"] == 1
    assert stats["requests"]["GET /v3/contact_lists"] == PROCESSES
    # every process uses the one access token, and the store holds the live refresh token
    assert len({detail for _, detail in outcomes}) == 1
    record = store.load()
    assert record is not None
    assert server.state.refresh_token_owner(record.refresh_token) == server.config.client_id
    assert hashlib.sha256(record.access_token.encode()).hexdigest() == outcomes[0][1]
    return record


def test_empty_store_seeded_once(race):
    server, store = race
    outcomes = run_herd()
    record = assert_one_refresh_and_no_failure(server, store, outcomes)
    assert record.refresh_token != server.config.refresh_token  # rotated away from the seed


def test_expired_access_token_refreshed_once(race):
    server, store = race
    held = store.try_lock()
    store.save(TokenRecord(server.config.refresh_token, "expired", time.time() - 1, time.time() - 3601), None)
    held.release()
    assert_one_refresh_and_no_failure(server, store, run_herd())


def test_revoked_access_token_refreshed_once_after_401s(race):
    server, store = race
    first = run_herd(1)  # a valid token in the store
    assert first[0][0] == "ok"
    assert sandbox_stats(server)["refreshes"] == 1
    expire_tokens(server)  # the server forgets it: every process sends it and gets a 401 at once
    time.sleep(1.05)  # the token endpoint allows 1 request a second
    before = sandbox_stats(server)
    outcomes = run_herd(warm=True)
    after = sandbox_stats(server)
    assert [s for s, _ in outcomes] == ["ok"] * PROCESSES
    assert after["refreshes"] - before["refreshes"] == 1
    assert after["requests"][TOKEN_ROUTE] - before["requests"][TOKEN_ROUTE] == 1
    assert after.get("unauthorized", 0) - before.get("unauthorized", 0) == PROCESSES
    assert len({detail for _, detail in outcomes}) == 1


@pytest.fixture(scope="module")
def long_lived_sandbox():
    config = SandboxConfig(**{**FAST_CONFIG, "token_rate_limit_per_second": 1.0, "refresh_token_mode": "long_lived"})
    with SandboxServer(config) as server:
        yield server


def test_long_lived_tokens_are_refreshed_once_for_every_process(long_lived_sandbox, token_store, monkeypatch):
    reset_sandbox(long_lived_sandbox)
    conn = airflow_connection(long_lived_sandbox)
    spec, store = token_store
    conn["extra"].update(token_type="long_lived", token_store=spec)
    monkeypatch.setenv(CONN_ENV, json.dumps(conn))
    from cc_provider.hooks.constant_contact import ConstantContactHook

    ConstantContactHook("cc_race").exchange  # noqa: B018 - warm Airflow's lazy caches once, before forking
    record = assert_one_refresh_and_no_failure(long_lived_sandbox, store, run_herd())
    assert record.refresh_token == long_lived_sandbox.config.refresh_token  # long-lived: never rotated


@pytest.mark.parametrize("token_store", ["file"], indirect=True)
def test_the_store_file_is_private(race):
    server, store = race
    run_herd(1)
    assert isinstance(store, FileTokenStore)
    assert oct(Path(store.path).stat().st_mode & 0o777) == "0o600"
