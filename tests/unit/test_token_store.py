"""Unit tests for cc_provider.credential_stores: records, the file store, building a store from the extra."""

from __future__ import annotations

import json
import multiprocessing
import os
import stat
import time
import warnings

import pytest

from cc_provider.credential_stores import (
    FileTokenStore,
    MemoryTokenStore,
    TokenRecord,
    VariableTokenStore,
    store_from_spec,
)
from cc_provider.credential_stores import file as file_store_module
from cc_provider.exceptions import ConstantContactAuthError

RECORD = TokenRecord("refresh-DO-NOT-LEAK", "access-DO-NOT-LEAK", 2_000_000_000.0, 1_999_990_000.0, "client")


def fork_context():
    return multiprocessing.get_context("fork")


def run_in_child(target, *args) -> int:
    """Run ``target(*args)`` in a forked process and return its exit code."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork() in a process with threads (3.12+)
        process = fork_context().Process(target=target, args=args)
        process.start()
    process.join(10)
    return process.exitcode


class TestTokenRecord:
    def test_json_round_trip(self):
        assert TokenRecord.from_json(RECORD.to_json(), "here") == RECORD

    def test_repr_hides_the_tokens(self):
        assert "DO-NOT-LEAK" not in repr(RECORD)
        assert "client" in repr(RECORD)

    def test_minimal_record(self):
        record = TokenRecord.from_json('{"refresh_token": "r"}', "here")
        assert record == TokenRecord("r")

    @pytest.mark.parametrize("text", ["", "not json", "[]", '{"access_token": "a"}', '{"refresh_token": ""}'])
    def test_unusable_records_name_the_store(self, text):
        with pytest.raises(ConstantContactAuthError, match="The token store file /x does not hold"):
            TokenRecord.from_json(text, "file /x")


class TestFileTokenStore:
    def test_empty_then_saved(self, tmp_path):
        store = FileTokenStore(tmp_path / "sub" / "cc.json")
        assert store.load() is None
        lock = store.try_lock()
        assert store.save(RECORD, None) is True
        lock.release()
        assert store.load() == RECORD
        assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o600
        assert sorted(p.name for p in store.path.parent.iterdir()) == ["cc.json", "cc.json.lock"]

    def test_compare_and_swap(self, tmp_path):
        store = FileTokenStore(tmp_path / "cc.json")
        store.save(RECORD, None)
        newer = TokenRecord("r2", "a2", 1.0, 0.0, "client")
        assert store.save(newer, "not-the-stored-one") is False
        assert store.save(newer, None) is False
        assert store.load() == RECORD
        assert store.save(newer, RECORD.refresh_token) is True
        assert store.load() == newer

    def test_a_failed_write_keeps_the_old_record_and_leaves_no_temporary_file(self, tmp_path, monkeypatch):
        store = FileTokenStore(tmp_path / "cc.json")
        store.save(RECORD, None)

        def fail(*args):
            raise OSError("disk full")

        monkeypatch.setattr(file_store_module.os, "replace", fail)
        with pytest.raises(OSError, match="disk full"):
            store.save(TokenRecord("r2"), RECORD.refresh_token)
        assert store.load() == RECORD
        assert [p.name for p in tmp_path.iterdir()] == ["cc.json"]

    def test_a_corrupt_file_is_an_auth_error_without_its_content(self, tmp_path):
        path = tmp_path / "cc.json"
        path.write_text('{"refresh_token": "half-written-DO-NOT-LEAK"')
        with pytest.raises(ConstantContactAuthError) as info:
            FileTokenStore(path).load()
        assert str(path) in str(info.value)
        assert "DO-NOT-LEAK" not in str(info.value)

    def test_the_lock_excludes_a_second_holder_in_the_same_process(self, tmp_path):
        one, two = FileTokenStore(tmp_path / "cc.json"), FileTokenStore(tmp_path / "cc.json")
        held = one.try_lock()
        assert held is not None
        assert two.try_lock() is None
        held.release()
        held.release()  # twice is harmless
        again = two.try_lock()
        assert again is not None
        again.release()

    def test_a_dropped_lock_is_released(self, tmp_path):
        store = FileTokenStore(tmp_path / "cc.json")
        held = store.try_lock()
        del held  # e.g. taken in a worker thread for a trigger that was cancelled meanwhile
        again = store.try_lock()
        assert again is not None
        again.release()

    def test_the_lock_excludes_another_process(self, tmp_path):
        store = FileTokenStore(tmp_path / "cc.json")
        held = store.try_lock()

        def child(path):
            os._exit(0 if FileTokenStore(path).try_lock() is None else 1)

        assert run_in_child(child, store.path) == 0
        held.release()

    def test_the_lock_dies_with_its_holder(self, tmp_path):
        store = FileTokenStore(tmp_path / "cc.json")

        def child(path):
            FileTokenStore(path).try_lock()
            os._exit(0)  # never released

        assert run_in_child(child, store.path) == 0
        held = store.try_lock()
        assert held is not None
        held.release()

    def test_expands_the_home_directory(self, tmp_path, monkeypatch):
        monkeypatch.setenv("HOME", str(tmp_path))
        assert FileTokenStore("~/cc.json").path == tmp_path / "cc.json"


class TestMemoryTokenStore:
    def test_lock_and_compare_and_swap(self):
        store = MemoryTokenStore()
        held = store.try_lock()
        assert store.try_lock() is None
        assert store.save(RECORD, None) and not store.save(RECORD, None)
        held.release()
        assert store.try_lock() is not None
        assert store.saves == 1


class CustomStore(MemoryTokenStore):
    def __init__(self, conn_id: str) -> None:
        super().__init__()
        self.conn_id = conn_id


class NotAStore:
    def __init__(self, conn_id: str) -> None:
        pass


class TestStoreFromSpec:
    @pytest.mark.parametrize("spec", [None, "", "variable", " variable "])
    def test_variable_is_the_default(self, spec):
        store = store_from_spec(spec, "my_conn")
        assert isinstance(store, VariableTokenStore)
        assert store.key == "constant_contact_token__my_conn"
        assert store.description == "Airflow Variable constant_contact_token__my_conn"
        assert store.exclusive is False and store.race_wait_seconds > 0

    def test_file(self, tmp_path):
        store = store_from_spec(f"file:{tmp_path}/cc.json", "my_conn")
        assert isinstance(store, FileTokenStore)
        assert store.path == tmp_path / "cc.json"
        assert store.exclusive is True

    def test_dotted_class_path(self):
        store = store_from_spec(f"{__name__}.CustomStore", "my_conn")
        assert isinstance(store, CustomStore) and store.conn_id == "my_conn"

    def test_the_class_paths_the_stores_had_before_they_moved_still_work(self):
        store = store_from_spec("cc_provider.hooks.variable_store.VariableTokenStore", "my_conn")
        assert isinstance(store, VariableTokenStore) and store.key == "constant_contact_token__my_conn"

    @pytest.mark.parametrize(
        ("spec", "message"),
        [
            ("file:", "needs a path"),
            ("redis", "must be 'variable', 'file:PATH' or a dotted class path"),
            ("no.such.module.Store", "cannot import"),
            (f"{__name__}.Missing", "cannot import"),
            (f"{__name__}.NotAStore", "not a TokenStore subclass"),
        ],
    )
    def test_bad_specs(self, spec, message):
        with pytest.raises(ValueError, match=message):
            store_from_spec(spec, "my_conn")

    def test_building_a_store_does_no_io(self, tmp_path):
        store_from_spec(f"file:{tmp_path}/deep/dir/cc.json", "c")
        assert list(tmp_path.iterdir()) == []


def test_peek_never_raises():
    class Broken(MemoryTokenStore):
        def load(self):
            raise OSError("unreachable")

    assert Broken().peek() is None


def test_the_variable_store_is_not_read_by_long_lived_tokens_outside_tasks():
    assert VariableTokenStore("c").peek() is None


class DictVariables(VariableTokenStore):
    """The Variable store over a dict, so a test can hold one contender's write while another runs."""

    def __init__(self, values: dict[str, str], **kwargs) -> None:
        super().__init__("race", use_here=True, **kwargs)
        self.values = values
        self.before_write = lambda: None

    def _get(self, key: str) -> str | None:
        return self.values.get(key)

    def _set(self, key: str, value: str, description: str) -> None:
        self.before_write()
        self.values[key] = value


class TestVariableLease:
    def test_a_lone_contender_takes_the_lease_and_gives_it_back(self):
        values: dict[str, str] = {}
        store = DictVariables(values, settle_seconds=0.02)
        held = store.try_lock()
        assert held is not None
        assert DictVariables(values, settle_seconds=0.02).try_lock() is None
        held.release()
        assert DictVariables(values, settle_seconds=0.02).try_lock() is not None

    def test_a_write_that_lands_after_the_winner_read_back_does_not_win_too(self):
        import threading

        values: dict[str, str] = {}
        slow = DictVariables(values, settle_seconds=0.1)
        fast = DictVariables(values, settle_seconds=0.1)
        read_free, go = threading.Event(), threading.Event()

        def stall() -> None:  # the slow contender has read the lease as free; its write stalls
            read_free.set()
            go.wait(5)

        slow.before_write = stall
        results = []
        contender = threading.Thread(target=lambda: results.append(slow.try_lock()))
        contender.start()
        assert read_free.wait(5)
        winner = fast.try_lock()  # reads free too, writes, settles, reads its own id back
        go.set()  # now the stalled write lands, over the winner's lease
        contender.join(5)
        assert winner is not None
        assert results == [None]
        assert json.loads(values[slow.lease_key])["holder"] is not None  # the late write is there...
        assert DictVariables(values, settle_seconds=0.02).try_lock() is None  # ...and keeps others out
        winner.release()  # the winner clears the late claim over its lease
        assert DictVariables(values, settle_seconds=0.02).try_lock() is not None

    def test_a_lone_contender_whose_write_was_slow_gives_up_and_says_so(self, caplog):
        values: dict[str, str] = {}
        slow = DictVariables(values, settle_seconds=0.05)
        slow.before_write = lambda: time.sleep(0.08)
        with caplog.at_level("WARNING", logger="cc_provider.credential_stores.variable"):
            assert slow.try_lock() is None
        assert "took 0.1 s, more than its settle time (0.1 s): giving up" in caplog.text
        assert "lapses in 60 s" in caplog.text

    def test_a_write_within_the_settle_time_holds(self):
        values: dict[str, str] = {}
        store = DictVariables(values, settle_seconds=0.2)
        store.before_write = lambda: time.sleep(0.15)  # more than half the settle time, less than all of it
        assert store.try_lock() is not None

    def test_a_release_after_the_lease_lapsed_leaves_the_next_holder_alone(self):
        values: dict[str, str] = {}
        first = DictVariables(values, settle_seconds=0.02, lease_seconds=0.05)
        held = first.try_lock()
        assert held is not None
        time.sleep(0.1)  # the first holder overran its lease: a second contender takes it
        second = DictVariables(values, settle_seconds=0.02, lease_seconds=60)
        assert second.try_lock() is not None
        held.release()
        assert DictVariables(values, settle_seconds=0.02).try_lock() is None  # still the second one's
