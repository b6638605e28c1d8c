"""Unit tests for the ``sql:<conn_id>`` token store, on a real SQLite database in ``tmp_path``."""

from __future__ import annotations

import gc
import json
import logging
import sqlite3
import threading

import pytest

from cc_provider.credential_stores import SqlTokenStore, TokenRecord, store_from_spec
from cc_provider.credential_stores.sql import TABLE
from cc_provider.exceptions import ConstantContactAuthError
from tests.unit.test_token_store import run_in_child

RECORD = TokenRecord("refresh-DO-NOT-LEAK", "access-DO-NOT-LEAK", 2_000_000_000.0, 1_999_990_000.0, "client")
NEXT = TokenRecord("refresh-NEXT-SECRET", "access-NEXT-SECRET", 2_000_003_600.0, 1_999_993_600.0, "client")
SECRETS = ("refresh-DO-NOT-LEAK", "access-DO-NOT-LEAK", "refresh-NEXT-SECRET", "access-NEXT-SECRET")


@pytest.fixture
def db_path(tmp_path, monkeypatch):
    path = tmp_path / "tokens.db"
    monkeypatch.setenv("AIRFLOW_CONN_TOKENS_DB", json.dumps({"conn_type": "sqlite", "host": str(path)}))
    return path


@pytest.fixture
def store(db_path) -> SqlTokenStore:
    return SqlTokenStore("tokens_db", conn_id="cc_main")


def rows(path) -> list[tuple]:
    with sqlite3.connect(path) as conn:
        return conn.execute(f"SELECT conn_id, record, refresh_token_sha256 FROM {TABLE} ORDER BY conn_id").fetchall()


def assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


class TestReadAndWrite:
    def test_empty_store_loads_none_and_creates_the_table(self, store, db_path):
        assert store.load() is None
        assert rows(db_path) == []

    def test_save_then_load_round_trip(self, store, db_path):
        assert store.save(RECORD, None) is True
        assert store.load() == RECORD
        assert SqlTokenStore("tokens_db", conn_id="cc_main").load() == RECORD  # another instance sees it
        ((conn_id, record, fingerprint),) = rows(db_path)
        assert conn_id == "cc_main" and TokenRecord.from_json(record, "row") == RECORD
        assert "DO-NOT-LEAK" not in fingerprint  # a digest, not the token

    def test_rows_are_per_connection(self, store, db_path):
        other = SqlTokenStore("tokens_db", conn_id="cc_other")
        assert store.save(RECORD, None) and other.save(NEXT, None)
        assert store.load() == RECORD and other.load() == NEXT
        assert [row[0] for row in rows(db_path)] == ["cc_main", "cc_other"]

    def test_swap_with_the_expected_refresh_token(self, store):
        store.save(RECORD, None)
        assert store.save(NEXT, RECORD.refresh_token) is True
        assert store.load() == NEXT

    def test_swap_refused_when_the_stored_token_is_another(self, store):
        store.save(RECORD, None)
        assert store.save(NEXT, "refresh-someone-else") is False
        assert store.load() == RECORD

    def test_insert_refused_when_a_record_exists(self, store):
        store.save(RECORD, None)
        assert store.save(NEXT, None) is False
        assert store.load() == RECORD

    def test_swap_refused_when_the_store_is_empty(self, store):
        assert store.save(NEXT, RECORD.refresh_token) is False
        assert store.load() is None

    def test_an_existing_table_is_used_as_is(self, store, db_path):
        store.save(RECORD, None)
        again = SqlTokenStore("tokens_db", conn_id="cc_main")
        assert again.load() == RECORD  # table found, not re-created
        assert again.save(NEXT, RECORD.refresh_token)

    def test_a_corrupt_row_is_a_clear_error(self, store, db_path):
        store.save(RECORD, None)
        with sqlite3.connect(db_path) as conn:
            conn.execute(f"UPDATE {TABLE} SET record = 'not json'")
        with pytest.raises(ConstantContactAuthError, match="table constant_contact_tokens .* tokens_db"):
            store.load()


class TestLock:
    def test_second_store_is_excluded_while_held_and_free_after_release(self, store):
        held = store.try_lock()
        assert held is not None
        assert SqlTokenStore("tokens_db", conn_id="cc_main").try_lock() is None
        assert store.try_lock() is None  # a second connection of the same store, too
        held.release()
        held.release()  # idempotent
        again = SqlTokenStore("tokens_db", conn_id="cc_main").try_lock()
        assert again is not None
        again.release()

    def test_another_process_is_excluded_while_held(self, store):
        def child() -> None:
            lock = SqlTokenStore("tokens_db", conn_id="cc_main").try_lock()
            raise SystemExit(0 if lock is None else 3)

        held = store.try_lock()
        assert run_in_child(child) == 0
        held.release()

    def test_the_holder_saves_while_others_read(self, store):
        store.save(RECORD, None)
        reader = SqlTokenStore("tokens_db", conn_id="cc_main")
        held = store.try_lock()
        assert reader.load() == RECORD  # readers are not blocked by the lock
        assert store.load() == RECORD  # nor is the holder's own re-read
        assert store.save(NEXT, RECORD.refresh_token) is True  # no deadlock with the lock's transaction
        assert reader.load() == NEXT  # committed: visible before release
        held.release()
        assert reader.load() == NEXT

    def test_a_refused_swap_keeps_the_lock(self, store):
        store.save(RECORD, None)
        held = store.try_lock()
        assert store.save(NEXT, "refresh-someone-else") is False
        assert SqlTokenStore("tokens_db", conn_id="cc_main").try_lock() is None
        held.release()
        assert store.load() == RECORD

    def test_release_without_save_writes_nothing(self, store):
        store.save(RECORD, None)
        held = store.try_lock()
        held.release()
        assert store.load() == RECORD

    def test_lock_save_and_release_from_different_threads(self, store):
        """The triggerer runs each blocking step in a worker thread of its own choosing."""
        outcome: dict[str, object] = {}

        def step(name, func, *args):
            thread = threading.Thread(target=lambda: outcome.__setitem__(name, func(*args)))
            thread.start()
            thread.join(10)

        step("lock", store.try_lock)
        assert outcome["lock"] is not None
        step("saved", store.save, RECORD, None)
        step("released", outcome["lock"].release)
        assert outcome["saved"] is True
        assert store.load() == RECORD
        assert SqlTokenStore("tokens_db", conn_id="cc_main").try_lock() is not None

    def test_a_dropped_lock_is_released(self, store):
        held = store.try_lock()
        assert held is not None
        del held
        gc.collect()
        again = SqlTokenStore("tokens_db", conn_id="cc_main").try_lock()
        assert again is not None
        again.release()


class TestSpecAndErrors:
    def test_store_from_spec_builds_it_without_io(self, monkeypatch):
        monkeypatch.delenv("AIRFLOW_CONN_MY_DB", raising=False)
        store = store_from_spec(" sql:my_db ", "cc_main")
        assert isinstance(store, SqlTokenStore)
        assert (store.sql_conn_id, store.conn_id, store.table) == ("my_db", "cc_main", TABLE)
        assert store.exclusive is True and store.race_wait_seconds == 0.0
        assert "my_db" in store.description and TABLE in store.description

    @pytest.mark.parametrize("spec", ["sql:", "sql:  "])
    def test_sql_without_a_connection_id(self, spec):
        with pytest.raises(ValueError, match="'cc_main': credential_store 'sql:' needs the id of a database"):
            store_from_spec(spec, "cc_main")

    def test_unknown_connection_is_named(self, monkeypatch):
        monkeypatch.delenv("AIRFLOW_CONN_NO_SUCH_DB", raising=False)
        store = SqlTokenStore("no_such_db", conn_id="cc_main")
        for operation in (store.load, store.try_lock, lambda: store.save(RECORD, None)):
            with pytest.raises(ConstantContactAuthError, match="no Airflow connection 'no_such_db'"):
                operation()

    def test_peek_of_an_unknown_connection_is_none_with_a_warning(self, monkeypatch, caplog):
        monkeypatch.delenv("AIRFLOW_CONN_NO_SUCH_DB", raising=False)
        with caplog.at_level(logging.WARNING):
            assert SqlTokenStore("no_such_db", conn_id="cc_main").peek() is None
        assert "no_such_db" in caplog.text

    def test_unsupported_connection_type(self, monkeypatch):
        monkeypatch.setenv("AIRFLOW_CONN_WEB", json.dumps({"conn_type": "http", "host": "example.com"}))
        with pytest.raises(ConstantContactAuthError, match="of type 'http'; the sql store supports postgres, sqlite"):
            SqlTokenStore("web", conn_id="cc_main").load()

    def test_unreadable_database_names_connection_and_table(self, tmp_path, monkeypatch):
        folder = tmp_path / "missing"  # SQLite cannot create a file in a folder that does not exist
        monkeypatch.setenv("AIRFLOW_CONN_GONE_DB", json.dumps({"conn_type": "sqlite", "host": str(folder / "t.db")}))
        store = SqlTokenStore("gone_db", conn_id="cc_main")
        with pytest.raises(ConstantContactAuthError, match=r"Could not read the token store table .*gone_db"):
            store.load()
        with pytest.raises(ConstantContactAuthError, match=r"Could not connect to the token store .*gone_db"):
            store.try_lock()

    def test_write_error_names_the_store_and_never_a_token(self, store, db_path, monkeypatch):
        store.save(RECORD, None)
        extra = {"mode": "ro"}
        monkeypatch.setenv(
            "AIRFLOW_CONN_TOKENS_RO", json.dumps({"conn_type": "sqlite", "host": str(db_path), "extra": extra})
        )
        read_only = SqlTokenStore("tokens_ro", conn_id="cc_main")
        assert read_only.load() == RECORD
        with pytest.raises(ConstantContactAuthError, match="Could not write the token store .*tokens_ro") as caught:
            read_only.save(NEXT, RECORD.refresh_token)
        assert_no_secret(str(caught.value))
        assert caught.value.__cause__ is None and caught.value.__suppress_context__
        assert store.load() == RECORD

    def test_no_secret_in_repr_or_description(self, store):
        store.save(RECORD, None)
        held = store.try_lock()
        assert_no_secret(repr(store) + store.description + repr(held) + repr(store.load()))
        held.release()
