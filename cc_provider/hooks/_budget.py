"""
The shared request budget: one send slot at a time per API key, for every process on every host.

The connection extra ``rate_limiter`` says how API requests are paced. ``process`` (the default) is this
process's :class:`~cc_provider.hooks._retry.RateLimiter`; ``sql:<database conn id>`` keeps one row per
client id in table ``constant_contact_request_budget`` of that PostgreSQL or SQLite database, and every
API request first books the next send slot there (token requests keep their process limiter): strictly
paced, ``(1 + margin) / requests_per_second`` seconds after the slot booked last, and never before now.
The slot is read and written in one transaction under the row's lock (``SELECT ... FOR UPDATE`` on
PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite) as a wall-clock epoch, so workers on several hosts share one
budget as long as their clocks agree (NTP). A booking is database I/O: flows yield it as a
:class:`~cc_provider.hooks._http.Blocking` action (see :func:`~cc_provider.hooks._retry.pace`), so the
triggerer runs it in a worker thread, never on its event loop.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any

from cc_provider.credential_stores.sql import SUPPORTED, SqlDatabase
from cc_provider.exceptions import ConstantContactError

TABLE = "constant_contact_request_budget"
#: The ``rate_limiter`` extra's default: pace in this process only.
PROCESS = "process"
#: Slots are ``(1 + MARGIN) / rate`` apart: 2% slack against clock and network jitter.
MARGIN = 0.02


def budget_database(value: Any, conn_id: str) -> str | None:
    """
    Read the extra ``rate_limiter``: ``None`` for ``process`` (or unset), else the conn id of ``sql:<conn id>``.

    :raises ValueError: for any other value, naming the connection and the extra.
    """
    spec = PROCESS if value in (None, "") else str(value).strip()
    if spec == PROCESS:
        return None
    kind, _, sql_conn_id = spec.partition(":")
    if kind == "sql" and sql_conn_id.strip():
        return sql_conn_id.strip()
    raise ValueError(
        f"Connection '{conn_id}': extra 'rate_limiter' must be '{PROCESS}' (pace each process on its own) or "
        f"'sql:<database conn id>' (one budget in a {' or '.join(SUPPORTED)} database), not {spec!r}."
    )


def next_slot(last_slot: float | None, now: float, interval: float) -> float:
    """The slot to book: ``interval`` after the last booked one, and not before ``now``."""
    return now if last_slot is None else max(now, last_slot + interval)


class SqlRequestBudget:
    """
    The send slots of one client id, booked in a row ``(client_id, last_slot)`` of a shared database.

    :meth:`reserve` books the next slot and returns the seconds to wait for it; it opens and closes one
    database connection (a short transaction) per call, so it is fork-safe and needs no clean-up. The
    table is created on first use if it is missing.

    :param sql_conn_id: the Airflow connection of the database (``postgres`` or ``sqlite``).
    :param client_id: the API key whose budget this is (the row's key).
    :param requests_per_second: the key's limit (4 for a standard key); must be positive.
    :param conn_id: the Constant Contact connection that names the database, for messages.
    :param margin: relative slack added to each interval.
    :param clock: wall clock (epoch seconds: slots are compared across hosts).
    :param table: the table's name (trusted configuration, not user input).
    """

    #: Booking is database I/O: :func:`~cc_provider.hooks._retry.pace` yields it as ``Blocking``.
    does_io = True

    def __init__(
        self,
        sql_conn_id: str,
        *,
        client_id: str,
        requests_per_second: float,
        conn_id: str = "",
        margin: float = MARGIN,
        clock: Callable[[], float] = time.time,
        table: str = TABLE,
    ) -> None:
        if requests_per_second <= 0:
            raise ValueError("requests_per_second must be positive for a shared request budget.")
        self.client_id = client_id
        self.interval = (1 + margin) / requests_per_second
        self.table = table
        self._clock = clock
        self._setting = f"Connection '{conn_id}': extra rate_limiter 'sql:{sql_conn_id}'"
        self._db = SqlDatabase(
            sql_conn_id, setting=self._setting, user="the sql rate limiter", error=ConstantContactError
        )
        self._ready = False

    def __repr__(self) -> str:
        return f"SqlRequestBudget({self._db.sql_conn_id!r}, client_id={self.client_id!r}, interval={self.interval:.3f})"

    def reserve(self) -> float:
        """Book the next send slot; return the seconds to wait before sending (0 when it is now)."""
        self._db.kind_and_hook()  # a ConstantContactError for a missing or unsupported connection
        conn = None
        try:
            conn = self._db.connect()
            if not self._ready:
                self._db.ensure_table(
                    conn, self.table, "client_id VARCHAR(250) PRIMARY KEY, last_slot DOUBLE PRECISION NOT NULL"
                )
                self._ready = True
            now, slot = self._book(conn)
        except Exception as err:
            message = str(err).strip().splitlines()[0] if str(err).strip() else ""
            raise ConstantContactError(
                f"{self._setting}: could not book a request slot in table {self.table}: {type(err).__name__}: {message}"
            ) from None
        finally:
            if conn is not None:
                with contextlib.suppress(Exception):
                    conn.close()  # rolls back what an error left open
        return slot - now

    def _book(self, conn: Any) -> tuple[float, float]:
        """In one transaction under the row's lock: read the last slot, book the next; return ``(now, slot)``."""
        sql = self._db.sql
        cur = conn.cursor()
        if self._db.kind == "sqlite":
            conn.execute("BEGIN IMMEDIATE")  # the database's write lock, waited for up to the busy timeout
            select = sql("SELECT last_slot FROM {table} WHERE client_id = {p}", self.table)
        else:
            select = sql("SELECT last_slot FROM {table} WHERE client_id = {p} FOR UPDATE", self.table)
        cur.execute(select, (self.client_id,))
        row = cur.fetchone()
        if row is None:  # the first booking of this client id: insert the row, unless another process just did
            now = self._clock()
            insert = "INSERT INTO {table} (client_id, last_slot) VALUES ({p}, {p}) ON CONFLICT (client_id) DO NOTHING"
            cur.execute(sql(insert, self.table), (self.client_id, now))
            if cur.rowcount == 1:
                conn.commit()
                return now, now
            cur.execute(select, (self.client_id,))  # PostgreSQL: the other's row, committed and locked now
            row = cur.fetchone()
        now = self._clock()  # read under the lock: waiting for it took time
        slot = next_slot(float(row[0]), now, self.interval)
        cur.execute(sql("UPDATE {table} SET last_slot = {p} WHERE client_id = {p}", self.table), (slot, self.client_id))
        conn.commit()
        return now, slot


_registry_lock = threading.Lock()
_budgets: dict[tuple[str, str, str, float], SqlRequestBudget] = {}


def shared_budget(sql_conn_id: str, *, client_id: str, requests_per_second: float, conn_id: str) -> SqlRequestBudget:
    """Return this process's handle on the shared budget of ``client_id`` in database ``sql_conn_id``."""
    key = (sql_conn_id, conn_id, client_id, requests_per_second)
    with _registry_lock:
        budget = _budgets.get(key)
        if budget is None:
            budget = _budgets[key] = SqlRequestBudget(
                sql_conn_id, client_id=client_id, requests_per_second=requests_per_second, conn_id=conn_id
            )
        return budget
