"""
A synthetic "app database" for the example DAGs and the demo: users with a usage flag.

``python -m cc_sandbox.app_db PATH [--users N]`` creates (or replaces) the SQLite file;
:func:`load_app_users` loads the same users into any DB-API connection (PostgreSQL, say).
A few users have a missing or malformed email, so every path of the accounting shows up.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import sys
from pathlib import Path
from typing import Any

FIRST_NAMES = ("Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Radia", "Tim")
LAST_NAMES = ("Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson", "Perlman")
COMPANIES = ("Acme Corp.", "Globex", "Initech", "Umbrella", "Hooli", "")

SCHEMA = """
CREATE TABLE app_users (
    id INTEGER PRIMARY KEY,
    email TEXT,
    first_name TEXT,
    last_name TEXT,
    company TEXT,
    usage_flag INTEGER NOT NULL,
    updated_at TEXT NOT NULL,
    unsubscribed INTEGER NOT NULL DEFAULT 0
)
"""


def synthetic_users(count: int, seed: int = 42) -> list[tuple[object, ...]]:
    """Return ``count`` rows (``unsubscribed`` 0); every 40th has no email and every 25th a malformed one."""
    rng = random.Random(seed)
    rows: list[tuple[object, ...]] = []
    for user_id in range(1, count + 1):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        email: str | None = f"{first}.{last}.{user_id}@example.com".lower()
        if user_id % 40 == 0:
            email = None
        elif user_id % 25 == 0:
            email = f"{first}.{last}.{user_id}-at-example.com".lower()
        updated = f"2026-11-{1 + user_id % 20:02d}T12:00:00+00:00"
        rows.append((user_id, email, first, last, rng.choice(COMPANIES), rng.randint(0, 1), updated, 0))
    return rows


def create_app_db(path: str | Path, users: int = 300, seed: int = 42) -> Path:
    """Create a fresh SQLite app database at ``path`` with ``users`` synthetic users."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    with sqlite3.connect(path) as conn:
        conn.execute(SCHEMA)
        conn.executemany("INSERT INTO app_users VALUES (?, ?, ?, ?, ?, ?, ?, ?)", synthetic_users(users, seed))
    return path


# DB-API placeholder for one value, by the driver module's ``paramstyle``.
_PLACEHOLDERS = {"qmark": "?", "format": "%s", "pyformat": "%s", "numeric": ":{n}", "named": ":p{n}"}


def load_app_users(connection: Any, users: int = 300, seed: int = 42, paramstyle: str | None = None) -> int:
    """
    (Re)create ``app_users`` through a DB-API connection and load the same rows as :func:`create_app_db`.

    For any database the schema's plain SQL runs on (SQLite, PostgreSQL, ...): pass e.g. a ``sqlite3``,
    ``psycopg`` or ``psycopg2`` connection, or a SQLAlchemy engine's ``raw_connection()``. ``paramstyle``
    defaults to the driver module's own (``psycopg.paramstyle``...). Commits; returns the number of rows.
    """
    if paramstyle is None:
        raw = getattr(connection, "dbapi_connection", connection)  # a SQLAlchemy raw_connection() wraps it
        paramstyle = getattr(sys.modules.get(type(raw).__module__.split(".")[0]), "paramstyle", "qmark")
    if paramstyle not in _PLACEHOLDERS:
        raise ValueError(f"Unsupported DB-API paramstyle {paramstyle!r}; one of {sorted(_PLACEHOLDERS)}")
    rows: list[Any] = list(synthetic_users(users, seed))
    width = len(rows[0]) if rows else 0
    marks = ", ".join(_PLACEHOLDERS[paramstyle].format(n=n) for n in range(1, width + 1))
    if paramstyle == "named":
        rows = [{f"p{n}": value for n, value in enumerate(row, start=1)} for row in rows]
    cursor = connection.cursor()
    try:
        cursor.execute("DROP TABLE IF EXISTS app_users")
        cursor.execute(SCHEMA)
        if rows:
            cursor.executemany(f"INSERT INTO app_users VALUES ({marks})", rows)
    finally:
        cursor.close()
    connection.commit()
    return len(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("path")
    parser.add_argument("--users", type=int, default=300)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    created = create_app_db(args.path, args.users, args.seed)
    print(f"Created {created} with {args.users} users.")


if __name__ == "__main__":
    main()
