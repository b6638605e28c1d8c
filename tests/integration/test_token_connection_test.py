"""
Test Connection, as the UI and the REST API run it: on a copy of the connection under a random id.

``POST /api/v2/connections/test`` builds an ``airflow.models.Connection`` with the submitted fields and a
random ``conn_id`` (``get_random_string()``), exports it as ``AIRFLOW_CONN_<ID>`` and calls its
``test_connection()``, which builds the hook and calls ``hook.test_connection()``. :func:`endpoint_test`
does exactly that, here in the test's process with a migrated metadata database (the API server's
context: Variables through the database). The answer must be true, no Variable may appear, and a live
rotating refresh token must still work afterwards.
"""

from __future__ import annotations

import json
import os
import time

import pytest
from sqlalchemy import select

from cc_provider.credential_stores import MemoryTokenStore, StoreLock, TokenRecord, TokenStore, VariableTokenStore
from cc_provider.hooks._retry import reset_process_state
from cc_provider.hooks.constant_contact import ConstantContactHook
from cc_sandbox.config import SandboxConfig
from cc_sandbox.server import SandboxServer, airflow_connection
from cc_sandbox.testing import FAST_CONFIG, expire_tokens, reset_sandbox, sandbox_stats

CONN_ID = "cc_live"
CONN_ENV = "AIRFLOW_CONN_CC_LIVE"
TOKEN_ROUTE = "POST /oauth2/default/v1/token"
# The API server's own code path warns so (Connection.get_hook); the warning is no concern of the hook's.
pytestmark = pytest.mark.filterwarnings("ignore:ProvidersManager.hooks is deprecated")


@pytest.fixture(scope="module")
def airflow_db():
    from airflow.utils.db import resetdb

    resetdb()


@pytest.fixture(scope="module")
def rotating_sandbox():
    with SandboxServer(SandboxConfig(**FAST_CONFIG, refresh_token_mode="rotating")) as server:
        yield server


def variable_keys() -> set[str]:
    from airflow.models.variable import Variable
    from airflow.utils.session import create_session

    with create_session() as session:
        return set(session.scalars(select(Variable.key)))


@pytest.fixture
def clean_variables(airflow_db):
    from airflow.models.variable import Variable

    for key in variable_keys():
        Variable.delete(key)
    reset_process_state()
    yield
    reset_process_state()


def endpoint_test(fields: dict) -> tuple[bool, str]:
    """What ``POST /api/v2/connections/test`` does with a connection's fields (Airflow 3.3)."""
    from airflow.models.connection import Connection
    from airflow.utils.strings import get_random_string

    transient_conn_id = get_random_string()
    conn = Connection(
        conn_id=transient_conn_id,
        conn_type=fields["conn_type"],
        login=fields["login"],
        password=fields["password"],
        extra=json.dumps(fields["extra"]),
    )
    env = f"AIRFLOW_CONN_{transient_conn_id.upper()}"
    os.environ[env] = conn.get_uri()
    try:
        return conn.test_connection()
    finally:
        os.environ.pop(env, None)


@pytest.fixture
def rotating(rotating_sandbox, clean_variables, monkeypatch) -> dict:
    """A rotating connection on the default store (an Airflow Variable), not used yet."""
    reset_sandbox(rotating_sandbox)
    conn = airflow_connection(rotating_sandbox)
    conn["extra"]["refresh_mode"] = "rotating"
    monkeypatch.setenv(CONN_ENV, json.dumps(conn))
    return conn


def a_worker_uses(conn_id: str = CONN_ID) -> None:
    """A task elsewhere: a process of its own, whose access token the server no longer accepts."""
    reset_process_state()
    ConstantContactHook(conn_id, max_retries=1, backoff_base=0.01).call_json("GET", "/contact_lists")


def live_record(server: SandboxServer) -> TokenRecord:
    record = VariableTokenStore(CONN_ID).load()
    assert record is not None
    assert server.state.refresh_token_owner(record.refresh_token) == server.config.client_id  # not revoked
    return record


class TestRotating:
    def test_live_tokens_are_found_and_rotated_where_the_workers_look(self, rotating_sandbox, rotating):
        a_worker_uses()  # the seed is spent: the live refresh token is in constant_contact_token__cc_live
        before, keys = live_record(rotating_sandbox), variable_keys()
        requests = sandbox_stats(rotating_sandbox)["requests"][TOKEN_ROUTE]

        ok, message = endpoint_test(rotating)
        assert (ok, message.split(":")[0]) == (True, "Connected to Constant Contact"), message
        assert variable_keys() == keys  # no stray Variable under the random id
        assert sandbox_stats(rotating_sandbox)["requests"][TOKEN_ROUTE] == requests + 1  # the refresh token, used
        after = live_record(rotating_sandbox)
        assert after.refresh_token != before.refresh_token  # rotated, and the successor saved in the live store

        expire_tokens(rotating_sandbox)
        a_worker_uses()  # the live refresh token still works
        assert live_record(rotating_sandbox).refresh_token != after.refresh_token

    def test_a_wrong_client_secret_is_a_false_answer_that_spends_nothing(self, rotating_sandbox, rotating):
        a_worker_uses()
        before, keys = live_record(rotating_sandbox), variable_keys()
        ok, message = endpoint_test({**rotating, "password": "not-the-secret"})
        assert ok is False and "refused the client credentials" in message
        assert variable_keys() == keys and live_record(rotating_sandbox) == before
        expire_tokens(rotating_sandbox)
        a_worker_uses()

    def test_a_connection_never_used_is_not_spent(self, rotating_sandbox, rotating):
        ok, message = endpoint_test(rotating)
        assert ok is False
        assert "No Airflow Variable holds Constant Contact tokens of client ID" in message
        assert "python -m cc_provider.auth status --conn-id <connection id> --refresh" in message
        assert variable_keys() == set()
        assert sandbox_stats(rotating_sandbox)["requests"].get(TOKEN_ROUTE, 0) == 0
        a_worker_uses()  # the seed still works: the first task seeds the store
        live_record(rotating_sandbox)

    def test_two_connections_of_one_app_cannot_be_told_apart(self, rotating_sandbox, rotating, monkeypatch):
        a_worker_uses()
        other = VariableTokenStore("cc_other_account")
        now = time.time()
        other.save(TokenRecord("other-refresh", "other-access", now + 3600, now, rotating["login"]), None)
        keys, before = variable_keys(), live_record(rotating_sandbox)
        ok, message = endpoint_test(rotating)
        assert ok is False and "2 Airflow Variables hold tokens of client ID" in message
        assert variable_keys() == keys and live_record(rotating_sandbox) == before

    def test_the_connection_itself_tested_by_its_own_id(self, rotating_sandbox, rotating):
        a_worker_uses()
        keys = variable_keys()
        assert ConstantContactHook(CONN_ID).test_connection()[0] is True  # `airflow connections test cc_live`
        assert variable_keys() == keys
        expire_tokens(rotating_sandbox)
        a_worker_uses()


class PerConnectionStore(TokenStore):
    """A class store keyed by the connection id, as a user's own may be (``Class(conn_id=...)``)."""

    stores: dict[str, MemoryTokenStore] = {}

    def __init__(self, conn_id: str) -> None:
        self.conn_id = conn_id
        self.inner = self.stores.setdefault(conn_id, MemoryTokenStore())

    @property
    def description(self) -> str:
        return f"the store of {self.conn_id}"

    def load(self) -> TokenRecord | None:
        return self.inner.load()

    def try_lock(self) -> StoreLock | None:
        return self.inner.try_lock()

    def save(self, record: TokenRecord, expected_refresh_token: str | None) -> bool:
        return self.inner.save(record, expected_refresh_token)


def test_a_class_store_of_the_temporary_id_is_not_trusted(rotating_sandbox, rotating, monkeypatch):
    rotating["extra"]["credential_store"] = f"{__name__}.PerConnectionStore"
    monkeypatch.setenv(CONN_ENV, json.dumps(rotating))
    PerConnectionStore.stores.clear()
    a_worker_uses()
    live = PerConnectionStore.stores[CONN_ID].record
    ok, message = endpoint_test(rotating)
    assert ok is False and "holds no tokens for this connection" in message
    assert [conn_id for conn_id, store in PerConnectionStore.stores.items() if store.record] == [CONN_ID]
    assert PerConnectionStore.stores[CONN_ID].record == live
    expire_tokens(rotating_sandbox)
    a_worker_uses()  # the live refresh token still works


class TestLongLived:
    def test_a_long_lived_connection_is_tested_with_its_own_refresh_token(
        self, cc_sandbox, cc_connection, clean_variables
    ):
        ok, message = endpoint_test(cc_connection)
        assert ok is True, message
        assert variable_keys() == set()  # nothing written, under the random id or any other
        assert sandbox_stats(cc_sandbox)["refreshes"] == 1

    def test_tokens_saved_by_a_login_are_found_by_the_client_id(self, cc_sandbox, cc_connection, clean_variables):
        """`python -m cc_provider.auth login` saved the refresh token to the store; the connection has none."""
        store = VariableTokenStore("constant_contact_default")
        refresh_token = cc_connection["extra"].pop("refresh_token")
        store.save(TokenRecord(refresh_token, None, 0.0, time.time(), cc_connection["login"]), None)
        ok, message = endpoint_test(cc_connection)
        assert ok is True, message
        assert variable_keys() == {store.key, f"{store.key}__lease"}  # the live store's lock, nothing else
        assert store.load().access_token  # and the new access token is shared with the workers

    def test_a_refused_refresh_token_is_a_false_answer(self, cc_sandbox, cc_connection, clean_variables):
        ok, message = endpoint_test({**cc_connection, "extra": {**cc_connection["extra"], "refresh_token": "nope"}})
        assert ok is False and "invalid_grant" in message
        assert variable_keys() == set()
