"""Unit tests for cc_provider.hooks._budget: the ``rate_limiter`` extra and the shared budget, on a SQLite file."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading

import httpx
import pytest
from airflow.sdk import Connection

from cc_provider.exceptions import ConstantContactError
from cc_provider.hooks._budget import TABLE, SqlRequestBudget, budget_database, next_slot, shared_budget
from cc_provider.hooks._connection import api_pacer, settings_from_connection
from cc_provider.hooks._http import ApiSettings, Blocking, Sleep, run_async
from cc_provider.hooks._retry import RateLimiter, pace
from tests.flow_driver import T0, FakeClock

INTERVAL = 1.02 / 4  # 4 requests a second, 2% margin


@pytest.fixture
def db_path(tmp_path, monkeypatch):
    path = tmp_path / "budget.db"
    monkeypatch.setenv("AIRFLOW_CONN_BUDGET_DB", json.dumps({"conn_type": "sqlite", "host": str(path)}))
    return path


def budget(clock: FakeClock, client_id: str = "key-1") -> SqlRequestBudget:
    return SqlRequestBudget("budget_db", client_id=client_id, requests_per_second=4, conn_id="cc_main", clock=clock)


def stored(path) -> dict[str, float]:
    with sqlite3.connect(path) as conn:
        return dict(conn.execute(f"SELECT client_id, last_slot FROM {TABLE}").fetchall())


class TestNextSlot:
    def test_the_first_booking_is_now(self):
        assert next_slot(None, 100.0, 0.25) == 100.0

    def test_one_interval_after_the_last_slot(self):
        assert next_slot(100.0, 100.1, 0.25) == 100.25

    def test_a_slot_long_past_gives_now(self):
        assert next_slot(90.0, 100.0, 0.25) == 100.0


class TestSqlRequestBudget:
    def test_strict_pacing_from_one_row(self, db_path):
        clock = FakeClock()
        one = budget(clock)
        assert [one.reserve() for _ in range(4)] == pytest.approx([0, INTERVAL, 2 * INTERVAL, 3 * INTERVAL])
        assert stored(db_path) == {"key-1": pytest.approx(T0 + 3 * INTERVAL)}

    def test_every_instance_books_from_the_same_row(self, db_path):
        clock = FakeClock()
        first, second = budget(clock), budget(clock)  # as two processes would
        assert first.reserve() == 0
        assert second.reserve() == pytest.approx(INTERVAL)
        assert first.reserve() == pytest.approx(2 * INTERVAL)

    def test_an_idle_budget_sends_at_once(self, db_path):
        clock = FakeClock()
        one = budget(clock)
        one.reserve(), one.reserve()
        clock.now += 10
        assert one.reserve() == 0
        assert stored(db_path)["key-1"] == clock.now

    def test_client_ids_have_budgets_of_their_own(self, db_path):
        clock = FakeClock()
        assert budget(clock, "key-1").reserve() == 0
        assert budget(clock, "key-2").reserve() == 0
        assert set(stored(db_path)) == {"key-1", "key-2"}

    def test_concurrent_bookings_never_share_or_crowd_a_slot(self, db_path):
        clock = FakeClock()  # time stands still: 80 bookings must be 80 distinct slots, INTERVAL apart
        slots: list[float] = []
        lock = threading.Lock()

        def worker() -> None:
            own = budget(clock)
            for _ in range(10):
                at = clock.now + own.reserve()
                with lock:
                    slots.append(at)

        threads = [threading.Thread(target=worker) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(slots) == pytest.approx([T0 + k * INTERVAL for k in range(80)])

    def test_a_rate_of_zero_is_refused(self, db_path):
        with pytest.raises(ValueError, match="requests_per_second must be positive"):
            SqlRequestBudget("budget_db", client_id="key-1", requests_per_second=0)


class TestErrors:
    def test_a_missing_connection_names_the_extra_and_the_connection(self, monkeypatch):
        monkeypatch.delenv("AIRFLOW_CONN_NO_SUCH_DB", raising=False)
        missing = SqlRequestBudget("no_such_db", client_id="key-1", requests_per_second=4, conn_id="cc_main")
        with pytest.raises(
            ConstantContactError,
            match=r"Connection 'cc_main': extra rate_limiter 'sql:no_such_db': there is no Airflow connection",
        ):
            missing.reserve()

    def test_an_unsupported_connection_type(self, monkeypatch):
        monkeypatch.setenv("AIRFLOW_CONN_WEB", json.dumps({"conn_type": "http", "host": "example.com"}))
        web = SqlRequestBudget("web", client_id="key-1", requests_per_second=4, conn_id="cc_main")
        with pytest.raises(
            ConstantContactError, match="'sql:web': connection 'web' is of type 'http'; the sql rate limiter supports"
        ):
            web.reserve()

    def test_an_unusable_database_names_the_table(self, tmp_path, monkeypatch):
        folder = tmp_path / "missing"  # SQLite cannot create a file in a folder that does not exist
        monkeypatch.setenv("AIRFLOW_CONN_GONE_DB", json.dumps({"conn_type": "sqlite", "host": str(folder / "b.db")}))
        gone = SqlRequestBudget("gone_db", client_id="key-1", requests_per_second=4, conn_id="cc_main")
        with pytest.raises(
            ConstantContactError, match=f"'sql:gone_db': could not book a request slot in table {TABLE}"
        ):
            gone.reserve()


class TestTheExtra:
    @pytest.mark.parametrize("value", [None, "", "process", " process "])
    def test_process_pacing(self, value):
        assert budget_database(value, "cc_main") is None

    def test_a_sql_database(self):
        assert budget_database("sql:budget_db", "cc_main") == "budget_db"

    @pytest.mark.parametrize("value", ["sql:", "redis:cache", "processes", "sql"])
    def test_anything_else_is_refused(self, value):
        with pytest.raises(ValueError, match=r"Connection 'cc_main': extra 'rate_limiter' must be 'process'"):
            budget_database(value, "cc_main")

    def test_the_connection_is_checked_when_it_is_read(self):
        conn = Connection(conn_id="cc_main", conn_type="constant_contact", login="key-1", password="secret")
        assert settings_from_connection(conn).rate_limiter == "process"
        conn.extra = json.dumps({"rate_limiter": "memcached:x"})
        with pytest.raises(ValueError, match="extra 'rate_limiter'"):
            settings_from_connection(conn)

    def test_the_pacer_of_each_setting(self, db_path):
        settings = ApiSettings(client_id="key-pacer", client_secret="s", refresh_token=None, conn_id="cc_main")
        assert isinstance(api_pacer(settings), RateLimiter)
        shared = ApiSettings(**{**vars(settings), "rate_limiter": "sql:budget_db"})
        pacer = api_pacer(shared)
        assert isinstance(pacer, SqlRequestBudget)
        assert api_pacer(shared) is pacer  # one per process: the table is checked once
        assert pacer is shared_budget("budget_db", client_id="key-pacer", requests_per_second=4.0, conn_id="cc_main")
        assert api_pacer(ApiSettings(**{**vars(shared), "requests_per_second": 0})) is None


class TestPace:
    def test_a_shared_budget_is_booked_in_the_driver_then_slept(self, db_path):
        shared = budget(FakeClock())
        flow = pace(shared)
        action = next(flow)
        assert isinstance(action, Blocking) and action.func == shared.reserve
        assert flow.send(0.3) == Sleep(0.3)
        with pytest.raises(StopIteration):
            flow.send(None)

    def test_no_sleep_when_the_slot_is_now(self, db_path):
        flow = pace(budget(FakeClock()))
        next(flow)
        with pytest.raises(StopIteration):
            flow.send(0.0)

    def test_a_process_limiter_books_in_place(self):
        limiter = RateLimiter(1, margin=0.0, clock=FakeClock())
        assert list(pace(limiter)) == []
        assert list(pace(limiter)) == [Sleep(1.0)]

    def test_the_async_driver_books_off_the_event_loop(self, db_path):
        shared = budget(FakeClock())
        booked_in: list[int] = []
        reserve = shared.reserve

        def recording_reserve() -> float:
            booked_in.append(threading.get_ident())
            return reserve()

        shared.reserve = recording_reserve  # type: ignore[method-assign]

        async def drive() -> int:
            await run_async(pace(shared), httpx.AsyncClient(), timeout=1.0)
            return threading.get_ident()

        loop_thread = asyncio.run(drive())
        assert booked_in and booked_in[0] != loop_thread
        assert stored(db_path) == {"key-1": T0}
