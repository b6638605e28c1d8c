"""The transfer's decisions that need no sandbox: arguments refused, the cursor chosen, rows read in chunks."""

from __future__ import annotations

import sqlite3
import tracemalloc

import pytest

from cc_provider.transfers.sql_to_constant_contact import (
    QueryRows,
    SqlSourceError,
    SqlToConstantContactOperator,
    db_error,
    result_columns,
)


class CountingCursor(sqlite3.Cursor):
    """The real sqlite3 cursor, counting its fetchmany calls and their sizes."""

    sizes: list[int]

    def fetchmany(self, size=None):
        self.sizes.append(size)
        return super().fetchmany(size)


class CountingConnection(sqlite3.Connection):
    def cursor(self, factory=CountingCursor):
        cursor = super().cursor(factory)
        cursor.sizes = []
        return cursor


class MemoryHook:
    """Stands in for a DB-API hook: get_conn() is all QueryRows uses."""

    def __init__(self, rows: int) -> None:
        self.conn = sqlite3.connect(":memory:", factory=CountingConnection)
        self.conn.execute("CREATE TABLE people (id INTEGER PRIMARY KEY, email TEXT, first TEXT)")
        self.conn.executemany(
            "INSERT INTO people VALUES (?, ?, ?)", ((i, f"person{i}@example.com", f"First {i}") for i in range(rows))
        )

    def get_conn(self):
        return self.conn


def operator(**kwargs):
    return SqlToConstantContactOperator(
        task_id="t", sql="SELECT 1", sql_conn_id="db", list_ids=["l"], **{"dedupe": "first", **kwargs}
    )


class TestArguments:
    def test_dedupe_last_is_refused_for_a_query(self):
        with pytest.raises(ValueError, match="dedupe='last' reads the source twice.*ORDER BY"):
            operator(dedupe="last")

    @pytest.mark.parametrize("dedupe", ["first", None])
    def test_dedupe_first_or_none_is_accepted(self, dedupe):
        assert operator(dedupe=dedupe).dedupe == dedupe

    @pytest.mark.parametrize("name", ["contacts", "path", "json_array_key"])
    def test_the_json_operators_sources_are_refused(self, name):
        with pytest.raises(TypeError, match=f"no '{name}'"):
            operator(**{name: "x"})

    def test_fetch_size_must_be_positive(self):
        with pytest.raises(ValueError, match="fetch_size"):
            operator(fetch_size=0)

    def test_sql_and_parameters_are_templated_and_sql_files_rendered(self):
        task = operator()
        assert {"sql", "parameters", "list_ids", "list_names", "rejects_path"} <= set(task.template_fields)
        assert not {"contacts", "path"} & set(task.template_fields)
        assert task.template_ext == (".sql",)

    def test_base_options_still_checked(self):
        with pytest.raises(ValueError, match="max_reject_rate"):
            operator(max_reject_rate=2.0)


class TestResult:
    def test_a_statement_without_rows_is_refused(self):
        with pytest.raises(SqlSourceError, match="no rows to import"):
            result_columns(None)

    def test_a_column_named_twice_is_refused(self):
        with pytest.raises(SqlSourceError, match="email more than once"):
            result_columns([("email",), ("first",), ("email",)])

    def test_the_driver_error_is_one_line(self):
        err = RuntimeError('relation "x" does not exist\nLINE 1: SELECT secret FROM x\n               ^')
        assert db_error(err) == 'RuntimeError: relation "x" does not exist.'


class TestQueryRows:
    def test_rows_are_dicts_read_fetch_size_at_a_time(self):
        hook = MemoryHook(25)
        rows = QueryRows(hook, "SELECT email, first FROM people ORDER BY id", fetch_size=10)
        assert not rows.server_side and rows.columns == ["email", "first"]
        cursor = rows.cursor
        assert cursor.sizes == [10]  # the first chunk is fetched with the query
        records = list(rows)
        assert records[0] == {"email": "person0@example.com", "first": "First 0"}
        assert len(records) == 25
        assert cursor.sizes == [10, 10, 10, 10]  # 10 + 10 + 5, then the empty fetch that ends it
        rows.close()
        with pytest.raises(sqlite3.ProgrammingError):
            hook.conn.execute("SELECT 1")  # the connection is closed

    def test_parameters_are_bound(self):
        rows = QueryRows(MemoryHook(5), "SELECT email FROM people WHERE id >= ?", [3], fetch_size=2)
        assert [r["email"] for r in rows] == ["person3@example.com", "person4@example.com"]

    def test_sql_error_names_the_source_and_closes(self):
        hook = MemoryHook(1)
        with pytest.raises(SqlSourceError, match=r"^sql:db: the query could not be run: OperationalError: no such"):
            QueryRows(hook, "SELECT * FROM nowhere", fetch_size=5, name="sql:db")
        with pytest.raises(sqlite3.ProgrammingError):
            hook.conn.execute("SELECT 1")

    def test_a_statement_without_a_result_fails_and_closes(self):
        hook = MemoryHook(1)
        with pytest.raises(SqlSourceError, match="no rows to import"):
            QueryRows(hook, "UPDATE people SET first = 'x'", fetch_size=5)
        with pytest.raises(sqlite3.ProgrammingError):
            hook.conn.execute("SELECT 1")

    @pytest.mark.parametrize("module", ["psycopg", "psycopg2.extensions"])
    @pytest.mark.parametrize("autocommit", [False, True])
    def test_postgres_drivers_get_a_named_cursor(self, module, autocommit):
        opened = []

        class Cursor:
            description = [("email",)]

            def execute(self, sql):
                pass

            def fetchmany(self, size):
                return []

            def close(self):
                pass

        class Connection:
            def __init__(self):
                self.autocommit = autocommit

            def cursor(self, name=None, withhold=False):
                opened.append((name, withhold))
                return Cursor()

            def close(self):
                pass

        Connection.__module__ = module

        class Hook:
            def get_conn(self):
                return Connection()

        rows = QueryRows(Hook(), "SELECT email FROM t", fetch_size=5)
        ((name, withhold),) = opened
        assert rows.server_side and name.startswith("cc_transfer_") and withhold is autocommit


def _peak_while_reading(rows: int) -> int:
    hook = MemoryHook(rows)
    query = QueryRows(hook, "SELECT email, first FROM people ORDER BY id", fetch_size=500)
    tracemalloc.start()
    try:
        count = sum(1 for _ in query)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        query.close()
    assert count == rows
    return peak


def test_memory_does_not_grow_with_the_rows():
    """Ten times the rows, about the same peak: only one fetch of rows is held at a time."""
    small, large = _peak_while_reading(2_000), _peak_while_reading(20_000)
    assert large < small * 1.5 + 64 * 1024, (small, large)
