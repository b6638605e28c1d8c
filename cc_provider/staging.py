"""
Staging for the example DAGs: one configured location, a query's rows to JSON Lines, the addresses a list should hold.

Everything is staged under ``[constant_contact] staging_url`` (``AIRFLOW__CONSTANT_CONTACT__STAGING_URL``):
a local folder by default (``$AIRFLOW_HOME/staging``), or object storage that every worker reaches
(``s3://aws_default@bucket/staging``, ``gs://...``, through the providers installed). Files are handed
between tasks as URL strings; every helper here reads and writes them streamed (:mod:`cc_provider.storage`).
"""

from __future__ import annotations

import io
import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

from airflow.sdk import ObjectStoragePath, conf

from cc_provider import storage
from cc_provider.contacts import PreparedImport, Source
from cc_provider.storage import Location

FETCH_SIZE = 1000
CONFIG_SECTION = "constant_contact"
CONFIG_OPTION = "staging_url"
#: The default of ``staging_url`` (``{AIRFLOW_HOME}`` is replaced by ``$AIRFLOW_HOME``).
DEFAULT_STAGING_URL = "{AIRFLOW_HOME}/staging"
#: Deprecated: a local folder that overrides ``staging_url`` (set ``AIRFLOW__CONSTANT_CONTACT__STAGING_URL``).
STAGING_ENV = "CC_EXAMPLE_STAGING_DIR"


def staging_url() -> str:
    """Return the configured staging location: ``$CC_EXAMPLE_STAGING_DIR`` (deprecated), else ``staging_url``."""
    configured = os.environ.get(STAGING_ENV) or conf.get(CONFIG_SECTION, CONFIG_OPTION, fallback=DEFAULT_STAGING_URL)
    home = os.environ.get("AIRFLOW_HOME") or os.path.expanduser("~/airflow")
    return (configured or DEFAULT_STAGING_URL).replace("{AIRFLOW_HOME}", home)


def run_staging_dir(run_id: str, *parts: str) -> ObjectStoragePath:
    """Return ``<staging_url>/<run id>/<parts>`` (a local folder is created; object stores need none)."""
    path = storage.as_storage_path(staging_url()).joinpath(re.sub(r"[^A-Za-z0-9_.-]", "_", run_id), *parts)
    if not storage.is_remote(path):
        path.mkdir(parents=True, exist_ok=True)
    return path


@contextmanager
def open_text(location: Location, mode: str = "r") -> Iterator[IO[str]]:
    """Open a staged file as UTF-8 text, ``"r"`` or ``"w"``, streamed from or to wherever it is."""
    raw = storage.open_read(location) if mode == "r" else storage.open_write(location)
    with raw, io.TextIOWrapper(raw, encoding="utf-8", newline="" if mode == "w" else None) as handle:
        yield handle


@contextmanager
def prepared_import(
    source: Location, *, rejects_path: Location | None = None, column_map: dict[str, str | None] | None = None
) -> Iterator[PreparedImport]:
    """
    Yield a :class:`PreparedImport` of a staged file, with its rejects written to ``rejects_path``.

    An object is read from a streamed local copy, and the rejects are uploaded when the block ends;
    the local copies are removed.
    """
    with (
        storage.scratch_directory("staging") as tmp,
        storage.local_files(source, rejects_path, tmp) as files,
    ):
        assert files.source is not None  # a source was given
        yield PreparedImport(files.source, rejects_path=files.rejects, column_map=column_map)


def write_cursor_rows(cursor: Any, path: Location, fetch_size: int = FETCH_SIZE) -> int:
    """Write the rows of an executed DB-API cursor to a JSON Lines file, ``fetch_size`` at a time; return the count."""
    columns = [column[0] for column in cursor.description]
    rows = 0
    with open_text(path, "w") as handle:
        while batch := cursor.fetchmany(fetch_size):
            for row in batch:
                handle.write(json.dumps(dict(zip(columns, row, strict=True)), default=str) + "\n")
                rows += 1
    return rows


def iter_valid_emails(
    source: Source | ObjectStoragePath, column_map: dict[str, str | None] | None = None
) -> Iterator[str]:
    """Yield the lower-cased email of every row of ``source`` that passes the local checks (first wins)."""
    if isinstance(source, str | os.PathLike | ObjectStoragePath):
        with prepared_import(source, column_map=column_map) as prepared:
            yield from _emails(prepared)
    else:
        yield from _emails(PreparedImport(source, column_map=column_map))


def _emails(prepared: PreparedImport) -> Iterator[str]:
    for _, record in prepared.records():
        if "email" in record:
            yield str(record["email"]).lower()


def write_valid_emails(
    source: Source | ObjectStoragePath, path: Location, column_map: dict[str, str | None] | None = None
) -> int:
    """Write :func:`iter_valid_emails` to a text file, one address a line; return the count."""
    count = 0
    with open_text(path, "w") as handle:
        for email in iter_valid_emails(source, column_map):
            handle.write(email + "\n")
            count += 1
    return count
