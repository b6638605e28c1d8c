"""
No credential leaves the token store: the client secret, the refresh tokens and the access token appear
nowhere a person or another system can read them.

The example DAG runs end to end (dag.test(): tasks and the deferred sensor's trigger, in process) on a
sandbox with **rotating** refresh tokens and the default token store (an Airflow Variable written through
the Task SDK). Then the test searches the task logs (structlog writes them to stdout; also any files
under $AIRFLOW_HOME/logs), the XCom values, the trigger rows and deferral kwargs, the rendered template
fields, and the text of the exceptions the hook raises on every auth failure path: 0 hits.

Then the set-up path README documents runs for real, each command a process of its own in a fresh
AIRFLOW_HOME: the login CLI writes the connection to a private file, `airflow connections import` reads
it, the checks use it; every table of the metadata database (the audit log ``log`` included) and every
file under AIRFLOW_HOME hold none of the credentials.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import socket
import sqlite3
import subprocess
import sys
import threading
import traceback
import urllib.error
import urllib.request
from pathlib import Path

import jwt
import pytest

from cc_provider.credential_stores import TokenRecord, VariableTokenStore
from cc_provider.exceptions import ConstantContactError
from cc_provider.hooks._retry import reset_process_state
from cc_provider.hooks.constant_contact import ConstantContactHook
from cc_sandbox.config import SandboxConfig
from cc_sandbox.server import SandboxServer, airflow_connection
from cc_sandbox.testing import CONNECTION_ENV, FAST_CONFIG, expire_tokens, reset_sandbox, sandbox_stats
from tests.conftest import REPO
from tests.integration.helpers import use_app_db

DAG_ID = "constant_contact_new_list"


@pytest.fixture(scope="module")
def airflow_db():
    from airflow.utils.db import resetdb

    resetdb()


@pytest.fixture(scope="module")
def rotating_sandbox():
    config = SandboxConfig(
        **{**FAST_CONFIG, "activity_start_delay": 1.0, "activity_rows_per_second": 300.0},
        refresh_token_mode="rotating",
        client_secret="client-secret-that-must-never-leak",
        refresh_token="seed-refresh-token-that-must-never-leak",
    )
    with SandboxServer(config) as server:
        yield server


@pytest.fixture
def rotating_connection(rotating_sandbox, monkeypatch) -> dict:
    reset_sandbox(rotating_sandbox)
    reset_process_state()
    conn = airflow_connection(rotating_sandbox)
    conn["extra"]["token_type"] = "rotating"  # token_store: the default, an Airflow Variable
    monkeypatch.setenv(CONNECTION_ENV, json.dumps(conn))
    yield conn
    reset_process_state()


@pytest.fixture
def app_db(tmp_path: Path, monkeypatch) -> Path:
    return use_app_db(tmp_path, monkeypatch, users=60)


def hits(secrets: dict[str, str], texts: dict[str, str]) -> list[str]:
    """Name every (secret, place) pair where a secret shows up."""
    return [f"{name} in {place}" for place, text in texts.items() for name, value in secrets.items() if value in text]


def database_texts(run) -> dict[str, str]:
    """XComs, trigger rows, deferral kwargs and rendered fields of ``run``, as text."""
    from airflow.models.renderedtifields import RenderedTaskInstanceFields
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.trigger import Trigger
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        xcoms = session.query(XComModel.task_id, XComModel.key, XComModel.value).filter_by(run_id=run.run_id).all()
        triggers = [(t.classpath, t.kwargs) for t in session.query(Trigger).all()]
        tis = session.query(TaskInstance).filter_by(run_id=run.run_id).all()
        deferrals = [(ti.task_id, ti.next_method, ti.next_kwargs, ti.trigger_id) for ti in tis]
        rendered = [
            (r.task_id, r.rendered_fields, r.k8s_pod_yaml)
            for r in session.query(RenderedTaskInstanceFields).filter_by(run_id=run.run_id).all()
        ]
    assert xcoms and rendered, "the run left no XComs or rendered fields to search"
    return {
        "xcom": repr(xcoms),
        "trigger rows": repr(triggers),
        "deferral kwargs": repr(deferrals),
        "rendered template fields": repr(rendered),
    }


def log_files_text() -> str:
    root = Path(os.environ["AIRFLOW_HOME"]) / "logs"
    if not root.exists():
        return ""
    return "\n".join(p.read_text(errors="replace") for p in root.rglob("*") if p.is_file())


@pytest.mark.dag
def test_example_dag_leaks_no_credential(airflow_db, rotating_sandbox, rotating_connection, app_db, capfd, caplog):
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(REPO / "dags" / f"{DAG_ID}.py")).get_dag(DAG_ID)
    run = dag.test(run_conf={"list_name": "Secrets test"})
    assert run.state == "success"

    # The tokens in play: one refresh rotated the seed; the Variable holds the live pair.
    stats = sandbox_stats(rotating_sandbox)
    assert stats["refreshes"] == 1 and stats["tokens_issued"] == 1  # one access token for the whole run
    record = VariableTokenStore("constant_contact_default").load()
    assert record is not None and record.access_token
    secrets = {
        "client secret": rotating_connection["password"],
        "seed refresh token": rotating_connection["extra"]["refresh_token"],
        "rotated refresh token": record.refresh_token,
        "access token": record.access_token,
    }
    assert record.refresh_token != secrets["seed refresh token"]

    out, err = capfd.readouterr()
    logs = out + err + caplog.text + log_files_text()
    assert "Saved the rotated Constant Contact refresh token" in logs  # the rotation happened in a task
    assert "Activity" in logs  # the trigger's polling was captured too
    texts = {"task logs": logs, **database_texts(run)}
    assert hits(secrets, texts) == []


def exception_texts(action) -> str:
    try:
        action()
    except ConstantContactError as err:
        return "".join(traceback.format_exception(err)) + repr(err) + repr(err.args)
    raise AssertionError("expected a ConstantContactError")


def test_auth_failures_leak_no_credential(rotating_sandbox, rotating_connection, tmp_path, monkeypatch, capfd, caplog):
    conn = rotating_connection
    store = tmp_path / "tokens.json"
    conn["extra"]["token_store"] = f"file:{store}"

    def use(**changes):
        changed = {**conn, **{k: v for k, v in changes.items() if k != "extra"}}
        changed["extra"] = {**conn["extra"], **changes.get("extra", {})}
        monkeypatch.setenv(CONNECTION_ENV, json.dumps(changed))
        reset_process_state()
        return ConstantContactHook(max_retries=1, backoff_base=0.01)

    # a working refresh first, so that live tokens exist to leak
    hook = use()
    hook.call_json("GET", "/contact_lists")
    live_access = hook.exchange.tokens.slot.token.value
    live_refresh = json.loads(store.read_text())["refresh_token"]

    texts = {
        "wrong client secret": exception_texts(
            lambda: use(
                password="wrong-secret-that-must-never-leak", extra={"token_store": f"file:{tmp_path / 'w.json'}"}
            ).call_json("GET", "/contact_lists")
        ),
        "lost rotation": exception_texts(
            lambda: use(extra={"token_store": f"file:{tmp_path / 'other.json'}"}).call_json("GET", "/contact_lists")
        ),
        "long-lived, refused": exception_texts(
            lambda: use(extra={"token_type": "long_lived", "token_store": f"file:{tmp_path / 'none.json'}"}).call_json(
                "GET", "/contact_lists"
            )
        ),
    }
    expire_tokens(rotating_sandbox)
    rotating_sandbox.state.revoke_refresh_tokens(client_id=rotating_sandbox.config.client_id)
    texts["401, then a revoked refresh token"] = exception_texts(lambda: use().call_json("GET", "/contact_lists"))
    assert "python -m cc_provider.auth" in texts["lost rotation"]

    out, err = capfd.readouterr()
    texts["logs of the failures"] = out + err + caplog.text
    secrets = {
        "client secret": conn["password"],
        "wrong client secret": "wrong-secret-that-must-never-leak",
        "seed refresh token": conn["extra"]["refresh_token"],
        "rotated refresh token": live_refresh,
        "access token": live_access,
    }
    assert hits(secrets, texts) == []


# -- the documented set-up path, for real: the login CLI, `airflow connections import`, the checks ------

SETUP_CONN_ID = "cc_setup"
SETUP_SECRET = "set-up-client-secret-that-must-never-leak"
CANARY = "canary-refresh-token-given-in-an-argument"
JWT_SHAPE = re.compile(r"eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def setup_sandbox():
    redirect_uri = f"http://localhost:{_free_port()}/callback"
    config = SandboxConfig(
        **FAST_CONFIG,
        refresh_token_mode="rotating",
        client_secret=SETUP_SECRET,
        redirect_uris=(redirect_uri,),
    )
    with SandboxServer(config) as server:
        yield server


@pytest.fixture
def airflow_home(tmp_path) -> tuple[Path, dict[str, str]]:
    """A fresh AIRFLOW_HOME with a migrated metadata database (SQLite, a generated Fernet key), as a user has."""
    home = tmp_path / "airflow-home"
    home.mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AIRFLOW", "_AIRFLOW")) and k not in ("CC_EXAMPLE_STAGING_DIR", "PYTEST_CURRENT_TEST")
    }
    env.update(AIRFLOW_HOME=str(home), AIRFLOW__CORE__LOAD_EXAMPLES="False", PYTHONUNBUFFERED="1")
    sh([sys.executable, "-m", "airflow", "db", "migrate"], env)
    return home, env


def sh(argv: list[str], env: dict[str, str], timeout: float = 180) -> str:
    """Run a command as a user would; return its output (stdout and stderr), failing on a non-zero exit."""
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"{argv[:6]} exited {done.returncode}:\n{output[-3000:]}"
    return output


def login_as_a_person(server: SandboxServer, argv: list[str], env: dict[str, str]) -> str:
    """Run ``python -m cc_provider.auth login --no-browser``; open the URL it prints as a browser would."""
    lines = []
    with subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as proc:
        assert proc.stdout is not None
        try:
            for line in proc.stdout:
                lines.append(line)
                if line.strip().startswith(server.url):
                    threading.Thread(target=_visit, args=(line.strip(),), daemon=True).start()
            assert proc.wait(timeout=60) == 0, "".join(lines)
        finally:
            if proc.poll() is None:
                proc.kill()
    return "".join(lines)


def _visit(url: str) -> None:
    try:
        urllib.request.urlopen(url, timeout=20).read()  # the sandbox consents and redirects to the CLI
    except urllib.error.HTTPError:
        pass


def everything_stored(home: Path) -> dict[str, str]:
    """Every row of every table of the metadata database, and the bytes of every file under AIRFLOW_HOME."""
    texts: dict[str, str] = {}
    with contextlib.closing(sqlite3.connect(home / "airflow.db")) as db:
        tables = [name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            texts[f"table {table}"] = repr(db.execute(f'SELECT * FROM "{table}"').fetchall())
    assert "log" in tables and "connection" in tables and "variable" in tables
    for path in sorted(home.rglob("*")):
        if path.is_file():
            texts[f"file {path.relative_to(home)}"] = path.read_bytes().decode("latin-1")
    return texts


def read_variable(key: str, env: dict[str, str]) -> str:
    """A Variable of that AIRFLOW_HOME, decrypted (a plain script: no audit log, no task log)."""
    script = f"from airflow.models.variable import Variable; print(Variable.get({key!r}))"
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip().splitlines()[-1]


def sandbox_access_tokens(server: SandboxServer, texts: dict[str, str]) -> dict[str, str]:
    """The sandbox's access tokens among the JWT-shaped strings of ``texts`` (found by their claims)."""
    found = {}
    for text in texts.values():
        for candidate in JWT_SHAPE.findall(text):
            try:
                claims = jwt.decode(candidate, options={"verify_signature": False})
            except jwt.PyJWTError:
                continue
            if claims.get("cid") == server.config.client_id:
                found[f"access token {claims.get('jti')}"] = candidate
    return found


def test_the_documented_set_up_leaves_no_credential_in_the_database_or_the_logs(setup_sandbox, airflow_home, tmp_path):
    """README, "Setting up the real API": log in, import the connection the CLI wrote, delete the file, check."""
    server = setup_sandbox
    reset_sandbox(server)
    home, env = airflow_home
    connection_file = tmp_path / "cc_setup.json"
    outputs: dict[str, str] = {}
    refresh_tokens: set[str] = set(server.state.refresh_tokens)

    outputs["login"] = login_as_a_person(
        server,
        [
            sys.executable,
            "-m",
            "cc_provider.auth",
            "login",
            "--conn-id",
            SETUP_CONN_ID,
            "--client-id",
            server.config.client_id,
            "--auth-base-url",
            server.auth_base_url,
            "--api-base-url",
            server.api_base_url,
            "--refresh-mode",
            "rotating",
            "--redirect-uri",
            server.config.redirect_uris[0],
            "--no-browser",
            "--timeout",
            "30",
            "--connection-file",
            str(connection_file),
        ],
        {**env, "CC_CLIENT_SECRET": SETUP_SECRET},
    )
    refresh_tokens |= set(server.state.refresh_tokens)
    assert oct(connection_file.stat().st_mode & 0o777) == "0o600"
    written = json.loads(connection_file.read_text())[SETUP_CONN_ID]
    assert written["password"] == SETUP_SECRET and json.loads(written["extra"])["refresh_token"] in refresh_tokens

    commands = [line.strip() for line in outputs["login"].splitlines() if line.startswith("    ")]
    import_command = next(shlex.split(c) for c in commands if c.startswith("airflow connections import"))
    assert import_command == ["airflow", "connections", "import", str(connection_file)]
    outputs["import"] = sh([sys.executable, "-m", *import_command], env)
    assert f"rm {connection_file}" in commands
    connection_file.unlink()

    # the checks: a keep-alive refresh (seeds the store), then Airflow's own connection test
    cli = [sys.executable, "-m", "cc_provider.auth", "status", "--conn-id", SETUP_CONN_ID, "--refresh"]
    outputs["status --refresh"] = sh(cli, env)
    assert "Refreshed: the refresh token works." in outputs["status --refresh"]
    refresh_tokens |= set(server.state.refresh_tokens)
    test_env = {**env, "AIRFLOW__CORE__TEST_CONNECTION": "Enabled"}
    outputs["connections test"] = sh([sys.executable, "-m", "airflow", "connections", "test", SETUP_CONN_ID], test_env)
    assert "Connection success!" in outputs["connections test"]
    refresh_tokens |= set(server.state.refresh_tokens)
    assert sandbox_stats(server)["refreshes"] == 2  # the checks used the imported connection for real

    texts = {**everything_stored(home), **{f"output of {k}": v for k, v in outputs.items()}}
    secrets = {"client secret": SETUP_SECRET, **{f"refresh token {t[:4]}...": t for t in refresh_tokens}}
    secrets.update(sandbox_access_tokens(server, texts))
    stored = TokenRecord.from_json(read_variable(f"constant_contact_token__{SETUP_CONN_ID}", env), "the store")
    assert stored.refresh_token in refresh_tokens and stored.access_token
    secrets["stored access token"] = stored.access_token
    assert len(refresh_tokens) >= 3  # the login's, and one rotation per check
    assert hits(secrets, texts) == []

    # The scan sees the audit log: the command README used to give leaves the token there.
    extra = json.dumps({"refresh_token": CANARY})
    cmd = ["airflow", "connections", "add", "canary", "--conn-type", "constant_contact", "--conn-extra", extra]
    sh([sys.executable, "-m", *cmd], env)
    assert "table log" in {place.split(" in ")[1] for place in hits({"canary": CANARY}, everything_stored(home))}
