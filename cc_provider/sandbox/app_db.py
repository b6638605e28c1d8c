"""
A synthetic "app database" for the example DAGs and the demo: users with a usage flag.

``python -m cc_provider.sandbox.app_db PATH [--users N]`` creates (or replaces) the SQLite file.
A few users have a missing or malformed email, so every path of the accounting shows up.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
from pathlib import Path

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
    updated_at TEXT NOT NULL
)
"""


def synthetic_users(count: int, seed: int = 42) -> list[tuple[object, ...]]:
    """Return ``count`` rows; every 40th has no email and every 25th a malformed one."""
    rng = random.Random(seed)
    rows = []
    for user_id in range(1, count + 1):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        email: str | None = f"{first}.{last}.{user_id}@example.com".lower()
        if user_id % 40 == 0:
            email = None
        elif user_id % 25 == 0:
            email = f"{first}.{last}.{user_id}-at-example.com".lower()
        updated = f"2026-11-{1 + user_id % 20:02d}T12:00:00+00:00"
        rows.append((user_id, email, first, last, rng.choice(COMPANIES), rng.randint(0, 1), updated))
    return rows


def create_app_db(path: str | Path, users: int = 300, seed: int = 42) -> Path:
    """Create a fresh SQLite app database at ``path`` with ``users`` synthetic users."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    with sqlite3.connect(path) as conn:
        conn.execute(SCHEMA)
        conn.executemany("INSERT INTO app_users VALUES (?, ?, ?, ?, ?, ?, ?)", synthetic_users(users, seed))
    return path


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
