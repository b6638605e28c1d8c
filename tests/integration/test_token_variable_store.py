"""
The default token store, an Airflow Variable, against a real metadata database and a rotating sandbox.

Outside tasks the store goes through the metadata database (inside tasks and triggers, through the Task
SDK: the secrets test runs the example DAG on it). Its lock is a best-effort lease (no transactions on
Variables); here eight refreshers race in threads, each with its own token slot as if it were a process.
"""

from __future__ import annotations

import json
import threading
import time

import pytest

from cc_provider.credential_stores import TokenRecord, VariableTokenStore
from cc_provider.exceptions import ConstantContactAuthError
from cc_provider.hooks._connection import Exchange
from cc_provider.hooks._http import run_sync
from cc_provider.hooks._oauth import TokenKeeper
from cc_provider.hooks._retry import RetryPolicy, TokenSlot, reset_process_state
from cc_provider.hooks.constant_contact import ConstantContactHook
from cc_sandbox.config import SandboxConfig
from cc_sandbox.server import SandboxServer, airflow_connection
from cc_sandbox.testing import FAST_CONFIG, reset_sandbox, sandbox_stats

RECORD = TokenRecord("refresh-1", "access-1", time.time() + 3600, time.time(), "client")


@pytest.fixture(scope="module")
def airflow_db():
    from airflow.utils.db import resetdb

    resetdb()


@pytest.fixture
def store(airflow_db, request) -> VariableTokenStore:
    conn_id = f"var_{request.node.name}"[:200]
    yield VariableTokenStore(conn_id, settle_seconds=0.4, race_wait_seconds=2.0)
    from airflow.models.variable import Variable

    Variable.delete(f"constant_contact_token__{conn_id}")
    Variable.delete(f"constant_contact_token__{conn_id}__lease")


def raw_variable(key: str):
    from airflow.models.variable import Variable

    return Variable.get(key, default_var=None)


class TestVariableStore:
    def test_round_trip_as_json_with_a_description(self, store):
        assert store.load() is None
        held = store.try_lock()
        assert held is not None
        assert store.save(RECORD, None) is True
        held.release()
        assert store.load() == RECORD
        assert json.loads(raw_variable(store.key))["refresh_token"] == "refresh-1"
        from airflow.models.variable import Variable
        from airflow.utils.session import create_session

        with create_session() as session:
            description = session.query(Variable.description).filter(Variable.key == store.key).scalar()
        assert "Do not edit" in description

    def test_compare_and_swap(self, store):
        store.save(RECORD, None)
        newer = TokenRecord("refresh-2", "access-2", RECORD.expires_at, RECORD.obtained_at, "client")
        assert store.save(newer, "someone-else") is False
        assert store.load() == RECORD
        assert store.save(newer, "refresh-1") is True
        assert store.load() == newer

    def test_the_lease_excludes_others_until_released_or_expired(self, store):
        other = VariableTokenStore(store.conn_id, settle_seconds=0.4, lease_seconds=1.5)
        held = store.try_lock()
        assert held is not None
        assert other.try_lock() is None
        held.release()
        again = other.try_lock()
        assert again is not None  # released
        time.sleep(1.6)  # never released: the lease lapses
        assert store.try_lock() is not None

    def test_racing_leases_never_elect_two_holders(self, store):
        # Contenders whose write was slow give up, so on a loaded machine nobody may win; never two.
        barrier = threading.Barrier(6)
        won = []

        def contender():
            mine = VariableTokenStore(store.conn_id, settle_seconds=0.3)
            barrier.wait()
            if mine.try_lock() is not None:
                won.append(1)

        threads = [threading.Thread(target=contender) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(won) <= 1
        assert json.loads(raw_variable(store.lease_key))["holder"]  # every contender found it free and wrote

    def test_a_shadowing_environment_variable_is_reported(self, store, monkeypatch):
        monkeypatch.setenv(f"AIRFLOW_VAR_{store.key.upper()}", RECORD.to_json())
        newer = TokenRecord("refresh-2", "access-2", RECORD.expires_at, RECORD.obtained_at, "client")
        with pytest.raises(ConstantContactAuthError, match="hides the metadata database") as info:
            store.save(newer, "refresh-1")
        assert "refresh-2" not in str(info.value)

    def test_an_unusable_value_names_the_variable(self, store):
        from airflow.models.variable import Variable

        Variable.set(store.key, "not json")
        with pytest.raises(ConstantContactAuthError, match=f"Airflow Variable {store.key} does not hold"):
            store.load()


@pytest.fixture(scope="module")
def rotating_sandbox():
    config = SandboxConfig(**{**FAST_CONFIG, "token_rate_limit_per_second": 1.0, "refresh_token_mode": "rotating"})
    with SandboxServer(config) as server:
        yield server


def test_eight_refreshers_rotate_once_through_a_variable(rotating_sandbox, store, monkeypatch):
    reset_sandbox(rotating_sandbox)
    reset_process_state()
    conn = airflow_connection(rotating_sandbox)
    conn["extra"]["token_type"] = "rotating"
    monkeypatch.setenv("AIRFLOW_CONN_CC_VARIABLE_RACE", json.dumps(conn))
    settings = ConstantContactHook.settings_from_connection(ConstantContactHook.get_connection("cc_variable_race"))
    barrier = threading.Barrier(8)
    outcomes: list[str] = []

    def refresher():
        # each thread stands for a process: its own slot, its own store object, the same Variable
        # (a lease that lapses in 5 s: should every write be slow enough to make its contender give up)
        mine = VariableTokenStore(store.conn_id, settle_seconds=0.6, lease_seconds=5, race_wait_seconds=3.0)
        policy = RetryPolicy(max_retries=2, backoff_base=0.05)
        tokens = TokenKeeper(settings, policy, store=mine, slot=TokenSlot(), lock_timeout=20)
        exchange = Exchange(settings, tokens, policy)
        import requests

        with requests.Session() as session:
            barrier.wait()
            try:
                run_sync(exchange.call(exchange.request("GET", "/contact_lists")), session, 10)
                outcomes.append("ok")
            except Exception as err:
                outcomes.append(f"{type(err).__name__}: {err}")

    threads = [threading.Thread(target=refresher) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert outcomes == ["ok"] * 8
    stats = sandbox_stats(rotating_sandbox)
    assert stats["refreshes"] == 1
    assert stats["requests"]["POST /oauth2/default/v1/token"] == 1
    record = store.load()
    assert rotating_sandbox.state.refresh_token_owner(record.refresh_token) == rotating_sandbox.config.client_id
