"""
SqlToConstantContactOperator against the sandbox: a query's rows on a list, exactly, from SQLite and PostgreSQL.

The app database is a real one, named by an ``AIRFLOW_CONN_*`` variable: an SQLite file, or the throwaway
PostgreSQL server of tests/integration/postgres.py (where the rows come through a server-side cursor).
"""

from __future__ import annotations

import csv
import json
import sqlite3

import pytest
from airflow.providers.sqlite.hooks.sqlite import SqliteHook

from cc_provider.hooks.constant_contact import ConstantContactHook
from cc_provider.transfers.sql_to_constant_contact import SqlSourceError, SqlToConstantContactOperator
from cc_sandbox.testing import flag_emails, patch_config, sandbox_stats
from tests.integration.helpers import run_task
from tests.integration.postgres import PostgresServer, postgres  # noqa: F401 (fixture)

GOOD = [f"good{i}@example.com" for i in range(6)]
FLAGGED = "flagged@example.com"  # passes the local checks; the API rejects it (signup abuse)
#: (email, first, surname, birthday_month, birthday_day), read ORDER BY id: row n is the n-th of the result
PEOPLE = [
    (GOOD[0], "Ada", "Zero", None, None),
    (FLAGGED, "Flag", "Ged", None, None),  # row 2: rejected by the API
    ("not-an-email", "Bad", "Email", None, None),  # row 3: rejected locally, column email
    ("bday@example.com", "Bad", "Birthday", 13, 1),  # row 4: rejected locally, column birthday_month
    *[(email, f"First{i}", f"Last{i}", 5, 17) for i, email in enumerate(GOOD[1:], start=1)],
]
SQL = "SELECT email, first, surname, birthday_month, birthday_day FROM people WHERE id <= {mark} ORDER BY id"
COLUMN_MAP = {"first": "first_name", "surname": "last_name"}


def create_people(conn, mark: str = "?") -> None:
    conn.execute(
        "CREATE TABLE people (id INTEGER PRIMARY KEY, email TEXT, first TEXT, surname TEXT, "
        "birthday_month INTEGER, birthday_day INTEGER)"
    )
    for i, row in enumerate(PEOPLE, start=1):
        conn.execute(f"INSERT INTO people VALUES ({', '.join([mark] * 6)})", (i, *row))
    conn.commit()


@pytest.fixture
def people_db(tmp_path, monkeypatch) -> str:
    path = tmp_path / "app.db"
    with sqlite3.connect(path) as conn:
        create_people(conn)
    conn.close()
    monkeypatch.setenv("AIRFLOW_CONN_PEOPLE_DB", json.dumps({"conn_type": "sqlite", "host": str(path)}))
    return "people_db"


@pytest.fixture
def hook(cc_connection, monkeypatch) -> ConstantContactHook:
    monkeypatch.setattr(ConstantContactHook, "default_backoff_base", 0.01)
    return ConstantContactHook()


def read_rejects(path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def members(hook: ConstantContactHook, list_id: str) -> set[str]:
    return {c["email_address"]["address"] for c in hook.iter_contacts(lists=list_id)}


def transfer(conn_id: str, tmp_path, mark: str = "?", cls=SqlToConstantContactOperator, **kwargs):
    options = {
        "task_id": "import",
        "sql": SQL.format(mark=mark),
        "parameters": [100],
        "sql_conn_id": conn_id,
        "list_names": ["From SQL"],
        "column_map": COLUMN_MAP,
        "rejects_path": str(tmp_path / "rejects.csv"),
        "max_contacts_per_request": 3,  # 6 sent rows + the flagged one: requests of 3, 3 and 1
        "poll_interval": 0.05,
    }
    return cls(**{**options, **kwargs})


@pytest.mark.parametrize("wait", ["worker", "deferred"])
def test_the_rows_of_a_query_land_on_the_list_exactly(hook, cc_sandbox, people_db, tmp_path, capsys, wait):
    flag_emails(cc_sandbox, FLAGGED)
    if wait == "deferred":
        patch_config(cc_sandbox, activity_start_delay=1.0)  # still pending at the first look: it defers
    task = transfer(people_db, tmp_path, wait_for_completion=True, deferrable=wait == "deferred")
    summary = run_task(task, deferred=wait == "deferred")
    log = capsys.readouterr().out

    (list_id,) = summary["list_ids"]
    assert hook.find_list_by_name("From SQL")["list_id"] == list_id  # created by name
    assert members(hook, list_id) == set(GOOD)
    assert (summary["rows_read"], summary["rows_rejected"], summary["rows_sent"]) == (9, 2, 7)
    assert (summary["requests"], summary["rows_rejected_by_api"], summary["rows_imported"]) == (3, 1, 6)
    assert summary["source"] == "sql:people_db" and "SELECT" not in json.dumps(summary)
    assert sandbox_stats(cc_sandbox)["import_posts"] == 3
    contact = hook.find_contact(GOOD[2])
    assert (contact["first_name"], contact["last_name"]) == ("First2", "Last2")  # column_map applied

    lines = read_rejects(tmp_path / "rejects.csv")
    assert [(line["row_number"], line["column"]) for line in lines[:2]] == [("3", "email"), ("4", "birthday_month")]
    (api_line,) = lines[2:]
    if wait == "worker":  # the staged requests still know their rows
        assert (api_line["row_number"], api_line["reason"]) == (
            "2",
            f"rejected by the API: Invalid email address '{FLAGGED}'",
        )
    else:  # the query is not run again after the deferral: per request
        assert (api_line["row_number"], api_line["value"]) == (
            "0",
            "request 1: rows unknown (the source could not be read again)",
        )
        assert summary["rows_rejected_by_api_unidentified"] == 1
    assert log.count("Streaming the rows of the query on 'people_db', 5000 at a time (fetchmany)") == 1


def test_dry_run_sends_nothing(hook, cc_sandbox, people_db, tmp_path):
    list_id = hook.create_list("Existing")["list_id"]
    summary = run_task(transfer(people_db, tmp_path, dry_run=True, list_names=["Existing"]), deferred=False)
    assert summary["dry_run"] is True and summary["rows_sent"] == 0
    assert (summary["rows_read"], summary["rows_valid"], summary["requests"]) == (9, 7, 3)
    assert sandbox_stats(cc_sandbox).get("import_posts", 0) == 0
    assert members(hook, list_id) == set()
    assert len(read_rejects(tmp_path / "rejects.csv")) == 2


class CountingCursor(sqlite3.Cursor):
    """The real sqlite3 cursor, counting fetchmany calls."""

    sizes: list[int]

    def fetchmany(self, size=None):
        self.sizes.append(size)
        return super().fetchmany(size)


class CountingConnection(sqlite3.Connection):
    cursors: list[CountingCursor] = []

    def cursor(self, factory=CountingCursor):
        cursor = super().cursor(factory)
        cursor.sizes = []
        CountingConnection.cursors.append(cursor)
        return cursor


class CountingSqliteHook(SqliteHook):
    def get_conn(self):
        return sqlite3.connect(self.get_connection(self.get_conn_id()).host, factory=CountingConnection)


class CountingTransfer(SqlToConstantContactOperator):
    def get_db_hook(self):
        return CountingSqliteHook(sqlite_conn_id=self.sql_conn_id)


def test_other_databases_are_read_with_fetchmany_in_fetch_size_chunks(hook, cc_sandbox, people_db, tmp_path):
    CountingConnection.cursors.clear()
    summary = run_task(transfer(people_db, tmp_path, cls=CountingTransfer, fetch_size=4), deferred=False)
    (cursor,) = CountingConnection.cursors
    assert cursor.sizes == [4, 4, 4, 4]  # 4 + 4 + 1 rows, then the empty fetch that ends the result
    assert summary["rows_read"] == 9
    with pytest.raises(sqlite3.ProgrammingError):
        cursor.execute("SELECT 1")  # closed with its connection


def test_a_connection_without_a_db_api_hook_fails_before_anything_is_sent(hook, cc_sandbox, tmp_path):
    task = transfer("constant_contact_default", tmp_path, list_names=["Not created"])
    with pytest.raises(SqlSourceError, match=r"'constant_contact_default'.*ConstantContactHook, not a DB-API hook"):
        run_task(task, deferred=False)
    assert sandbox_stats(cc_sandbox).get("import_posts", 0) == 0
    assert hook.find_list_by_name("Not created") is None


def test_a_sql_error_fails_before_anything_is_sent(hook, cc_sandbox, people_db, tmp_path):
    task = transfer(people_db, tmp_path, sql="SELECT email FROM nobody", list_names=["Not created"])
    with pytest.raises(SqlSourceError, match=r"^sql:people_db: the query could not be run: .*no such table: nobody"):
        run_task(task, deferred=False)
    assert sandbox_stats(cc_sandbox).get("import_posts", 0) == 0
    assert hook.find_list_by_name("Not created") is None


@pytest.fixture
def pg_people(postgres: PostgresServer, monkeypatch) -> PostgresServer:  # noqa: F811
    with postgres.connect() as conn:
        conn.execute("DROP TABLE IF EXISTS people")
        create_people(conn, mark="%s")
    monkeypatch.setenv("AIRFLOW_CONN_PG_PEOPLE", postgres.airflow_conn)
    return postgres


def test_postgres_rows_come_through_a_named_cursor(hook, cc_sandbox, pg_people, tmp_path, capsys):
    from cc_provider.transfers.sql_to_constant_contact import QueryRows, db_api_hook

    rows = QueryRows(db_api_hook("pg_people"), "SELECT email FROM people ORDER BY id", fetch_size=2)
    try:
        assert rows.server_side and type(rows.cursor).__name__ == "ServerCursor"
        first = next(iter(rows))
        # during the fetch, the result is a cursor on the server, declared for this query
        open_cursors = rows.cursor.connection.execute("SELECT name, statement FROM pg_cursors").fetchall()
        assert [name for name, _ in open_cursors] == [rows.cursor.name]
        assert "FROM people ORDER BY id" in open_cursors[0][1]
        assert first == {"email": GOOD[0]}
    finally:
        rows.close()

    summary = run_task(
        transfer("pg_people", tmp_path, mark="%s", wait_for_completion=True, deferrable=False), deferred=False
    )
    assert members(hook, summary["list_ids"][0]) == {*GOOD, FLAGGED}
    assert (summary["rows_read"], summary["rows_rejected"], summary["source"]) == (9, 2, "sql:pg_people")
    assert "at a time (server-side cursor)" in capsys.readouterr().out


def test_psycopg2_rows_come_through_a_named_cursor_too(pg_people):
    """psycopg2 describes a named cursor's columns only once it fetched: the first chunk is read with the query."""
    psycopg2 = pytest.importorskip("psycopg2")
    from cc_provider.transfers.sql_to_constant_contact import QueryRows

    class Psycopg2Hook:
        def get_conn(self):
            server = pg_people
            return psycopg2.connect(
                host=server.host, port=server.port, dbname=server.database, user=server.user, password=server.password
            )

    rows = QueryRows(Psycopg2Hook(), "SELECT email, first FROM people ORDER BY id", fetch_size=4)
    try:
        assert rows.server_side and rows.cursor.name.startswith("cc_transfer_")
        assert rows.columns == ["email", "first"]
        assert [r["email"] for r in rows] == [p[0] for p in PEOPLE]
    finally:
        rows.close()
