"""
Run SQL on any connection with a DB-API hook and stream its rows into a ``contacts_json_import``.

The rows are read ``fetch_size`` at a time (a server-side cursor on PostgreSQL, ``fetchmany``
elsewhere), checked and split by the JSON import's pipeline as they come, and staged as request
bodies in the task's temporary directory: the result set is never held in memory.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from airflow.sdk import BaseHook, Context

from cc_provider.contacts import PreparedImport
from cc_provider.exceptions import ConstantContactError
from cc_provider.operators.import_base import ConstantContactImportBaseOperator, ImportRequest
from cc_provider.operators.json_import import ConstantContactImportJsonOperator

try:
    from airflow.providers.common.sql.hooks.sql import DbApiHook
except ImportError as err:  # pip install 'airflow-provider-constant-contact[sql]'
    from airflow.exceptions import AirflowOptionalProviderFeatureException

    raise AirflowOptionalProviderFeatureException(err) from err

__all__ = ["DEFAULT_FETCH_SIZE", "QueryRows", "SqlSourceError", "SqlToConstantContactOperator", "db_api_hook"]

DEFAULT_FETCH_SIZE = 5000
#: drivers whose connections open a server-side cursor given a name: ``conn.cursor(name=...)``
SERVER_SIDE_CURSOR_DRIVERS = frozenset({"psycopg", "psycopg2"})


class SqlSourceError(ConstantContactError):
    """The query could not be run or read, or its result cannot be imported; nothing was sent."""


def db_api_hook(conn_id: str) -> DbApiHook:
    """Return the hook of connection ``conn_id``; a :class:`SqlSourceError` unless it is a DB-API hook."""
    conn = BaseHook.get_connection(conn_id)
    try:
        hook = conn.get_hook()
    except Exception as err:  # an unknown connection type, or its provider is not installed
        raise SqlSourceError(
            f"Connection {conn_id!r} (type {conn.conn_type!r}) has no hook to run SQL with: {err}. "
            "Give a database connection (postgres, sqlite, mysql, ...) whose provider is installed."
        ) from None
    if not isinstance(hook, DbApiHook):
        raise SqlSourceError(
            f"Connection {conn_id!r} (type {conn.conn_type!r}) has a {type(hook).__name__}, not a DB-API hook "
            "(airflow.providers.common.sql's DbApiHook), so it cannot run SQL. Give a database connection."
        )
    return hook


class QueryRows:
    """
    The rows of one query as dicts keyed by column name, read ``fetch_size`` at a time; iterate once.

    On PostgreSQL (psycopg 3 or psycopg2) the query runs in a server-side (named) cursor, so the server
    keeps the result and each ``fetchmany`` brings ``fetch_size`` rows; other drivers' cursors are read
    with ``fetchmany`` too (how much such a driver buffers is its own affair). The query runs, and its
    first rows are fetched, here, so an error in the SQL fails before anything else. :meth:`close`
    releases the cursor and the connection.

    :ivar server_side: whether a named cursor holds the result on the server.
    :ivar columns: the result's column names, from ``cursor.description``.
    """

    def __init__(
        self, hook: DbApiHook, sql: str, parameters: Any = None, *, fetch_size: int, name: str = "the query"
    ) -> None:
        self.name = name
        self.fetch_size = fetch_size
        self._conn: Any = None
        self._cursor: Any = None
        self.server_side = False
        try:
            self._conn = hook.get_conn()
            self.server_side = type(self._conn).__module__.split(".")[0] in SERVER_SIDE_CURSOR_DRIVERS
            if self.server_side:
                # without a transaction (autocommit) a cursor declared WITHOUT HOLD would end at once
                hold = bool(getattr(self._conn, "autocommit", False))
                self._cursor = self._conn.cursor(name=f"cc_transfer_{uuid.uuid4().hex[:16]}", withhold=hold)
            else:
                self._cursor = self._conn.cursor()
            if parameters is None:
                self._cursor.execute(sql)
            else:
                self._cursor.execute(sql, parameters)
            self._first = self._cursor.fetchmany(fetch_size)  # psycopg2 describes a named cursor on its first fetch
        except Exception as err:
            self.close()
            raise SqlSourceError(f"{name}: the query could not be run: {db_error(err)} Nothing was sent.") from None
        try:
            self.columns = result_columns(self._cursor.description)
        except SqlSourceError as err:
            self.close()
            raise SqlSourceError(f"{name}: {err}") from None

    @property
    def cursor(self) -> Any:
        """The driver's cursor (for tests and logs)."""
        return self._cursor

    def __iter__(self) -> Iterator[dict[str, Any]]:
        batch, self._first = self._first, []
        as_dict = row_to_dict(self.columns, batch[0]) if batch else dict
        while batch:
            for row in batch:
                yield as_dict(row)
            try:
                batch = self._cursor.fetchmany(self.fetch_size)
            except Exception as err:
                raise SqlSourceError(
                    f"{self.name}: reading the rows failed: {db_error(err)} Nothing was sent."
                ) from None

    def close(self) -> None:
        """Close the cursor and the connection (a read-only query: nothing to commit)."""
        for thing in (self._cursor, self._conn):
            if thing is not None:
                with contextlib.suppress(Exception):  # closing after an error must not hide that error
                    thing.close()
        self._cursor = self._conn = None


def db_error(err: BaseException) -> str:
    """The driver's error in one line: its type and first line (the rest may quote the SQL)."""
    lines = str(err).strip().splitlines()
    return f"{type(err).__name__}: {lines[0].rstrip('.') if lines else 'no message'}."


def result_columns(description: Sequence[Sequence[Any]] | None) -> list[str]:
    """Return the column names of a DB-API ``cursor.description``; a :class:`SqlSourceError` if unusable."""
    if description is None:
        raise SqlSourceError("the statement returned no rows to import (give a SELECT, or a query that returns rows).")
    columns = [str(column[0]) for column in description]
    repeated = sorted({name for name in columns if columns.count(name) > 1})
    if repeated:
        raise SqlSourceError(
            f"the result names column(s) {', '.join(repeated)} more than once; give each its own name (AS ...)."
        )
    return columns


def row_to_dict(columns: Sequence[str], sample: Any) -> Callable[[Any], dict[str, Any]]:
    """How to turn the driver's rows into dicts: mappings as they are (a dict row factory), tuples by column."""
    if isinstance(sample, Mapping):
        return dict
    return lambda row: dict(zip(columns, row, strict=True))


class SqlToConstantContactOperator(ConstantContactImportJsonOperator):
    """
    Run ``sql`` on ``sql_conn_id`` and import the rows, as ``contacts_json_import`` requests, into lists.

    Each row is a record keyed by the result's column names (alias them ``AS email``, ``AS first_name``,
    ... or use ``column_map``), checked by the API's rules like any import; rejected rows go to
    ``rejects_path`` named by their position in the result (row 1 is the first). The rows stream:
    a server-side cursor on PostgreSQL, ``fetchmany(fetch_size)`` elsewhere; memory does not grow with
    the result. Returns the import summary (never the rows), whose ``source`` is ``sql:<sql_conn_id>``.
    Every option of :class:`~cc_provider.operators.import_base.ConstantContactImportBaseOperator` applies.

    A query is read once and its rows may change between tries, so:

    - a task retry runs the query again and posts every request again (imports upsert by email, so
      nothing is duplicated), rather than resuming requests recorded for rows that may have changed;
    - ``dedupe="last"`` is refused (it needs a second pass): keep ``"first"`` and ``ORDER BY`` so the
      row that should win comes first;
    - after a deferral the query is not run again to name the rows the API rejected: those are
      written to the rejects file per request (``rejected by the API ...: K of the N contact(s) of
      request R``), not by row. Wait in the worker (``deferrable=False``) to have them by row.

    :param sql: the query (or a ``.sql`` file, rendered as a template). Templated.
    :param sql_conn_id: a connection whose hook is a DB-API hook (postgres, sqlite, mysql, ...).
    :param parameters: the query's bind parameters, in the driver's style. Templated.
    :param fetch_size: rows fetched at a time.
    """

    template_fields: Sequence[str] = (*ConstantContactImportBaseOperator.template_fields, "sql", "parameters")
    template_ext: Sequence[str] = (".sql",)
    template_fields_renderers = {"sql": "sql", "parameters": "json"}

    def __init__(
        self,
        *,
        sql: str,
        sql_conn_id: str,
        parameters: Mapping[str, Any] | Sequence[Any] | None = None,
        fetch_size: int = DEFAULT_FETCH_SIZE,
        **kwargs: Any,
    ) -> None:
        for name in ("contacts", "path", "json_array_key"):
            if name in kwargs:
                raise TypeError(f"SqlToConstantContactOperator takes no {name!r}: its rows come from 'sql'.")
        if kwargs.get("dedupe") == "last":
            raise ValueError(
                "dedupe='last' reads the source twice, and a query's rows may change between two runs: use "
                "dedupe='first' with an ORDER BY that puts the row that should win first, or dedupe=None."
            )
        if fetch_size < 1:
            raise ValueError(f"fetch_size must be at least 1; got {fetch_size}.")
        # the JSON import's staging and upload, with the query as its source (prepare() below)
        super().__init__(contacts=[], **kwargs)
        self.sql = sql
        self.sql_conn_id = sql_conn_id
        self.parameters = parameters
        self.fetch_size = fetch_size
        self._query: QueryRows | None = None

    def get_db_hook(self) -> DbApiHook:
        """Return the DB-API hook of ``sql_conn_id`` (a :class:`SqlSourceError` for any other connection)."""
        return db_api_hook(self.sql_conn_id)

    def execute(self, context: Context) -> dict[str, Any]:
        """Run the query first, so a bad connection or SQL fails before any request to Constant Contact."""
        name = f"sql:{self.sql_conn_id}"
        self._query = QueryRows(self.get_db_hook(), self.sql, self.parameters, fetch_size=self.fetch_size, name=name)
        self.log.info(
            "Streaming the rows of the query on %r, %d at a time (%s).",
            self.sql_conn_id,
            self.fetch_size,
            "server-side cursor" if self._query.server_side else "fetchmany",
        )
        try:
            return super().execute(context)
        finally:
            self._query.close()
            self._query = None

    def prepare(self, source: str | None, rejects: str | None) -> PreparedImport:
        """Open the rows of the query that :meth:`execute` ran as a one-shot source (``source`` is ``None``)."""
        if self._query is None:
            raise RuntimeError("prepare() reads the query execute() runs; call execute().")
        prepared = PreparedImport(
            iter(self._query), column_map=self.column_map, dedupe=self.dedupe, rejects_path=rejects
        )
        prepared.source_name = self._query.name  # the connection, not the SQL text
        return prepared

    def _restage(self, summary: dict[str, Any]) -> list[ImportRequest] | None:
        """Do not run the query again after a deferral: its rows may have changed (rejections go per request)."""
        self.log.info(
            "The query is not run again after the deferral (its rows may have changed), so the rows the API "
            "rejected are written to the rejects file per request, not by row."
        )
        return None
