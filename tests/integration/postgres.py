"""
A throwaway PostgreSQL server for tests: ``initdb`` into a temporary folder, ``pg_ctl start`` on a free
loopback port, one database and one password-authenticated user; always stopped and removed afterwards.

Uses the server binaries of Debian's ``postgresql`` package (on PATH or under /usr/lib/postgresql/*/bin);
where they are missing the tests that need the server are skipped, saying how to install them.
PostgreSQL refuses to run as root, so as root the server runs as the ``postgres`` OS user (``runuser``).
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

INSTALL_HINT = (
    "install Debian's postgresql package (`apt-get install -y --no-install-recommends postgresql`; "
    "`make test` does this when the server is missing)"
)
SERVER_OS_USER = "postgres"


@dataclass(frozen=True)
class PostgresServer:
    host: str
    port: int
    socket_dir: str
    database: str
    user: str
    password: str

    @property
    def airflow_conn(self) -> str:
        """The database as an Airflow connection (JSON, for ``AIRFLOW_CONN_<ID>``)."""
        return json.dumps(
            {
                "conn_type": "postgres",
                "host": self.host,
                "port": self.port,
                "schema": self.database,
                "login": self.user,
                "password": self.password,
            }
        )

    def connect(self, **kwargs):
        """A psycopg (3) connection as the password-authenticated user, over TCP."""
        import psycopg

        return psycopg.connect(
            host=self.host, port=self.port, dbname=self.database, user=self.user, password=self.password, **kwargs
        )


def find_server_bin() -> Path | None:
    """The folder holding ``initdb``, ``pg_ctl`` and ``postgres``: PATH first, then the newest Debian version."""
    candidates = []
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(os.path.realpath(initdb)).parent)
    versions = glob.glob("/usr/lib/postgresql/*/bin")
    candidates += [Path(p) for p in sorted(versions, key=lambda p: _version(p), reverse=True)]
    for folder in candidates:
        if all(os.access(folder / name, os.X_OK) for name in ("initdb", "pg_ctl", "postgres")):
            return folder
    return None


def _version(path: str) -> tuple[int, ...]:
    name = Path(path).parent.name
    return tuple(int(part) for part in name.split(".") if part.isdigit())


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_server_user() -> list[str]:
    """The command prefix that runs a program as a non-root user (PostgreSQL will not run as root)."""
    if os.geteuid() != 0:
        return []
    try:
        import pwd

        pwd.getpwnam(SERVER_OS_USER)
    except KeyError:
        pytest.skip(f"PostgreSQL cannot run as root and there is no {SERVER_OS_USER!r} OS user: {INSTALL_HINT}")
    runuser = shutil.which("runuser")
    if runuser:
        return [runuser, "-u", SERVER_OS_USER, "--"]
    return ["su", SERVER_OS_USER, "-s", "/bin/sh", "-c", '"$0" "$@"']


def _run(cmd: list[str], cwd: Path, timeout: float = 60) -> None:
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    if done.returncode:
        raise RuntimeError(f"{' '.join(cmd)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")


@contextlib.contextmanager
def postgres_server(database: str = "app", user: str = "app") -> Iterator[PostgresServer]:
    """Start a PostgreSQL server for the duration of the block; skip the test if it cannot be had."""
    bindir = find_server_bin()
    if bindir is None:
        pytest.skip(
            f"PostgreSQL server binaries (initdb, pg_ctl) not found on PATH or in /usr/lib/postgresql: {INSTALL_HINT}"
        )
    psycopg = pytest.importorskip("psycopg", reason="the psycopg driver is missing: pip install -e '.[test]'")
    prefix = _as_server_user()
    root = Path(tempfile.mkdtemp(prefix="cc-provider-pg-"))  # not pytest's tmp_path: 0700 under root's folder
    data, log = root / "data", root / "server.log"
    started = False
    try:
        if prefix:
            shutil.chown(root, user=SERVER_OS_USER, group=None)
        _run(
            [
                *prefix,
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--locale=C",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--no-sync",
            ],
            cwd=root,
        )
        for attempt in range(3):  # the free port may be taken between choosing and binding it
            port = _free_port()
            options = (
                f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={root} "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            )
            try:
                _run(
                    [
                        *prefix,
                        str(bindir / "pg_ctl"),
                        "-D",
                        str(data),
                        "-l",
                        str(log),
                        "-o",
                        options,
                        "-w",
                        "-t",
                        "30",
                        "start",
                    ],
                    cwd=root,
                )
                started = True
                break
            except RuntimeError as exc:
                if attempt == 2:
                    server_log = log.read_text(errors="replace") if log.exists() else ""
                    raise RuntimeError(f"{exc}\nserver log:\n{server_log}") from None
        password = secrets.token_urlsafe(16)
        with psycopg.connect(host=str(root), port=port, user="postgres", dbname="postgres", autocommit=True) as admin:
            admin.execute(
                psycopg.sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                    psycopg.sql.Identifier(user), psycopg.sql.Literal(password)
                )
            )
            admin.execute(
                psycopg.sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    psycopg.sql.Identifier(database), psycopg.sql.Identifier(user)
                )
            )
        yield PostgresServer("127.0.0.1", port, str(root), database, user, password)
    finally:
        if started or (data / "postmaster.pid").exists():  # also a server pg_ctl gave up waiting on
            with contextlib.suppress(Exception):
                _run(
                    [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "-t", "30", "stop"], cwd=root
                )
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    """A running PostgreSQL server with an empty database ``app`` owned by the password user ``app``."""
    with postgres_server() as server:
        yield server
