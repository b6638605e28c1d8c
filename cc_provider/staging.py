"""Staging helpers for the example DAGs: a query's rows to JSON Lines, and the addresses a list should end up with."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cc_provider.contacts import PreparedImport, Source

FETCH_SIZE = 1000
#: Where example DAGs stage files; with several workers, point it at storage they all share.
STAGING_ENV = "CC_EXAMPLE_STAGING_DIR"


def run_staging_dir(run_id: str, *parts: str) -> Path:
    """Return (and create) ``$CC_EXAMPLE_STAGING_DIR/<run id>/<parts>`` (default base: ``$AIRFLOW_HOME/staging``)."""
    base = os.environ.get(STAGING_ENV) or os.path.join(os.environ.get("AIRFLOW_HOME", "."), "staging")
    path = Path(base, re.sub(r"[^A-Za-z0-9_.-]", "_", run_id), *parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_cursor_rows(cursor: Any, path: str | os.PathLike[str], fetch_size: int = FETCH_SIZE) -> int:
    """Write the rows of an executed DB-API cursor to a JSON Lines file, ``fetch_size`` at a time; return the count."""
    columns = [column[0] for column in cursor.description]
    rows = 0
    with Path(path).open("w", encoding="utf-8") as handle:
        while batch := cursor.fetchmany(fetch_size):
            for row in batch:
                handle.write(json.dumps(dict(zip(columns, row, strict=True)), default=str) + "\n")
                rows += 1
    return rows


def iter_valid_emails(source: Source, column_map: dict[str, str | None] | None = None) -> Iterator[str]:
    """Yield the lower-cased email of every row of ``source`` that passes the local checks (first wins)."""
    for _, record in PreparedImport(source, column_map=column_map).records():
        if "email" in record:
            yield str(record["email"]).lower()


def write_valid_emails(
    source: Source, path: str | os.PathLike[str], column_map: dict[str, str | None] | None = None
) -> int:
    """Write :func:`iter_valid_emails` to a text file, one address a line; return the count."""
    count = 0
    with Path(path).open("w", encoding="utf-8") as handle:
        for email in iter_valid_emails(source, column_map):
            handle.write(email + "\n")
            count += 1
    return count
