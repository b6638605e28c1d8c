"""
A real Airflow deployment on loopback, started and stopped by the distributed test.

PostgreSQL (metadata database, the app database, the token store and the request budget), Redis (the
Celery broker), an S3 server (moto) holding the staging location, the sandbox as its own process with
its limits on, and Airflow as separate processes: api-server, scheduler, dag-processor, triggerer and
two Celery workers. Each worker has its own ``AIRFLOW_HOME``, working directory and ``TMPDIR`` and a
name of its own (``CC_WORKER_NAME``, reported as the task instance's hostname), so the workers share
nothing but the network, as on two hosts.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from cc_sandbox.config import SandboxConfig
from tests.integration.postgres import PostgresServer, postgres_server
from tests.processes import free_port, session_members, signal_pid, stop_process, tail

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "distributed"
START_TIMEOUT = 180.0
BUCKET = "cc-staging"
WORKERS = ("w1", "w2")
#: The verifier reads lists back through the API with its own (long-lived) client: its own rate budget.
VERIFIER = ("verifier", "verifier-secret", "verifier-refresh-token")


def http(url: str, method: str = "GET", payload: Any = None, token: str | None = None, timeout: float = 15.0) -> Any:
    data = None if payload is None else json.dumps(payload).encode()
    headers = {"Content-Type": "application/json"} if data is not None else {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    with urllib.request.urlopen(request, timeout=timeout) as response:
        body = response.read()
    return json.loads(body) if body else None


@dataclass
class Sandbox:
    """The sandbox process: its URL and admin calls (``/__sandbox__``)."""

    url: str
    config: SandboxConfig

    def admin(self, method: str, path: str, payload: Any = None) -> Any:
        return http(f"{self.url}/__sandbox__/{path}", method, payload)

    def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = self.admin("GET", "stats")
        return result


@dataclass
class Deployment:
    root: Path
    pg: PostgresServer
    sandbox: Sandbox
    api_url: str
    env: dict[str, str]
    worker_homes: dict[str, Path]
    worker_tmps: dict[str, Path]
    workers: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    # -- Airflow's REST API ---------------------------------------------------------------------------

    def api(self, method: str, path: str, payload: Any = None) -> Any:
        token = http(f"{self.api_url}/auth/token")["access_token"]
        return http(f"{self.api_url}/api/v2/{path}", method, payload, token)

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None) -> str:
        run = self.api("POST", f"dags/{dag_id}/dagRuns", {"logical_date": None, "conf": conf or {}})
        return str(run["dag_run_id"])

    def wait_for_dag(self, dag_id: str, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(urllib.error.HTTPError):
                self.api("GET", f"dags/{dag_id}")
                return
            time.sleep(1)
        pytest.fail(f"the dag-processor did not serialize {dag_id} within {timeout:.0f} s:\n{self.logs()}")

    def wait_for_runs(self, dag_id: str, run_ids: list[str], timeout: float) -> dict[str, str]:
        """Wait until every run has ended; return their states."""
        deadline = time.monotonic() + timeout
        states: dict[str, str] = {}
        while time.monotonic() < deadline:
            states = {run_id: self.api("GET", f"dags/{dag_id}/dagRuns/{run_id}")["state"] for run_id in run_ids}
            if all(state in ("success", "failed") for state in states.values()):
                return states
            time.sleep(2)
        pytest.fail(f"runs of {dag_id} not ended within {timeout:.0f} s: {states}\n{self.logs()}")

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.api("GET", f"dags/{dag_id}/dagRuns/{run_id}/taskInstances")[
            "task_instances"
        ]
        return result

    def tries(self, dag_id: str, run_id: str, task_id: str) -> list[dict[str, Any]]:
        path = f"dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/tries"
        result: list[dict[str, Any]] = self.api("GET", path)["task_instances"]
        return result

    # -- the workers ----------------------------------------------------------------------------------

    def start_worker(self, name: str) -> None:
        """Start (or start again) worker ``name``: its own AIRFLOW_HOME, working directory and TMPDIR."""
        home, tmp = self.root / f"{name}-home", self.root / f"{name}-tmp"
        home.mkdir(exist_ok=True)
        tmp.mkdir(exist_ok=True)
        self.worker_homes[name], self.worker_tmps[name] = home, tmp
        env = {
            **self.env,
            "AIRFLOW_HOME": str(home),
            "TMPDIR": str(tmp),
            "CC_WORKER_NAME": name,
            "PYTHONPATH": str(REPO),
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "tests.distributed.worker_name.hostname",
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        }
        cmd = [sys.executable, "-m", "airflow", "celery", "worker", "--celery-hostname", f"{name}@%h"]
        self.workers[name] = _start(self.root, f"worker-{name}", cmd, env, home)

    def stop_worker(self, name: str) -> None:
        """Stop worker ``name`` the way an operator would: SIGTERM, running tasks finish first."""
        stop_process(self.workers[name], timeout=60)

    def kill_worker(self, name: str) -> None:
        """SIGKILL the worker and every process it started (its task processes too), as a host dies."""
        proc = self.workers[name]
        for pid in [proc.pid, *session_members(proc.pid)]:
            signal_pid(pid, signal.SIGKILL)
        proc.wait(10)

    def worker_running(self, dag_id: str, run_id: str, task_id: str) -> str | None:
        for ti in self.task_instances(dag_id, run_id):
            if ti["task_id"] == task_id and ti["state"] == "running" and ti.get("hostname") in self.workers:
                return str(ti["hostname"])
        return None

    def leftovers(self) -> dict[str, list[str]]:
        """Files left on each worker's disk outside its logs and Airflow's own configuration."""
        own = {"airflow.cfg", "webserver_config.py", "airflow-webserver.pid", "worker.log"}
        found: dict[str, list[str]] = {}
        for name in WORKERS:
            files = []
            for folder in (self.worker_homes[name], self.worker_tmps[name]):
                for path in folder.rglob("*"):
                    rel = path.relative_to(folder)
                    if path.is_file() and rel.parts[0] != "logs" and rel.name not in own:
                        files.append(str(path))
            found[name] = files
        return found

    def logs(self, lines: int = 30) -> str:
        return "\n".join(f"--- {log.name}\n{tail(log, lines)}" for log in sorted(self.root.glob("*.log")))


def _wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if proc.poll() is not None:
            pytest.fail(f"{what} exited with {proc.returncode}; log:\n{tail(log)}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not answer within {START_TIMEOUT:.0f} s; log:\n{tail(log)}")
        time.sleep(0.3)


def _start(
    root: Path, name: str, cmd: list[str], env: dict[str, str], cwd: Path | None = None
) -> subprocess.Popen[bytes]:
    log = root / f"{name}.log"
    with log.open("ab") as out:
        return subprocess.Popen(
            cmd,
            env=env,
            cwd=cwd or root,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def _run(root: Path, name: str, cmd: list[str], env: dict[str, str], timeout: float = START_TIMEOUT) -> None:
    proc = _start(root, name, cmd, env)
    try:
        code = proc.wait(timeout)
    except subprocess.TimeoutExpired:
        stop_process(proc)
        pytest.fail(f"{' '.join(cmd)} took more than {timeout:.0f} s; log:\n{tail(root / f'{name}.log')}")
    if code:
        pytest.fail(f"{' '.join(cmd)} exited with {code}; log:\n{tail(root / f'{name}.log')}")


def _redis_server() -> str:
    found = shutil.which("redis-server")
    if not found:
        pytest.fail("redis-server not found: run `make test-distributed`, which installs Debian's redis-server")
    return found


def _databases(pg: PostgresServer, *names: str) -> None:
    import psycopg

    with psycopg.connect(
        host=pg.socket_dir, port=pg.port, user="postgres", dbname="postgres", autocommit=True
    ) as admin:
        for name in names:
            admin.execute(
                psycopg.sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    psycopg.sql.Identifier(name), psycopg.sql.Identifier(pg.user)
                )
            )


def _pg_conn(pg: PostgresServer, database: str) -> str:
    return json.dumps(
        {
            "conn_type": "postgres",
            "host": pg.host,
            "port": pg.port,
            "schema": database,
            "login": pg.user,
            "password": pg.password,
        }
    )


@contextlib.contextmanager
def deployment(users: int = 300) -> Iterator[Deployment]:
    """Start everything; stop everything (also when the test fails); keep the logs in test-artifacts/."""
    from cryptography.fernet import Fernet

    from cc_sandbox.app_db import load_app_users

    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    root = Path(tempfile.mkdtemp(prefix="cc-provider-distributed-"))
    started: list[subprocess.Popen[bytes]] = []
    dep: Deployment | None = None
    try:
        with postgres_server(database="airflow", user="airflow") as pg:
            _databases(pg, "app")
            with _app_connection(pg) as app:
                load_app_users(app, users)

            redis_port, moto_port, sandbox_port, api_port = (free_port() for _ in range(4))
            started.append(
                _start(
                    root,
                    "redis",
                    [
                        _redis_server(),
                        "--port",
                        str(redis_port),
                        "--bind",
                        "127.0.0.1",
                        "--save",
                        "",
                        "--appendonly",
                        "no",
                    ],
                    dict(os.environ),
                )
            )
            started.append(
                _start(
                    root,
                    "moto",
                    [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(moto_port)],
                    dict(os.environ),
                )
            )
            config = SandboxConfig()
            started.append(
                _start(
                    root,
                    "sandbox",
                    [
                        sys.executable,
                        "-m",
                        "cc_sandbox",
                        "--port",
                        str(sandbox_port),
                        "--refresh-token-mode",
                        "rotating",
                        "--access-token-ttl",  # short: the runs refresh and rotate many times
                        "8",
                        "--activity-start-delay",
                        "0.5",
                    ],
                    dict(os.environ),
                )
            )
            sandbox = Sandbox(f"http://127.0.0.1:{sandbox_port}", config)
            _wait_http(f"{sandbox.url}/__sandbox__/health", started[-1], root / "sandbox.log", "the sandbox")
            client_id, client_secret, refresh_token = VERIFIER
            sandbox.admin(
                "POST",
                "clients",
                {"client_id": client_id, "client_secret": client_secret, "refresh_token": refresh_token},
            )
            _wait_http(f"http://127.0.0.1:{moto_port}/", started[1], root / "moto.log", "the S3 server")
            http(f"http://127.0.0.1:{moto_port}/{BUCKET}", "PUT")  # create the bucket (anonymous, moto allows it)

            db = f"postgresql+psycopg://{pg.user}:{pg.password}@{pg.host}:{pg.port}/airflow"
            api_url = f"http://127.0.0.1:{api_port}"
            cc_conn = {
                "conn_type": "constant_contact",
                "login": config.client_id,
                "password": config.client_secret,
                "extra": {
                    "refresh_token": config.refresh_token,
                    "refresh_mode": "rotating",
                    "credential_store": "sql:cc_state",
                    "rate_limiter": "sql:cc_state",
                    "api_base_url": f"{sandbox.url}/v3",
                    "auth_base_url": f"{sandbox.url}/oauth2/default/v1",
                },
            }
            base = {k: v for k, v in os.environ.items() if not k.lstrip("_").startswith("AIRFLOW")}
            base.update(
                AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=db,
                AIRFLOW__CORE__EXECUTOR="CeleryExecutor",
                AIRFLOW__CELERY__BROKER_URL=f"redis://127.0.0.1:{redis_port}/0",
                AIRFLOW__CELERY__RESULT_BACKEND=f"db+{db}",
                AIRFLOW__CELERY__WORKER_CONCURRENCY="4",
                AIRFLOW__CORE__LOAD_EXAMPLES="False",
                AIRFLOW__CORE__DAGS_FOLDER=str(REPO / "dags"),
                AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="False",
                AIRFLOW__CORE__FERNET_KEY=Fernet.generate_key().decode(),
                AIRFLOW__API_AUTH__JWT_SECRET=secrets.token_urlsafe(32),
                AIRFLOW__API__BASE_URL=api_url,
                AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"{api_url}/execution/",
                AIRFLOW__CORE__AUTH_MANAGER=(
                    "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
                ),
                AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS="True",
                AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT="20",
                AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL="3",
                AIRFLOW__CONSTANT_CONTACT__STAGING_URL=f"s3://aws_staging@{BUCKET}/staging",
                AIRFLOW_CONN_CONSTANT_CONTACT_DEFAULT=json.dumps(cc_conn),
                AIRFLOW_CONN_APP_DB=_pg_conn(pg, "app"),
                AIRFLOW_CONN_CC_STATE=_pg_conn(pg, "app"),
                AIRFLOW_CONN_AWS_STAGING=json.dumps(
                    {
                        "conn_type": "aws",
                        "login": "testing",
                        "password": "testing",
                        "extra": {"endpoint_url": f"http://127.0.0.1:{moto_port}", "region_name": "us-east-1"},
                    }
                ),
                CC_EXAMPLE_POLL_SECONDS="1",
                CC_EXAMPLE_RETRY_DELAY_SECONDS="3",
                PYTHONUNBUFFERED="1",
            )
            home = root / "airflow-home"
            home.mkdir()
            env = {**base, "AIRFLOW_HOME": str(home)}
            _run(root, "db-migrate", [sys.executable, "-m", "airflow", "db", "migrate"], env)
            _run(
                root,
                "pools",
                [sys.executable, "-m", "airflow", "pools", "set", "constant_contact_api", "2", "Constant Contact API"],
                env,
            )
            for name, cmd in (
                ("api-server", ["api-server", "-H", "127.0.0.1", "-p", str(api_port), "-w", "1"]),
                ("scheduler", ["scheduler", "--skip-serve-logs"]),
                ("dag-processor", ["dag-processor"]),
                ("triggerer", ["triggerer", "--skip-serve-logs"]),
            ):
                started.append(_start(root, name, [sys.executable, "-m", "airflow", *cmd], env))
            dep = Deployment(root, pg, sandbox, api_url, base, {}, {})
            for name in WORKERS:
                dep.start_worker(name)
            _wait_http(f"{api_url}/api/v2/monitor/health", started[-4], root / "api-server.log", "the API server")
            yield dep
    finally:
        for proc in [*(dep.workers.values() if dep else ()), *reversed(started)]:
            stop_process(proc)
        for log in root.glob("*.log"):
            shutil.copy(log, ARTIFACTS / log.name)
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def _app_connection(pg: PostgresServer) -> Iterator[Any]:
    import psycopg

    conn = psycopg.connect(host=pg.host, port=pg.port, dbname="app", user=pg.user, password=pg.password)
    try:
        yield conn
    finally:
        conn.close()
