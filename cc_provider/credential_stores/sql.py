"""
``sql:<conn_id>`` token store: one row of a table in a database the user names by Airflow connection.

The refresh lock is the database's own: a session-level advisory lock on PostgreSQL, ``BEGIN IMMEDIATE``
(the database's write lock) on SQLite. Both die with the connection that holds them, so a crashed
holder never leaves the lock taken, and both hold across hosts: rotating refresh tokens are safe on
Celery and Kubernetes workers that share nothing but the database. :class:`SqlDatabase` (the connection
lookup, connections, table creation) also serves the ``sql:`` request budget of ``cc_provider.hooks._budget``.
"""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
import threading
import time
import weakref
from typing import Any

from cc_provider.credential_stores._base import StoreLock, TokenRecord, TokenStore, mask_secrets
from cc_provider.exceptions import ConstantContactAuthError

TABLE = "constant_contact_tokens"
#: Connection types with a tested lock; others are refused with a message saying so.
SUPPORTED = ("postgres", "sqlite")
#: How long a SQLite reader or writer waits for another connection's write to finish.
SQLITE_BUSY_SECONDS = 10.0


class SqlDatabase:
    """
    A PostgreSQL or SQLite database named by Airflow connection: its type, new DB-API connections, tables.

    Shared by the ``sql:`` token store and the ``sql:`` request budget. The connection is looked up on
    first use (the constructor does no I/O); a missing one, or one of another type, raises ``error``.

    :param sql_conn_id: the Airflow connection of the database.
    :param setting: the setting that names it, for messages (``credential_store 'sql:tokens_db'``).
    :param user: what uses it, for messages (``the sql store``).
    :param error: the exception type to raise.
    """

    def __init__(self, sql_conn_id: str, *, setting: str, user: str, error: type[Exception]) -> None:
        self.sql_conn_id = sql_conn_id
        self.setting = setting
        self.user = user
        self.error = error
        self._source: tuple[str, Any] | None = None  # (connection type, hook), looked up on first use

    def kind_and_hook(self) -> tuple[str, Any]:
        """The database connection's type and hook, looked up once."""
        if self._source is None:
            from airflow.sdk import BaseHook

            try:
                conn = BaseHook.get_connection(self.sql_conn_id)
            except Exception as err:
                raise self.error(
                    f"{self.setting}: there is no Airflow connection '{self.sql_conn_id}' "
                    f"({type(err).__name__}). Create it, or name another connection."
                ) from None
            if conn.conn_type not in SUPPORTED:
                raise self.error(
                    f"{self.setting}: connection '{self.sql_conn_id}' is of type {conn.conn_type!r}; "
                    f"{self.user} supports {', '.join(SUPPORTED)} connections."
                )
            self._source = (conn.conn_type, conn.get_hook())
        return self._source

    @property
    def kind(self) -> str:
        """``postgres`` or ``sqlite``."""
        return self.kind_and_hook()[0]

    def connect(self) -> Any:
        """A new DB-API connection; SQLite's is usable from any thread (the triggerer's worker threads)."""
        kind, hook = self.kind_and_hook()
        if kind == "sqlite":  # as SqliteHook.get_conn, with explicit transactions and a busy timeout
            uri = hook.get_uri().replace("sqlite:///", "file:")
            return sqlite3.connect(
                uri, uri=True, timeout=SQLITE_BUSY_SECONDS, isolation_level=None, check_same_thread=False
            )
        return hook.get_conn()

    def sql(self, text: str, table: str) -> str:
        """``text`` with ``{table}`` and the driver's placeholder ``{p}`` filled in."""
        return text.format(table=table, p="?" if self.kind == "sqlite" else "%s")

    def ensure_table(self, conn: Any, table: str, columns: str) -> None:
        """Create ``table`` with ``columns`` (DDL) if it is missing, and commit; concurrent creators are serialized."""
        cur = conn.cursor()
        if self.kind == "sqlite":
            cur.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,))
        else:
            cur.execute("SELECT to_regclass(%s) IS NOT NULL", (table,))
        row = cur.fetchone()
        if not (row and row[0]):
            if self.kind == "postgres":  # concurrent CREATE TABLE IF NOT EXISTS can collide in pg_type
                cur.execute("SELECT pg_advisory_xact_lock(%s)", (_lock_key(f"create {table}"),))
            cur.execute(f"CREATE TABLE IF NOT EXISTS {table} ({columns})")
        conn.commit()


def _digest(token: str | None) -> str | None:
    """The stored fingerprint of a refresh token: compare-and-swap happens in SQL, on this."""
    return None if token is None else hashlib.sha256(token.encode()).hexdigest()


class SqlTokenStore(TokenStore):
    """
    A row ``(conn_id, record, refresh_token_sha256, updated_at)`` of table ``constant_contact_tokens``.

    The table is created on first use if it is missing. ``record`` is the :class:`TokenRecord` as JSON;
    ``refresh_token_sha256`` fingerprints its refresh token, so that :meth:`save` is one conditional
    ``UPDATE`` (or an ``INSERT`` that yields to an existing row): a true compare-and-swap. ``updated_at``
    is the wall-clock epoch of the last save.

    Locks: PostgreSQL ``pg_try_advisory_lock`` on a connection the lock keeps open (a 64-bit key derived
    from the table and the connection id), held until :meth:`StoreLock.release`; SQLite ``BEGIN IMMEDIATE``
    with no wait, whose transaction the holder's :meth:`save` writes in and commits, so on SQLite the lock
    ends with the save that stores the new record (the next holder reads that record; a later save is
    still a compare-and-swap). MySQL and other databases are not supported (no test server here).

    :param sql_conn_id: the Airflow connection of the database (``sqlite`` or ``postgres``).
    :param conn_id: the Constant Contact connection whose tokens this is (the row's key).
    :param table: the table's name (trusted configuration, not user input).
    """

    exclusive = True
    poll_seconds = 0.1

    def __init__(self, sql_conn_id: str, *, conn_id: str, table: str = TABLE) -> None:
        self.sql_conn_id = sql_conn_id
        self.conn_id = conn_id
        self.table = table
        self._db = SqlDatabase(
            sql_conn_id,
            setting=f"credential_store 'sql:{sql_conn_id}'",
            user="the sql store",
            error=ConstantContactAuthError,
        )
        self._ready = False
        self._held: weakref.ref[_SqlLock] | None = None  # weak: a dropped lock's __del__ releases it
        self._guard = threading.Lock()

    def __repr__(self) -> str:
        return f"SqlTokenStore({self.sql_conn_id!r}, conn_id={self.conn_id!r}, table={self.table!r})"

    @property
    def description(self) -> str:
        return f"table {self.table} (row {self.conn_id}) of database connection {self.sql_conn_id}"

    # -- connections ----------------------------------------------------------------------------------

    def _sql(self, text: str) -> str:
        return self._db.sql(text, self.table)

    def _fail(self, doing: str, err: Exception, *secrets: str | None) -> ConstantContactAuthError:
        message = str(err).strip().splitlines()[0] if str(err).strip() else ""
        for secret in secrets:
            if secret:
                message = message.replace(secret, "***")
        return ConstantContactAuthError(
            f"Could not {doing} the token store {self.description}: {type(err).__name__}: {message}"
        )

    def _ensure_table(self, conn: Any) -> None:
        """Create the table if it is missing (once per store; concurrent creators are serialized)."""
        if not self._ready:
            self._db.ensure_table(
                conn,
                self.table,
                "conn_id VARCHAR(250) PRIMARY KEY, record TEXT NOT NULL, "
                "refresh_token_sha256 VARCHAR(64) NOT NULL, updated_at DOUBLE PRECISION NOT NULL",
            )
            self._ready = True

    # -- the store ------------------------------------------------------------------------------------

    def load(self) -> TokenRecord | None:
        try:
            conn = self._db.connect()
            try:
                self._ensure_table(conn)
                cur = conn.cursor()
                cur.execute(self._sql("SELECT record FROM {table} WHERE conn_id = {p}"), (self.conn_id,))
                row = cur.fetchone()
                conn.commit()
            finally:
                conn.close()
        except ConstantContactAuthError:
            raise
        except Exception as err:
            raise self._fail("read", err) from None
        if row is None:
            return None
        record = TokenRecord.from_json(str(row[0]), self.description)
        mask_secrets(record.refresh_token, record.access_token)
        return record

    def try_lock(self) -> StoreLock | None:
        kind = self._db.kind
        try:
            conn = self._db.connect()
        except Exception as err:
            raise self._fail("connect to", err) from None
        try:
            self._ensure_table(conn)
            if kind == "sqlite":
                conn.execute("PRAGMA busy_timeout = 0")  # one attempt: a held write lock means "locked"
                try:
                    conn.execute("BEGIN IMMEDIATE")
                except sqlite3.OperationalError as err:
                    if not _sqlite_busy(err):
                        raise
                    conn.close()
                    return None
                conn.execute(f"PRAGMA busy_timeout = {int(SQLITE_BUSY_SECONDS * 1000)}")  # commit waits for readers
                release_sql = None
            else:
                cur = conn.cursor()
                cur.execute("SELECT pg_try_advisory_lock(%s)", (self._key(),))
                row = cur.fetchone()
                conn.commit()  # the advisory lock belongs to the session, not the transaction
                if not (row and row[0]):
                    conn.close()
                    return None
                release_sql = "SELECT pg_advisory_unlock(%s)"
        except Exception as err:
            with contextlib.suppress(Exception):
                conn.close()
            raise self._fail("lock", err) from None
        lock = _SqlLock(self, conn, release_sql)
        with self._guard:
            self._held = weakref.ref(lock)
        return lock

    def save(self, record: TokenRecord, expected_refresh_token: str | None) -> bool:
        secrets = (record.refresh_token, record.access_token, expected_refresh_token)
        mask_secrets(*secrets)
        with self._guard:
            held = self._held() if self._held is not None else None
        # The holder writes on the lock's own connection: on SQLite any other one would wait for that lock.
        own = held is None
        try:
            conn = self._db.connect() if held is None else held.conn
            try:
                self._ensure_table(conn)
                written = self._swap(conn, record, expected_refresh_token)
                if written or own:  # a refused swap changed nothing: the holder's transaction stays open
                    conn.commit()
            except BaseException:
                with contextlib.suppress(Exception):
                    conn.rollback()
                raise
            finally:
                if own:
                    conn.close()
        except ConstantContactAuthError:
            raise
        except Exception as err:
            raise self._fail("write", err, *secrets) from None
        return written

    def _swap(self, conn: Any, record: TokenRecord, expected: str | None) -> bool:
        """Write ``record`` in one statement if the stored fingerprint is ``expected``'s; return whether it was."""
        cur = conn.cursor()
        values = (record.to_json(), _digest(record.refresh_token), time.time())
        if expected is None:
            cur.execute(
                self._sql(
                    "INSERT INTO {table} (record, refresh_token_sha256, updated_at, conn_id) "
                    "VALUES ({p}, {p}, {p}, {p}) ON CONFLICT (conn_id) DO NOTHING"
                ),
                (*values, self.conn_id),
            )
        else:
            cur.execute(
                self._sql(
                    "UPDATE {table} SET record = {p}, refresh_token_sha256 = {p}, updated_at = {p} "
                    "WHERE conn_id = {p} AND refresh_token_sha256 = {p}"
                ),
                (*values, self.conn_id, _digest(expected)),
            )
        return bool(cur.rowcount == 1)

    def _key(self) -> int:
        return _lock_key(f"{self.table} {self.conn_id}")

    def _released(self, lock: _SqlLock) -> None:
        with self._guard:
            if self._held is not None and self._held() in (lock, None):
                self._held = None


def _sqlite_busy(err: sqlite3.OperationalError) -> bool:
    return getattr(err, "sqlite_errorname", None) == "SQLITE_BUSY" or "database is locked" in str(err)


def _lock_key(name: str) -> int:
    """A signed 64-bit advisory-lock key for ``name`` (PostgreSQL's ``bigint``)."""
    return int.from_bytes(hashlib.sha256(f"cc_provider {name}".encode()).digest()[:8], "big", signed=True)


class _SqlLock(StoreLock):
    """The open connection that holds the lock; closing it releases the lock in any case."""

    def __init__(self, store: SqlTokenStore, conn: Any, release_sql: str | None) -> None:
        self._store: SqlTokenStore | None = store
        self.conn = conn
        self._release_sql = release_sql

    def release(self) -> None:
        if self._store is None:
            return
        store, self._store = self._store, None
        store._released(self)
        with contextlib.suppress(Exception):
            if self._release_sql is not None:
                self.conn.cursor().execute(self._release_sql, (store._key(),))
            self.conn.rollback()  # SQLite: ends BEGIN IMMEDIATE if no save committed it
        with contextlib.suppress(Exception):
            self.conn.close()

    def __del__(self) -> None:  # a lock taken for a flow that was cancelled meanwhile must not outlive it
        self.release()
