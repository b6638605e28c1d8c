"""
The ``sql:`` token store on real databases: a throwaway PostgreSQL server, and SQLite.

What the unit tests cannot show: PostgreSQL's advisory lock and compare-and-swap, locks that die with a
killed holder, and concurrent first use creating the table exactly once.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import warnings

import pytest

from cc_provider.credential_stores import SqlTokenStore, TokenRecord
from cc_provider.credential_stores.sql import TABLE
from cc_provider.exceptions import ConstantContactAuthError
from tests.integration.postgres import PostgresServer, postgres  # noqa: F401 (fixture)

RECORD = TokenRecord("refresh-DO-NOT-LEAK", "access-DO-NOT-LEAK", 2_000_000_000.0, 1_999_990_000.0, "client")
NEXT = TokenRecord("refresh-NEXT-SECRET", "access-NEXT-SECRET", 2_000_003_600.0, 1_999_993_600.0, "client")
DB_ENV = "AIRFLOW_CONN_TOKENS_DB"


@pytest.fixture(params=["sqlite", "postgres"])
def make_store(request, tmp_path, monkeypatch):
    """A factory of stores on one empty database (the table dropped first)."""
    if request.param == "postgres":
        server: PostgresServer = request.getfixturevalue("postgres")
        with server.connect() as conn:
            conn.execute(f"DROP TABLE IF EXISTS {TABLE}")
        monkeypatch.setenv(DB_ENV, server.airflow_conn)
    else:
        monkeypatch.setenv(DB_ENV, json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "tokens.db")}))
    return lambda: SqlTokenStore("tokens_db", conn_id="cc_main")


def fork():
    return multiprocessing.get_context("fork")


def test_round_trip_and_compare_and_swap(make_store):
    store = make_store()
    assert store.load() is None
    assert store.save(RECORD, None) is True
    assert store.save(NEXT, None) is False  # a record exists
    assert store.save(NEXT, "refresh-someone-else") is False
    assert make_store().load() == RECORD
    assert store.save(NEXT, RECORD.refresh_token) is True
    assert make_store().load() == NEXT


def test_lock_excludes_others_and_the_holder_saves(make_store):
    store = make_store()
    store.save(RECORD, None)
    held = store.try_lock()
    assert held is not None
    other = make_store()
    assert other.try_lock() is None
    assert other.load() == RECORD  # reading is not blocked
    assert store.save(NEXT, RECORD.refresh_token) is True
    assert other.load() == NEXT  # committed before release
    held.release()
    again = other.try_lock()
    assert again is not None
    again.release()


def _hold_lock(ready) -> None:
    held = SqlTokenStore("tokens_db", conn_id="cc_main").try_lock()
    ready.put(held is not None)
    signal.pause()


def test_the_lock_dies_with_a_killed_holder(make_store):
    store = make_store()
    store.load()  # the table exists before the child races for it
    ready = fork().Queue()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork() in a process with threads (3.12+)
        child = fork().Process(target=_hold_lock, args=(ready,))
        child.start()
    try:
        assert ready.get(timeout=20) is True
        assert store.try_lock() is None
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.join(10)
    held = None
    for _ in range(50):  # the server notices the closed connection at once; allow it a moment
        held = store.try_lock()
        if held is not None:
            break
        multiprocessing.Event().wait(0.1)
    assert held is not None
    held.release()


def _first_use(barrier, results) -> None:
    try:
        store = SqlTokenStore("tokens_db", conn_id="cc_main")
        barrier.wait(timeout=20)
        store.load()
        results.put("ok")
    except BaseException as err:
        results.put(f"{type(err).__name__}: {err}")


def test_concurrent_first_use_creates_the_table_once(make_store):
    processes = 8
    ctx = fork()
    barrier, results = ctx.Barrier(processes), ctx.Queue()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        workers = [ctx.Process(target=_first_use, args=(barrier, results)) for _ in range(processes)]
        for worker in workers:
            worker.start()
    outcomes = [results.get(timeout=30) for _ in workers]
    for worker in workers:
        worker.join(10)
    assert outcomes == ["ok"] * processes
    assert make_store().save(RECORD, None) is True


def test_refused_login_names_the_connection_never_the_password(postgres: PostgresServer, monkeypatch):  # noqa: F811
    conn = json.loads(postgres.airflow_conn)
    conn["password"] = "db-password-DO-NOT-LEAK"
    monkeypatch.setenv(DB_ENV, json.dumps(conn))
    store = SqlTokenStore("tokens_db", conn_id="cc_main")
    for operation in (store.load, store.try_lock, lambda: store.save(RECORD, None)):
        with pytest.raises(
            ConstantContactAuthError, match="token store table constant_contact_tokens .*tokens_db"
        ) as err:
            operation()
        assert "DO-NOT-LEAK" not in str(err.value)
